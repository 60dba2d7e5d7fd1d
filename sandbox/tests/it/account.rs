//! The account server driven as a real client would: the `openidconnect`
//! crate as a confidential client, `testing::Browser` through the login and
//! consent forms, raw HTTP where a test needs to see the exact wire.

mod code_flow;
mod device;
mod errors;
mod logout;
mod par;
mod refresh;

use giponext_sandbox::RunningSandbox;
use giponext_sandbox::clients::{WEB_CLIENT_ID, WEB_CLIENT_SECRET};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
};
use serde_json::Value;
use url::Url;

pub const WEB_REDIRECT: &str = "http://127.0.0.1:8080/auth/callback";

/// The OIDC client type built from discovery.
pub type Oidc = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The sandbox's issuer identifier (no trailing slash).
pub fn issuer(sandbox: &RunningSandbox) -> String {
    sandbox.issuer().as_str().trim_end_matches('/').to_owned()
}

/// An HTTP client for back-channel calls (no redirects, as openidconnect
/// requires against SSRF).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// The web client configured from discovery, authenticating with `auth`.
pub async fn web_client(sandbox: &RunningSandbox, auth: AuthType) -> Oidc {
    let issuer = IssuerUrl::new(issuer(sandbox)).expect("issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http())
        .await
        .expect("discovery works");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(WEB_CLIENT_ID.into()),
        Some(ClientSecret::new(WEB_CLIENT_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).expect("redirect URL"))
    .set_auth_type(auth)
}

/// An authorization request in flight.
pub struct Flow {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// Builds an authorization URL asking for `scopes` (plus openid).
pub fn start(client: &Oidc, scopes: ScopeSet) -> Flow {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in scopes.iter().filter(|s| *s != Scope::OpenId) {
        req = req.add_scope(openidconnect::Scope::new(s.as_str().into()));
    }
    let (url, state, nonce) = req.url();
    Flow {
        url,
        state,
        nonce,
        verifier,
    }
}

/// A query parameter of `url`.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks the callback (state, RFC 9207 iss) and returns the code.
pub fn code_of(sandbox: &RunningSandbox, callback: &Url, flow: &Flow) -> String {
    assert!(
        callback.as_str().starts_with(WEB_REDIRECT),
        "callback goes to the redirect URI: {callback}"
    );
    assert_eq!(param(callback, "error"), None, "no error in {callback}");
    assert_eq!(
        param(callback, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
    assert_eq!(param(callback, "iss"), Some(issuer(sandbox)));
    param(callback, "code").expect("the callback carries a code")
}

/// Logs `user` in through the browser, consents as told, exchanges the
/// code; returns the token response.
pub async fn log_in(
    sandbox: &RunningSandbox,
    client: &Oidc,
    browser: &Browser,
    user: &str,
    asked: ScopeSet,
    consent: Consent,
) -> CoreTokenResponse {
    let flow = start(client, asked);
    let callback = browser
        .authorize(&flow.url, user, "sandbox", consent)
        .await
        .expect("the browser flow completes");
    let code = code_of(sandbox, &callback, &flow);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint discovered")
        .set_pkce_verifier(flow.verifier)
        .request_async(&http())
        .await
        .expect("the code exchange works");
    let id_token = openidconnect::TokenResponse::id_token(&token).expect("an ID token is returned");
    let claims = id_token
        .claims(&client.id_token_verifier(), &flow.nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.issuer().as_str(), issuer(sandbox));
    // at_hash binds the ID token to the access token (OIDC Core §3.1.3.6).
    let verifier = client.id_token_verifier();
    let expected = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("RS256 hashes");
    assert_eq!(claims.access_token_hash(), Some(&expected));
    token
}

/// The scopes a token response states.
pub fn granted(token: &CoreTokenResponse) -> ScopeSet {
    let wire: Vec<String> = token
        .scopes()
        .expect("the token response states the scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    ScopeSet::parse(&wire.join(" "))
        .strict()
        .expect("only platform scopes")
}

/// A raw form POST to `{issuer}{path}`; returns status, headers and JSON.
pub async fn post_form(
    sandbox: &RunningSandbox,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http().post(format!("{}{path}", issuer(sandbox))).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.expect("the sandbox answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("a body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, json)
}

/// The web client's basic credentials.
pub const WEB_BASIC: Option<(&str, &str)> = Some((WEB_CLIENT_ID, WEB_CLIENT_SECRET));

/// `openid offline_access` plus `more`.
pub fn with_base(more: &[Scope]) -> ScopeSet {
    ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess]).union(ScopeSet::of(more))
}
