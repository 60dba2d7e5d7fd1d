//! The real flows against the embedded sandbox: its login and consent forms
//! driven like a person would (`giponext_sandbox::testing::Browser`) with the
//! same cookie jar as the backend calls.

use std::collections::HashMap;

use giponext_bff::types::SessionId;
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::users;
use giponext_shared::session::{FeatureReason, TokenState};
use giponext_shared::{FeatureId, Scope, ScopeSet};
use reqwest::Method;

use crate::support::{Client, Seen, assert_no_leak, with_param};

const TENANT: &str = "tenant-abc123";

struct Setup {
    bff: RunningBff,
    client: Client,
    browser: Browser,
    /// Every token the backend held at some point, for the leak scan.
    tokens: std::sync::Mutex<Vec<String>>,
}

impl Setup {
    async fn start() -> Self {
        let bff = giponext_bff::serve(Config::for_tests()).await.unwrap();
        let client = Client::new(bff.url());
        let browser = Browser::with_client(client.http.clone());
        Setup {
            bff,
            client,
            browser,
            tokens: Default::default(),
        }
    }

    fn sandbox(&self) -> &giponext_sandbox::RunningSandbox {
        self.bff.sandbox().expect("embedded sandbox")
    }

    /// Signs in as `user` answering the consent page with `consent`.
    async fn login(&self, user: &str, consent: Consent, query: &str) -> Seen {
        let start = self.client.get(&format!("/auth/login{query}")).await;
        assert_eq!(start.status, 302, "{}", start.body);
        let auth_url = url::Url::parse(start.location()).unwrap();
        let callback = self
            .browser
            .authorize(&auth_url, user, "sandbox", consent)
            .await
            .unwrap();
        let done = self.client.get(callback.as_str()).await;
        self.remember_tokens().await;
        done
    }

    /// Copies the session's current tokens (read from the store) for the scan.
    async fn remember_tokens(&self) {
        let Some(cookie) = self.client.session_cookie() else {
            return;
        };
        let id = SessionId::from_cookie(&cookie).unwrap();
        if let Ok(Some(record)) = self.bff.state().sessions.load(&id).await {
            let mut tokens = self.tokens.lock().unwrap();
            tokens.push(record.tokens.access.expose().to_owned());
            if let Some(r) = &record.tokens.refresh {
                tokens.push(r.expose().to_owned());
            }
        }
    }

    async fn expire(&self) {
        assert!(
            self.bff
                .expire_access_token(&self.client.session_cookie().unwrap())
                .await
        );
    }

    async fn api(&self, method: Method, path: &str, body: Option<&str>) -> Seen {
        let seen = self
            .client
            .api(method, &format!("/api/giponext/v2/{path}"), body)
            .await;
        self.remember_tokens().await;
        seen
    }
}

fn reason(info: &giponext_shared::session::SessionInfo, id: FeatureId) -> FeatureReason {
    info.features.iter().find(|f| f.id == id).unwrap().reason
}

