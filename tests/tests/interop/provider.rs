//! The harness provider alone, with a standard OpenID Connect client:
//! discovery, code flow with per-scope consent, refresh, revocation, logout.

use std::time::Duration;

use giponext_e2e::interop::{Consent, HarnessBrowser, HarnessOptions, users};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, Scope as OidcScope,
    TokenResponse as _,
};

use super::common::*;

#[tokio::test]
async fn discovery_announces_what_the_product_relies_on() {
    let setup = setup(HarnessOptions::default()).await;
    let extra = setup.metadata.additional_metadata();
    assert_eq!(setup.metadata.issuer().as_str(), setup.harness.issuer());
    assert!(!setup.harness.issuer().ends_with('/'));
    assert!(
        extra.authorization_response_iss_parameter_supported,
        "RFC 9207"
    );
    assert_eq!(
        extra.code_challenge_methods_supported,
        vec!["S256".to_owned()]
    );
    let supported: Vec<String> = setup
        .metadata
        .scopes_supported()
        .expect("scopes_supported")
        .iter()
        .map(|s| s.to_string())
        .collect();
    for scope in ScopeSet::all().iter() {
        assert!(
            supported.contains(&scope.as_str().to_owned()),
            "{scope:?} not announced"
        );
    }
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn pkce_is_required() {
    let setup = setup(HarnessOptions::default()).await;
    let client = setup.web();
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let resp = setup.http.get(auth_url).send().await.expect("authorize");
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        location.starts_with(REDIRECT),
        "an error redirect, got {} {location}",
        resp.status()
    );
    assert!(location.contains("error=invalid_request"), "{location}");
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn partial_consent_then_refresh_rotates_and_reuse_revokes_the_grant() {
    let setup = setup(HarnessOptions::default()).await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let asked = scopes(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
        Scope::Agenda,
        Scope::Invoices,
    ]);
    let ticked = scopes(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
        Scope::Agenda,
    ]);
    let login = code_flow(&setup, &browser, asked, Consent::Grant(ticked)).await;
    assert_eq!(
        granted(&login.tokens),
        ticked,
        "the refused scope is not granted"
    );
    let access = login.tokens.access_token().clone();
    let rt1 = login
        .tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();

    let (status, info) = setup.api("/v2/userinfo", &access).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], users::MARIO_SUB);
    assert_eq!(info["tenants"][0]["id"], users::TENANT_MAIN);
    let (status, list) = setup
        .api(
            &format!("/v2/tenants/{}/patients", users::TENANT_MAIN),
            &access,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));

    let client = setup.web();
    let refreshed = client
        .exchange_refresh_token(&rt1)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await
        .expect("refresh");
    let rt2 = refreshed
        .refresh_token()
        .expect("a rotated refresh token")
        .clone();
    assert_ne!(rt1.secret(), rt2.secret(), "rotation");
    assert_eq!(granted(&refreshed), ticked);
    let stats = setup.harness.stats().await.expect("stats");
    assert_eq!(stats.grants("refresh_token"), 1);
    assert_eq!(stats.event("refresh_token.consumed"), 1);

    // Reusing the rotated token is refused and revokes the whole grant.
    let reuse = client
        .exchange_refresh_token(&rt1)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await;
    assert_invalid_grant(reuse);
    let after = client
        .exchange_refresh_token(&rt2)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await;
    assert_invalid_grant(after);
    let (status, _) = setup.api("/v2/userinfo", refreshed.access_token()).await;
    assert_eq!(status, 401, "the grant's access token died with it");
    assert!(
        setup
            .harness
            .stats()
            .await
            .expect("stats")
            .event("grant.revoked")
            >= 1
    );
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn incremental_consent_adds_a_scope_and_a_refused_one_is_asked_again() {
    let setup = setup(HarnessOptions::default()).await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let first = scopes(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
        Scope::Invoices,
    ]);
    let login = code_flow(
        &setup,
        &browser,
        first,
        Consent::Grant(first.difference(scopes(&[Scope::Invoices]))),
    )
    .await;
    assert_eq!(
        granted(&login.tokens),
        scopes(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients])
    );

    // Same browser, same provider session: asking again for invoices (refused
    // before) and agenda (new) shows the consent page again.
    let more = first.union(scopes(&[Scope::Agenda]));
    let login = code_flow(&setup, &browser, more, Consent::GrantAll).await;
    assert_eq!(granted(&login.tokens), more);

    // Nothing new asked: no consent page, the grant is reused silently.
    let again = scopes(&[Scope::OpenId, Scope::Patients]);
    let login = code_flow(&setup, &browser, again, Consent::Deny).await;
    assert_eq!(granted(&login.tokens), again);
    assert!(
        login.tokens.refresh_token().is_none(),
        "no offline_access, no refresh token"
    );
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn denying_consent_returns_access_denied_with_iss() {
    let setup = setup(HarnessOptions::default()).await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let client = setup.web();
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(OidcScope::new("giponext.patients".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser
        .authorize(&auth_url, users::MARIO, users::PASSWORD, Consent::Deny)
        .await
        .expect("redirect");
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(query(&back, "iss").as_deref(), Some(setup.harness.issuer()));
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn revocation_kills_the_refresh_token_and_the_grant() {
    let setup = setup(HarnessOptions::default()).await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let asked = scopes(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients]);
    let login = code_flow(&setup, &browser, asked, Consent::GrantAll).await;
    let rt = login.tokens.refresh_token().expect("refresh token").clone();
    // By hand: the oauth2 crate refuses a plain-http revocation URL, and the
    // harness is plain http on loopback.
    let resp = setup
        .http
        .post(
            setup
                .metadata
                .additional_metadata()
                .revocation_endpoint
                .clone(),
        )
        .basic_auth(WEB_ID, Some(WEB_SECRET))
        .form(&[
            ("token", rt.secret().as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .expect("RFC 7009 revocation");
    assert_eq!(resp.status(), 200, "RFC 7009 §2.2");
    let client = setup.web();
    let refresh = client
        .exchange_refresh_token(&rt)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await;
    assert_invalid_grant(refresh);
    let (status, _) = setup.api("/v2/userinfo", login.tokens.access_token()).await;
    assert_eq!(status, 401);
    let stats = setup.harness.stats().await.expect("stats");
    assert_eq!(stats.event("refresh_token.destroyed"), 1);
    assert_eq!(stats.event("grant.revoked"), 1);
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn short_lived_access_token_expires_and_refresh_renews_it() {
    let setup = setup(HarnessOptions {
        access_token_ttl: 1,
        ..HarnessOptions::default()
    })
    .await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let asked = scopes(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients]);
    let login = code_flow(&setup, &browser, asked, Consent::GrantAll).await;
    assert!(login.tokens.expires_in().expect("expires_in") <= Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = setup.api("/v2/userinfo", login.tokens.access_token()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
    let rt = login.tokens.refresh_token().expect("refresh token");
    let refreshed = setup
        .web()
        .exchange_refresh_token(rt)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await
        .expect("refresh");
    let (status, _) = setup.api("/v2/userinfo", refreshed.access_token()).await;
    assert_eq!(status, 200);
    setup.harness.shutdown().await;
}

#[tokio::test]
async fn rp_initiated_logout_returns_to_the_registered_uri() {
    let setup = setup(HarnessOptions::default()).await;
    let browser = HarnessBrowser::new(&setup.harness.url());
    let login = code_flow(
        &setup,
        &browser,
        scopes(&[Scope::OpenId, Scope::Patients]),
        Consent::GrantAll,
    )
    .await;
    let id_token = login.tokens.id_token().expect("ID token").to_string();
    let mut end = setup
        .metadata
        .additional_metadata()
        .end_session_endpoint
        .clone();
    end.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
        .append_pair("state", "s1");
    let back = browser
        .end_session(&end)
        .await
        .expect("logout")
        .expect("a redirect back");
    assert!(back.as_str().starts_with(AFTER_LOGOUT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("s1"));
    assert_eq!(
        setup
            .harness
            .stats()
            .await
            .expect("stats")
            .event("end_session.success"),
        1
    );

    // The provider session is gone: the next authorization asks to sign in.
    let client = setup.web();
    let (challenge, _v) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let resp = browser
        .client()
        .get(auth_url)
        .send()
        .await
        .expect("authorize");
    let interaction = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let page = browser
        .client()
        .get(setup.harness.url().join(&interaction).expect("URL"))
        .send()
        .await
        .expect("interaction")
        .text()
        .await
        .expect("page");
    assert!(page.contains("id=\"login\""), "a sign-in page after logout");
    setup.harness.shutdown().await;
}
