//! The product's backend (`giponext-bff`, in-process) against the
//! independent provider: discovery, login with partial consent, incremental
//! consent, a second refusal, refresh with rotation after expiry, the
//! provider's API answer `insufficient_scope`, and logout with revocation.

use std::time::Duration;

use giponext_bff::config::{ParSetting, Upstream};
use giponext_bff::types::Secret;
use giponext_bff::{Config, RunningBff};
use giponext_e2e::interop::{
    Consent, Harness, HarnessBrowser, HarnessOptions, HarnessPar, users, web_client,
};
use giponext_shared::session::{FeatureReason, SessionInfo, TokenState};
use giponext_shared::{FeatureId, Scope, ScopeSet};
use reqwest::Method;
use serde_json::Value;
use url::Url;

const CLIENT_ID: &str = "interop-bff";
const CLIENT_SECRET: &str = "interop-bff-secret";

struct Setup {
    harness: Harness,
    bff: RunningBff,
    browser: HarnessBrowser,
}

/// A response as the browser saw it.
struct Seen {
    status: u16,
    location: String,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Setup {
    /// Starts the provider, then the backend pointed at it (issuer and API
    /// root = the provider), then registers the backend's exact redirect URI.
    async fn start(options: HarnessOptions, refresh_leeway: Duration) -> Setup {
        let harness = Harness::start(options)
            .await
            .expect("the interop provider starts");
        let mut config = Config::for_tests();
        config.upstream = Upstream::External {
            issuer: harness.issuer().to_owned(),
            api_base: harness.url(),
        };
        config.client_id = CLIENT_ID.to_owned();
        config.client_secret = Secret::new(CLIENT_SECRET);
        config.timings.refresh_leeway = refresh_leeway;
        let bff = giponext_bff::serve(config)
            .await
            .expect("the backend starts against the provider");
        harness
            .register_client(web_client(
                CLIENT_ID,
                CLIENT_SECRET,
                &format!("{}/auth/callback", bff.url()),
                &format!("{}/", bff.url()),
                None,
            ))
            .await
            .expect("client registration");
        let browser = HarnessBrowser::new(&harness.url());
        Setup {
            harness,
            bff,
            browser,
        }
    }

    async fn send(&self, method: Method, path: &str, csrf: bool) -> Seen {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.bff.url())
        };
        let mut req = self.browser.client().request(method, url);
        if csrf {
            req = req.header("x-csrf", "1");
        }
        let resp = req.send().await.expect("backend reachable");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.text().await.unwrap_or_default();
        Seen {
            status,
            location,
            body,
        }
    }

    /// "Cambia utente": `POST /auth/logout` with `{"switch_user": true}`.
    async fn switch_user(&self) -> Seen {
        let resp = self
            .browser
            .client()
            .post(format!("{}/auth/logout", self.bff.url()))
            .header("x-csrf", "1")
            .header("content-type", "application/json")
            .body(r#"{"switch_user": true}"#)
            .send()
            .await
            .expect("backend reachable");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Seen {
            status,
            location: String::new(),
            body,
        }
    }

    /// Live grants of Mario to the backend's client at the provider.
    async fn live_grants(&self) -> u64 {
        self.harness
            .live_grants(CLIENT_ID, users::MARIO_SUB)
            .await
            .expect("grant count")
    }

    /// The provider's page that `/auth/login{query}` leads to.
    async fn provider_page(&self, query: &str) -> String {
        let start = self
            .send(Method::GET, &format!("/auth/login{query}"), false)
            .await;
        assert_eq!(start.status, 302, "{}", start.body);
        let to_interaction = self.send(Method::GET, &start.location, false).await;
        let url = self
            .harness
            .url()
            .join(&to_interaction.location)
            .expect("URL");
        self.send(Method::GET, url.as_str(), false).await.body
    }

    async fn session(&self) -> SessionInfo {
        let seen = self.send(Method::GET, "/api/session", false).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        serde_json::from_str(&seen.body).expect("session JSON")
    }

    /// `/auth/login{query}` through the provider's pages and back; returns
    /// the backend's answer to the callback.
    async fn login(&self, query: &str, consent: Consent) -> Seen {
        let start = Url::parse(&format!("{}/auth/login{query}", self.bff.url())).expect("URL");
        let callback = self
            .browser
            .authorize(&start, users::MARIO, users::PASSWORD, consent)
            .await
            .expect("the provider redirects back to the backend");
        assert!(
            callback
                .as_str()
                .starts_with(&format!("{}/auth/callback", self.bff.url())),
            "{callback}"
        );
        assert!(
            callback
                .query_pairs()
                .any(|(k, v)| k == "iss" && v == self.harness.issuer()),
            "RFC 9207 iss"
        );
        self.send(Method::GET, callback.as_str(), false).await
    }

    async fn patients(&self) -> Seen {
        self.send(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{}/patients", users::TENANT_MAIN),
            true,
        )
        .await
    }

    async fn shutdown(self) {
        self.bff.shutdown().await;
        self.harness.shutdown().await;
    }
}

