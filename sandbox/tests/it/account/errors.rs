//! Malformed or refused requests: never a redirect to an unregistered URI,
//! RFC 6749 errors with `state` and `iss` otherwise, token endpoint errors.

use giponext_sandbox::ClientRegistration;
use giponext_sandbox::clients::grants::{AUTHORIZATION_CODE, REFRESH_TOKEN};
use giponext_sandbox::config::RateLimit;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::AuthType;

use super::*;
use crate::support::{sandbox, sandbox_with};

/// A valid authorization URL with `change` applied to its parameters.
fn authorize_url(sb: &RunningSandbox, change: impl FnOnce(&mut Vec<(String, String)>)) -> Url {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", WEB_CLIENT_ID),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid giponext.patients"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    change(&mut params);
    let mut url = Url::parse(&format!("{}/oauth2/authorize", issuer(sb))).expect("URL");
    url.query_pairs_mut().extend_pairs(params);
    url
}

fn set(params: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != name);
    if let Some(v) = value {
        params.push((name.to_owned(), v.to_owned()));
    }
}

/// Asserts an error page: 400, no redirect, the error code shown.
async fn assert_error_page(url: Url, code: &str) {
    let res = http().get(url.clone()).send().await.expect("answers");
    assert_eq!(res.status(), 400, "{url}");
    assert!(
        !res.headers().contains_key("location"),
        "never redirects: {url}"
    );
    let page = res.text().await.expect("html");
    assert!(
        page.contains(&format!("data-error=\"{code}\"")),
        "{code} in {page}"
    );
}

/// Asserts a redirect to the client with `error`, the state and `iss`.
async fn assert_redirect_error(sb: &RunningSandbox, url: Url, code: &str) -> String {
    let res = http().get(url.clone()).send().await.expect("answers");
    assert!(
        res.status().is_redirection(),
        "{url} answered {}",
        res.status()
    );
    let location =
        Url::parse(res.headers()["location"].to_str().expect("ascii")).expect("absolute URL");
    assert!(location.as_str().starts_with(WEB_REDIRECT), "{location}");
    assert_eq!(
        param(&location, "error").as_deref(),
        Some(code),
        "{location}"
    );
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&location, "iss"), Some(issuer(sb)));
    param(&location, "error_description").unwrap_or_default()
}

#[tokio::test]
async fn bad_client_or_redirect_uri_shows_an_error_page_and_never_redirects() {
    let sb = sandbox().await;
    let cases: Vec<(Url, &str)> = vec![
        (
            authorize_url(&sb, |p| {
                set(p, "redirect_uri", Some("https://evil.example/cb"))
            }),
            "invalid_request",
        ),
        // Exact match: a prefix or an extra slash is not the registered URI.
        (
            authorize_url(&sb, |p| {
                set(
                    p,
                    "redirect_uri",
                    Some("http://127.0.0.1:8080/auth/callback/"),
                )
            }),
            "invalid_request",
        ),
        (
            authorize_url(&sb, |p| set(p, "redirect_uri", None)),
            "invalid_request",
        ),
        (
            authorize_url(&sb, |p| set(p, "client_id", Some("nobody"))),
            "invalid_client",
        ),
        (
            authorize_url(&sb, |p| set(p, "client_id", None)),
            "invalid_request",
        ),
        (
            authorize_url(&sb, |p| p.push(("client_id".into(), WEB_CLIENT_ID.into()))),
            "invalid_request",
        ),
    ];
    for (url, code) in cases {
        assert_error_page(url, code).await;
    }
    // The browser helper reports such a page as an error.
    let url = authorize_url(&sb, |p| {
        set(p, "redirect_uri", Some("https://evil.example/cb"))
    });
    let err = Browser::new()
        .authorize(&url, "mario.rossi", "sandbox", Consent::GrantAll)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("redirect_uri"), "{err:#}");
}

#[tokio::test]
async fn pkce_is_required_and_must_be_s256() {
    let sb = sandbox().await;
    let missing = authorize_url(&sb, |p| {
        set(p, "code_challenge", None);
        set(p, "code_challenge_method", None);
    });
    assert!(
        assert_redirect_error(&sb, missing, "invalid_request")
            .await
            .contains("PKCE")
    );
    let plain = authorize_url(&sb, |p| set(p, "code_challenge_method", Some("plain")));
    assert!(
        assert_redirect_error(&sb, plain, "invalid_request")
            .await
            .contains("S256")
    );
    let no_method = authorize_url(&sb, |p| set(p, "code_challenge_method", None));
    assert_redirect_error(&sb, no_method, "invalid_request").await;
    let malformed = authorize_url(&sb, |p| set(p, "code_challenge", Some("short")));
    assert_redirect_error(&sb, malformed, "invalid_request").await;
}

