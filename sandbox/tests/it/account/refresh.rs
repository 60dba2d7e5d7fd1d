//! Refresh token rotation, reuse detection, narrowing, revocation and the
//! test hooks.

use giponext_sandbox::account::tokens::{TokenError, verify_access_token};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::{AuthType, OAuth2TokenResponse};

use super::*;
use crate::support::sandbox;

async fn refresh(sb: &RunningSandbox, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, _, body) = post_form(sb, "/oauth2/token", &form, WEB_BASIC).await;
    (status, body)
}

/// Mario logged in with openid offline_access patients agenda.
async fn mario(sb: &RunningSandbox) -> (String, String) {
    let client = web_client(sb, AuthType::BasicAuth).await;
    let token = log_in(
        sb,
        &client,
        &Browser::new(),
        "mario.rossi",
        with_base(&[Scope::Patients, Scope::Agenda, Scope::Invoices]),
        Consent::Grant(with_base(&[Scope::Patients, Scope::Agenda])),
    )
    .await;
    (
        token.access_token().secret().clone(),
        token
            .refresh_token()
            .expect("refresh token")
            .secret()
            .clone(),
    )
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_grant() {
    let sb = sandbox().await;
    let (_, r1) = mario(&sb).await;
    let (status, body) = refresh(&sb, &r1, None).await;
    assert_eq!(status, 200, "{body}");
    let r2 = body["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_owned();
    assert_ne!(r1, r2, "rotated on use");
    assert_eq!(
        body["scope"],
        "openid offline_access giponext.patients giponext.agenda"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|n| n > 0));
    assert!(body["id_token"].is_string());
    let a2 = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert_eq!(sb.stats().refreshes(), 1);

    // The rotated-out token again: refused, and the grant is gone.
    let (status, body) = refresh(&sb, &r1, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = refresh(&sb, &r2, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the newest token died with the grant"
    );
    assert!(matches!(
        verify_access_token(sb.state(), &a2),
        Err(TokenError::Revoked)
    ));
    assert_eq!(sb.stats().refreshes(), 1);
    assert_eq!(sb.stats().token_requests("refresh_token"), 3);
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_never_widen_it() {
    let sb = sandbox().await;
    let (_, r1) = mario(&sb).await;
    let (status, body) = refresh(&sb, &r1, Some("giponext.invoices openid")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "invoices was refused at consent"
    );
    let (status, body) = refresh(&sb, &r1, Some("openid giponext.patients")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid giponext.patients");
    let access = body["access_token"].as_str().expect("access token");
    let claims = verify_access_token(sb.state(), access).expect("verifies");
    assert_eq!(
        claims.scopes(),
        ScopeSet::of(&[Scope::OpenId, Scope::Patients])
    );
    // The grant keeps its scopes: a later refresh without `scope` gets them all.
    let r2 = body["refresh_token"].as_str().expect("refresh token");
    let (status, body) = refresh(&sb, r2, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["scope"],
        "openid offline_access giponext.patients giponext.agenda"
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant() {
    let sb = sandbox().await;
    let (access, r1) = mario(&sb).await;
    let (status, _, _) = post_form(
        &sb,
        "/oauth2/revoke",
        &[("token", &r1), ("token_type_hint", "refresh_token")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sb.stats().revocations(), 1);
    let (status, body) = refresh(&sb, &r1, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(matches!(
        verify_access_token(sb.state(), &access),
        Err(TokenError::Revoked)
    ));
    // An unknown token is not an error (RFC 7009 §2.2).
    let (status, _, _) = post_form(
        &sb,
        "/oauth2/revoke",
        &[("token", "no-such-token")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(status, 200);
    // Revocation needs client authentication.
    let (status, _, body) = post_form(&sb, "/oauth2/revoke", &[("token", "x")], None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_grant_too() {
    let sb = sandbox().await;
    let (access, r1) = mario(&sb).await;
    let (status, _, _) = post_form(&sb, "/oauth2/revoke", &[("token", &access)], WEB_BASIC).await;
    assert_eq!(status, 200);
    assert!(matches!(
        verify_access_token(sb.state(), &access),
        Err(TokenError::Revoked)
    ));
    let (status, _) = refresh(&sb, &r1, None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn hooks_shrink_and_revoke_grants() {
    let sb = sandbox().await;
    let (_, r1) = mario(&sb).await;
    assert_eq!(
        sb.shrink_grants("mario.rossi", ScopeSet::of(&[Scope::Agenda])),
        1
    );
    let (status, body) = refresh(&sb, &r1, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"], "openid offline_access giponext.patients",
        "scope drift shows in the refresh"
    );
    let r2 = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    assert_eq!(sb.revoke_grants("mario.rossi"), 1);
    let (status, body) = refresh(&sb, &r2, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let sb =
        crate::support::sandbox_with(|c| c.access_token_ttl = std::time::Duration::from_secs(1))
            .await;
    let (access, _) = mario(&sb).await;
    assert!(verify_access_token(sb.state(), &access).is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(
        verify_access_token(sb.state(), &access),
        Err(TokenError::Expired)
    ));
}

/// `GET /v2/userinfo` (the discovered userinfo endpoint) with `access`.
async fn userinfo(sb: &RunningSandbox, access: &str) -> (u16, Value) {
    let doc: Value = http()
        .get(format!("{}/.well-known/openid-configuration", issuer(sb)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let res = http()
        .get(
            doc["userinfo_endpoint"]
                .as_str()
                .expect("userinfo endpoint"),
        )
        .bearer_auth(access)
        .send()
        .await
        .expect("answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_from_the_flow_work_at_the_api_until_revoked() {
    let sb = sandbox().await;
    let (access, r1) = mario(&sb).await;
    let (status, body) = userinfo(&sb, &access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "user-7f3a9c01");
    assert_eq!(body["tenants"][0]["id"], "tenant-abc123");

    let (status, _, _) = post_form(&sb, "/oauth2/revoke", &[("token", &r1)], WEB_BASIC).await;
    assert_eq!(status, 200);
    let (status, body) = userinfo(&sb, &access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
}