fn reason(info: &SessionInfo, id: FeatureId) -> FeatureReason {
    info.features
        .iter()
        .find(|f| f.id == id)
        .expect("catalogue feature")
        .reason
}

fn declined(info: &SessionInfo) -> ScopeSet {
    info.scopes.declined.iter().map(|d| d.scope).collect()
}

#[tokio::test]
async fn partial_then_incremental_consent_then_a_second_refusal() {
    let s = Setup::start(HarnessOptions::default(), Duration::from_secs(30)).await;
    let info = s.session().await;
    assert!(
        !info.authenticated && !info.sandbox,
        "an external provider, nobody signed in"
    );

    // First sign-in: patients (essential) refused, offline_access allowed.
    let done = s
        .login("", Consent::Grant(ScopeSet::of(&[Scope::OfflineAccess])))
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location, "/");
    let info = s.session().await;
    assert!(info.authenticated);
    assert_eq!(
        info.user.as_ref().map(|u| u.sub.as_str()),
        Some(users::MARIO_SUB)
    );
    assert_eq!(
        info.tenant.as_ref().map(|t| t.id.as_str()),
        Some(users::TENANT_MAIN)
    );
    assert_eq!(
        info.scopes.granted,
        ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess])
    );
    assert!(
        declined(&info).contains(Scope::Patients),
        "{:?}",
        info.scopes.declined
    );
    assert_eq!(
        reason(&info, FeatureId::BrowsePatients),
        FeatureReason::Declined
    );
    assert_eq!(
        reason(&info, FeatureId::ViewInvoices),
        FeatureReason::NotRequested
    );
    let refused = s.patients().await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["type"], "scope_missing");
    assert_eq!(refused.json()["scope"], "giponext.patients");

    // Incremental consent: patients and invoices granted this time.
    let done = s
        .login(
            "?scope=giponext.patients%20giponext.invoices&return_to=/invoices",
            Consent::GrantAll,
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location, "/invoices");
    let info = s.session().await;
    assert_eq!(
        info.scopes.granted,
        ScopeSet::of(&[
            Scope::OpenId,
            Scope::OfflineAccess,
            Scope::Patients,
            Scope::Invoices
        ])
    );
    assert_eq!(
        reason(&info, FeatureId::BrowsePatients),
        FeatureReason::Granted
    );
    assert_eq!(
        reason(&info, FeatureId::ViewInvoices),
        FeatureReason::Granted
    );
    let list = s.patients().await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.json()["items"].as_array().map(Vec::len), Some(2));

    // A second refusal (agenda denied) keeps the earlier grants.
    let done = s
        .login("?scope=giponext.agenda&return_to=/agenda", Consent::Deny)
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location, "/agenda");
    let info = s.session().await;
    assert!(info.authenticated);
    assert!(
        info.scopes.granted.contains(Scope::Patients)
            && info.scopes.granted.contains(Scope::Invoices)
    );
    assert_eq!(
        reason(&info, FeatureId::ViewAgenda),
        FeatureReason::Declined
    );
    assert_eq!(s.patients().await.status, 200, "earlier grants still work");
    s.shutdown().await;
}

