//! Proxy hop: an authenticated GET of a patients page through the backend
//! (session cookie, `X-CSRF: 1`, the backend attaches the token), against
//! (a) the same request straight to the sandbox API with a bearer token and
//! (b) through nginx reverse-proxying to the sandbox API (no auth of its
//! own; the bearer header passes through). wrk, same concurrency, same
//! machine. A fourth target, (c) `giponext-bare-hop`, is the same pass-through
//! hop on the backend's own stack (tokio, hyper) with nothing else: the floor
//! any Rust proxy on that stack starts from.
//!
//! The sandbox and the backend are their release binaries, each its own OS
//! process ([`crate::processes`]), as nginx is: no target shares a runtime
//! with the sandbox or with this benchmark. Each process's CPU time per
//! request comes from `/proc`, so the cost of each hop is read directly.

use std::time::Duration;

use crate::processes::Deployment;
use crate::stack::{PATIENTS_PAGE, bearer_token};
use crate::stats::{ms, ratio};
use crate::tools::{BareHop, Nginx, WrkResult, cpu_time, cpu_time_with_children, wrk};

/// The concurrencies measured.
pub const CONCURRENCY: [u32; 3] = [1, 16, 64];

/// Seconds of load per target before the first measurement (connection
/// pools, caches, nginx's upstream keep-alive).
const WARM_UP_SECONDS: u32 = 2;

/// One wrk run and the CPU each process spent per request meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// What wrk saw.
    pub wrk: WrkResult,
    /// The sandbox process (the API answering).
    pub sandbox_cpu: Duration,
    /// The backend process (idle unless it is the target).
    pub backend_cpu: Duration,
    /// The nginx processes, master and workers (idle unless the target).
    pub nginx_cpu: Duration,
    /// The bare hop (idle unless the target).
    pub bare_cpu: Duration,
}

/// One concurrency level's three measurements.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// wrk connections.
    pub connections: u32,
    /// Through the backend.
    pub backend: Run,
    /// Straight to the sandbox API.
    pub direct: Run,
    /// Through nginx.
    pub nginx: Run,
    /// Through the bare hyper hop.
    pub bare: Run,
}

impl Row {
    /// CPU the backend hop costs per request: the backend process's own.
    /// The sandbox answers the same request either way, so its CPU is not
    /// part of a hop (its change against the direct run is printed apart:
    /// on a shared machine it is noise of about ±100 µs).
    pub fn backend_hop_cpu(&self) -> f64 {
        self.backend.backend_cpu.as_secs_f64()
    }

    /// CPU the nginx hop costs per request: its master's and workers'.
    pub fn nginx_hop_cpu(&self) -> f64 {
        self.nginx.nginx_cpu.as_secs_f64()
    }

    /// CPU the bare hyper hop costs per request.
    pub fn bare_hop_cpu(&self) -> f64 {
        self.bare.bare_cpu.as_secs_f64()
    }
}

/// The process ids whose CPU is read.
#[derive(Debug, Clone, Copy)]
struct Pids {
    sandbox: u32,
    backend: u32,
    nginx: u32,
    bare: u32,
}

impl Pids {
    fn cpu(self) -> [Duration; 4] {
        [
            cpu_time(self.sandbox),
            cpu_time(self.backend),
            cpu_time_with_children(self.nginx),
            cpu_time(self.bare),
        ]
    }
}

/// Runs wrk and measures the CPU each process spent per request meanwhile.
async fn measure(
    url: &str,
    connections: u32,
    seconds: u32,
    headers: &[String],
    pids: Pids,
) -> anyhow::Result<Run> {
    let before = pids.cpu();
    let (url, headers) = (url.to_owned(), headers.to_vec());
    let result =
        tokio::task::spawn_blocking(move || wrk(&url, connections, seconds, &headers)).await??;
    let after = pids.cpu();
    let per_request = |i: usize| {
        after[i]
            .saturating_sub(before[i])
            .div_f64(result.requests.max(1) as f64)
    };
    Ok(Run {
        wrk: result,
        sandbox_cpu: per_request(0),
        backend_cpu: per_request(1),
        nginx_cpu: per_request(2),
        bare_cpu: per_request(3),
    })
}

