//! Authorization code flow: consent per scope, incremental consent, client
//! authentication, code replay, discovery and JWKS, end-session.

use giponext_sandbox::account::tokens::{TokenError, verify_access_token};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::{AuthType, AuthorizationCode, OAuth2TokenResponse};

use super::*;
use crate::support::sandbox;

#[tokio::test]
async fn code_flow_with_pkce_refusing_one_scope_carries_only_the_rest() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let asked = with_base(&[Scope::Patients, Scope::Agenda, Scope::Invoices]);
    let ticked = asked.difference(ScopeSet::of(&[Scope::Invoices]));
    let token = log_in(
        &sb,
        &client,
        &Browser::new(),
        "mario.rossi",
        asked,
        Consent::Grant(ticked),
    )
    .await;

    assert_eq!(
        granted(&token),
        ticked,
        "the response states exactly the granted scopes"
    );
    let claims = verify_access_token(sb.state(), token.access_token().secret())
        .expect("the access token verifies");
    assert_eq!(claims.scopes(), ticked);
    assert!(!claims.scopes().contains(Scope::Invoices));
    assert_eq!(claims.sub, "user-7f3a9c01");
    assert_eq!(claims.tenant, "tenant-abc123");
    assert_eq!(claims.aud, "giponext-api");
    assert_eq!(claims.client_id, WEB_CLIENT_ID);
    assert_eq!(claims.iss, issuer(&sb));
    assert!(
        token.refresh_token().is_some(),
        "offline_access was granted"
    );
    assert_eq!(sb.stats().token_requests("authorization_code"), 1);
}

#[tokio::test]
async fn without_offline_access_there_is_no_refresh_token() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let asked = with_base(&[Scope::Patients]);
    let ticked = asked.difference(ScopeSet::of(&[Scope::OfflineAccess]));
    let token = log_in(
        &sb,
        &client,
        &Browser::new(),
        "luca.verdi",
        asked,
        Consent::Grant(ticked),
    )
    .await;
    assert_eq!(
        granted(&token),
        ScopeSet::of(&[Scope::OpenId, Scope::Patients])
    );
    assert!(token.refresh_token().is_none());
    let claims = verify_access_token(sb.state(), token.access_token().secret()).expect("verifies");
    assert_eq!(claims.tenant, "tenant-def456");
}

#[tokio::test]
async fn openid_cannot_be_refused() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let token = log_in(
        &sb,
        &client,
        &Browser::new(),
        "mario.rossi",
        with_base(&[Scope::Patients]),
        Consent::Grant(ScopeSet::EMPTY),
    )
    .await;
    assert_eq!(granted(&token), ScopeSet::of(&[Scope::OpenId]));
}

#[tokio::test]
async fn incremental_consent_shows_what_was_granted_and_grants_what_is_ticked_now() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let browser = Browser::new();
    let first = log_in(
        &sb,
        &client,
        &browser,
        "mario.rossi",
        with_base(&[Scope::Patients]),
        Consent::GrantAll,
    )
    .await;
    assert_eq!(granted(&first), with_base(&[Scope::Patients]));

    // Asking for more: the same browser is still logged in, so the consent
    // page comes straight away and marks what was granted before.
    let flow = start(&client, with_base(&[Scope::Patients, Scope::Invoices]));
    let res = browser
        .client()
        .get(flow.url.clone())
        .send()
        .await
        .expect("authorize answers");
    assert!(res.status().is_redirection());
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with("/oauth2/consent"),
        "no login needed again: {location}"
    );
    let page = browser
        .client()
        .get(format!("{}{location}", issuer(&sb)))
        .send()
        .await
        .expect("consent page")
        .text()
        .await
        .expect("html");
    let item = |wire: &str| {
        let start = page
            .find(&format!("data-scope=\"{wire}\""))
            .unwrap_or_else(|| panic!("{wire} is listed"));
        let end = page[start..].find("</li>").expect("item ends") + start;
        page[start..end].to_owned()
    };
    assert!(item("giponext.patients").contains("già concesso"));
    assert!(!item("giponext.invoices").contains("già concesso"));
    assert!(
        item("openid").contains("disabled"),
        "openid cannot be unticked"
    );
    assert!(page.contains("Fatturazione") && page.contains("Consenti") && page.contains("Nega"));
    assert!(!page.contains("<script"), "no script on the pages");

    // This time the user ticks only invoicing (and offline access): the new
    // grant carries exactly that.
    let ticked = with_base(&[Scope::Invoices]);
    let second = log_in(
        &sb,
        &client,
        &browser,
        "mario.rossi",
        with_base(&[Scope::Patients, Scope::Invoices]),
        Consent::Grant(ticked),
    )
    .await;
    assert_eq!(granted(&second), ticked);
}

#[tokio::test]
async fn prompt_login_forces_the_login_page() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let browser = Browser::new();
    log_in(
        &sb,
        &client,
        &browser,
        "mario.rossi",
        with_base(&[]),
        Consent::GrantAll,
    )
    .await;
    let mut url = start(&client, with_base(&[])).url;
    url.query_pairs_mut().append_pair("prompt", "login");
    let res = browser.client().get(url).send().await.expect("answers");
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with("/oauth2/login"),
        "prompt=login asks for the password again: {location}"
    );
}

#[tokio::test]
async fn wrong_password_is_refused_by_the_login_page() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let flow = start(&client, with_base(&[]));
    let err = Browser::new()
        .authorize(&flow.url, "mario.rossi", "wrong", Consent::GrantAll)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("login as mario.rossi failed"),
        "{err:#}"
    );
}

