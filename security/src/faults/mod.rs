//! Fault injection: what the user sees when the provider, GipoNext or the
//! session store misbehave, and across backend restarts and crashes. Same
//! rows as the matrix: case = what was injected, expected, observed = what
//! the browser got (status, problem type, message), verdict.
//!
//! - this module: GipoNext API errors (500, 503, 429, timeouts, also on
//!   writes), provider down at sign-in, refresh and logout, a graceful
//!   restart with the SQLite store;
//! - [`slow`]: provider slow (not down) at sign-in, refresh and logout;
//! - [`redis`]: Redis down and back;
//! - [`crash`]: the backend (a separate OS process) killed between the
//!   provider rotating the refresh token and the backend storing it;
//! - [`writes`]: nothing typed lost (a write refused for auth reasons is not
//!   executed and can be sent again after signing in).

mod crash;
mod redis;
mod slow;
mod writes;

use std::path::Path;
use std::time::Duration;

use giponext_bff::Config;
use giponext_bff::config::{StoreLocation, Upstream};
use reqwest::Method;
use url::Url;

use crate::Report;
use crate::cases::{get_with_session, snippet};
use crate::fake_provider::{self, TENANT};
use crate::support::{Client, FakeSetup, Seen};

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);

fn tuned(c: &mut Config) {
    c.timings.upstream_timeout = UPSTREAM_TIMEOUT;
}

/// A test backend's config for the fake provider: sign-in at `issuer` (the
/// provider or a fault proxy in front of it), the API at `api_base`.
fn fake_config(issuer: &str, api_base: &str) -> Config {
    let mut config = Config::for_tests();
    config.upstream = Upstream::External {
        issuer: issuer.to_owned(),
        api_base: Url::parse(api_base).expect("url"),
    };
    config.client_id = fake_provider::CLIENT_ID.into();
    config.client_secret = giponext_bff::types::Secret::new(fake_provider::CLIENT_SECRET);
    config
}

/// Ends the access token of `client`'s session at the provider and in the
/// backend, so that the next API call refreshes.
async fn expire_access(
    fake: &fake_provider::Fake,
    bff: &giponext_bff::RunningBff,
    client: &Client,
) {
    fake.expire_access_tokens();
    if let Some(cookie) = client.session_cookie() {
        bff.expire_access_token(&cookie).await;
    }
}

/// A clear answer: not a 500, a JSON problem or an HTML page, not empty.
pub(crate) fn clear(r: &Seen) -> bool {
    r.status != 500
        && (r.header("content-type").contains("json") || r.header("content-type").contains("html"))
        && !r.body.trim().is_empty()
}

/// What the user saw: status, problem type and message (title; detail) of a
/// problem document, or the heading of an HTML page.
pub(crate) fn seen(r: &Seen) -> String {
    let status = r.status.as_u16();
    if r.status.is_success() {
        // Not the body: it may carry data (or the logout's id_token_hint).
        return format!("{status} OK");
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.body)
        && let Some(kind) = v["type"].as_str()
    {
        let title = v["title"].as_str().unwrap_or("");
        let detail = v["detail"].as_str().unwrap_or("");
        return format!("{status} {kind}: \"{title}\" ({detail})");
    }
    if r.header("content-type").contains("html") {
        let heading = ["<h1>", "<title>"].iter().find_map(|tag| {
            let start = r.body.find(tag)? + tag.len();
            let end = r.body[start..].find('<')? + start;
            Some(r.body[start..end].trim().to_owned())
        });
        return format!("{status} page \"{}\"", heading.unwrap_or_default());
    }
    format!("{status} {}", snippet(&r.body))
}

/// Whether `r` is a problem of this type.
pub(crate) fn is_problem(r: &Seen, kind: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(&r.body).is_ok_and(|v| v["type"] == kind)
}

