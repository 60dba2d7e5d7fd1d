//! The closed gaps of issue 3: a provider that comes up after the backend,
//! several tabs signing in, timeouts told apart from outages, refreshed ID
//! tokens validated (the SQLite store lock is in `store_lock.rs`).

use crate::support::FakeSetup;

/// The backend starts before its provider: not ready (with the reason) and
/// a clear 503 sign-in page, never a 500; once the provider is up, discovery
/// is retried in the background and sign-in works without a restart.
#[tokio::test]
async fn the_backend_starts_before_its_provider() {
    // A free address, with nothing listening on it yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let issuer = format!("http://{addr}");
    let mut config = giponext_bff::Config::for_tests();
    config.upstream = giponext_bff::config::Upstream::External {
        issuer: issuer.clone(),
        api_base: url::Url::parse(&issuer).unwrap(),
    };
    config.client_id = crate::fake_provider::CLIENT_ID.into();
    config.client_secret = giponext_bff::types::Secret::new(crate::fake_provider::CLIENT_SECRET);
    let bff = giponext_bff::serve(config)
        .await
        .expect("starts without its provider");
    let client = crate::support::Client::new(bff.url());

    let ready = client.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["issuer"], "unavailable");
    assert!(
        ready.json()["reason"]
            .as_str()
            .unwrap()
            .contains("not been discovered yet"),
        "{}",
        ready.body
    );
    assert!(
        !ready.body.contains("127.0.0.1") && !ready.body.contains("refused"),
        "the probe names no address or connection error: {}",
        ready.body
    );
    let page = client.get("/auth/login").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("Sign-in service unavailable"),
        "{}",
        page.body
    );
    let problem = client
        .send(
            reqwest::Method::GET,
            "/auth/login",
            &[("accept", "application/json")],
            None,
        )
        .await;
    assert_eq!(problem.status, 503);
    assert_eq!(problem.header("retry-after"), "5");
    assert_eq!(problem.json()["type"], "upstream_unavailable");
    // Signed out, signing out still works (nothing to revoke).
    let out = client.logout().await;
    assert_eq!(out.status, 200, "{}", out.body);

    // The provider comes up.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (_fake, _, _task) = crate::fake_provider::start_on(listener).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ready = client.get("/readyz").await;
        if ready.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still not ready: {}",
            ready.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let start = client.get("/auth/login?return_to=%2Finvoices").await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert!(start.location().starts_with(&format!("{issuer}/authorize")));
    assert!(
        start
            .header("content-security-policy")
            .contains(&format!("form-action 'self' {issuer}")),
        "{}",
        start.header("content-security-policy")
    );
    let at_provider = client.get(start.location()).await;
    let callback = client.get(at_provider.location()).await;
    assert_eq!(callback.status, 302, "{}", callback.body);
    assert_eq!(callback.location(), "/invoices");
    assert!(client.session().await.authenticated);
    bff.shutdown().await;
}

