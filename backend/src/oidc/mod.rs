//! The OpenID Connect client: discovery, the authorization request, the code
//! exchange with ID token validation, refresh, revocation and logout URLs.
//!
//! Everything is discovered from the issuer (OpenID Connect Discovery 1.0);
//! nothing here assumes the sandbox, so any compliant provider works.
//!
//! # Security
//! - PKCE S256 on every request (RFC 7636; RFC 9700 §2.1.1), refused at
//!   start-up when the provider does not list S256.
//! - `state` and `nonce` fresh per request; the ID token's signature (JWKS),
//!   `iss`, `aud`, `exp` and `nonce` are checked by `openidconnect`, which also
//!   refuses `alg: none` and unknown keys.
//! - A refresh's new ID token is validated too (OpenID Connect Core 12.2,
//!   module `refreshed`).
//! - RFC 9207: the `iss` of the authorization response is compared with the
//!   issuer, and required when the provider says it sends it.
//! - Pushed Authorization Requests (RFC 9126) whenever discovery lists a
//!   `pushed_authorization_request_endpoint` and `BFF_PAR` is not `off`:
//!   the request is sent over the back channel, authenticated as at the
//!   token endpoint, and the browser carries only `client_id` and
//!   `request_uri`, so the scopes, state and PKCE challenge never sit in
//!   its history or the provider's access logs (module `par`).
//! - The HTTP client follows no redirects (SSRF hardening, as the
//!   `openidconnect` docs advise).

use std::time::Duration;

use giponext_shared::{ParsedScopes, ScopeSet};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreIdTokenVerifier,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, SignatureVerificationError, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::ParSetting;
use crate::types::Secret;

mod logout;
mod par;
mod refreshed;

/// Discovery fields `openidconnect`'s core metadata does not model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraMetadata {
    /// RP-Initiated Logout 1.0.
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// RFC 7009 (listed by RFC 8414).
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// RFC 8414 §2.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 9126 §5.
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// RFC 9126 §5: the provider accepts only pushed requests.
    #[serde(default)]
    pub require_pushed_authorization_requests: Option<bool>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

/// Provider metadata with [`ExtraMetadata`].
pub type Metadata = ProviderMetadata<
    ExtraMetadata,
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

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A problem with the provider, as `check-config` and start-up report it.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Discovery failed.
    #[error("GIPONEXT_ISSUER: the issuer is unreachable or its discovery document is invalid: {0}")]
    Discovery(String),
    /// The discovery document lacks something we need.
    #[error("GIPONEXT_ISSUER: {0}")]
    Unsuitable(String),
    /// The operator's mistake: a malformed issuer URL, or a discovery
    /// document that names another issuer. Retrying cannot help.
    #[error("GIPONEXT_ISSUER: {0}")]
    Misconfigured(String),
}

/// A failed exchange with the provider.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider refused (`invalid_grant` and friends).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The refresh token is no longer valid.
    #[error("the grant is no longer valid (invalid_grant)")]
    InvalidGrant,
    /// The provider could not be reached or answered nonsense.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The ID token failed validation.
    #[error("the ID token is not valid: {0}")]
    BadIdToken(String),
    /// A refresh answered with an ID token that failed validation. The
    /// answer's rotated refresh token, if any, is handed back so the caller
    /// can revoke it: it must not outlive a session ended for this.
    #[error("the refreshed ID token is not valid: {why}")]
    BadRefreshedIdToken {
        /// What failed.
        why: String,
        /// The refresh token issued in the same answer.
        rotated: Option<Secret>,
    },
    /// The provider did not answer within the upstream timeout.
    #[error("the provider did not answer in time")]
    Timeout,
}

/// An authorization request ready to send.
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: Url,
    /// `state`.
    pub state: Secret,
    /// `nonce`.
    pub nonce: Secret,
    /// PKCE code verifier.
    pub pkce_verifier: Secret,
}

