//! The device flow (RFC 8628): pending, slow_down, approval with partial
//! consent, denial, expiry; public and confidential CLI clients.

use std::time::Duration;

use giponext_sandbox::account::tokens::verify_access_token;
use giponext_sandbox::clients::{CLI_CLIENT_ID, CLI_CLIENT_SECRET, CLI_PUBLIC_CLIENT_ID};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::Scope;

use super::*;
use crate::support::{sandbox, sandbox_with};

const CLI_BASIC: Option<(&str, &str)> = Some((CLI_CLIENT_ID, CLI_CLIENT_SECRET));
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn begin(sb: &RunningSandbox, scope: &str) -> Value {
    let (status, headers, body) = post_form(
        sb,
        "/oauth2/device_authorization",
        &[("scope", scope)],
        CLI_BASIC,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

async fn poll(sb: &RunningSandbox, device_code: &str) -> (u16, Value) {
    let (status, _, body) = post_form(
        sb,
        "/oauth2/token",
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        CLI_BASIC,
    )
    .await;
    (status, body)
}

fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn device_flow_with_partial_consent() {
    let sb = sandbox().await;
    let start = begin(
        &sb,
        "openid offline_access giponext.patients giponext.invoices",
    )
    .await;
    let user_code = start["user_code"].as_str().expect("user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(start["verification_uri"], format!("{}/device", issuer(&sb)));
    assert_eq!(start["interval"], 1);
    let device_code = start["device_code"].as_str().expect("device_code");

    let (status, body) = poll(&sb, device_code).await;
    assert_eq!((status, error(&body)), (400, "authorization_pending"));

    let uri = Url::parse(
        start["verification_uri_complete"]
            .as_str()
            .expect("complete URI"),
    )
    .expect("URL");
    let ticked = with_base(&[Scope::Patients]);
    Browser::new()
        .approve_device(
            &uri,
            user_code,
            "giulia.bianchi",
            "sandbox",
            Consent::Grant(ticked),
        )
        .await
        .expect("approval works");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = poll(&sb, device_code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid offline_access giponext.patients");
    assert!(body["id_token"].is_string());
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let claims = verify_access_token(sb.state(), body["access_token"].as_str().expect("token"))
        .expect("verifies");
    assert_eq!(claims.scopes(), ticked);
    assert_eq!(claims.sub, "user-2b81d4e7");
    assert_eq!(claims.client_id, CLI_CLIENT_ID);

    // The device code is spent.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = poll(&sb, device_code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));

    // The CLI client refreshes (rotating) like the web client.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, _, body) = post_form(&sb, "/oauth2/token", &form, CLI_BASIC).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["refresh_token"].as_str(), Some(refresh.as_str()));
}

#[tokio::test]
async fn polling_too_fast_gets_slow_down_and_the_interval_grows() {
    let sb = sandbox().await;
    let start = begin(&sb, "openid").await;
    let device_code = start["device_code"].as_str().expect("device_code");
    let (_, body) = poll(&sb, device_code).await;
    assert_eq!(error(&body), "authorization_pending");
    let (status, body) = poll(&sb, device_code).await;
    assert_eq!((status, error(&body)), (400, "slow_down"));
    // The interval is now 1 + 5 s: waiting the original 1 s is still too fast.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, body) = poll(&sb, device_code).await;
    assert_eq!(error(&body), "slow_down", "the interval grew by 5 s");
}

#[tokio::test]
async fn a_denied_device_gets_access_denied() {
    let sb = sandbox().await;
    let start = begin(&sb, "openid giponext.agenda").await;
    let uri = Url::parse(start["verification_uri"].as_str().expect("uri")).expect("URL");
    let user_code = start["user_code"].as_str().expect("user_code");
    // People type codes in lower case and without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    Browser::new()
        .approve_device(&uri, &typed, "luca.verdi", "sandbox", Consent::Deny)
        .await
        .expect("denial completes");
    let (status, body) = poll(&sb, start["device_code"].as_str().expect("device_code")).await;
    assert_eq!((status, error(&body)), (400, "access_denied"));
}

#[tokio::test]
async fn an_expired_device_code_gets_expired_token_and_cannot_be_approved() {
    let sb = sandbox_with(|c| c.device_code_ttl = Duration::from_secs(1)).await;
    let start = begin(&sb, "openid").await;
    assert_eq!(start["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = poll(&sb, start["device_code"].as_str().expect("device_code")).await;
    assert_eq!((status, error(&body)), (400, "expired_token"));
    let uri = Url::parse(start["verification_uri"].as_str().expect("uri")).expect("URL");
    let err = Browser::new()
        .approve_device(
            &uri,
            start["user_code"].as_str().expect("code"),
            "mario.rossi",
            "sandbox",
            Consent::GrantAll,
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("was refused"), "{err:#}");
}

#[tokio::test]
async fn the_public_cli_client_needs_no_secret_and_unknown_codes_are_refused() {
    let sb = sandbox().await;
    let form = [
        ("client_id", CLI_PUBLIC_CLIENT_ID),
        ("scope", "openid offline_access"),
    ];
    let (status, _, start) = post_form(&sb, "/oauth2/device_authorization", &form, None).await;
    assert_eq!(status, 200, "{start}");
    let uri = Url::parse(start["verification_uri"].as_str().expect("uri")).expect("URL");
    Browser::new()
        .approve_device(
            &uri,
            start["user_code"].as_str().expect("code"),
            "mario.rossi",
            "sandbox",
            Consent::GrantAll,
        )
        .await
        .expect("approves");
    let form = [
        ("grant_type", DEVICE_GRANT),
        (
            "device_code",
            start["device_code"].as_str().expect("device_code"),
        ),
        ("client_id", CLI_PUBLIC_CLIENT_ID),
    ];
    let (status, _, body) = post_form(&sb, "/oauth2/token", &form, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid offline_access");
    let refresh = body["refresh_token"].as_str().expect("refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", CLI_PUBLIC_CLIENT_ID),
    ];
    let (status, _, body) = post_form(&sb, "/oauth2/token", &form, None).await;
    assert_eq!(status, 200, "{body}");

    let err = Browser::new()
        .approve_device(
            &uri,
            "BCDF-GHJK",
            "mario.rossi",
            "sandbox",
            Consent::GrantAll,
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("was refused"), "{err:#}");
}

#[tokio::test]
async fn device_authorization_checks_client_and_scopes() {
    let sb = sandbox().await;
    // The web client is not registered for the device grant.
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/device_authorization",
        &[("scope", "openid")],
        WEB_BASIC,
    )
    .await;
    assert_eq!((status, error(&body)), (400, "unauthorized_client"));
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/device_authorization",
        &[("scope", "openid profile")],
        CLI_BASIC,
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_scope"));
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("profile"))
    );
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/device_authorization",
        &[("scope", "openid")],
        Some((CLI_CLIENT_ID, "wrong")),
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
}