#[tokio::test]
async fn a_scope_refused_at_the_provider_is_not_usable_through_the_proxy() {
    let s = Setup::start(HarnessOptions::default(), Duration::from_secs(30)).await;
    s.login(
        "?scope=giponext.invoices",
        Consent::Grant(ScopeSet::of(&[Scope::OfflineAccess, Scope::Invoices])),
    )
    .await;
    let info = s.session().await;
    assert!(!info.scopes.granted.contains(Scope::Patients));
    assert!(info.scopes.granted.contains(Scope::Invoices));
    let refused = s.patients().await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["type"], "scope_missing");
    let grant_url = refused.json()["grant_url"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        grant_url.starts_with("/auth/login?scope=giponext.patients"),
        "{grant_url}"
    );
    // The grant URL is a working incremental consent.
    s.login(&grant_url["/auth/login".len()..], Consent::GrantAll)
        .await;
    assert_eq!(s.patients().await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn refresh_after_expiry_rotates_and_the_rotated_token_is_kept() {
    let options = HarnessOptions {
        // Long enough that the first call surely precedes expiry on a slow
        // machine (the provider's exp is whole seconds).
        access_token_ttl: 3,
        ..HarnessOptions::default()
    };
    let s = Setup::start(options, Duration::ZERO).await;
    s.login("", Consent::GrantAll).await;
    assert_eq!(s.patients().await.status, 200);
    assert_eq!(
        s.harness
            .stats()
            .await
            .expect("stats")
            .grants("refresh_token"),
        0
    );

    for round in 1..=2u64 {
        tokio::time::sleep(Duration::from_millis(3300)).await;
        let after = s.patients().await;
        assert_eq!(after.status, 200, "round {round}: {}", after.body);
        let stats = s.harness.stats().await.expect("stats");
        // Each refresh used the newest refresh token: a stale one would have
        // been refused as reuse and revoked the grant.
        assert_eq!(
            stats.grants("refresh_token"),
            round,
            "one refresh per expiry"
        );
        assert_eq!(stats.event("refresh_token.consumed"), round, "rotation");
        assert_eq!(stats.event("grant.revoked"), 0, "no reuse detected");
    }
    let info = s.session().await;
    assert_eq!(info.token, Some(TokenState::Ok));
    assert!(info.scopes.granted.contains(Scope::Patients));
    s.shutdown().await;
}

#[tokio::test]
async fn logout_revokes_at_the_provider_and_ends_the_session() {
    let s = Setup::start(HarnessOptions::default(), Duration::from_secs(30)).await;
    s.login("", Consent::GrantAll).await;
    assert!(s.session().await.authenticated);

    let refused = s.send(Method::POST, "/auth/logout", false).await;
    assert_eq!(refused.status, 403, "logout needs the anti-CSRF header");
    assert!(s.session().await.authenticated);

    let out = s.send(Method::POST, "/auth/logout", true).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let stats = s.harness.stats().await.expect("stats");
    assert_eq!(
        stats.event("refresh_token.destroyed"),
        1,
        "RFC 7009 revocation of the refresh token"
    );
    assert_eq!(
        stats.event("grant.revoked"),
        1,
        "the provider dropped the grant"
    );
    assert!(!s.session().await.authenticated, "the session is gone");
    assert_eq!(s.patients().await.status, 401);

    // The console follows the end-session URL (RP-initiated logout): a
    // same-origin one-time step, redirected to the provider with the hint.
    let step = out.json()["end_session_url"]
        .as_str()
        .expect("an end-session URL")
        .to_owned();
    assert!(step.starts_with("/auth/end-session/"), "{step}");
    assert!(!out.body.contains("id_token_hint"), "{}", out.body);
    let hop = s.send(Method::GET, &step, false).await;
    assert_eq!(hop.status, 302, "{}", hop.body);
    let end = Url::parse(&hop.location).expect("URL");
    assert!(
        end.as_str()
            .starts_with(&format!("{}/session/end", s.harness.issuer())),
        "{end}"
    );
    assert!(end.query_pairs().any(|(k, _)| k == "id_token_hint"));
    let back = s
        .browser
        .end_session(&end)
        .await
        .expect("logout at the provider");
    assert!(
        back.as_ref()
            .is_some_and(|u| u.as_str().starts_with(&format!("{}/?state=", s.bff.url()))),
        "{back:?}"
    );
    assert_eq!(
        s.harness
            .stats()
            .await
            .expect("stats")
            .event("end_session.success"),
        1
    );

    // Signing in again asks for the password: the provider session ended too.
    let start = s.send(Method::GET, "/auth/login", false).await;
    assert_eq!(start.status, 302);
    let to_interaction = s.send(Method::GET, &start.location, false).await;
    let page = s
        .send(
            Method::GET,
            s.harness
                .url()
                .join(&to_interaction.location)
                .expect("URL")
                .as_str(),
            false,
        )
        .await;
    assert!(
        page.body.contains("id=\"login\""),
        "a sign-in page: {}",
        page.body
    );
    s.shutdown().await;
}

#[tokio::test]
async fn replaced_sessions_and_switch_user_leave_no_live_grant_at_the_provider() {
    let s = Setup::start(HarnessOptions::default(), Duration::from_secs(30)).await;
    s.login("", Consent::GrantAll).await;
    assert_eq!(s.live_grants().await, 1);
    // Session rotation: signing in again replaces the session and its grant.
    let done = s.login("", Consent::GrantAll).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        s.live_grants().await,
        1,
        "the replaced session's grant was revoked"
    );
    // Incremental consent: a new grant; the earlier one is revoked.
    let done = s
        .login(
            "?scope=giponext.invoices&return_to=/invoices",
            Consent::GrantAll,
        )
        .await;
    assert_eq!(done.location, "/invoices", "{}", done.body);
    assert!(s.session().await.scopes.granted.contains(Scope::Invoices));
    assert_eq!(s.live_grants().await, 1, "the earlier grant was revoked");
    assert_eq!(s.patients().await.status, 200, "the new grant works");

    // "Cambia utente" with the provider's session left lingering: the
    // provider still asks for the password with prompt=login.
    let out = s.switch_user().await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(s.live_grants().await, 0);
    assert!(
        !s.provider_page("").await.contains("id=\"login\""),
        "the provider session lingers"
    );
    assert!(
        s.provider_page("?prompt=login")
            .await
            .contains("id=\"login\"")
    );

    // The whole round trip: the provider accepts the registered switch-user
    // post-logout URI and comes back to a sign-in that asks for the password.
    s.login("", Consent::GrantAll).await;
    let out = s.switch_user().await;
    let step = out.json()["end_session_url"]
        .as_str()
        .expect("an end-session URL")
        .to_owned();
    let hop = s.send(Method::GET, &step, false).await;
    assert_eq!(hop.status, 302, "{}", hop.body);
    let back = s
        .browser
        .end_session(&Url::parse(&hop.location).expect("URL"))
        .await
        .expect("logout at the provider")
        .expect("redirected back");
    assert!(
        back.as_str()
            .starts_with(&format!("{}/auth/login?prompt=login", s.bff.url())),
        "{back}"
    );
    let start = s.send(Method::GET, back.as_str(), false).await;
    assert_eq!(start.status, 302, "{}", start.body);
    // The provider offers PAR, so the request is pushed (RFC 9126) and
    // prompt=login travels in it, not in the URL: the provider's page shows.
    assert!(
        start.location.contains("request_uri="),
        "{}",
        start.location
    );
    let to_interaction = s.send(Method::GET, &start.location, false).await;
    let page = s.harness.url().join(&to_interaction.location).expect("URL");
    assert!(
        s.send(Method::GET, page.as_str(), false)
            .await
            .body
            .contains("id=\"login\""),
        "the provider asks for the password"
    );
    assert_eq!(s.live_grants().await, 0);
    s.shutdown().await;
}