#[tokio::test]
async fn scopes_must_be_known_registered_and_include_openid() {
    let sb = sandbox().await;
    let unknown = authorize_url(&sb, |p| {
        set(p, "scope", Some("openid giponext.patients profile"))
    });
    assert!(
        assert_redirect_error(&sb, unknown, "invalid_scope")
            .await
            .contains("profile")
    );
    let no_openid = authorize_url(&sb, |p| set(p, "scope", Some("giponext.patients")));
    assert!(
        assert_redirect_error(&sb, no_openid, "invalid_scope")
            .await
            .contains("openid")
    );
    let none = authorize_url(&sb, |p| set(p, "scope", None));
    assert_redirect_error(&sb, none, "invalid_scope").await;

    // A client registered for fewer scopes cannot ask for more.
    sb.register_client(ClientRegistration {
        client_id: "narrow-web".into(),
        client_secret: Some("narrow-secret".into()),
        grant_types: vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()],
        redirect_uris: vec![WEB_REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        scopes: ScopeSet::of(&[Scope::OpenId, Scope::Patients]),
        backchannel_logout_uri: None,
    });
    let outside = authorize_url(&sb, |p| {
        set(p, "client_id", Some("narrow-web"));
        set(
            p,
            "scope",
            Some("openid giponext.patients giponext.invoices"),
        );
    });
    assert!(
        assert_redirect_error(&sb, outside, "invalid_scope")
            .await
            .contains("giponext.invoices")
    );
    let inside = authorize_url(&sb, |p| set(p, "client_id", Some("narrow-web")));
    let res = http().get(inside).send().await.expect("answers");
    let location = res.headers()["location"].to_str().expect("ascii");
    assert!(
        location.starts_with("/oauth2/login"),
        "a registered scope is fine: {location}"
    );
}

#[tokio::test]
async fn other_request_errors_redirect_with_state_and_iss() {
    let sb = sandbox().await;
    let token = authorize_url(&sb, |p| set(p, "response_type", Some("token")));
    assert_redirect_error(&sb, token, "unsupported_response_type").await;
    let none = authorize_url(&sb, |p| set(p, "prompt", Some("none")));
    assert_redirect_error(&sb, none, "login_required").await;
}

#[tokio::test]
async fn denying_consent_sends_access_denied() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let flow = start(&client, with_base(&[Scope::Patients]));
    let callback = Browser::new()
        .authorize(&flow.url, "mario.rossi", "sandbox", Consent::Deny)
        .await
        .expect("completes");
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        param(&callback, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
    assert_eq!(param(&callback, "iss"), Some(issuer(&sb)));
    assert_eq!(param(&callback, "code"), None);
}

#[tokio::test]
async fn token_endpoint_refuses_client_credentials_and_malformed_requests() {
    let sb = sandbox().await;
    let (status, headers, body) = post_form(
        &sb,
        "/oauth2/token",
        &[("grant_type", "client_credentials")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/token",
        &[("grant_type", "password")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, _, body) = post_form(&sb, "/oauth2/token", &[("code", "x")], WEB_BASIC).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/token",
        &[("grant_type", "authorization_code")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "missing code"
    );
    // The web client may not use the device grant.
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", "x"),
    ];
    let (status, _, body) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // JSON bodies are not OAuth.
    let res = http()
        .post(format!("{}/oauth2/token", issuer(&sb)))
        .basic_auth(WEB_CLIENT_ID, Some(WEB_CLIENT_SECRET))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 400);
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        WEB_BASIC,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_token_endpoint_is_rate_limited_per_client() {
    let sb = sandbox_with(|c| {
        c.rate_limit = RateLimit {
            requests: 2,
            window: std::time::Duration::from_secs(30),
        }
    })
    .await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", "nope")];
    for _ in 0..2 {
        let (status, _, _) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
        assert_eq!(status, 400);
    }
    let (status, headers, body) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "rate_limit_exceeded");
    assert!(body["message"].is_string());
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry));
    // Another client has its own budget.
    let form = [("grant_type", "refresh_token"), ("refresh_token", "nope")];
    let (status, _, _) = post_form(
        &sb,
        "/oauth2/token",
        &form,
        Some(("giponext-cli", "sandbox-cli-secret")),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn authorization_requests_may_be_posted_as_a_form() {
    let sb = sandbox().await;
    let url = authorize_url(&sb, |_| {});
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let res = http()
        .post(format!("{}/oauth2/authorize", issuer(&sb)))
        .form(&form)
        .send()
        .await
        .expect("answers");
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = res.headers()["location"].to_str().expect("ascii");
    assert!(location.starts_with("/oauth2/login"), "{location}");
}
