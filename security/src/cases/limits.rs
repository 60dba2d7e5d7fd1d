//! Resource limits: oversized headers and bodies, slow clients, the
//! sign-in rate limit.

use std::time::{Duration, Instant};

use giponext_bff::Config;
use giponext_sandbox::users;
use reqwest::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::check_status;
use super::harness::{SignedIn, TENANT};
use crate::Report;

/// The client timeout the matrix configures.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads until the server closes; the status line's code (0 if none) and
/// how long it took. Gives up after `limit`.
async fn wait_closed(stream: &mut TcpStream, limit: Duration) -> Option<(u16, Duration)> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some((status, started.elapsed()))
}

pub async fn run(report: Report) {
    let mut config = Config::for_tests();
    config.timings.client_timeout = CLIENT_TIMEOUT;
    config.login_rate_per_minute = 10;
    let mut s = SignedIn::start_with(config).await;
    let done = s.login(users::MARIO, "giponext.patients").await;
    let addr = s.bff.addr();
    let cookie = s.client.session_cookie().unwrap_or_default();
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");

    // Oversized header.
    let big = "a".repeat(200 * 1024);
    let r = s
        .client
        .send(
            Method::GET,
            "/api/session",
            &[("x-big", big.as_str())],
            None,
        )
        .await;
    check_status(&report, "oversized header (200 KiB)", "431", &r, 431);
    let many: Vec<(String, String)> = (0..200).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = s
        .client
        .send(Method::GET, "/api/session", &refs, None)
        .await;
    report.check(
        "too many headers (200)",
        "4xx, not 500",
        format!("{}", r.status.as_u16()),
        r.status.is_client_error(),
    );

    // Oversized body.
    let body = format!(r#"{{"firstName":"{}"}}"#, "x".repeat(3 << 20));
    let r = s.client.api(Method::POST, &patients, Some(&body)).await;
    report.check(
        "oversized body (3 MiB) to the proxy",
        "413",
        format!("{} (login {})", r.status.as_u16(), done.status.as_u16()),
        r.status == 413,
    );

    // Slow client: headers trickled byte by byte (slowloris).
    let limit = CLIENT_TIMEOUT * 3;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream
        .write_all(b"GET /api/session HTTP/1.1\r\nHost: x\r\n")
        .await;
    let trickle = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, trickle).await;
    let closed = wait_closed(&mut stream, Duration::from_secs(1)).await;
    report.check(
        "slow client: headers never finish",
        format!("cut off within {limit:?}"),
        format!("{closed:?}"),
        closed.is_some(),
    );

    // Slow client: a body that never arrives.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {patients} HTTP/1.1\r\nHost: x\r\nX-CSRF: 1\r\nCookie: gx_session={cookie}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let closed = wait_closed(&mut stream, limit).await;
    report.check(
        "slow client: body never finishes",
        format!("408 within {limit:?}"),
        format!("{closed:?}"),
        matches!(closed, Some((408, _))),
    );

    // Sign-in rate limit per client address.
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(s.client.get("/auth/login").await);
    }
    let limited = statuses.iter().position(|r| r.status == 429);
    let retry = limited
        .map(|i| statuses[i].header("retry-after").to_owned())
        .unwrap_or_default();
    report.check(
        "sign-in rate limit (15 quick /auth/login, limit 10/min)",
        "429 with Retry-After",
        format!("first 429 at #{limited:?}, Retry-After {retry:?}"),
        limited.is_some_and(|i| i >= 8) && !retry.is_empty(),
    );
    let r = s.client.api(Method::GET, &patients, None).await;
    check_status(
        &report,
        "API not affected by the sign-in limit",
        "200",
        &r,
        200,
    );
    s.bff.shutdown().await;
}