#[tokio::test]
async fn client_secret_post_and_basic_both_authenticate() {
    let sb = sandbox().await;
    for auth in [AuthType::RequestBody, AuthType::BasicAuth] {
        let client = web_client(&sb, auth).await;
        let token = log_in(
            &sb,
            &client,
            &Browser::new(),
            "giulia.bianchi",
            with_base(&[]),
            Consent::GrantAll,
        )
        .await;
        assert!(verify_access_token(sb.state(), token.access_token().secret()).is_ok());
    }
    // A wrong secret, either way, is invalid_client (401); Basic gets a
    // WWW-Authenticate challenge.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", "y"),
    ];
    let (status, headers, body) =
        post_form(&sb, "/oauth2/token", &form, Some((WEB_CLIENT_ID, "nope"))).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(headers["cache-control"], "no-store");
    let mut post = form.to_vec();
    post.extend([("client_id", WEB_CLIENT_ID), ("client_secret", "nope")]);
    let (status, _, body) = post_form(&sb, "/oauth2/token", &post, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Both methods at once are refused.
    let (status, _, body) = post_form(&sb, "/oauth2/token", &post, WEB_BASIC).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let flow = start(&client, with_base(&[Scope::Patients]));
    let callback = Browser::new()
        .authorize(&flow.url, "mario.rossi", "sandbox", Consent::GrantAll)
        .await
        .expect("flow completes");
    let code = code_of(&sb, &callback, &flow);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", flow.verifier.secret().as_str()),
    ];
    let (status, _, first) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let refresh = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert!(verify_access_token(sb.state(), &access).is_ok());

    let (status, headers, again) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(matches!(
        verify_access_token(sb.state(), &access),
        Err(TokenError::Revoked)
    ));
    let (status, _, body) = post_form(
        &sb,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        WEB_BASIC,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_verifier_and_redirect_uri() {
    let sb = sandbox().await;
    let client = web_client(&sb, AuthType::BasicAuth).await;
    let flow = start(&client, with_base(&[]));
    let callback = Browser::new()
        .authorize(&flow.url, "mario.rossi", "sandbox", Consent::GrantAll)
        .await
        .expect("flow completes");
    let code = code_of(&sb, &callback, &flow);
    let wrong_verifier = "x".repeat(43);
    let cases: [(&str, &str); 2] = [
        (WEB_REDIRECT, wrong_verifier.as_str()),
        (
            "http://localhost:8080/auth/callback",
            flow.verifier.secret().as_str(),
        ),
    ];
    for (redirect, verifier) in cases {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ];
        let (status, _, body) = post_form(&sb, "/oauth2/token", &form, WEB_BASIC).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{redirect} {verifier}"
        );
    }
    // The right verifier still works (failed attempts did not spend it).
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("endpoint")
        .set_pkce_verifier(flow.verifier)
        .request_async(&http())
        .await;
    assert!(token.is_ok(), "{token:?}");
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_sandbox() {
    let sb = sandbox().await;
    let iss = issuer(&sb);
    let doc: Value = http()
        .get(format!("{iss}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], iss.as_str());
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{iss}/oauth2/authorize")
    );
    assert_eq!(doc["userinfo_endpoint"], format!("{iss}/v2/userinfo"));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["scopes_supported"].as_array().map(Vec::len), Some(8));
    let jwks: Value = http()
        .get(format!("{iss}/oauth2/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(key["kid"].as_str(), Some(sb.state().account.key.kid()));
}

#[tokio::test]
async fn end_session_logs_out_and_redirects_only_to_registered_uris() {
    let sb = sandbox().await;
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
    let iss = issuer(&sb);

    let bad = format!(
        "{iss}/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
    );
    let res = browser.client().get(bad).send().await.expect("answers");
    assert_eq!(res.status(), 400);
    assert!(!res.headers().contains_key("location"));

    let good = format!(
        "{iss}/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F&state=bye"
    );
    let res = browser.client().get(good).send().await.expect("answers");
    assert!(res.status().is_redirection());
    assert_eq!(
        res.headers()["location"],
        "http://127.0.0.1:8080/?state=bye"
    );

    // The login at the account server is over: the next authorization asks
    // for the password again.
    let res = browser
        .client()
        .get(start(&client, with_base(&[])).url)
        .send()
        .await
        .expect("answers");
    let location = res.headers()["location"].to_str().expect("ascii");
    assert!(location.starts_with("/oauth2/login"), "{location}");
}

#[tokio::test]
async fn tokens_survive_a_restart_of_a_file_backed_sandbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sandbox.sqlite3");
    let config = |p: &std::path::Path| {
        let mut c = giponext_sandbox::SandboxConfig::for_tests();
        c.data_path = Some(p.to_owned());
        c.seed_invoices = 20;
        c
    };
    let first = giponext_sandbox::start(config(&path))
        .await
        .expect("starts");
    let kid = first.state().account.key.kid().to_owned();
    let client = web_client(&first, AuthType::BasicAuth).await;
    let token = log_in(
        &first,
        &client,
        &Browser::new(),
        "mario.rossi",
        with_base(&[]),
        Consent::GrantAll,
    )
    .await;
    let refresh = token
        .refresh_token()
        .expect("refresh token")
        .secret()
        .clone();
    let addr = first.addr();
    first.shutdown().await;

    // Same port, so the issuer is the same.
    let mut c = config(&path);
    c.listen = addr;
    let second = giponext_sandbox::start(c).await.expect("restarts");
    assert_eq!(
        second.state().account.key.kid(),
        kid,
        "the signing key was kept"
    );
    assert!(verify_access_token(second.state(), token.access_token().secret()).is_ok());
    let (status, _, body) = post_form(
        &second,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        WEB_BASIC,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