/// Runs every fault and returns the table. `bff_exe` is a binary whose
/// `bff` subcommand serves the backend from the environment (the
/// `giponext-security` binary itself): the crash case runs the backend as
/// a separate OS process so that it can be killed.
pub async fn run_faults(bff_exe: &Path) -> Report {
    let report = Report::default();
    // Warm the fake provider's keys (RSA generation) under default timeouts,
    // so the short upstream timeout below only ever meets injected slowness.
    let warm = FakeSetup::start().await;
    warm.bff.shutdown().await;
    let groups: Vec<(&str, crate::cases::Group)> = vec![
        ("api", |r| Box::pin(api_faults(r))),
        ("provider", |r| Box::pin(provider_faults(r))),
        ("slow provider", |r| Box::pin(slow::run(r))),
        ("restart", |r| Box::pin(restart(r))),
        ("redis", |r| Box::pin(redis::run(r))),
        ("writes", |r| Box::pin(writes::run(r))),
    ];
    for (group, run) in groups {
        if let Err(e) = tokio::spawn(run(report.clone())).await {
            report.check(
                format!("{group}: harness"),
                "the group runs",
                crate::panic_message(e),
                false,
            );
        }
    }
    let exe = bff_exe.to_owned();
    if let Err(e) = tokio::spawn(crash::run(report.clone(), exe)).await {
        report.check(
            "crash: harness",
            "the group runs",
            crate::panic_message(e),
            false,
        );
    }
    report
}

async fn api_faults(report: Report) {
    let s = FakeSetup::start_with(tuned).await;
    let done = s.login("?scope=giponext.patients").await;
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    for (status, retry, expected, want) in [
        (500, None, "502 JSON problem", 502),
        (503, None, "502 JSON problem", 502),
        (429, Some(7), "429 with Retry-After: 7", 429),
    ] {
        s.fake
            .with(|i| i.api_override = Some((status, retry, Duration::ZERO)));
        let r = s.client.api(Method::GET, &patients, None).await;
        let retry_ok = retry.is_none_or(|n| r.header("retry-after") == n.to_string());
        report.check(
            format!("API answers {status}"),
            expected,
            format!("{} (login {})", seen(&r), done.status.as_u16()),
            r.status.as_u16() == want && retry_ok && clear(&r),
        );
    }
    s.fake
        .with(|i| i.api_override = Some((200, None, UPSTREAM_TIMEOUT * 3)));
    let r = s.client.api(Method::GET, &patients, None).await;
    report.check(
        "API slower than the upstream timeout",
        "504 JSON problem",
        seen(&r),
        r.status == 504 && clear(&r),
    );
    // A write that fails upstream is sent once: never retried by the
    // backend (the console shows the problem and keeps what was typed).
    let body = r#"{"firstName":"Anna","lastName":"Neri","fiscalCode":"RSSMRA85T10A562S"}"#;
    for (status, retry, want) in [(500, None, 502), (503, None, 502), (429, Some(7), 429)] {
        s.fake
            .with(|i| i.api_override = Some((status, retry, Duration::ZERO)));
        let before = s.fake.with(|i| i.api_calls);
        let r = s.client.api(Method::POST, &patients, Some(body)).await;
        let calls = s.fake.with(|i| i.api_calls) - before;
        report.check(
            format!("API {status} on a write (POST patient)"),
            format!("{want}, the write sent once"),
            format!("{}; sent {calls}x", seen(&r)),
            r.status.as_u16() == want && calls == 1 && clear(&r),
        );
    }
    s.fake
        .with(|i| i.api_override = Some((200, None, UPSTREAM_TIMEOUT * 3)));
    let before = s.fake.with(|i| i.api_calls);
    let r = s.client.api(Method::POST, &patients, Some(body)).await;
    let calls = s.fake.with(|i| i.api_calls) - before;
    report.check(
        "API timeout on a write",
        "504, the write sent once",
        format!("{}; sent {calls}x", seen(&r)),
        r.status == 504 && calls == 1,
    );
    s.fake.with(|i| i.api_override = None);

    // Refresh refused: the session asks for a new sign-in.
    s.fake.with(|i| i.fail_refresh = true);
    expire_access(&s.fake, &s.bff, &s.client).await;
    let r = s.client.api(Method::GET, &patients, None).await;
    report.check(
        "provider refuses the refresh (invalid_grant)",
        "401 reauth_required with login_url",
        seen(&r),
        r.status == 401 && r.body.contains("reauth_required") && r.body.contains("login_url"),
    );
    s.bff.shutdown().await;
}