#[tokio::test]
async fn with_par_required_every_sign_in_is_pushed_and_still_grants_offline_access() {
    let options = HarnessOptions {
        par: HarnessPar::Required,
        ..HarnessOptions::default()
    };
    let s = Setup::start(options, Duration::from_secs(30)).await;

    // The browser is sent with only client_id and request_uri (RFC 9126 §4).
    let start = s
        .send(
            Method::GET,
            "/auth/login?scope=giponext.invoices&return_to=/invoices",
            false,
        )
        .await;
    assert_eq!(start.status, 302, "{}", start.body);
    let auth_url = Url::parse(&start.location).expect("authorization URL");
    let mut names: Vec<String> = auth_url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "{auth_url}");
    let callback = s
        .browser
        .authorize(&auth_url, users::MARIO, users::PASSWORD, Consent::GrantAll)
        .await
        .expect("the provider redirects back to the backend");
    let done = s.send(Method::GET, callback.as_str(), false).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location, "/invoices");
    let info = s.session().await;
    assert!(info.authenticated);
    assert!(info.scopes.granted.contains(Scope::Invoices));
    assert!(
        info.scopes.granted.contains(Scope::OfflineAccess),
        "offline_access granted through the pushed request"
    );
    assert_eq!(s.patients().await.status, 200);

    // Incremental consent is pushed too (the provider refuses anything else).
    let done = s
        .login(
            "?scope=giponext.agenda&return_to=/agenda",
            Consent::GrantAll,
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location, "/agenda");
    assert!(s.session().await.scopes.granted.contains(Scope::Agenda));

    // The provider really requires PAR: a classic request is refused.
    let mut plain = Url::parse(&format!("{}/auth", s.harness.issuer())).expect("URL");
    plain
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &format!("{}/auth/callback", s.bff.url()))
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let refused = s.send(Method::GET, plain.as_str(), false).await;
    assert!(
        refused.location.contains("error=invalid_request")
            || (refused.status == 400 && refused.location.is_empty()),
        "{} {} {}",
        refused.status,
        refused.location,
        refused.body
    );
    assert!(!refused.location.contains("code="), "{}", refused.location);

    // BFF_PAR=off cannot work with this provider: refused at start.
    let mut config = Config::for_tests();
    config.upstream = Upstream::External {
        issuer: s.harness.issuer().to_owned(),
        api_base: s.harness.url(),
    };
    config.client_id = CLIENT_ID.to_owned();
    config.client_secret = Secret::new(CLIENT_SECRET);
    config.par = ParSetting::Off;
    let error = giponext_bff::serve(config)
        .await
        .err()
        .expect("BFF_PAR=off is refused against a provider requiring PAR");
    assert!(format!("{error:#}").contains("BFF_PAR=off"), "{error:#}");
    s.shutdown().await;
}

