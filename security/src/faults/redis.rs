//! Redis down and back: two backend instances share a real `redis-server`
//! (append-only file, fsync always). While Redis is down the user gets a
//! clear, retryable answer (503 `session_unavailable`, never a 500); when it
//! is back the session is still there, on either instance.

use std::time::{Duration, Instant};

use giponext_bff::config::{RedisUrl, StoreLocation};
use reqwest::Method;

use super::{clear, fake_config, is_problem, login, seen, tuned};
use crate::Report;
use crate::cases::get_with_session;
use crate::fake_provider::{self, TENANT};
use crate::redis_server::RedisServer;
use crate::support::Client;

/// The most an answer may take while Redis is down (no hang).
const BOUND: Duration = Duration::from_secs(10);

/// Takes the server down as an outage would (the append-only file, fsynced
/// on every write, keeps the data); `RedisServer::restart` brings it back.
async fn shut_down(url: &str) {
    if let Ok(client) = redis::Client::open(url)
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        // The server closes the connection instead of answering.
        let _ = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async::<()>(&mut conn)
            .await;
    }
    // Wait until it no longer accepts connections.
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn run(report: Report) {
    let mut redis = RedisServer::start(true).await;
    let (fake, url, _task) = fake_provider::start().await;
    let mut config = fake_config(&url, &url);
    tuned(&mut config);
    config.session_store = StoreLocation::Redis(RedisUrl(redis.url()));
    let a = giponext_bff::serve(config.clone())
        .await
        .expect("instance A starts");
    let b = giponext_bff::serve(config)
        .await
        .expect("instance B starts");
    let client = Client::new(a.url());
    let done = login(&client).await;
    let cookie = client.session_cookie().unwrap_or_default();
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    let on_b = |path: &str| {
        let b = Client::new(b.url());
        let path = path.to_owned();
        let cookie = cookie.clone();
        async move { get_with_session(&b, &path, &cookie).await }
    };
    let before = client.api(Method::GET, &patients, None).await;

    shut_down(&redis.url()).await;
    let calls = fake.with(|i| i.api_calls);
    for (what, path) in [
        ("API call", patients.as_str()),
        ("session info", "/api/session"),
    ] {
        let t = Instant::now();
        let r = if path == patients {
            client.api(Method::GET, path, None).await
        } else {
            client.get(path).await
        };
        let elapsed = t.elapsed();
        report.check(
            format!("Redis down: {what} ({path})"),
            format!("503 session_unavailable with Retry-After, within {BOUND:?}"),
            format!(
                "{} Retry-After {:?} after {:.1} s",
                seen(&r),
                r.header("retry-after"),
                elapsed.as_secs_f64()
            ),
            r.status == 503
                && is_problem(&r, "session_unavailable")
                && !r.header("retry-after").is_empty()
                && clear(&r)
                && elapsed < BOUND,
        );
    }
    let r = on_b(&patients).await;
    let sent = fake.with(|i| i.api_calls) - calls;
    report.check(
        "Redis down: API call on the other instance",
        "503 session_unavailable, nothing sent to GipoNext",
        format!("{}; sent to GipoNext {sent}x", seen(&r)),
        r.status == 503 && is_problem(&r, "session_unavailable") && sent == 0,
    );
    let r = client.get("/auth/login?scope=giponext.patients").await;
    report.check(
        "Redis down: starting a sign-in",
        "503 page: session service temporarily unavailable",
        seen(&r),
        r.status == 503
            && clear(&r)
            && r.header("content-type").contains("html")
            && r.body.contains("Session service temporarily unavailable"),
    );

    redis.restart().await;
    // The store reconnects on its own; give it a moment.
    let mut after = client.api(Method::GET, &patients, None).await;
    for _ in 0..40 {
        if after.status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = client.api(Method::GET, &patients, None).await;
    }
    let other = on_b(&patients).await;
    let session = client.session().await;
    report.check(
        "Redis back (append-only file): same session",
        "200 on both instances, still signed in",
        format!(
            "login {}; before {}; after: A {}, B {}; signed in: {}",
            done.status.as_u16(),
            before.status.as_u16(),
            after.status.as_u16(),
            other.status.as_u16(),
            session.authenticated
        ),
        before.status == 200 && after.status == 200 && other.status == 200 && session.authenticated,
    );
    a.shutdown().await;
    b.shutdown().await;
}
