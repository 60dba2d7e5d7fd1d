//! Pushed Authorization Requests (RFC 9126) behind `SANDBOX_PAR`: off by
//! default (GipoNext's documented behaviour), `on` serves the endpoint,
//! `required` refuses a request that was not pushed.

use giponext_sandbox::ParMode;
use giponext_sandbox::account::par::REQUEST_URI_PREFIX;
use giponext_sandbox::clients::{CLI_CLIENT_ID, WEB_CLIENT_ID};
use openidconnect::AuthType;

use super::*;
use crate::support::{sandbox, sandbox_with};

/// The parameters of a fresh authorization request for the web client.
fn request_params(client: &Oidc) -> (Flow, Vec<(String, String)>) {
    let flow = start(client, with_base(&[Scope::Patients]));
    let params = flow.url.query_pairs().into_owned().collect();
    (flow, params)
}

/// Pushes `params` as the web client (Basic); returns status and JSON.
async fn push(sb: &RunningSandbox, params: &[(String, String)]) -> (u16, Value) {
    let form: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, headers, json) = post_form(sb, "/oauth2/par", &form, WEB_BASIC).await;
    if status == 201 {
        assert_eq!(headers["cache-control"], "no-store");
    }
    (status, json)
}

/// `{issuer}/oauth2/authorize?client_id=..&request_uri=..`.
fn by_reference(sb: &RunningSandbox, client_id: &str, request_uri: &str) -> Url {
    let mut url = Url::parse(&format!("{}/oauth2/authorize", issuer(sb))).expect("URL");
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url
}

async fn discovery(sb: &RunningSandbox) -> Value {
    http()
        .get(format!("{}/.well-known/openid-configuration", issuer(sb)))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn par_is_off_by_default_as_gipo_documents() {
    let sb = sandbox().await;
    let doc = discovery(&sb).await;
    assert!(doc.get("pushed_authorization_request_endpoint").is_none());
    assert!(doc.get("require_pushed_authorization_requests").is_none());
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let (_, params) = request_params(&client);
    let (status, _) = push(&sb, &params).await;
    assert_eq!(status, 404, "no PAR endpoint by default");
}

#[tokio::test]
async fn a_pushed_request_signs_in_once_and_only_for_its_client() {
    let sb = sandbox_with(|c| c.par = ParMode::On).await;
    let doc = discovery(&sb).await;
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{}/oauth2/par", issuer(&sb))
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    let client = web_client(&sb, AuthType::BasicAuth).await;

    // Client authentication is required, as at the token endpoint.
    let (flow, params) = request_params(&client);
    let form: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, json) = post_form(
        &sb,
        "/oauth2/par",
        &form,
        Some((WEB_CLIENT_ID, "wrong-secret")),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, json) = push(&sb, &params).await;
    assert_eq!(status, 201, "{json}");
    let request_uri = json["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    assert!(request_uri.starts_with(REQUEST_URI_PREFIX), "{request_uri}");
    assert!(
        json["expires_in"]
            .as_u64()
            .is_some_and(|s| s > 0 && s <= 600)
    );

    // Another client cannot use it, and its attempt does not spend it.
    let res = http()
        .get(by_reference(&sb, CLI_CLIENT_ID, &request_uri))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-error=\"invalid_request_uri\"")
    );

    // The browser carries only client_id and request_uri.
    let browser = Browser::new();
    let url = by_reference(&sb, WEB_CLIENT_ID, &request_uri);
    let callback = browser
        .authorize(
            &url,
            giponext_sandbox::users::MARIO,
            "sandbox",
            Consent::GrantAll,
        )
        .await
        .expect("the pushed request signs in");
    let code = code_of(&sb, &callback, &flow);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(flow.verifier)
        .request_async(&http())
        .await
        .expect("the code exchange works with the pushed PKCE challenge");
    assert!(granted(&token).contains(Scope::Patients));

    // A second use of the same request_uri is refused (one-time, RFC 9126 §4).
    let res = http().get(url).send().await.expect("answers");
    assert_eq!(res.status(), 400);
    assert!(!res.headers().contains_key("location"));
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-error=\"invalid_request_uri\"")
    );
}

#[tokio::test]
async fn a_bad_push_is_refused_at_the_back_channel() {
    let sb = sandbox_with(|c| c.par = ParMode::On).await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let (_, mut params) = request_params(&client);
    params.retain(|(k, _)| k != "redirect_uri");
    params.push(("redirect_uri".into(), "https://evil.example/cb".into()));
    let (status, json) = push(&sb, &params).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (_, mut params) = request_params(&client);
    params.push(("request_uri".into(), format!("{REQUEST_URI_PREFIX}x")));
    let (status, json) = push(&sb, &params).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn required_mode_refuses_a_request_that_was_not_pushed() {
    let sb = sandbox_with(|c| c.par = ParMode::Required).await;
    assert_eq!(
        discovery(&sb).await["require_pushed_authorization_requests"],
        true
    );
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let (flow, params) = request_params(&client);
    let res = http().get(flow.url.clone()).send().await.expect("answers");
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(WEB_REDIRECT), "{location}");
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(param(&location, "iss"), Some(issuer(&sb)));

    // The same request pushed is accepted.
    let (status, json) = push(&sb, &params).await;
    assert_eq!(status, 201, "{json}");
    let url = by_reference(&sb, WEB_CLIENT_ID, json["request_uri"].as_str().unwrap());
    let callback = Browser::new()
        .authorize(
            &url,
            giponext_sandbox::users::MARIO,
            "sandbox",
            Consent::GrantAll,
        )
        .await
        .expect("the pushed request signs in");
    code_of(&sb, &callback, &flow);
}
