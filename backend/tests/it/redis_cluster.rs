//! Real Redis deployments other than one plain server, for the scale-out
//! tests: a Redis Cluster made with `redis-cli --cluster create`, and one
//! server over TLS with an ACL user and a certificate made at test time
//! (openssl CLI). Loopback only, free ports, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::free_port;

/// One `redis-server` process of a test deployment.
struct Node {
    port: u16,
    child: Option<Child>,
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is needed: run scripts/ensure-tools.sh redis")
}

/// A plain connection to one node (cluster commands, checks).
/// The arguments every test node starts with: loopback only, on `port`,
/// its files in `dir`, nothing persisted.
fn ephemeral_node_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--dir",
        dir.to_str().unwrap(),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn node_conn(port: u16) -> Option<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    client.get_multiplexed_async_connection().await.ok()
}

async fn cluster_info(port: u16) -> Option<String> {
    let mut conn = node_conn(port).await?;
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async::<String>(&mut conn)
        .await
        .ok()
}

/// A Redis Cluster of `primaries` primaries, each with `replicas` replicas,
/// on loopback; `cluster-node-timeout` 1 s so a failover takes seconds.
pub struct RedisCluster {
    nodes: std::sync::Mutex<Vec<Node>>,
    /// The nodes' TLS ports, for a cluster started with TLS.
    tls_ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub async fn start(primaries: usize, replicas: usize) -> Self {
        Self::start_with(primaries, replicas, None).await
    }

    /// Like [`RedisCluster::start`], the nodes also speaking TLS (to clients
    /// on `tls_ports`, and among themselves) with `ca`'s certificate, and
    /// the ACL user [`ACL_USER`] the only one allowed the `gx:` keys (the
    /// `default` user, which the test's own plain connections use, is kept
    /// off them).
    pub async fn start_tls(primaries: usize, ca: &TestCa) -> Self {
        Self::start_with(primaries, 0, Some(ca)).await
    }

    async fn start_with(primaries: usize, replicas: usize, tls: Option<&TestCa>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut tls_ports = Vec::new();
        for _ in 0..primaries * (1 + replicas) {
            let port = free_port();
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let mut args = ephemeral_node_args(port, &node_dir);
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    // The bus port named, not port + 10000: a free port above
                    // 55535 would put it past 65535 and the node would not start.
                    "--cluster-port",
                    &free_port().to_string(),
                    "--cluster-node-timeout",
                    "1000",
                    // A replica that lost sight of its primary a while ago still
                    // takes over (the failover test pauses one on purpose).
                    "--cluster-replica-validity-factor",
                    "0",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            if let Some(ca) = tls {
                let tls_port = free_port();
                tls_ports.push(tls_port);
                let file = |name: &str| ca.dir.path().join(name).to_str().unwrap().to_owned();
                args.extend([
                    "--tls-port".into(),
                    tls_port.to_string(),
                    "--tls-cert-file".into(),
                    file("server.pem"),
                    "--tls-key-file".into(),
                    file("server.key"),
                    "--tls-ca-cert-file".into(),
                    file("ca.pem"),
                    "--tls-auth-clients".into(),
                    "no".into(),
                    "--tls-cluster".into(),
                    "yes".into(),
                    "--user".into(),
                    "default".into(),
                    "on".into(),
                    "nopass".into(),
                    "~test:*".into(),
                    "+@all".into(),
                    "--user".into(),
                    ACL_USER.into(),
                    "on".into(),
                    format!(">{ACL_PASSWORD}"),
                    "~gx:*".into(),
                    "+@all".into(),
                    "-@dangerous".into(),
                ]);
            }
            nodes.push(Node {
                port,
                child: Some(spawn(&args)),
            });
        }
        for node in &nodes {
            wait_until(Duration::from_secs(10), || async {
                node_conn(node.port).await.is_some()
            })
            .await;
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut create = Command::new("redis-cli");
        let addrs: Vec<String> = match tls {
            None => addrs,
            Some(ca) => {
                create.arg("--tls").arg("--cacert").arg(ca.ca_file());
                tls_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
            }
        };
        let out = create
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is needed: run scripts/ensure-tools.sh redis");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster {
            nodes: std::sync::Mutex::new(nodes),
            tls_ports,
            _dir: dir,
        };
        cluster.wait_ok().await;
        cluster
    }