/// What a token endpoint answered.
pub struct Grant {
    /// Access token.
    pub access: Secret,
    /// `expires_in`, if stated.
    pub expires_in: Option<Duration>,
    /// Refresh token, if issued (rotated).
    pub refresh: Option<Secret>,
    /// The `scope` field, if present (RFC 6749 §5.1).
    pub scope: Option<ParsedScopes>,
    /// The raw ID token.
    pub id_token: Option<Secret>,
    /// `sub` of the validated ID token (code exchange only).
    pub subject: Option<String>,
}

/// The discovered provider and our client at it.
pub struct Provider {
    client: Client,
    issuer: String,
    extra: ExtraMetadata,
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret,
    jwks_uri: openidconnect::JsonWebKeySetUrl,
    /// The provider's keys; re-fetched once when an ID token names a key we
    /// do not know (the provider rotated its keys).
    jwks: std::sync::RwLock<CoreJsonWebKeySet>,
    id_token_algs: Vec<openidconnect::core::CoreJwsSigningAlgorithm>,
    /// The PAR endpoint, when requests are pushed (RFC 9126).
    par_endpoint: Option<Url>,
    /// Client authentication with HTTP Basic (else in the body), as at the
    /// token endpoint.
    basic_auth: bool,
}

impl Provider {
    /// The HTTP client for provider calls: no redirects, bounded time.
    pub fn http_client(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .expect("a reqwest client with rustls builds")
    }

