//! Sign-in, partial and incremental consent, refusals, the session API,
//! logout, static files, health and the token leak scan.

use giponext_shared::session::{FeatureReason, TokenState};
use giponext_shared::{FeatureId, Scope, ScopeSet};
use reqwest::Method;

use crate::fake_provider::{Decision, TENANT};
use crate::support::{FakeSetup, assert_no_leak};

fn reason(info: &giponext_shared::session::SessionInfo, id: FeatureId) -> FeatureReason {
    info.features.iter().find(|f| f.id == id).unwrap().reason
}

#[tokio::test]
async fn signed_out_session_is_200_with_everything_disabled() {
    let s = FakeSetup::start().await;
    let info = s.client.session().await;
    assert!(!info.authenticated);
    assert_eq!(info.client_id, crate::fake_provider::CLIENT_ID);
    assert!(!info.sandbox);
    assert_eq!(info.scopes.registered, ScopeSet::all());
    assert!(info.features.iter().all(|f| !f.enabled));
    assert!(info.user.is_none() && info.token.is_none());
}

#[tokio::test]
async fn partial_then_incremental_then_refusal_keeps_earlier_grants() {
    let s = FakeSetup::start().await;
    let essentials = ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients]);

    // First sign-in asks only the essentials; the user refuses patients.
    s.fake
        .with(|i| i.decision = Some(Decision::Grant(ScopeSet::of(&[Scope::OfflineAccess]))));
    let done = s.login("").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/");
    let asked = ScopeSet::parse(&s.fake.with(|i| i.last_scope_param.clone()).unwrap())
        .strict()
        .unwrap();
    assert_eq!(asked, essentials);
    let first_cookie = s.client.session_cookie().expect("session cookie set");
    let info = s.client.session().await;
    assert!(info.authenticated);
    assert_eq!(info.user.as_ref().unwrap().name, "Mario Rossi");
    assert_eq!(info.tenant.as_ref().unwrap().id, TENANT);
    assert_eq!(info.token, Some(TokenState::Ok));
    assert!(info.expires_at.is_some());
    assert_eq!(
        info.scopes.granted,
        ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess])
    );
    assert_eq!(
        info.scopes
            .declined
            .iter()
            .map(|d| d.scope)
            .collect::<Vec<_>>(),
        vec![Scope::Patients]
    );
    assert_eq!(
        reason(&info, FeatureId::BrowsePatients),
        FeatureReason::Declined
    );
    assert_eq!(
        reason(&info, FeatureId::ViewInvoices),
        FeatureReason::NotRequested
    );

    // Incremental: asks what is granted plus invoices; lands on return_to.
    s.fake.with(|i| i.decision = Some(Decision::GrantAll));
    let done = s
        .login("?scope=giponext.invoices&return_to=/invoices")
        .await;
    assert_eq!(done.location(), "/invoices");
    let asked = ScopeSet::parse(&s.fake.with(|i| i.last_scope_param.clone()).unwrap())
        .strict()
        .unwrap();
    assert_eq!(
        asked,
        ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess, Scope::Invoices])
    );
    let second_cookie = s.client.session_cookie().unwrap();
    assert_ne!(first_cookie, second_cookie, "session id rotated at sign-in");
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::Invoices));
    assert_eq!(
        reason(&info, FeatureId::ViewInvoices),
        FeatureReason::Granted
    );
    assert!(
        info.scopes
            .declined
            .iter()
            .any(|d| d.scope == Scope::Patients),
        "earlier refusal kept"
    );

    // Second refusal: the user denies agenda; earlier grants survive.
    s.fake.with(|i| i.decision = Some(Decision::Deny));
    let done = s.login("?scope=giponext.agenda&return_to=/agenda").await;
    assert_eq!(done.status, 302);
    assert_eq!(done.location(), "/agenda");
    let info = s.client.session().await;
    assert!(info.authenticated);
    assert!(info.scopes.granted.contains(Scope::Invoices));
    let declined: ScopeSet = info.scopes.declined.iter().map(|d| d.scope).collect();
    assert_eq!(declined, ScopeSet::of(&[Scope::Patients, Scope::Agenda]));
    assert_eq!(
        reason(&info, FeatureId::ViewAgenda),
        FeatureReason::Declined
    );
    let ok = s
        .client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/invoices"),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Granting patients later removes it from the declined list.
    s.fake.with(|i| i.decision = Some(Decision::GrantAll));
    s.login("?scope=giponext.patients").await;
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::Patients));
    assert!(
        info.scopes
            .declined
            .iter()
            .all(|d| d.scope != Scope::Patients)
    );
    assert!(info.scopes.granted.contains(Scope::Invoices));

    let metrics = s.client.get("/metrics").await.body;
    assert!(
        metrics.contains("bff_logins_total{outcome=\"success\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bff_consent_total{outcome=\"denied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bff_consent_total{outcome=\"partial\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn refusal_at_first_sign_in_lands_on_the_sign_in_page() {
    let s = FakeSetup::start().await;
    s.fake.with(|i| i.decision = Some(Decision::Deny));
    let done = s.login("?return_to=/patients").await;
    assert_eq!(done.status, 302);
    assert_eq!(done.location(), "/signin?error=access_denied");
    assert!(s.client.session_cookie().is_none());
    assert!(!s.client.session().await.authenticated);
}

#[tokio::test]
async fn scope_outside_registration_is_explained_not_requested() {
    let s = FakeSetup::start_with(|c| {
        c.registered_scopes = giponext_shared::RegisteredScopes::new(
            ScopeSet::all().difference(ScopeSet::of(&[Scope::MedicalReports])),
        )
    })
    .await;
    let json = s
        .client
        .send(
            Method::GET,
            "/auth/login?scope=giponext.medicalreports",
            &[("accept", "application/json")],
            None,
        )
        .await;
    assert_eq!(json.status, 403);
    assert_eq!(json.header("content-type"), "application/problem+json");
    let p = json.json();
    assert_eq!(p["type"], "scope_not_registered");
    assert_eq!(p["scope"], "giponext.medicalreports");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(crate::fake_provider::CLIENT_ID) && detail.contains("Reason"),
        "{detail}"
    );

    let page = s
        .client
        .get("/auth/login?scope=giponext.medicalreports")
        .await;
    assert_eq!(page.status, 403);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.body.contains("fixed when it is registered")
            && page.body.contains("client_id: fake-web")
    );
    assert!(
        s.fake.with(|i| i.last_scope_param.is_none()),
        "nothing was sent to the provider"
    );

    let info = s.client.session().await;
    assert_eq!(
        info.scopes.not_registered,
        ScopeSet::of(&[Scope::MedicalReports])
    );
    assert_eq!(
        reason(&info, FeatureId::ReadMedicalReports),
        FeatureReason::NotRegistered
    );
}