    /// Waits until every live node says `cluster_state:ok` and knows the
    /// same number of primaries with slots.
    pub async fn wait_ok(&self) {
        let ports = self.live_ports();
        wait_until(Duration::from_secs(30), || {
            let ports = ports.clone();
            async move {
                for port in ports {
                    match cluster_info(port).await {
                        Some(info) if info.contains("cluster_state:ok") => {}
                        _ => return false,
                    }
                }
                true
            }
        })
        .await;
    }

    fn live_ports(&self) -> Vec<u16> {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let nodes = self.nodes.lock().unwrap();
        let seeds: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `rediss+cluster://user:password@...` with every TLS port as a seed,
    /// `password` in place of the ACL user's.
    pub fn tls_url_with(&self, password: &str) -> String {
        let seeds: Vec<String> = self
            .tls_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("rediss+cluster://{ACL_USER}:{password}@{}", seeds.join(","))
    }

    /// The port of the primary serving `key` now.
    pub async fn primary_of(&self, key: &str) -> u16 {
        match self.try_primary_of(key).await {
            Some(port) => port,
            None => panic!("no live primary serves {key}"),
        }
    }

    /// The port of the primary serving `key` now, if one not failed does.
    pub async fn try_primary_of(&self, key: &str) -> Option<u16> {
        let live = self.live_ports()[0];
        let mut conn = node_conn(live).await.unwrap();
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
            .unwrap();
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let port: u16 = fields[1]
                .split('@')
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            for range in &fields[8..] {
                let (lo, hi) = match range.split_once('-') {
                    Some((lo, hi)) => (lo.parse::<u16>(), hi.parse::<u16>()),
                    None => (range.parse::<u16>(), range.parse::<u16>()),
                };
                if let (Ok(lo), Ok(hi)) = (lo, hi)
                    && (lo..=hi).contains(&slot)
                {
                    return Some(port);
                }
            }
        }
        None
    }

    /// The ports of the replicas of the primary on `port`.
    pub async fn replicas_of(&self, port: u16) -> Vec<u16> {
        let mut conn = node_conn(port).await.unwrap();
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(&mut conn)
            .await
            .unwrap();
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
            .unwrap();
        nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.len() > 3 && fields[3] == id).then(|| {
                    fields[1]
                        .split('@')
                        .next()
                        .unwrap()
                        .rsplit(':')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
            })
            .collect()
    }

    /// Closes the replication links of the primary on `port` (`CLIENT KILL
    /// TYPE replica`): what it writes next reaches no replica until one
    /// reconnects.
    pub async fn drop_replicas_of(&self, port: u16) {
        let mut conn = node_conn(port).await.unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    /// Kills the node on `port` (as a crash would).
    pub fn kill(&self, port: u16) {
        let mut nodes = self.nodes.lock().unwrap();
        nodes.iter_mut().find(|n| n.port == port).unwrap().kill();
    }

    /// Pauses (`SIGSTOP`) or resumes (`SIGCONT`) the node on `port`: a
    /// replica that stops taking the replication stream for a while.
    pub fn signal(&self, port: u16, signal: &str) {
        let pid = {
            let nodes = self.nodes.lock().unwrap();
            let node = nodes.iter().find(|n| n.port == port).unwrap();
            node.child.as_ref().unwrap().id()
        };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let nodes = self.nodes.get_mut().unwrap_or_else(|p| p.into_inner());
        for node in nodes {
            // A paused node dies of SIGKILL as well.
            node.kill();
        }
    }
}

/// Polls `ready` every 50 ms until it holds, or panics after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !ready().await {
        assert!(started.elapsed() < limit, "not ready after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A test CA and a certificate for `localhost` and 127.0.0.1 it signed
/// (for clientAuth too: the nodes of a TLS Cluster present it to each
/// other on the cluster bus, and without it they never join).
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=GipoNext Connect test Redis CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca, d);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&csr, d);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
            d,
        );
        TestCa { dir }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// One `redis-server` listening only with TLS, the `default` user off and
/// an ACL user allowed the `gx:` keys.
pub struct TlsRedis {
    node: Node,
    pub ca: TestCa,
}

pub const ACL_USER: &str = "gx-bff";
pub const ACL_PASSWORD: &str = "Tls-Acl-pw-7f3c9e";