    /// Fetches the discovery document and JWKS of `issuer`.
    pub async fn discover(issuer: &str, http: &reqwest::Client) -> Result<Metadata, ProviderError> {
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| ProviderError::Misconfigured(format!("not a URL: {e}")))?;
        Metadata::discover_async(issuer_url, http)
            .await
            .map_err(|e| match e {
                openidconnect::DiscoveryError::Validation(why) => ProviderError::Misconfigured(
                    format!("the discovery document does not fit this issuer: {why}"),
                ),
                openidconnect::DiscoveryError::UrlParse(why) => {
                    ProviderError::Misconfigured(format!("not a URL: {why}"))
                }
                other => ProviderError::Discovery(error_chain(&other)),
            })
    }

    /// Every reason `metadata` is unfit for this client with `par`.
    pub fn check_metadata(metadata: &Metadata, par: ParSetting) -> Vec<String> {
        let mut problems = Vec::new();
        let extra = metadata.additional_metadata();
        if extra.require_pushed_authorization_requests == Some(true) {
            if par == ParSetting::Off {
                problems.push(
                    "the provider requires pushed authorization requests (require_pushed_authorization_requests, RFC 9126) but BFF_PAR=off: set BFF_PAR=auto".into(),
                );
            } else if extra.pushed_authorization_request_endpoint.is_none() {
                problems.push(
                    "the provider requires pushed authorization requests but its discovery document lists no pushed_authorization_request_endpoint".into(),
                );
            }
        }
        if !extra
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == "S256"))
        {
            problems.push(
                "the discovery document does not list S256 in code_challenge_methods_supported (PKCE S256 is required)".into(),
            );
        }
        if metadata.token_endpoint().is_none() {
            problems.push("the discovery document has no token_endpoint".into());
        }
        if !metadata
            .response_types_supported()
            .iter()
            .any(|r| r.as_slice() == [CoreResponseType::Code])
        {
            problems.push("the provider does not support response_type=code".into());
        }
        problems
    }

    /// A client at the provider described by `metadata`.
    pub fn new(
        metadata: Metadata,
        client_id: &str,
        client_secret: &Secret,
        redirect_uri: &Url,
        http: reqwest::Client,
        par: ParSetting,
    ) -> Result<Self, ProviderError> {
        if let Some(problem) = Self::check_metadata(&metadata, par).into_iter().next() {
            return Err(ProviderError::Unsuitable(problem));
        }
        let extra = metadata.additional_metadata().clone();
        let par_endpoint = match par {
            ParSetting::Auto => extra.pushed_authorization_request_endpoint.clone(),
            ParSetting::Off => None,
        };
        let issuer = metadata.issuer().as_str().to_owned();
        let jwks_uri = metadata.jwks_uri().clone();
        let jwks = std::sync::RwLock::new(metadata.jwks().clone());
        let id_token_algs = metadata.id_token_signing_alg_values_supported().clone();
        let basic_ok = metadata
            .token_endpoint_auth_methods_supported()
            .is_none_or(|m| m.contains(&CoreClientAuthMethod::ClientSecretBasic));
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| ProviderError::Unsuitable(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if basic_ok {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        });
        if let Some(endpoint) = &par_endpoint {
            tracing::info!(%endpoint, "the provider offers pushed authorization requests: every sign-in is pushed (RFC 9126)");
        }
        Ok(Provider {
            client,
            issuer,
            extra,
            http,
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            jwks_uri,
            jwks,
            id_token_algs,
            par_endpoint,
            basic_auth: basic_ok,
        })
    }

    /// Whether authorization requests are pushed (RFC 9126).
    pub fn pushes_authorization_requests(&self) -> bool {
        self.par_endpoint.is_some()
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's key set URL (back-channel logout tokens are checked
    /// against it).
    pub fn jwks_url(&self) -> &str {
        self.jwks_uri.url().as_str()
    }

    /// The HTTP client for the provider.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The authorization endpoint's origin, for the CSP's `form-action`.
    pub fn authorization_origin(&self) -> String {
        let url = self.client.auth_uri().url();
        url.origin().ascii_serialization()
    }

    /// Builds an authorization request for `scopes` (PKCE S256, state,
    /// nonce), pushed to the provider first when it offers PAR (RFC 9126):
    /// then the URL carries only `client_id` and `request_uri`.
    ///
    /// `login_again`: `prompt=login` (OpenID Connect Core §3.1.2.1), so the
    /// provider asks for the password even if its own session lingers
    /// ("Cambia utente" on a shared workstation). `consent_again`:
    /// `prompt=consent`, without which a provider applying OpenID Connect
    /// Core §11 strictly issues no refresh token for `offline_access`.
    pub async fn authorization_request(
        &self,
        scopes: ScopeSet,
        login_again: bool,
        consent_again: bool,
    ) -> Result<AuthorizationRequest, OidcError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        if login_again {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Login);
        }
        if consent_again {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Consent);
        }
        // `openidconnect` adds `openid` itself.
        for scope in scopes
            .iter()
            .filter(|s| *s != giponext_shared::Scope::OpenId)
        {
            request = request.add_scope(openidconnect::Scope::new(scope.as_str().to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let url = match &self.par_endpoint {
            Some(endpoint) => self.push(endpoint, &url).await?,
            None => url,
        };
        Ok(AuthorizationRequest {
            url,
            state: Secret::new(state.secret().clone()),
            nonce: Secret::new(nonce.secret().clone()),
            pkce_verifier: Secret::new(verifier.secret().clone()),
        })
    }

    /// RFC 9207: checks the `iss` parameter of an authorization response.
    pub fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), String> {
        match iss {
            Some(iss) if iss == self.issuer => Ok(()),
            Some(_) => Err("the authorization response comes from another issuer (iss mismatch, RFC 9207)".into()),
            None if self.extra.authorization_response_iss_parameter_supported == Some(true) => {
                Err("the authorization response lacks the iss parameter the provider promises (RFC 9207)".into())
            }
            None => Ok(()),
        }
    }

    /// Exchanges `code` with the PKCE verifier and validates the ID token
    /// against `nonce`.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &Secret,
        nonce: &Secret,
    ) -> Result<Grant, OidcError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(map_token_error)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::BadIdToken("the token response has no id_token".into()))?;
        let nonce = Nonce::new(nonce.expose().to_owned());
        let claims = self.verified_claims(id_token, || &nonce).await?;
        let subject = claims.subject().as_str().to_owned();
        let mut grant = grant_of(&response);
        grant.id_token = Some(Secret::new(id_token.to_string()));
        grant.subject = Some(subject);
        Ok(grant)
    }

    /// The claims of `id_token` after every check of [`Self::verifier`] and
    /// `nonce()`; when it names a key we do not know, the provider's keys
    /// are fetched once more (it may have rotated them).
    async fn verified_claims<'t, N: openidconnect::NonceVerifier>(
        &self,
        id_token: &'t openidconnect::core::CoreIdToken,
        nonce: impl Fn() -> N,
    ) -> Result<&'t openidconnect::core::CoreIdTokenClaims, OidcError> {
        match id_token.claims(&self.verifier(), nonce()) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                self.refetch_jwks().await?;
                id_token.claims(&self.verifier(), nonce())
            }
            other => other,
        }
        .map_err(|e| OidcError::BadIdToken(error_chain(&e)))
    }

    /// The ID token verifier over the current keys: signature (allowed
    /// algorithms from discovery; never `none`), `iss`, `aud`, `exp`.
    fn verifier(&self) -> CoreIdTokenVerifier<'static> {
        let jwks = self.jwks.read().unwrap_or_else(|p| p.into_inner()).clone();
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.client_id.clone()),
            ClientSecret::new(self.client_secret.expose().to_owned()),
            IssuerUrl::new(self.issuer.clone()).expect("the issuer parsed at discovery"),
            jwks,
        )
        .set_allowed_algs(self.id_token_algs.clone())
    }

    async fn refetch_jwks(&self) -> Result<(), OidcError> {
        let fresh = CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(error_chain(&e)))?;
        *self.jwks.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        tracing::info!("re-fetched the provider's signing keys");
        Ok(())
    }

    /// Refreshes with `refresh_token` (RFC 6749 §6). A new ID token in the
    /// answer is validated (OpenID Connect Core 12.2) against the session's
    /// `original` ID token and `subject` and returned; an invalid one fails
    /// the refresh with [`OidcError::BadRefreshedIdToken`].
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        original: Option<&Secret>,
        subject: &str,
    ) -> Result<Grant, OidcError> {
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(map_token_error)?;
        let grant = grant_of(&response);
        if let Some(id_token) = response.id_token()
            && let Err(e) = self
                .check_refreshed_id_token(id_token, original, subject)
                .await
        {
            return Err(OidcError::BadRefreshedIdToken {
                why: e.to_string(),
                rotated: grant.refresh,
            });
        }
        Ok(grant)
    }
}