#[tokio::test]
async fn logout_revokes_destroys_and_hands_back_end_session_url() {
    let s = FakeSetup::start().await;
    s.login("").await;
    assert!(s.client.session().await.authenticated);
    let refused = s.client.send(Method::POST, "/auth/logout", &[], None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["type"], "csrf_header_missing");
    assert!(s.client.session().await.authenticated, "still signed in");

    let out = s.client.logout().await;
    assert_eq!(out.status, 200, "{}", out.body);
    // Script gets a same-origin one-time step, never the ID token.
    let step = out.json()["end_session_url"].as_str().unwrap().to_owned();
    assert!(step.starts_with("/auth/end-session/"), "{step}");
    assert!(
        !out.body.contains("id_token_hint") && !out.body.contains("eyJ"),
        "{}",
        out.body
    );
    assert_eq!(s.fake.with(|i| i.revocations), 1);
    // The navigation to it is redirected to the provider with the hint.
    let hop = s.client.get(&step).await;
    assert_eq!(hop.status, 302, "{}", hop.body);
    assert_eq!(hop.header("cache-control"), "no-store");
    let url = url::Url::parse(hop.location()).unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/logout?", s.fake.with(|i| i.issuer.clone())))
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], format!("{}/", s.bff.url()));
    assert_eq!(q["client_id"], crate::fake_provider::CLIENT_ID);
    assert!(q.contains_key("id_token_hint"));
    assert!(q["state"].len() >= 32);
    // One time: used again, it lands on the signed-out home page.
    let again = s.client.get(&step).await;
    assert_eq!(again.status, 302);
    assert_eq!(again.location(), "/");
    for forged in [
        "/auth/end-session/x",
        "/auth/end-session/not-a-step",
        &format!("{step}a"),
    ] {
        let hop = s.client.get(forged).await;
        assert_eq!(
            (hop.status.as_u16(), hop.location()),
            (302, "/"),
            "{forged}"
        );
    }
    assert!(!s.client.session().await.authenticated);
    let api = s
        .client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
            None,
        )
        .await;
    assert_eq!(api.status, 401);
}

