//! Back-channel logout: ending the login at the account server notifies the
//! clients of that login session.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use giponext_sandbox::ClientRegistration;
use giponext_sandbox::account::backchannel::LOGOUT_EVENT;
use giponext_sandbox::clients::grants::{AUTHORIZATION_CODE, REFRESH_TOKEN};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::ScopeSet;
use jsonwebtoken::{Algorithm, Validation};
use openidconnect::AuthType;
use tokio::sync::mpsc;

use super::*;
use crate::support::sandbox;

/// A client back end that records the logout tokens it receives.
async fn receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let tx = Arc::new(tx);
    let app = axum::Router::new().route(
        "/backchannel-logout",
        post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let token = url::form_urlencoded::parse(&body)
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let _ = tx.send(token);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/backchannel-logout"), rx)
}

#[tokio::test]
async fn logging_out_notifies_the_session_clients_by_back_channel() {
    let sb = sandbox().await;
    let (uri, mut received) = receiver().await;
    sb.register_client(ClientRegistration {
        client_id: WEB_CLIENT_ID.into(),
        client_secret: Some(WEB_CLIENT_SECRET.into()),
        grant_types: vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()],
        redirect_uris: vec![WEB_REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        scopes: ScopeSet::all(),
        backchannel_logout_uri: Some(uri),
    });
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let browser = Browser::new();
    let token = log_in(
        &sb,
        &client,
        &browser,
        "mario.rossi",
        with_base(&[]),
        Consent::GrantAll,
    )
    .await;
    let id_token = openidconnect::TokenResponse::id_token(&token)
        .expect("id token")
        .to_string();
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    let id_claims: Value = sb
        .state()
        .account
        .key
        .verify(&id_token, &v)
        .expect("our ID token");

    let res = browser
        .client()
        .get(format!(
            "{}/oauth2/logout?id_token_hint={id_token}",
            issuer(&sb)
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200, "a page when no redirect is asked");

    let logout_token = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("the logout token arrives")
        .expect("a token");
    let header = jsonwebtoken::decode_header(&logout_token).expect("a JWT");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[WEB_CLIENT_ID]);
    v.set_issuer(&[issuer(&sb)]);
    let claims: Value = sb
        .state()
        .account
        .key
        .verify(&logout_token, &v)
        .expect("signed by the sandbox");
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert!(claims["sid"].is_string());
    assert_eq!(claims["sub"], "user-7f3a9c01");
    assert!(claims["events"][LOGOUT_EVENT].is_object());
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn the_browser_switches_user_when_someone_else_is_logged_in() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let browser = Browser::new();
    let first = log_in(
        &sb,
        &client,
        &browser,
        "mario.rossi",
        with_base(&[]),
        Consent::GrantAll,
    )
    .await;
    let claims = giponext_sandbox::account::tokens::verify_access_token(
        sb.state(),
        openidconnect::OAuth2TokenResponse::access_token(&first).secret(),
    )
    .expect("verifies");
    assert_eq!(claims.sub, "user-7f3a9c01");

    // The consent page says who is logged in and offers to switch.
    let flow = start(&client, with_base(&[]));
    let res = browser
        .client()
        .get(flow.url.clone())
        .send()
        .await
        .expect("answers");
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let page = browser
        .client()
        .get(format!("{}{location}", issuer(&sb)))
        .send()
        .await
        .expect("consent page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("data-username=\"mario.rossi\"") && page.contains("Cambia utente"));

    let second = log_in(
        &sb,
        &client,
        &browser,
        "giulia.bianchi",
        with_base(&[]),
        Consent::GrantAll,
    )
    .await;
    let claims = giponext_sandbox::account::tokens::verify_access_token(
        sb.state(),
        openidconnect::OAuth2TokenResponse::access_token(&second).secret(),
    )
    .expect("verifies");
    assert_eq!(
        claims.sub, "user-2b81d4e7",
        "logged in as the user asked for"
    );
}