fn grant_of(response: &openidconnect::core::CoreTokenResponse) -> Grant {
    Grant {
        access: Secret::new(response.access_token().secret().clone()),
        expires_in: response.expires_in(),
        refresh: response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone())),
        scope: response.scopes().map(|scopes| {
            let wire = scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            ScopeSet::parse(&wire)
        }),
        id_token: response.id_token().map(|t| Secret::new(t.to_string())),
        subject: None,
    }
}

type TokenError = RequestTokenError<
    openidconnect::HttpClientError<reqwest::Error>,
    openidconnect::StandardErrorResponse<CoreErrorResponseType>,
>;

fn map_token_error(e: TokenError) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r)
            if *r.error() == CoreErrorResponseType::InvalidGrant =>
        {
            OidcError::InvalidGrant
        }
        RequestTokenError::ServerResponse(r) => OidcError::Refused(r.error().as_ref().to_owned()),
        RequestTokenError::Request(openidconnect::HttpClientError::Reqwest(e))
            if e.is_timeout() =>
        {
            OidcError::Timeout
        }
        other => OidcError::Unreachable(error_chain(&other)),
    }
}

/// RFC 6749 §2.3.1 / Appendix B: the client id and secret are
/// `application/x-www-form-urlencoded` before they go into HTTP Basic.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1) on a back-channel
/// request: revocation and pushed authorization requests.
fn basic_client_auth(
    request: reqwest::RequestBuilder,
    client_id: &str,
    client_secret: &Secret,
) -> reqwest::RequestBuilder {
    request.basic_auth(
        form_encode(client_id),
        Some(form_encode(client_secret.expose())),
    )
}

/// Sends a back-channel request to the provider: a timeout is
/// [`OidcError::Timeout`], anything else unreachable.
async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, OidcError> {
    request.send().await.map_err(|e| {
        if e.is_timeout() {
            OidcError::Timeout
        } else {
            OidcError::Unreachable(error_chain(&e))
        }
    })
}

/// An error and its sources on one line (they carry no secrets: token
/// endpoint errors are codes, and we never put tokens in URLs).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