#[tokio::test]
async fn an_end_session_step_expires_and_a_provider_without_end_session_gets_the_home_page() {
    // Without an end_session_endpoint: the post-logout URL itself.
    let s = FakeSetup::start_tuned(|i| i.no_end_session = true, |_| {}).await;
    s.login("").await;
    let out = s.client.logout().await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.json()["end_session_url"], format!("{}/", s.bff.url()));
    s.login("").await;
    let out = s.client.switch_user().await;
    assert_eq!(
        out.json()["end_session_url"],
        format!("{}/auth/login?prompt=login", s.bff.url())
    );
    // A step past its lifetime (2 min; here 1 s) lands on the home page.
    let step = giponext_bff::types::Secret::random();
    let sessions = &s.bff.state().sessions;
    let until = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    sessions
        .put_end_session(
            &step,
            &giponext_bff::types::Secret::new("http://idp/logout"),
            until,
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let hop = s
        .client
        .get(&format!("/auth/end-session/{}", step.expose()))
        .await;
    assert_eq!((hop.status.as_u16(), hop.location()), (302, "/"));
}

#[tokio::test]
async fn logout_bodies_and_prompt_values_are_checked() {
    let s = FakeSetup::start().await;
    for body in [
        r#"{"switch_user": "yes"}"#,
        r#"{"switchUser": true}"#,
        "switch",
    ] {
        let out = s
            .client
            .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], Some(body))
            .await;
        assert_eq!(out.status, 400, "{body}: {}", out.body);
        assert!(
            out.json()["detail"]
                .as_str()
                .unwrap()
                .contains("switch_user"),
            "{}",
            out.body
        );
    }
    for body in ["", "{}", r#"{"switch_user": false}"#] {
        let out = s
            .client
            .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], Some(body))
            .await;
        assert_eq!(out.status, 200, "{body:?}: {}", out.body);
        assert!(out.json()["end_session_url"].is_null(), "{}", out.body);
    }
    let bad = s
        .client
        .send(
            Method::GET,
            "/auth/login?prompt=none",
            &[("accept", "application/json")],
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.json()["detail"].as_str().unwrap().contains("prompt"),
        "{}",
        bad.body
    );
    // prompt=login reaches the authorization request.
    s.provider_redirect("?prompt=login").await;
    assert_eq!(
        s.fake
            .with(|i| i.last_authorize_query.get("prompt").cloned())
            .as_deref(),
        Some("login")
    );
}

#[tokio::test]
async fn no_token_reaches_the_browser() {
    let s = FakeSetup::start().await;
    s.fake.with(|i| {
        i.decision = Some(Decision::Grant(ScopeSet::of(&[
            Scope::OfflineAccess,
            Scope::Patients,
        ])))
    });
    s.login("").await;
    s.fake.with(|i| i.decision = Some(Decision::GrantAll));
    s.login("?scope=giponext.invoices").await;
    s.client.session().await;
    for path in ["patients", "invoices", "agendas"] {
        s.client
            .api(
                Method::GET,
                &format!("/api/giponext/v2/tenants/{TENANT}/{path}"),
                None,
            )
            .await;
    }
    s.fake.expire_access_tokens();
    s.client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
            None,
        )
        .await;
    s.client.get("/api/giponext/v2/userinfo").await;
    s.client
        .api(Method::GET, "/api/giponext/v2/userinfo", None)
        .await;
    assert!(s.fake.with(|i| i.refreshes) >= 1);
    let seen_before_logout = s.client.seen.lock().unwrap().clone();
    let issued = s.fake.with(|i| i.issued.clone());
    assert!(issued.len() >= 6);
    // Everything, ID tokens included, up to logout.
    assert_no_leak(&seen_before_logout, &issued);
    // Logout answers a one-time step, not the provider URL with the ID
    // token as id_token_hint: no token of any kind reaches script.
    let out = s.client.logout().await;
    assert_eq!(out.status, 200, "{}", out.body);
    let all = s.client.seen.lock().unwrap().clone();
    assert_no_leak(&all, &issued);
}

#[tokio::test]
async fn static_files_security_headers_and_health() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>console</title>",
    )
    .unwrap();
    std::fs::write(dir.path().join("app.js"), "console.log(1)").unwrap();
    let static_dir = dir.path().to_owned();
    let s = FakeSetup::start_with(move |c| c.static_dir = static_dir).await;
    let issuer = s.fake.with(|i| i.issuer.clone());

    let deep = s.client.get("/patients/42").await;
    assert_eq!(deep.status, 200);
    assert!(
        deep.body.contains("console"),
        "SPA fallback serves index.html"
    );
    let csp = deep.header("content-security-policy");
    assert_eq!(
        csp,
        format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {issuer}"
        )
    );
    assert_eq!(deep.header("x-content-type-options"), "nosniff");
    assert_eq!(deep.header("referrer-policy"), "no-referrer");
    assert!(!deep.header("x-request-id").is_empty());
    assert_eq!(s.client.get("/app.js").await.body, "console.log(1)");

    let unknown_api = s.client.get("/api/nope").await;
    assert_eq!(unknown_api.status, 404);
    assert_eq!(unknown_api.json()["type"], "not_found");
    assert_eq!(s.client.get("/healthz").await.status, 200);
    let ready = s.client.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["issuer"], "ok");
    let metrics = s.client.get("/metrics").await;
    assert!(metrics.header("content-type").starts_with("text/plain"));
    assert!(metrics.body.contains("bff_proxy_duration_seconds_bucket"));
}