impl TlsRedis {
    pub async fn start() -> Self {
        let ca = TestCa::generate();
        let port = free_port();
        let d = ca.dir.path();
        let file = |name: &str| d.join(name).to_str().unwrap().to_owned();
        let args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            file("server.pem"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
            "--dir".into(),
            d.to_str().unwrap().to_owned(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--user".into(),
            "default".into(),
            "off".into(),
            "--user".into(),
            ACL_USER.into(),
            "on".into(),
            format!(">{ACL_PASSWORD}"),
            "~gx:*".into(),
            "+@all".into(),
            "-@dangerous".into(),
        ];
        let node = Node {
            port,
            child: Some(spawn(&args)),
        };
        wait_until(Duration::from_secs(10), || async {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        TlsRedis { node, ca }
    }

    /// `rediss://user:password@localhost:port/0`, `password` in place of
    /// the ACL user's.
    pub fn url_with(&self, password: &str) -> String {
        format!(
            "rediss://{ACL_USER}:{password}@localhost:{}/0",
            self.node.port
        )
    }

    pub fn url(&self) -> String {
        self.url_with(ACL_PASSWORD)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        self.node.kill();
    }
}

/// A primary, one replica and one Sentinel watching them (quorum 1, the
/// primary down after 500 ms), on loopback.
pub struct RedisSentinel {
    nodes: std::sync::Mutex<Vec<Node>>,
    pub primary: u16,
    pub replica: u16,
    pub sentinel: u16,
    _dir: tempfile::TempDir,
}

/// The name Sentinel watches the test primary under.
pub const SENTINEL_PRIMARY: &str = "gx-primary";

impl RedisSentinel {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (primary, replica, sentinel) = (free_port(), free_port(), free_port());
        let server = |port: u16, extra: &[&str]| {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let mut args = ephemeral_node_args(port, &node_dir);
            args.extend(extra.iter().map(|s| s.to_string()));
            Node {
                port,
                child: Some(spawn(&args)),
            }
        };
        let mut nodes = vec![server(primary, &[])];
        nodes.push(server(
            replica,
            &["--replicaof", "127.0.0.1", &primary.to_string()],
        ));
        // Sentinel rewrites its configuration file: one of its own.
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {sentinel}\ndir {}\n\
                 sentinel monitor {SENTINEL_PRIMARY} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {SENTINEL_PRIMARY} 500\n\
                 sentinel failover-timeout {SENTINEL_PRIMARY} 5000\n\
                 sentinel parallel-syncs {SENTINEL_PRIMARY} 1\n",
                dir.path().display()
            ),
        )
        .unwrap();
        nodes.push(Node {
            port: sentinel,
            child: Some(spawn(&[
                conf.to_str().unwrap().to_owned(),
                "--sentinel".to_owned(),
            ])),
        });
        let this = RedisSentinel {
            nodes: std::sync::Mutex::new(nodes),
            primary,
            replica,
            sentinel,
            _dir: dir,
        };
        // Up when the replica is in sync and Sentinel knows it.
        wait_until(Duration::from_secs(15), || async {
            let Some(mut conn) = node_conn(replica).await else {
                return false;
            };
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !info.contains("master_link_status:up") {
                return false;
            }
            let Some(mut s) = node_conn(sentinel).await else {
                return false;
            };
            let replicas: redis::Value = match redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(SENTINEL_PRIMARY)
                .query_async(&mut s)
                .await
            {
                Ok(v) => v,
                Err(_) => return false,
            };
            matches!(&replicas, redis::Value::Array(a) if !a.is_empty())
        })
        .await;
        this
    }

    /// `redis+sentinel://127.0.0.1:{sentinel}/gx-primary/0`.
    pub fn url(&self) -> String {
        format!(
            "redis+sentinel://127.0.0.1:{}/{SENTINEL_PRIMARY}/0",
            self.sentinel
        )
    }

    /// The port of the primary Sentinel names now.
    pub async fn current_primary(&self) -> Option<u16> {
        let mut conn = node_conn(self.sentinel).await?;
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(SENTINEL_PRIMARY)
            .query_async(&mut conn)
            .await
            .ok()?;
        addr.get(1)?.parse().ok()
    }

    /// Kills the node on `port` (as a crash would).
    pub fn kill(&self, port: u16) {
        let mut nodes = self.nodes.lock().unwrap();
        nodes.iter_mut().find(|n| n.port == port).unwrap().kill();
    }

    /// The process id of the node on `port`.
    pub fn pid(&self, port: u16) -> u32 {
        let nodes = self.nodes.lock().unwrap();
        let node = nodes.iter().find(|n| n.port == port).unwrap();
        node.child.as_ref().unwrap().id()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let nodes = self.nodes.get_mut().unwrap_or_else(|p| p.into_inner());
        for node in nodes {
            node.kill();
        }
    }
}