/// OpenID Connect Core §11 applied strictly (the harness adds no
/// `prompt=consent`): the first sign-in asks for `offline_access` and gets
/// no refresh token; `/api/session` says so, and the next sign-in sends
/// `prompt=consent` (in the pushed request), gets one and refreshes.
#[tokio::test]
async fn a_strict_provider_withholds_the_refresh_token_until_prompt_consent() {
    let options = HarnessOptions {
        strict_offline_access: true,
        access_token_ttl: 3,
        ..HarnessOptions::default()
    };
    let s = Setup::start(options, Duration::ZERO).await;
    let done = s.login("", Consent::GrantAll).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let info = s.session().await;
    assert!(info.authenticated);
    assert!(
        !info.scopes.granted.contains(Scope::OfflineAccess),
        "{:?}",
        info.scopes.granted
    );
    assert!(info.offline_access_withheld, "/api/session says so");

    let done = s.login("", Consent::GrantAll).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let info = s.session().await;
    assert!(
        info.scopes.granted.contains(Scope::OfflineAccess),
        "prompt=consent brought offline_access: {:?}",
        info.scopes.granted
    );
    assert!(!info.offline_access_withheld);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let after = s.patients().await;
    assert_eq!(after.status, 200, "refreshed after expiry: {}", after.body);
    assert_eq!(
        s.harness
            .stats()
            .await
            .expect("stats")
            .grants("refresh_token"),
        1
    );
    s.shutdown().await;
}