#[tokio::test]
async fn tenant_outside_allow_list_is_refused_and_revoked() {
    let s = FakeSetup::start_with(|c| {
        c.allowed_tenants = Some(vec![
            giponext_bff::types::TenantId::try_from("tenant-other".to_owned()).unwrap(),
        ])
    })
    .await;
    let done = s.login("").await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(done.body.contains("not enabled"));
    assert!(s.client.session_cookie().is_none());
    assert_eq!(s.fake.with(|i| i.revocations), 1);
}

#[tokio::test]
async fn check_config_names_provider_problems() {
    let s = FakeSetup::start().await;
    let issuer = s.fake.with(|i| i.issuer.clone());
    let mut config = giponext_bff::Config::for_tests();
    config.upstream = giponext_bff::config::Upstream::External {
        issuer: issuer.clone(),
        api_base: url::Url::parse(&issuer).unwrap(),
    };
    assert_eq!(giponext_bff::check(&config).await, Vec::<String>::new());

    s.fake.with(|i| i.no_s256 = true);
    let problems = giponext_bff::check(&config).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("GIPONEXT_ISSUER") && problems[0].contains("S256"));
    let mut refused = giponext_bff::Config::for_tests();
    refused.upstream = config.upstream.clone();
    let err = giponext_bff::serve(refused)
        .await
        .err()
        .expect("no S256: refuse to start");
    assert!(err.to_string().contains("S256"), "{err}");

    config.upstream = giponext_bff::config::Upstream::External {
        issuer: "http://127.0.0.1:9".into(),
        api_base: url::Url::parse("http://127.0.0.1:9").unwrap(),
    };
    let problems = giponext_bff::check(&config).await;
    assert!(
        problems[0].starts_with("GIPONEXT_ISSUER") && problems[0].contains("unreachable"),
        "{problems:?}"
    );
}

/// A writer that keeps everything logged, for the log scan.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One global log capture for the whole test binary (a thread-local
/// subscriber misses events whose callsite interest was cached elsewhere).
fn captured_logs() -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

#[tokio::test]
async fn logs_carry_no_token_code_or_state() {
    let logs = captured_logs();
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("?scope=giponext.invoices").await;
    let q: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert_eq!(s.client.get(callback.as_str()).await.status, 302);
    let session_cookie = s.client.session_cookie().unwrap();
    s.client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
            None,
        )
        .await;
    s.fake.expire_access_tokens();
    s.client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/invoices"),
            None,
        )
        .await;
    s.client.logout().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("signed in") && text.contains("access token refreshed"),
        "logs were captured"
    );
    let mut secrets = s.fake.with(|i| i.issued.clone());
    secrets.push(q["code"].clone());
    secrets.push(q["state"].clone());
    secrets.push(session_cookie);
    secrets.push(crate::fake_provider::CLIENT_SECRET.to_owned());
    for secret in secrets.iter().filter(|s| s.len() > 8) {
        assert!(
            !text.contains(secret.as_str()),
            "a secret was logged: {secret}"
        );
    }
}

#[tokio::test]
async fn behind_https_cookies_are_secure_and_host_prefixed() {
    let s = FakeSetup::start_with(|c| {
        c.public_url = Some(url::Url::parse("https://connect.example.it").unwrap())
    })
    .await;
    // Behind a TLS-terminating proxy: talk to the bound address directly.
    let client = crate::support::Client::new(&format!("http://{}", s.bff.addr()));
    let start = client.get("/auth/login").await;
    assert_eq!(start.status, 302);
    let cookie = start.header("set-cookie");
    assert!(cookie.starts_with("__Secure-gx_login="), "{cookie}");
    for attr in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let redirect = url::Url::parse(start.location()).unwrap();
    let q: std::collections::HashMap<_, _> = redirect.query_pairs().into_owned().collect();
    assert_eq!(
        q["redirect_uri"],
        "https://connect.example.it/auth/callback"
    );
    assert!(
        start
            .header("strict-transport-security")
            .starts_with("max-age=")
    );
}