/// The operator's mistakes still fail fast: a discovery document that
/// names another issuer.
#[tokio::test]
async fn a_discovery_document_of_another_issuer_fails_fast() {
    let (fake, url, _task) = crate::fake_provider::start().await;
    fake.with(|i| i.issuer = "https://elsewhere.example".into());
    let mut config = giponext_bff::Config::for_tests();
    config.upstream = giponext_bff::config::Upstream::External {
        issuer: url.clone(),
        api_base: url::Url::parse(&url).unwrap(),
    };
    let error = match giponext_bff::serve(config).await {
        Ok(_) => panic!("started against a provider naming another issuer"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("GIPONEXT_ISSUER"), "{error}");
    assert!(error.contains("does not fit this issuer"), "{error}");
}

/// Starts a sign-in in a "tab" of `s`'s browser and takes it through the
/// provider; returns the callback URL (not yet visited).
async fn started_in_a_tab(s: &FakeSetup, return_to: &str) -> String {
    let start = s
        .client
        .get(&format!("/auth/login?return_to={return_to}"))
        .await;
    assert_eq!(start.status, 302, "{}", start.body);
    let at_provider = s.client.get(start.location()).await;
    assert!(at_provider.status.is_redirection(), "{}", at_provider.body);
    at_provider.location().to_owned()
}

/// Two tabs both start a sign-in; both callbacks complete, in either order,
/// each landing on its own return_to, the second signing in again.
#[tokio::test]
async fn two_tabs_signing_in_both_complete_in_either_order() {
    for first_finishes_first in [true, false] {
        let s = FakeSetup::start().await;
        let invoices = started_in_a_tab(&s, "%2Finvoices").await;
        let patients = started_in_a_tab(&s, "%2Fpatients").await;
        let (a, b, a_lands, b_lands) = if first_finishes_first {
            (invoices, patients, "/invoices", "/patients")
        } else {
            (patients, invoices, "/patients", "/invoices")
        };
        let done = s.client.get(&a).await;
        assert_eq!(done.status, 302, "{}", done.body);
        assert_eq!(done.location(), a_lands);
        let first_session = s.client.session_cookie().unwrap();
        let user = s.client.session().await.user.unwrap().sub;

        let done = s.client.get(&b).await;
        assert_eq!(done.status, 302, "{}", done.body);
        assert_eq!(done.location(), b_lands);
        let session = s.client.session().await;
        assert!(session.authenticated);
        assert_eq!(session.user.unwrap().sub, user, "the same user");
        assert_ne!(
            s.client.session_cookie().unwrap(),
            first_session,
            "signing in again rotates the session id"
        );
        // Both are spent: replaying either is refused.
        assert_eq!(s.client.get(&a).await.status, 400);
        assert_eq!(s.client.get(&b).await.status, 400);
        assert!(s.client.cookie("/auth/callback", "gx_login").is_none());
    }
}

/// With two sign-ins pending, a callback this browser did not start (another
/// state) is refused and spends both; another browser cannot use either.
#[tokio::test]
async fn pending_sign_ins_keep_every_login_csrf_protection() {
    let s = FakeSetup::start().await;
    let a = started_in_a_tab(&s, "%2Finvoices").await;
    let b = started_in_a_tab(&s, "%2Fpatients").await;
    let other_browser = crate::support::Client::new(s.bff.url());
    let r = other_browser.get(&a).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not started in this browser"), "{}", r.body);
    assert!(other_browser.session_cookie().is_none());

    let tampered = crate::support::with_param(&url::Url::parse(&a).unwrap(), "state", "x");
    let r = s.client.get(tampered.as_str()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("state mismatch"), "{}", r.body);
    for genuine in [a, b] {
        let r = s.client.get(&genuine).await;
        assert_eq!(r.status, 400, "spent by the tampered callback");
        assert!(s.client.session_cookie().is_none());
    }
}

/// At most `MAX_PENDING` sign-ins per browser: the oldest one ends.
#[tokio::test]
async fn pending_sign_ins_are_bounded() {
    let s = FakeSetup::start().await;
    let max = giponext_bff::routes::pending::MAX_PENDING;
    let mut started = Vec::new();
    for _ in 0..=max {
        started.push(started_in_a_tab(&s, "%2F").await);
    }
    let newest = s.client.get(started.last().unwrap()).await;
    assert_eq!(newest.status, 302, "{}", newest.body);
    let second = s.client.get(&started[1]).await;
    assert_eq!(second.status, 302, "{}", second.body);
    let oldest = s.client.get(&started[0]).await;
    assert_eq!(oldest.status, 400, "dropped: {}", oldest.body);
}

/// Generates the fake provider's signing keys (slow in a debug build)
/// before a test that gives the provider little time.
async fn warm_keys() {
    let (_fake, url, _task) = crate::fake_provider::start().await;
    let jwks = reqwest::get(format!("{url}/jwks")).await.unwrap();
    assert!(jwks.status().is_success());
}

/// A provider that does not answer in time at sign-in (code exchange) gives
/// a 504 "did not answer in time" page, not a 502 "unavailable".
#[tokio::test]
async fn a_slow_code_exchange_is_a_timeout_not_an_outage() {
    warm_keys().await;
    let s = FakeSetup::start_with(|c| {
        c.timings.upstream_timeout = std::time::Duration::from_millis(500)
    })
    .await;
    let callback = started_in_a_tab(&s, "%2F").await;
    s.fake
        .with(|i| i.token_delay = Some(std::time::Duration::from_secs(3)));
    let t = std::time::Instant::now();
    let r = s.client.get(&callback).await;
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(r.body.contains("did not answer in time"), "{}", r.body);
    assert!(s.client.session_cookie().is_none());
}

/// A provider that does not answer in time at refresh: 504 upstream_timeout.
#[tokio::test]
async fn a_slow_refresh_is_a_timeout_not_an_outage() {
    warm_keys().await;
    let s = FakeSetup::start_with(|c| {
        c.timings.upstream_timeout = std::time::Duration::from_millis(500)
    })
    .await;
    assert_eq!(s.login("").await.status, 302);
    s.fake
        .with(|i| i.token_delay = Some(std::time::Duration::from_secs(3)));
    s.fake.expire_access_tokens();
    s.bff
        .expire_access_token(&s.client.session_cookie().unwrap())
        .await;
    let patients = format!(
        "/api/giponext/v2/tenants/{}/patients",
        crate::fake_provider::TENANT
    );
    let r = s.client.api(reqwest::Method::GET, &patients, None).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["type"], "upstream_timeout");
    assert!(s.client.session().await.authenticated, "still signed in");
}

