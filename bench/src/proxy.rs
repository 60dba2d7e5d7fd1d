//! Proxy hop: an authenticated GET of a patients page through the backend
//! (session cookie, `X-CSRF: 1`, the backend attaches the token), against
//! (a) the same request straight to the sandbox API with a bearer token and
//! (b) through nginx reverse-proxying to the sandbox API (no auth of its
//! own; the bearer header passes through). wrk, same concurrency, same
//! machine.

use crate::stack::{PATIENTS_PAGE, Stack, bearer_token, sandbox_config};
use crate::stats::{ms, ratio};
use crate::tools::{Nginx, WrkResult, wrk};

/// The concurrencies measured.
pub const CONCURRENCY: [u32; 3] = [1, 16, 64];

/// One concurrency level's three measurements.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// wrk connections.
    pub connections: u32,
    /// Through the backend.
    pub backend: WrkResult,
    /// Straight to the sandbox API.
    pub direct: WrkResult,
    /// Through nginx.
    pub nginx: WrkResult,
}

/// Runs the benchmark, `seconds` per measurement; prints and returns the rows.
pub async fn run(seconds: u32) -> anyhow::Result<Vec<Row>> {
    println!("== Proxy hop: GET {PATIENTS_PAGE}, wrk {seconds}s per run ==");
    let stack = Stack::start(sandbox_config(), 1, None).await?;
    let token = bearer_token(&stack.sandbox, "openid giponext.patients").await?;
    let cookie = stack.session_cookie().unwrap_or_default();
    let upstream = stack.sandbox.addr().to_string();
    let nginx = Nginx::start(&upstream).await?;

    let backend_url = format!("{}/api/giponext/{PATIENTS_PAGE}", stack.bffs[0].url());
    let direct_url = format!("http://{upstream}/{PATIENTS_PAGE}");
    let nginx_url = format!("http://127.0.0.1:{}/{PATIENTS_PAGE}", nginx.port);
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
    ] {
        let mut req = stack.http.get(url.as_str());
        for h in headers.iter() {
            let (k, v) = h.split_once(": ").unwrap_or((h.as_str(), ""));
            req = req.header(k, v);
        }
        let status = req.send().await?.status();
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
    }

    let mut rows = Vec::new();
    for c in CONCURRENCY {
        // wrk blocks; run it off the runtime that serves the backend.
        let run = |url: String, headers: Vec<String>| {
            tokio::task::spawn_blocking(move || wrk(&url, c, seconds, &headers))
        };
        let direct = run(direct_url.clone(), bearer.clone()).await??;
        let nginx_r = run(nginx_url.clone(), bearer.clone()).await??;
        let backend = run(backend_url.clone(), browser.clone()).await??;
        let row = Row {
            connections: c,
            backend,
            direct,
            nginx: nginx_r,
        };
        print_row(&row);
        rows.push(row);
    }
    print_verdict(&rows);
    drop(nginx);
    stack.shutdown().await;
    Ok(rows)
}

fn print_row(r: &Row) {
    println!("-- concurrency {} --", r.connections);
    for (name, w) in [
        ("backend", r.backend),
        ("direct", r.direct),
        ("nginx", r.nginx),
    ] {
        println!(
            "  {name:<8} {:>9.0} req/s  p50 {:>10}  p99 {:>10}  errors {}",
            w.rps,
            ms(w.p50),
            ms(w.p99),
            w.errors
        );
    }
    println!(
        "  ratio req/s backend/nginx {:.2}, backend/direct {:.2}; added p99 vs direct {}, vs nginx {}",
        ratio(r.backend.rps, r.nginx.rps),
        ratio(r.backend.rps, r.direct.rps),
        signed_ms(r.backend.p99.as_secs_f64() - r.direct.p99.as_secs_f64()),
        signed_ms(r.backend.p99.as_secs_f64() - r.nginx.p99.as_secs_f64()),
    );
}

fn signed_ms(secs: f64) -> String {
    format!("{:+.3} ms", secs * 1000.0)
}

fn print_verdict(rows: &[Row]) {
    let ratio_ok = rows.iter().all(|r| r.backend.rps >= r.nginx.rps);
    let p99_ok = rows
        .iter()
        .all(|r| r.backend.p99.as_secs_f64() - r.direct.p99.as_secs_f64() < 0.001);
    println!(
        "  goal backend/nginx >= 1.0 at every concurrency: {}",
        if ratio_ok { "MET" } else { "NOT MET" }
    );
    println!(
        "  goal < 1 ms added p99 (backend vs direct) at every concurrency: {}",
        if p99_ok { "MET" } else { "NOT MET" }
    );
}
