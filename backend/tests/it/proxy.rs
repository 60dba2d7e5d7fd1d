//! The guarded API proxy.

use std::time::Duration;

use giponext_shared::{Scope, ScopeSet};
use reqwest::Method;

use crate::fake_provider::{Decision, TENANT};
use crate::support::{Client, FakeSetup};

fn patients() -> String {
    format!("/api/giponext/v2/tenants/{TENANT}/patients")
}

#[tokio::test]
async fn forwards_allowed_operations_and_refuses_the_rest() {
    let s = FakeSetup::start().await;
    s.login("").await;

    let ok = s
        .client
        .api(
            Method::GET,
            &format!("{}?offset=0&limit=5", patients()),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["operation"], "patients.list");
    assert_eq!(ok.header("cache-control"), "no-store");
    let created = s
        .client
        .api(Method::POST, &patients(), Some(r#"{"firstName":"Anna"}"#))
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(
        created.json()["echo"],
        r#"{"firstName":"Anna"}"#,
        "body forwarded"
    );

    let calls_before = s.fake.with(|i| i.api_calls);
    // (method, path, status, problem type): one line per case.
    let cases: &[(Method, String, u16, &str)] = &[
        (
            Method::GET,
            "/api/giponext/v2/tenants/tenant-def456/patients".into(),
            403,
            "tenant_mismatch",
        ),
        (
            Method::GET,
            format!("/api/giponext/v2/tenants/{TENANT}/secrets"),
            404,
            "not_found",
        ),
        (
            Method::DELETE,
            format!("{}/1", patients()),
            404,
            "not_found",
        ),
        (Method::PATCH, format!("{}/1", patients()), 404, "not_found"),
        (
            Method::POST,
            format!("/api/giponext/v2/tenants/{TENANT}/invoices/1"),
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/giponext/v1/anything".into(),
            404,
            "not_found",
        ),
    ];
    for (method, path, status, kind) in cases {
        let r = s.client.api(method.clone(), path, None).await;
        assert_eq!(r.status.as_u16(), *status, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["type"], *kind, "{method} {path}");
        assert_eq!(r.header("cache-control"), "no-store");
    }
    // Raw paths, exactly as sent: dot segments and encoded variants.
    for path in [
        format!("/api/giponext/v2/tenants/{TENANT}/patients/../invoices"),
        format!("/api/giponext/v2/tenants/{TENANT}/patients/%2e%2e/invoices"),
        format!("/api/giponext/v2/tenants/{TENANT}/%2E%2E/tenant-def456/patients"),
        format!("/api/giponext/v2/tenants/{TENANT}/patients%2F..%2Finvoices"),
        "/api/giponext/v2/tenants/../tenants/tenant-def456/patients".to_owned(),
        format!("/api/giponext/v2/tenants/{TENANT}//patients"),
    ] {
        let (status, text) = s.client.raw("GET", &path).await;
        assert_eq!(status, 404, "{path}: {text}");
    }
    assert_eq!(
        s.fake.with(|i| i.api_calls),
        calls_before,
        "nothing refused reached GipoNext"
    );

    let huge = "x".repeat((1 << 20) + 1);
    let too_big = s.client.api(Method::POST, &patients(), Some(&huge)).await;
    assert_eq!(too_big.status, 413);
    assert!(
        too_big.json()["detail"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );

    let no_csrf = s.client.get(&patients()).await;
    assert_eq!(no_csrf.status, 403);
    assert_eq!(no_csrf.json()["type"], "csrf_header_missing");

    let stranger = Client::new(s.bff.url());
    let anonymous = stranger.api(Method::GET, &patients(), None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["type"], "unauthenticated");
    assert!(
        anonymous.headers.get("location").is_none(),
        "never a redirect"
    );
}

#[tokio::test]
async fn missing_scope_and_missing_permission_are_told_apart() {
    let s = FakeSetup::start().await;
    s.fake.with(|i| {
        i.decision = Some(Decision::Grant(ScopeSet::of(&[
            Scope::OfflineAccess,
            Scope::Patients,
            Scope::Invoices,
        ])));
        i.denied_ops = vec!["invoices.create"];
    });
    s.login("?scope=giponext.invoices").await;
    // The provider says invoices, but then the user drops it there.
    s.fake.shrink_grants(ScopeSet::of(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
    ]));

    let r = s
        .client
        .send(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/invoices"),
            &[("x-csrf", "1"), ("x-return-to", "/invoices?page=2")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
    let p = r.json();
    assert_eq!(p["type"], "scope_missing");
    assert_eq!(p["scope"], "giponext.invoices");
    assert_eq!(p["feature"], "view_invoices");
    assert_eq!(
        p["grant_url"],
        "/auth/login?scope=giponext.invoices&return_to=%2Finvoices%3Fpage%3D2"
    );
    assert!(
        !s.client
            .session()
            .await
            .scopes
            .granted
            .contains(Scope::Invoices),
        "session follows GipoNext"
    );

    s.fake.with(|i| i.decision = Some(Decision::GrantAll));
    s.login("?scope=giponext.invoices").await;
    let denied = s
        .client
        .api(
            Method::POST,
            &format!("/api/giponext/v2/tenants/{TENANT}/invoices"),
            Some("{}"),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["type"], "permission_denied");
    assert_eq!(denied.json()["detail"], "Your role cannot do this.");
    assert!(
        s.client
            .get("/metrics")
            .await
            .body
            .contains("bff_scope_missing_total 1")
    );
}

#[tokio::test]
async fn upstream_failures_are_mapped() {
    let s =
        FakeSetup::start_with(|c| c.timings.upstream_timeout = Duration::from_millis(800)).await;
    s.login("").await;
    // (status, Retry-After, delay) forced at GipoNext -> (our status, type, Retry-After)
    type Case = ((u16, Option<u64>, u64), u16, &'static str, &'static str);
    let cases: &[Case] = &[
        ((500, None, 0), 502, "upstream_unavailable", ""),
        ((503, None, 0), 502, "upstream_unavailable", ""),
        ((429, Some(7), 0), 429, "rate_limited", "7"),
        ((200, None, 2000), 504, "upstream_timeout", ""),
    ];
    for ((status, retry, delay), want, kind, retry_after) in cases {
        s.fake
            .with(|i| i.api_override = Some((*status, *retry, Duration::from_millis(*delay))));
        let r = s.client.api(Method::GET, &patients(), None).await;
        assert_eq!(r.status.as_u16(), *want, "{status}: {}", r.body);
        assert_eq!(r.json()["type"], *kind);
        assert_eq!(r.header("retry-after"), *retry_after);
        assert_eq!(r.header("cache-control"), "no-store");
    }
    s.fake
        .with(|i| i.api_override = Some((409, None, Duration::ZERO)));
    let conflict = s.client.api(Method::GET, &patients(), None).await;
    assert_eq!(conflict.status, 409, "other statuses pass through");
}
