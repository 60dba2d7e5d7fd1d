//! The provider slow (not down) at sign-in, refresh and logout: a fault
//! proxy in front of the fake provider delays its token and revocation
//! endpoints beyond the backend's upstream timeout. The user must get a
//! clear answer within that timeout (plus a margin), never a hang or a 500.

use std::time::{Duration, Instant};

use reqwest::Method;

use super::{UPSTREAM_TIMEOUT, clear, expire_access, fake_config, is_problem, login, seen};
use crate::Report;
use crate::fake_provider::{self, Fake, TENANT};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::Client;

/// How long the slow provider takes (five times the backend's timeout).
const SLOW: Duration = Duration::from_secs(5);
/// The most an answer may take: the timeout and a margin for the machine.
const BOUND: Duration = Duration::from_millis(3500);
/// The backend's upstream timeout in the logout case: longer than
/// [`BOUND`], so a logout that waited for it would fail the check.
const LOGOUT_UPSTREAM_TIMEOUT: Duration = Duration::from_millis(4500);

struct Proxied {
    fake: Fake,
    proxy: FaultProxy,
    bff: giponext_bff::RunningBff,
    client: Client,
    _task: tokio::task::JoinHandle<()>,
}

/// A backend whose provider is reached through a fault proxy.
async fn start() -> Proxied {
    start_with_timeout(UPSTREAM_TIMEOUT).await
}

/// The same with another upstream timeout.
async fn start_with_timeout(upstream_timeout: Duration) -> Proxied {
    let (fake, url, task) = fake_provider::start().await;
    let proxy = FaultProxy::start(&url).await.expect("proxy starts");
    // The provider's own URLs (discovery, `iss`) are the proxy's.
    fake.with(|i| i.issuer = proxy.url().to_owned());
    let mut config = fake_config(proxy.url(), &url);
    config.timings.upstream_timeout = upstream_timeout;
    let bff = giponext_bff::serve(config).await.expect("backend starts");
    let client = Client::new(bff.url());
    Proxied {
        fake,
        proxy,
        bff,
        client,
        _task: task,
    }
}

/// A clear "did not answer in time, retry in a moment" answer to an API
/// call: a timeout is told apart from an outage (502).
fn timed_out(r: &crate::support::Seen) -> bool {
    r.status == 504 && is_problem(r, "upstream_timeout") && clear(r)
}

fn took(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}

pub(super) async fn run(report: Report) {
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    let slow = Some(Fault::Delay(SLOW));

    // Slow at sign-in: the code exchange.
    let p = start().await;
    p.proxy.set("/token", slow);
    let t = Instant::now();
    let r = login(&p.client).await;
    let elapsed = t.elapsed();
    let session = p.client.session().await.authenticated;
    report.check(
        format!("provider slow at sign-in (token endpoint {SLOW:?}, timeout {UPSTREAM_TIMEOUT:?})"),
        format!("a clear 504 'did not answer in time' page within {BOUND:?}, not signed in"),
        format!("{} after {}; signed in: {session}", seen(&r), took(t)),
        r.status == 504
            && r.body.contains("did not answer in time")
            && clear(&r)
            && elapsed < BOUND
            && !session,
    );
    // Once the provider is fast again, signing in works.
    p.proxy.set("/token", None);
    let r = login(&p.client).await;
    let ok = p.client.api(Method::GET, &patients, None).await;
    report.check(
        "provider fast again after a slow sign-in",
        "sign-in 302, API 200",
        format!("sign-in {}; API {}", r.status.as_u16(), ok.status.as_u16()),
        r.status == 302 && ok.status == 200,
    );

    // Slow at refresh.
    let refreshes = p.fake.with(|i| i.refreshes);
    p.proxy.set("/token", slow);
    expire_access(&p.fake, &p.bff, &p.client).await;
    let t = Instant::now();
    let r = p.client.api(Method::GET, &patients, None).await;
    let elapsed = t.elapsed();
    report.check(
        format!("provider slow at refresh (token endpoint {SLOW:?})"),
        format!("a retryable 504 upstream_timeout JSON problem within {BOUND:?}"),
        format!("{} after {}", seen(&r), took(t)),
        timed_out(&r) && elapsed < BOUND,
    );
    // The slow refresh reached the provider after the backend gave up: the
    // provider rotated, the backend kept the old refresh token.
    tokio::time::sleep(SLOW).await;
    p.proxy.set("/token", None);
    let r = p.client.api(Method::GET, &patients, None).await;
    let reached = p.fake.with(|i| i.refreshes) - refreshes;
    let reuse = p.fake.with(|i| i.refresh_reuse_detected);
    let survived = r.status == 200;
    report.check(
        "after the slow refresh (it never reached the provider), provider fast again",
        "200: the grant survives, one refresh at the provider, no reuse",
        format!(
            "{}; refreshes at the provider {reached}, reuse detected {reuse}; grant survived: {survived}",
            seen(&r)
        ),
        survived && reached == 1 && reuse == 0,
    );

    // Slow at refresh the other way: the provider rotates, but its answer
    // comes after the backend gave up. The backend still holds the old
    // refresh token, whose next use is a reuse: the user signs in again.
    let reuse = p.fake.with(|i| i.refresh_reuse_detected);
    p.proxy.set("/token", Some(Fault::HoldAnswer));
    expire_access(&p.fake, &p.bff, &p.client).await;
    let t = Instant::now();
    let r = p.client.api(Method::GET, &patients, None).await;
    let elapsed = t.elapsed();
    let held = p.proxy.held();
    p.proxy.set("/token", None);
    let next = p.client.api(Method::GET, &patients, None).await;
    let reused = p.fake.with(|i| i.refresh_reuse_detected) - reuse;
    report.check(
        "provider slow at refresh, answering after it rotated (answer held)",
        format!(
            "a retryable 504 upstream_timeout within {BOUND:?}; then 401 reauth_required with login_url (grant lost)"
        ),
        format!(
            "{} after {}; answers held {held}; next call {}; old token reused {reused}x",
            seen(&r),
            took(t),
            seen(&next)
        ),
        timed_out(&r)
            && elapsed < BOUND
            && held == 1
            && next.status == 401
            && is_problem(&next, "reauth_required")
            && next.body.contains("login_url")
            && reused == 1,
    );
    p.bff.shutdown().await;

    // Slow at logout: the revocation. The backend's timeout is longer than
    // the logout bound here: logout must not wait for it.
    let p = start_with_timeout(LOGOUT_UPSTREAM_TIMEOUT).await;
    let done = login(&p.client).await;
    p.proxy.set("/revoke", slow);
    let t = Instant::now();
    let r = p
        .client
        .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], None)
        .await;
    let elapsed = t.elapsed();
    let after = p.client.session().await.authenticated;
    report.check(
        format!("provider slow at logout (revocation {SLOW:?})"),
        format!(
            "200 within {BOUND:?} (timeout {LOGOUT_UPSTREAM_TIMEOUT:?}, revocation waited {:?}), signed out locally",
            giponext_bff::routes::logout_revocation_wait(LOGOUT_UPSTREAM_TIMEOUT)
        ),
        format!(
            "{} after {}; login {}; still signed in: {after}",
            r.status.as_u16(),
            took(t),
            done.status.as_u16()
        ),
        r.status == 200 && elapsed < BOUND && !after,
    );
    p.bff.shutdown().await;
}