/// Runs the benchmark, `seconds` per measurement, at `connections` (empty:
/// [`CONCURRENCY`]); prints and returns the rows.
pub async fn run(seconds: u32, connections: &[u32]) -> anyhow::Result<Vec<Row>> {
    let connections = if connections.is_empty() {
        &CONCURRENCY[..]
    } else {
        connections
    };
    println!("== Proxy hop: GET {PATIENTS_PAGE}, wrk {seconds}s per run ==");
    let deployment = Deployment::start().await?;
    let token = bearer_token(&deployment.sandbox_url, "openid giponext.patients").await?;
    let cookie = deployment.session_cookie().unwrap_or_default();
    let nginx = Nginx::start(&deployment.sandbox_addr).await?;
    let bare = BareHop::start(&deployment.sandbox_addr).await?;
    let pids = Pids {
        sandbox: deployment.sandbox_pid,
        backend: deployment.bff_pid,
        nginx: nginx.pid,
        bare: bare.pid,
    };

    let backend_url = format!("{}/api/giponext/{PATIENTS_PAGE}", deployment.bff_url);
    let direct_url = format!("{}/{PATIENTS_PAGE}", deployment.sandbox_url);
    let nginx_url = format!("http://127.0.0.1:{}/{PATIENTS_PAGE}", nginx.port);
    let bare_url = format!("http://127.0.0.1:{}/{PATIENTS_PAGE}", bare.port);
    let bearer = vec![format!("Authorization: Bearer {token}")];
    let browser = vec![
        format!("Cookie: gx_session={cookie}"),
        "X-CSRF: 1".to_owned(),
    ];

    // Every target must answer 200 before it is timed.
    for (url, headers) in [
        (&backend_url, &browser),
        (&direct_url, &bearer),
        (&nginx_url, &bearer),
        (&bare_url, &bearer),
    ] {
        let mut req = deployment.http.get(url.as_str());
        for h in headers.iter() {
            let (k, v) = h.split_once(": ").unwrap_or((h.as_str(), ""));
            req = req.header(k, v);
        }
        let status = req.send().await?.status();
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
    }

    for (url, headers) in [
        (&direct_url, &bearer),
        (&nginx_url, &bearer),
        (&bare_url, &bearer),
        (&backend_url, &browser),
    ] {
        measure(url, 16, WARM_UP_SECONDS, headers, pids).await?;
    }

    let mut rows = Vec::new();
    for &c in connections {
        let direct = measure(&direct_url, c, seconds, &bearer, pids).await?;
        let nginx_r = measure(&nginx_url, c, seconds, &bearer, pids).await?;
        let bare_r = measure(&bare_url, c, seconds, &bearer, pids).await?;
        let backend = measure(&backend_url, c, seconds, &browser, pids).await?;
        let row = Row {
            connections: c,
            backend,
            direct,
            nginx: nginx_r,
            bare: bare_r,
        };
        print_row(&row);
        rows.push(row);
    }
    print_verdict(&rows);
    drop(bare);
    drop(nginx);
    drop(deployment);
    Ok(rows)
}

fn print_row(r: &Row) {
    println!("-- concurrency {} --", r.connections);
    for (name, run) in [
        ("backend", r.backend),
        ("direct", r.direct),
        ("nginx", r.nginx),
        ("bare", r.bare),
    ] {
        let w = run.wrk;
        println!(
            "  {name:<8} {:>9.0} req/s  p50 {:>10}  p99 {:>10}  errors {}  CPU/request: sandbox {:.0} us, backend {:.0} us, nginx {:.0} us, bare {:.0} us",
            w.rps,
            ms(w.p50),
            ms(w.p99),
            w.errors,
            run.sandbox_cpu.as_secs_f64() * 1e6,
            run.backend_cpu.as_secs_f64() * 1e6,
            run.nginx_cpu.as_secs_f64() * 1e6,
            run.bare_cpu.as_secs_f64() * 1e6,
        );
    }
    let (b, d, n) = (r.backend.wrk, r.direct.wrk, r.nginx.wrk);
    println!(
        "  ratio req/s backend/nginx {:.2}, backend/direct {:.2}; added p99 vs direct {}, vs nginx {}",
        ratio(b.rps, n.rps),
        ratio(b.rps, d.rps),
        signed_ms(b.p99.as_secs_f64() - d.p99.as_secs_f64()),
        signed_ms(b.p99.as_secs_f64() - n.p99.as_secs_f64()),
    );
    let sandbox_change =
        |run: Run| (run.sandbox_cpu.as_secs_f64() - r.direct.sandbox_cpu.as_secs_f64()) * 1e6;
    println!(
        "  bare hyper hop: req/s bare/nginx {:.2}, backend/bare {:.2}",
        ratio(r.bare.wrk.rps, n.rps),
        ratio(b.rps, r.bare.wrk.rps),
    );
    println!(
        "  CPU the hop costs per request: backend {:.0} us, bare hyper {:.0} us, nginx {:.0} us -> nginx/backend {:.2} (sandbox vs direct: {:+.0} us behind the backend, {:+.0} us behind nginx)",
        r.backend_hop_cpu() * 1e6,
        r.bare_hop_cpu() * 1e6,
        r.nginx_hop_cpu() * 1e6,
        ratio(r.nginx_hop_cpu(), r.backend_hop_cpu()),
        sandbox_change(r.backend),
        sandbox_change(r.nginx),
    );
}

fn signed_ms(secs: f64) -> String {
    format!("{:+.3} ms", secs * 1000.0)
}

fn print_verdict(rows: &[Row]) {
    let ratio_ok = rows.iter().all(|r| r.backend.wrk.rps >= r.nginx.wrk.rps);
    let p99_ok = rows
        .iter()
        .all(|r| r.backend.wrk.p99.as_secs_f64() - r.direct.wrk.p99.as_secs_f64() < 0.001);
    println!(
        "  goal backend/nginx >= 1.0 at every concurrency: {}",
        if ratio_ok { "MET" } else { "NOT MET" }
    );
    println!(
        "  goal < 1 ms added p99 (backend vs direct) at every concurrency: {}",
        if p99_ok { "MET" } else { "NOT MET" }
    );
}
