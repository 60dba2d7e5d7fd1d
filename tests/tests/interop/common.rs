//! What the provider-alone tests share: discovery, clients, the code and
//! device flows driven by the `openidconnect` crate.

use std::time::Duration;

use giponext_e2e::interop::{
    Consent, Harness, HarnessBrowser, HarnessOptions, device_client, public_device_client, users,
    web_client,
};
use giponext_shared::{Scope, ScopeSet};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreDeviceAuthorizationResponse, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, ProviderMetadata, RedirectUrl, RequestTokenError,
    Scope as OidcScope, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub const WEB_ID: &str = "interop-web";
pub const WEB_SECRET: &str = "interop-web-secret";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extra {
    pub device_authorization_endpoint: Url,
    pub revocation_endpoint: Url,
    pub end_session_endpoint: Url,
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for Extra {}

pub type Metadata = ProviderMetadata<
    Extra,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub type Client = CoreClient<
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
pub type DeviceClient = CoreClient<
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct Setup {
    pub harness: Harness,
    pub metadata: Metadata,
    pub http: reqwest::Client,
}

pub async fn setup(options: HarnessOptions) -> Setup {
    let mut options = options;
    options
        .clients
        .push(web_client(WEB_ID, WEB_SECRET, REDIRECT, AFTER_LOGOUT, None));
    options
        .clients
        .push(device_client("interop-cli", "interop-cli-secret"));
    options
        .clients
        .push(public_device_client("interop-cli-public"));
    let harness = Harness::start(options)
        .await
        .expect("the interop provider starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let issuer = IssuerUrl::new(harness.issuer().to_owned()).expect("issuer URL");
    let metadata = Metadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    Setup {
        harness,
        metadata,
        http,
    }
}

impl Setup {
    pub fn web(&self) -> Client {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(WEB_ID.into()),
            Some(ClientSecret::new(WEB_SECRET.into())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"))
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(
            self.metadata
                .additional_metadata()
                .device_authorization_endpoint
                .clone(),
        ))
    }

    pub fn device(&self, id: &str, secret: Option<&str>) -> DeviceClient {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(
            self.metadata
                .additional_metadata()
                .device_authorization_endpoint
                .clone(),
        ))
    }

    /// GipoNext's userinfo at the harness: status and JSON.
    pub async fn api(&self, path: &str, token: &AccessToken) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.harness.issuer()))
            .bearer_auth(token.secret())
            .send()
            .await
            .expect("API call");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

pub fn scopes(list: &[Scope]) -> ScopeSet {
    ScopeSet::of(list)
}

pub fn granted(resp: &impl OAuth2TokenResponse) -> ScopeSet {
    let wire: Vec<String> = resp
        .scopes()
        .expect("the token response carries scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    ScopeSet::parse(&wire.join(" "))
        .strict()
        .expect("only known scopes")
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub struct Login {
    pub tokens: openidconnect::core::CoreTokenResponse,
}

/// Runs the code flow for `asked` with `consent`, checking state, iss
/// (RFC 9207) and the ID token, and returns the token response.
pub async fn code_flow(
    setup: &Setup,
    browser: &HarnessBrowser,
    asked: ScopeSet,
    consent: Consent,
) -> Login {
    let client = setup.web();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in asked.iter().filter(|s| *s != Scope::OpenId) {
        request = request.add_scope(OidcScope::new(scope.as_str().into()));
    }
    let (auth_url, state, nonce) = request.url();
    let back = browser
        .authorize(&auth_url, users::MARIO, users::PASSWORD, consent)
        .await
        .expect("the browser reaches the redirect URI");
    assert!(back.as_str().starts_with(REDIRECT), "redirected to {back}");
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query(&back, "iss").as_deref(),
        Some(setup.harness.issuer()),
        "RFC 9207 iss"
    );
    let code = query(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&setup.http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.subject().as_str(), users::MARIO_SUB);
    Login { tokens }
}

pub fn assert_invalid_grant<T: std::fmt::Debug, E: std::error::Error + 'static>(
    result: Result<
        T,
        RequestTokenError<
            E,
            openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
        >,
    >,
) {
    match result {
        Err(RequestTokenError::ServerResponse(err)) => {
            assert_eq!(err.error().as_ref(), "invalid_grant", "{err:?}");
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

pub async fn device_login(
    setup: &Setup,
    client: &DeviceClient,
    asked: ScopeSet,
    consent: Consent,
) -> Result<openidconnect::core::CoreTokenResponse, String> {
    let mut request = client.exchange_device_code();
    for scope in asked.iter().filter(|s| *s != Scope::OpenId) {
        request = request.add_scope(OidcScope::new(scope.as_str().into()));
    }
    let details: CoreDeviceAuthorizationResponse = request
        .request_async(&setup.http)
        .await
        .expect("device authorization");
    assert_eq!(
        details.interval(),
        Duration::from_secs(1),
        "the harness announces its test interval"
    );
    let browser = HarnessBrowser::new(&setup.harness.url());
    let verification = Url::parse(details.verification_uri().as_str()).expect("verification URI");
    let page = browser
        .approve_device(
            &verification,
            details.user_code().secret(),
            users::MARIO,
            users::PASSWORD,
            consent,
        )
        .await
        .expect("device approval pages");
    let poll = client
        .exchange_device_access_token(&details)
        .expect("token endpoint")
        .request_async(
            &setup.http,
            tokio::time::sleep,
            Some(Duration::from_secs(30)),
        )
        .await;
    match poll {
        Ok(tokens) => {
            assert!(page.contains("Device signed in"), "{page}");
            Ok(tokens)
        }
        Err(RequestTokenError::ServerResponse(err)) => {
            assert!(page.contains("access_denied"), "the page says why: {page}");
            Err(err.error().as_ref().to_owned())
        }
        Err(other) => panic!("device polling failed: {other:?}"),
    }
}