#[tokio::test]
async fn consent_journey_refresh_and_logout_against_the_sandbox() {
    let s = Setup::start().await;
    let info = s.client.session().await;
    assert!(info.sandbox && !info.authenticated);

    // Partial consent at first sign-in: patients refused.
    let done = s
        .login(
            users::MARIO,
            Consent::Grant(ScopeSet::of(&[Scope::OfflineAccess])),
            "",
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/");
    let info = s.client.session().await;
    assert!(info.authenticated);
    assert_eq!(info.tenant.as_ref().unwrap().id, TENANT);
    assert_eq!(
        info.scopes.granted,
        ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess])
    );
    assert_eq!(
        reason(&info, FeatureId::BrowsePatients),
        FeatureReason::Declined
    );
    let refused = s
        .api(Method::GET, &format!("tenants/{TENANT}/patients"), None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["type"], "scope_missing");
    assert_eq!(refused.json()["scope"], "giponext.patients");
    assert_eq!(refused.json()["feature"], "browse_patients");

    // Incremental consent for invoices.
    let done = s
        .login(
            users::MARIO,
            Consent::GrantAll,
            "?scope=giponext.invoices&return_to=/invoices",
        )
        .await;
    assert_eq!(done.location(), "/invoices");
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::Invoices));
    assert!(info.scopes.granted.contains(Scope::OfflineAccess));
    assert_eq!(
        reason(&info, FeatureId::ViewInvoices),
        FeatureReason::Granted
    );
    let list = s
        .api(
            Method::GET,
            &format!("tenants/{TENANT}/invoices?limit=2"),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.json()["limit"], 2);

    // A second refusal (agenda denied) keeps the earlier grants.
    let done = s
        .login(
            users::MARIO,
            Consent::Deny,
            "?scope=giponext.agenda&return_to=/agenda",
        )
        .await;
    assert_eq!(done.location(), "/agenda");
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::Invoices));
    assert_eq!(
        reason(&info, FeatureId::ViewAgenda),
        FeatureReason::Declined
    );
    assert_eq!(
        s.api(Method::GET, &format!("tenants/{TENANT}/invoices"), None)
            .await
            .status,
        200
    );

    // Refresh ahead of expiry.
    let before = s.sandbox().stats().refreshes();
    s.expire().await;
    assert_eq!(
        s.api(Method::GET, &format!("tenants/{TENANT}/invoices"), None)
            .await
            .status,
        200
    );
    assert_eq!(s.sandbox().stats().refreshes(), before + 1);
    assert_eq!(s.client.session().await.token, Some(TokenState::Ok));

    // Logout: revoked at the sandbox, end-session URL for the console.
    let revocations = s.sandbox().stats().revocations();
    let out = s.client.logout().await;
    assert_eq!(out.status, 200, "{}", out.body);
    // Script gets a same-origin one-time step; following it reaches the
    // sandbox's end-session endpoint with the hint.
    assert!(!out.body.contains("id_token_hint"), "{}", out.body);
    let step = s
        .client
        .get(out.json()["end_session_url"].as_str().unwrap())
        .await;
    assert_eq!(step.status, 302, "{}", step.body);
    let end = url::Url::parse(step.location()).unwrap();
    assert!(end.as_str().starts_with(s.sandbox().issuer().as_str()));
    let q: HashMap<_, _> = end.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], format!("{}/", s.bff.url()));
    assert!(q.contains_key("id_token_hint"));
    // The sandbox accepts it and sends the browser home.
    let home = s.client.get(end.as_str()).await;
    assert_eq!(home.status.as_u16() / 100, 3, "{}", home.body);
    assert!(
        home.location().starts_with(&format!("{}/", s.bff.url())),
        "{}",
        home.location()
    );
    assert_eq!(s.sandbox().stats().revocations(), revocations + 1);
    assert!(!s.client.session().await.authenticated);

    // No access or refresh token ever reached the browser.
    let tokens = s.tokens.lock().unwrap().clone();
    assert!(tokens.len() >= 4);
    assert_no_leak(&s.client.seen.lock().unwrap(), &tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_at_expiry_cause_one_sandbox_refresh() {
    let s = Setup::start().await;
    s.login(users::MARIO, Consent::GrantAll, "").await;
    s.expire().await;
    let before = s.sandbox().stats().refreshes();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = s.client.clone();
            tokio::spawn(async move {
                client
                    .api(
                        Method::GET,
                        &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
                        None,
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        let seen = t.await.unwrap();
        assert_eq!(seen.status, 200, "{}", seen.body);
    }
    assert_eq!(
        s.sandbox().stats().refreshes(),
        before + 1,
        "exactly one refresh"
    );
}

#[tokio::test]
async fn scope_drift_and_revocation_at_the_sandbox() {
    let s = Setup::start().await;
    s.login(users::MARIO, Consent::GrantAll, "?scope=giponext.invoices")
        .await;
    assert!(
        s.client
            .session()
            .await
            .scopes
            .granted
            .contains(Scope::Invoices)
    );

    // Drift: invoices withdrawn at the platform; the next refresh says so.
    assert!(
        s.sandbox()
            .shrink_grants(users::MARIO, ScopeSet::of(&[Scope::Invoices]))
            >= 1
    );
    s.expire().await;
    assert_eq!(
        s.api(Method::GET, &format!("tenants/{TENANT}/patients"), None)
            .await
            .status,
        200
    );
    let info = s.client.session().await;
    assert!(!info.scopes.granted.contains(Scope::Invoices));
    assert!(
        !info
            .features
            .iter()
            .find(|f| f.id == FeatureId::ViewInvoices)
            .unwrap()
            .enabled
    );

    // Revocation: refresh fails with invalid_grant -> reauth_required.
    assert!(s.sandbox().revoke_grants(users::MARIO) >= 1);
    let r = s
        .api(Method::GET, &format!("tenants/{TENANT}/patients"), None)
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["type"], "reauth_required");
    assert_eq!(r.json()["login_url"], "/auth/login");
    assert_eq!(
        s.client.session().await.token,
        Some(TokenState::ReauthRequired)
    );
}

#[tokio::test]
async fn permission_tenant_and_iss_checks_against_the_sandbox() {
    let s = Setup::start().await;
    s.login(
        users::GIULIA,
        Consent::GrantAll,
        "?scope=giponext.invoices giponext.treatments",
    )
    .await;
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::Invoices));
    let body = r#"{"patientId":1,"priceListId":"pl-standard","lines":[{"treatmentId":"t-visit","quantity":1}]}"#;
    let denied = s
        .api(
            Method::POST,
            &format!("tenants/{TENANT}/invoices"),
            Some(body),
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(denied.json()["type"], "permission_denied");

    let other = s
        .api(Method::GET, "tenants/tenant-def456/patients", None)
        .await;
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["type"], "tenant_mismatch");

    // A callback whose iss is not the sandbox's is refused.
    let fresh = Client::new(s.bff.url());
    let browser = Browser::with_client(fresh.http.clone());
    let start = fresh.get("/auth/login").await;
    let auth_url = url::Url::parse(start.location()).unwrap();
    let callback = browser
        .authorize(&auth_url, users::MARIO, "sandbox", Consent::GrantAll)
        .await
        .unwrap();
    let forged = with_param(&callback, "iss", "https://evil.example");
    let r = fresh.get(forged.as_str()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(fresh.session_cookie().is_none());
}

/// OpenID Connect Core §11: a sign-in that asked for `offline_access` and
/// got no refresh token (here Mario leaves it unticked) is told in
/// `/api/session`, and the next sign-in asks for it with `prompt=consent`.
#[tokio::test]
async fn a_sign_in_without_a_refresh_token_is_told_and_the_next_asks_consent() {
    let s = Setup::start().await;
    let done = s
        .login(
            users::MARIO,
            Consent::Grant(ScopeSet::of(&[Scope::Patients])),
            "",
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    let info = s.client.session().await;
    assert!(info.authenticated);
    assert!(!info.scopes.granted.contains(Scope::OfflineAccess));
    assert!(info.offline_access_withheld, "/api/session says so");

    // The next sign-in (an incremental consent) asks again, with consent.
    let start = s.client.get("/auth/login?scope=giponext.invoices").await;
    assert_eq!(start.status, 302, "{}", start.body);
    let url = url::Url::parse(start.location()).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(param("prompt"), "consent", "{url}");
    assert!(
        param("scope").split(' ').any(|s| s == "offline_access"),
        "{url}"
    );
    let callback = s
        .browser
        .authorize(&url, users::MARIO, "sandbox", Consent::GrantAll)
        .await
        .unwrap();
    assert_eq!(s.client.get(callback.as_str()).await.status, 302);
    let info = s.client.session().await;
    assert!(info.scopes.granted.contains(Scope::OfflineAccess));
    assert!(!info.offline_access_withheld);

    // With a refresh token, no prompt=consent.
    let start = s.client.get("/auth/login?scope=giponext.agenda").await;
    assert!(
        !start.location().contains("prompt="),
        "{}",
        start.location()
    );
}
