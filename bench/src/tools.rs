//! The external programs: wrk (load), nginx (baseline proxy), redis-server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process killed (and reaped) on drop.
pub struct ChildGuard(Child);

impl ChildGuard {
    /// Guards `child`.
    pub fn new(child: Child) -> Self {
        ChildGuard(child)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrkResult {
    /// Requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Requests completed.
    pub requests: u64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
}

/// Runs `wrk --latency` against `url` with `connections` connections for
/// `seconds`, sending `headers`.
pub fn wrk(
    url: &str,
    connections: u32,
    seconds: u32,
    headers: &[String],
) -> anyhow::Result<WrkResult> {
    let threads = connections.clamp(1, 2);
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("--latency");
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .context("running wrk (install it: scripts/ensure-tools.sh wrk)")?;
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

/// Parses wrk's `--latency` report.
pub fn parse_wrk(text: &str) -> anyhow::Result<WrkResult> {
    let mut r = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => r.rps = v.parse()?,
            (Some("50%"), Some(v)) => r.p50 = parse_duration(v)?,
            (Some("99%"), Some(v)) => r.p99 = parse_duration(v)?,
            (Some("Non-2xx"), _) => {
                r.errors += line.rsplit(' ').next().unwrap_or("0").parse::<u64>()?;
            }
            (Some("Socket"), Some("errors:")) => {
                for part in line.trim_start_matches("Socket errors:").split(',') {
                    if let Some(n) = part.split_whitespace().nth(1) {
                        r.errors += n.parse::<u64>()?;
                    }
                }
            }
            (Some(n), Some("requests")) => r.requests = n.parse()?,
            _ => {}
        }
    }
    if r.rps == 0.0 {
        bail!("wrk reported no requests/s:\n{text}");
    }
    Ok(r)
}

fn parse_duration(v: &str) -> anyhow::Result<Duration> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().with_context(|| format!("wrk latency {v:?}"))?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("unknown wrk unit in {v:?}"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// CPU time (user + system, all threads) process `pid` has used so far,
/// from `/proc/PID/stat`; zero if it cannot be read.
pub fn cpu_time(pid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_cpu_ticks(&stat))
        .map_or(Duration::ZERO, |ticks| {
            Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
        })
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces: the fields follow its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// The parent process id in a `/proc/PID/stat` line.
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// CPU time of `pid` and its direct children (nginx's master and workers).
pub fn cpu_time_with_children(pid: u32) -> Duration {
    let mut total = cpu_time(pid);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            if parse_ppid(&stat) == Some(pid) {
                total += cpu_time(child);
            }
        }
    }
    total
}

/// `giponext-bare-hop`, the floor of a Rust proxy hop (see its docs),
/// reverse-proxying to `upstream`.
pub struct BareHop {
    /// The port it listens on.
    pub port: u16,
    /// Its process id.
    pub pid: u32,
    _child: ChildGuard,
}

impl BareHop {
    /// Builds (if needed) and starts it, and waits until it listens.
    pub async fn start(upstream: &str) -> anyhow::Result<BareHop> {
        let exe = release_binary("giponext-bench", "giponext-bare-hop", &[]).await?;
        let port = free_port()?;
        let child = Command::new(exe)
            .arg(format!("127.0.0.1:{port}"))
            .arg(upstream)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting giponext-bare-hop")?;
        let pid = child.id();
        let child = ChildGuard(child);
        wait_for_port(port).await?;
        Ok(BareHop {
            port,
            pid,
            _child: child,
        })
    }
}

/// An nginx reverse proxy on a free port in front of `upstream`
/// (`127.0.0.1:PORT`), configured from `bench/nginx/nginx.conf`. On drop its
/// master gets SIGTERM first and stops its workers (a SIGKILLed master would
/// leave them running).
pub struct Nginx {
    /// The port it listens on.
    pub port: u16,
    /// The master process id.
    pub pid: u32,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx and waits until it answers.
    pub async fn start(upstream: &str) -> anyhow::Result<Nginx> {
        let template_path = repo_root().join("bench/nginx/nginx.conf");
        let template = std::fs::read_to_string(&template_path)
            .with_context(|| format!("reading {}", template_path.display()))?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let conf = template
            .replace("@PORT@", &port.to_string())
            .replace("@UPSTREAM@", upstream)
            .replace("@DIR@", &dir.path().display().to_string());
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let nginx = ["nginx", "/usr/sbin/nginx"]
            .into_iter()
            .find(|p| Command::new(p).arg("-v").output().is_ok())
            .context("nginx not found (install it: scripts/ensure-tools.sh nginx)")?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx")?;
        let pid = child.id();
        let child = ChildGuard(child);
        wait_for_port(port).await?;
        Ok(Nginx {
            port,
            pid,
            _child: child,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        // The master waits for its workers; ChildGuard reaps (or kills) it.
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid));
            let gone = stat.map_or(true, |s| {
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().next())
                    .is_some_and(|state| state == "Z")
            });
            if gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A throw-away `redis-server` on a free port, no persistence.
pub struct Redis {
    /// The port.
    pub port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts it and waits until it answers PING.
    pub async fn start() -> anyhow::Result<Redis> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (install it: scripts/ensure-tools.sh redis)")?;
        let redis = Redis {
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        for _ in 0..200 {
            if let Ok(mut conn) = redis.connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return Ok(redis);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("redis-server did not start on port {port}")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A connection for INFO and friends.
    pub async fn connection(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        Ok(redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await?)
    }
}

/// Waits (at most 5 s) until something accepts connections on `port`.
pub async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("nothing listens on port {port}")
}

/// Builds `bin` of `package` in release (`extra` e.g. `--no-default-features`)
/// if needed, and returns its path in the target directory.
pub async fn release_binary(package: &str, bin: &str, extra: &[&str]) -> anyhow::Result<PathBuf> {
    let root = repo_root();
    let status =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-q", "-p", package, "--bin", bin])
            .args(extra)
            .current_dir(&root)
            .status()
            .await
            .with_context(|| format!("running cargo build for {bin}"))?;
    anyhow::ensure!(status.success(), "building the release {bin} failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join(bin))
}

/// The workspace root (where `bench/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_report() {
        let text = "Running 5s test @ http://127.0.0.1:1/x
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.50ms
     99%    3.25ms
  60000 requests in 5.00s, 10.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  12000.50
Transfer/sec:      2.00MB
";
        let r = parse_wrk(text).expect("the sample report parses");
        assert_eq!(r.rps, 12000.5);
        assert_eq!(r.p50, Duration::from_micros(850));
        assert_eq!(r.p99, Duration::from_micros(3250));
        assert_eq!(r.requests, 60000);
        assert_eq!(r.errors, 10);
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn parses_cpu_ticks_and_parent() {
        let stat = "4167 (a (b) c) R 4164 4164 18239 0 -1 4194304 121 0 0 0 250 31 7 9 20 0 1";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_ppid(stat), Some(4164));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(cpu_time(std::process::id()) < Duration::from_secs(3600));
    }
}