/// A backend on a fake provider whose server task we can stop.
async fn with_stoppable_provider() -> (
    crate::fake_provider::Fake,
    tokio::task::JoinHandle<()>,
    giponext_bff::RunningBff,
    Client,
) {
    let (fake, url, task) = fake_provider::start().await;
    let mut config = fake_config(&url, &url);
    tuned(&mut config);
    let bff = giponext_bff::serve(config).await.expect("backend starts");
    let client = Client::new(bff.url());
    (fake, task, bff, client)
}

async fn login(client: &Client) -> Seen {
    let start = client.get("/auth/login?scope=giponext.patients").await;
    let at_provider = client.get(start.location()).await;
    client.get(at_provider.location()).await
}

async fn provider_faults(report: Report) {
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    // Down at sign-in (after the browser was sent there: the code exchange).
    let (_fake, task, bff, client) = with_stoppable_provider().await;
    let start = client.get("/auth/login").await;
    let at_provider = client.get(start.location()).await;
    task.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = client.get(at_provider.location()).await;
    report.check(
        "provider down at sign-in (code exchange)",
        "a clear 502 'unavailable' page (an outage, not a timeout), no session",
        seen(&r),
        r.status == 502
            && r.body.contains("Sign-in service unavailable")
            && clear(&r)
            && client.session_cookie().is_none(),
    );
    bff.shutdown().await;

    // Down at refresh.
    let (fake, task, bff, client) = with_stoppable_provider().await;
    let done = login(&client).await;
    expire_access(&fake, &bff, &client).await;
    task.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = client.api(Method::GET, &patients, None).await;
    report.check(
        "provider down at refresh",
        "502 upstream_unavailable JSON (an outage, not a timeout; retry later), not 500",
        format!("{} (login {})", seen(&r), done.status.as_u16()),
        r.status == 502 && is_problem(&r, "upstream_unavailable") && clear(&r),
    );
    // Down at logout: the local session still ends.
    let r = client
        .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], None)
        .await;
    let after = client.session().await.authenticated;
    report.check(
        "provider down at logout",
        "200, signed out locally",
        format!("{}; still signed in: {after}", seen(&r)),
        r.status == 200 && !after,
    );
    bff.shutdown().await;
}

async fn restart(report: Report) {
    let Ok(dir) = tempfile::tempdir() else {
        report.check("backend restart mid-session", "runs", "no temp dir", false);
        return;
    };
    let (fake, url, _task) = fake_provider::start().await;
    let mut config = fake_config(&url, &url);
    config.session_store = StoreLocation::File(dir.path().join("sessions.db"));
    let bff = giponext_bff::serve(config.clone())
        .await
        .expect("backend starts");
    let client = Client::new(bff.url());
    let done = login(&client).await;
    let cookie = client.session_cookie().unwrap_or_default();
    bff.shutdown().await;
    let bff = giponext_bff::serve(config).await.expect("backend restarts");
    let again = Client::new(bff.url());
    let before = fake.with(|i| i.api_calls);
    let r = get_with_session(
        &again,
        &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
        &cookie,
    )
    .await;
    let calls = fake.with(|i| i.api_calls) - before;
    report.check(
        "backend restart mid-session (SQLite store)",
        "the session survives: 200",
        format!(
            "login {}; after restart {}; API calls {calls}",
            done.status.as_u16(),
            r.status.as_u16()
        ),
        done.status == 302 && r.status == 200 && calls == 1,
    );
    bff.shutdown().await;
}
