//! Refresh: single-flight, on 401, scope drift, failure.

use giponext_shared::session::TokenState;
use giponext_shared::{FeatureId, Scope, ScopeSet};
use reqwest::Method;

use crate::fake_provider::{Decision, TENANT};
use crate::support::FakeSetup;

fn patients() -> String {
    format!("/api/giponext/v2/tenants/{TENANT}/patients")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_at_expiry_share_one_refresh() {
    let s = FakeSetup::start().await;
    s.login("").await;
    // The current token expires now; the refreshed one (2 h) will not.
    // (A large leeway no longer makes a 5-minute token look expired: it is
    // capped at a quarter of the token's lifetime.)
    s.fake.with(|i| i.access_ttl = 7200);
    assert!(
        s.bff
            .expire_access_token(&s.client.session_cookie().unwrap())
            .await
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = s.client.clone();
            tokio::spawn(async move { client.api(Method::GET, &patients(), None).await })
        })
        .collect();
    for task in tasks {
        let a = task.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(s.fake.with(|i| i.refreshes), 1, "exactly one refresh");
    assert_eq!(s.fake.with(|i| i.refresh_reuse_detected), 0);
    assert!(
        s.client
            .get("/metrics")
            .await
            .body
            .contains("bff_refresh_total{outcome=\"ok\"} 1")
    );
}

#[tokio::test]
async fn upstream_401_refreshes_once_and_retries() {
    let s = FakeSetup::start().await;
    s.login("").await;
    s.fake.expire_access_tokens();
    let r = s.client.api(Method::GET, &patients(), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.fake.with(|i| i.refreshes), 1);
    let again = s.client.api(Method::GET, &patients(), None).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        s.fake.with(|i| i.refreshes),
        1,
        "the new token is used, no second refresh"
    );
}

#[tokio::test]
async fn scope_drift_on_refresh_shrinks_the_features() {
    let s = FakeSetup::start().await;
    s.fake.with(|i| i.decision = Some(Decision::GrantAll));
    s.login("?scope=giponext.invoices").await;
    let info = s.client.session().await;
    assert!(
        info.features
            .iter()
            .find(|f| f.id == FeatureId::ViewInvoices)
            .unwrap()
            .enabled
    );

    s.fake.shrink_grants(ScopeSet::of(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
    ]));
    s.fake.expire_access_tokens();
    assert_eq!(
        s.client.api(Method::GET, &patients(), None).await.status,
        200
    );
    assert_eq!(s.fake.with(|i| i.refreshes), 1);
    let info = s.client.session().await;
    assert!(
        !info.scopes.granted.contains(Scope::Invoices),
        "granted re-read from the refresh"
    );
    let invoices = info
        .features
        .iter()
        .find(|f| f.id == FeatureId::ViewInvoices)
        .unwrap();
    assert!(!invoices.enabled);
    assert_eq!(invoices.missing, ScopeSet::of(&[Scope::Invoices]));
}

#[tokio::test]
async fn refresh_failure_gives_reauth_required() {
    let s = FakeSetup::start().await;
    s.login("").await;
    s.fake.revoke_all();
    s.fake.expire_access_tokens();
    let r = s.client.api(Method::GET, &patients(), None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let p = r.json();
    assert_eq!(p["type"], "reauth_required");
    assert_eq!(p["login_url"], "/auth/login");
    let info = s.client.session().await;
    assert!(info.authenticated);
    assert_eq!(info.token, Some(TokenState::ReauthRequired));
    // Further calls do not hammer the provider.
    assert_eq!(
        s.client.api(Method::GET, &patients(), None).await.status,
        401
    );
    assert_eq!(s.fake.with(|i| i.refreshes), 1);
    // Signing in again restores the session.
    s.login("").await;
    assert_eq!(s.client.session().await.token, Some(TokenState::Ok));
    assert_eq!(
        s.client.api(Method::GET, &patients(), None).await.status,
        200
    );
}