/// Logout ends the local session first and waits for a slow revocation
/// only a bounded time (not the provider timeout).
#[tokio::test]
async fn logout_does_not_wait_for_a_slow_provider() {
    let timeout = std::time::Duration::from_secs(6);
    let s = FakeSetup::start_with(|c| c.timings.upstream_timeout = timeout).await;
    assert_eq!(s.login("").await.status, 302);
    s.fake
        .with(|i| i.revoke_delay = Some(std::time::Duration::from_secs(10)));
    let t = std::time::Instant::now();
    let r = s.client.logout().await;
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    let wait = giponext_bff::routes::logout_revocation_wait(timeout);
    assert_eq!(wait, std::time::Duration::from_secs(2));
    assert!(
        took >= wait && took < wait + std::time::Duration::from_secs(2),
        "logout took {took:?}"
    );
    assert!(r.json()["end_session_url"].as_str().is_some());
    assert!(!s.client.session().await.authenticated);
    assert_eq!(s.fake.with(|i| i.revocations), 0, "still on its way");
}

/// A refresh's new ID token is validated: the same subject is kept as the
/// newest logout hint; another subject fails the refresh (sign in again).
#[tokio::test]
async fn refreshed_id_tokens_are_validated() {
    let patients = format!(
        "/api/giponext/v2/tenants/{}/patients",
        crate::fake_provider::TENANT
    );
    let s = FakeSetup::start().await;
    assert_eq!(s.login("").await.status, 302);
    let refresh = async |s: &FakeSetup| {
        s.fake.expire_access_tokens();
        s.bff
            .expire_access_token(&s.client.session_cookie().unwrap())
            .await;
        s.client.api(reqwest::Method::GET, &patients, None).await
    };

    s.fake
        .with(|i| i.refresh_id_token_sub = Some("user-mario".into()));
    let r = refresh(&s).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let newest = s.fake.with(|i| i.last_refresh_id_token.clone()).unwrap();

    s.fake
        .with(|i| i.refresh_id_token_sub = Some("user-someone-else".into()));
    let revocations = s.fake.with(|i| i.revocations);
    let r = refresh(&s).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        s.fake.with(|i| i.revocations),
        revocations + 1,
        "the refresh token issued with the refused ID token is revoked"
    );
    assert_eq!(r.json()["type"], "reauth_required");
    assert!(r.json()["login_url"].as_str().is_some());
    let r = s.client.api(reqwest::Method::GET, &patients, None).await;
    assert_eq!(r.status, 401, "the session is not used again: {}", r.body);

    // The logout hint is the newest valid ID token, not the refused one.
    let out = s.client.logout().await;
    // The hint travels only in the one-time step's redirect.
    let step = s
        .client
        .get(out.json()["end_session_url"].as_str().unwrap())
        .await;
    let url = url::Url::parse(step.location()).unwrap();
    let hint = url
        .query_pairs()
        .find(|(k, _)| k == "id_token_hint")
        .map(|(_, v)| v.into_owned());
    assert_eq!(hint.as_deref(), Some(newest.as_str()));
}

/// A refreshed ID token failing any other check of OpenID Connect Core 12.2
/// (audience, nonce, issuer, expiry, signature) fails the refresh too.
#[tokio::test]
async fn refreshed_id_tokens_failing_a_check_end_the_session() {
    use crate::fake_provider::IdTokenMode;
    let patients = format!(
        "/api/giponext/v2/tenants/{}/patients",
        crate::fake_provider::TENANT
    );
    for mode in [
        IdTokenMode::WrongAud,
        IdTokenMode::WrongNonce,
        IdTokenMode::WrongIss,
        IdTokenMode::Expired,
        IdTokenMode::AlgNone,
        IdTokenMode::ForgedKid,
    ] {
        let s = FakeSetup::start().await;
        assert_eq!(s.login("").await.status, 302);
        s.fake.with(|i| {
            i.refresh_id_token_sub = Some("user-mario".into());
            i.id_token_mode = Some(mode);
        });
        s.fake.expire_access_tokens();
        s.bff
            .expire_access_token(&s.client.session_cookie().unwrap())
            .await;
        let r = s.client.api(reqwest::Method::GET, &patients, None).await;
        assert_eq!(r.status, 401, "{mode:?}: {}", r.body);
        assert_eq!(r.json()["type"], "reauth_required", "{mode:?}");
    }
}
