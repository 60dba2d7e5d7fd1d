//! Calls to the provider's token, device authorization and revocation
//! endpoints, parsed with the `oauth2` crate's types.
//!
//! The requests are built here rather than through `oauth2`'s request
//! builders because the device flow needs one poll at a time (countdown,
//! measured interval, RFC 8628 §3.5 `slow_down`), and 429 handling
//! (`Retry-After`) must wrap every call to the token endpoint.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use giponext_shared::ScopeSet;
use openidconnect::core::{CoreDeviceAuthorizationResponse, CoreErrorResponseType, CoreTokenType};
use openidconnect::{
    DeviceCodeErrorResponse, DeviceCodeErrorResponseType, EmptyExtraTokenFields,
    OAuth2TokenResponse, StandardErrorResponse, StandardTokenResponse,
};
use reqwest::StatusCode;
use url::Url;

use super::provider::Provider;
use crate::retry;
use crate::secret::Secret;

type TokenResponse = StandardTokenResponse<EmptyExtraTokenFields, CoreTokenType>;

/// A fresh token set from the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, if issued.
    pub refresh_token: Option<Secret>,
    /// Its lifetime; `None` when unstated.
    pub expires_in: Option<Duration>,
    /// The granted scopes (RFC 6749 §5.1: the request's when unstated).
    pub granted: ScopeSet,
}

/// One answer to a device-code poll (RFC 8628 §3.5).
#[derive(Debug)]
pub enum Poll {
    /// Approved.
    Token(TokenSet),
    /// Not yet approved.
    Pending,
    /// Too fast: add 5 seconds to the interval.
    SlowDown,
    /// The user denied the request.
    Denied,
    /// The device code expired.
    Expired,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The refresh token is no longer valid: log in again.
    #[error("the session is over ({0}); log in again with `giponext login`")]
    InvalidGrant(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The OAuth client: this CLI's registration at the provider.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    /// The provider's endpoints.
    pub provider: Provider,
    /// Client id.
    pub client_id: String,
    client_secret: Option<Secret>,
}

/// `application/x-www-form-urlencoded` encoding of one value, as RFC 6749
/// §2.3.1 requires for the Basic credentials.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl OAuthClient {
    /// A client of `provider`.
    pub fn new(
        http: reqwest::Client,
        provider: Provider,
        client_id: String,
        client_secret: Option<Secret>,
    ) -> OAuthClient {
        OAuthClient {
            http,
            provider,
            client_id,
            client_secret,
        }
    }

    /// POSTs a form with client authentication: HTTP Basic for a confidential
    /// client (RFC 6749 §2.3.1), `client_id` in the body for a public one
    /// (§2.3 / RFC 8628 §3.1). A 429 is retried after `Retry-After` plus
    /// jitter: the request was not processed.
    async fn post_form(&self, url: &Url, params: &[(&str, &str)]) -> Result<(StatusCode, Vec<u8>)> {
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .post(url.clone())
                .header("Accept", "application/json");
            let mut form: Vec<(&str, &str)> = params.to_vec();
            match &self.client_secret {
                Some(secret) => {
                    request = request.basic_auth(
                        form_encode(&self.client_id),
                        Some(form_encode(secret.expose())),
                    );
                }
                None => form.push(("client_id", &self.client_id)),
            }
            let body = serde_urlencoded_body(&form);
            let response = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < retry::MAX_RATE_LIMIT_WAITS {
                let wait = retry::retry_after(response.headers()).unwrap_or(Duration::from_secs(1));
                let wait = retry::with_jitter(wait);
                tracing::warn!(
                    "rate limited by the provider; waiting {:.1}s",
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let bytes = response
                .bytes()
                .await
                .context("reading the provider's answer")?;
            return Ok((status, bytes.to_vec()));
        }
    }

    /// Starts a device authorization (RFC 8628 §3.1).
    pub async fn device_authorize(
        &self,
        scopes: ScopeSet,
    ) -> Result<CoreDeviceAuthorizationResponse> {
        let url = self
            .provider
            .device_authorization_endpoint
            .as_ref()
            .context("the provider has no device authorization endpoint (RFC 8628)")?;
        let wire = scopes.to_wire();
        let (status, body) = self.post_form(url, &[("scope", &wire)]).await?;
        if !status.is_success() {
            bail!(
                "the provider refused the device authorization: {}",
                describe_error(status, &body)
            );
        }
        serde_json::from_slice(&body).context("the device authorization response is malformed")
    }

    /// Polls once for the device code's token (RFC 8628 §3.4).
    pub async fn poll_device(&self, device_code: &str, requested: ScopeSet) -> Result<Poll> {
        let (status, body) = self
            .post_form(
                &self.provider.token_endpoint,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", device_code),
                ],
            )
            .await?;
        if status.is_success() {
            return Ok(Poll::Token(parse_token(&body, requested)?));
        }
        let error: DeviceCodeErrorResponse = serde_json::from_slice(&body).with_context(|| {
            format!("the token endpoint answered {status} without an OAuth error")
        })?;
        Ok(match error.error() {
            DeviceCodeErrorResponseType::AuthorizationPending => Poll::Pending,
            DeviceCodeErrorResponseType::SlowDown => Poll::SlowDown,
            DeviceCodeErrorResponseType::AccessDenied => Poll::Denied,
            DeviceCodeErrorResponseType::ExpiredToken => Poll::Expired,
            _ => bail!(
                "the token endpoint refused the device code: {}",
                describe_error(status, &body)
            ),
        })
    }

    /// Uses a refresh token (RFC 6749 §6). The caller must persist the
    /// returned (rotated) refresh token before using the new access token.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        held: ScopeSet,
    ) -> Result<TokenSet, RefreshError> {
        let (status, body) = self
            .post_form(
                &self.provider.token_endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.expose()),
                ],
            )
            .await?;
        if status.is_success() {
            return Ok(parse_token(&body, held)?);
        }
        match serde_json::from_slice::<StandardErrorResponse<CoreErrorResponseType>>(&body) {
            Ok(e) if *e.error() == CoreErrorResponseType::InvalidGrant => {
                Err(RefreshError::InvalidGrant(
                    e.error_description()
                        .cloned()
                        .unwrap_or_else(|| "invalid_grant".to_owned()),
                ))
            }
            _ => {
                Err(anyhow::anyhow!("the refresh failed: {}", describe_error(status, &body)).into())
            }
        }
    }

    /// Revokes a token (RFC 7009 §2.1). Returns `false` when the provider has
    /// no revocation endpoint.
    pub async fn revoke(&self, token: &Secret, hint: &str) -> Result<bool> {
        let Some(url) = self.provider.revocation_endpoint.clone() else {
            return Ok(false);
        };
        let (status, body) = self
            .post_form(
                &url,
                &[("token", token.expose()), ("token_type_hint", hint)],
            )
            .await?;
        if !status.is_success() {
            bail!(
                "the provider refused the revocation: {}",
                describe_error(status, &body)
            );
        }
        Ok(true)
    }
}

fn serde_urlencoded_body(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// Parses a successful token response (RFC 6749 §5.1).
fn parse_token(body: &[u8], requested: ScopeSet) -> Result<TokenSet> {
    let response: TokenResponse =
        serde_json::from_slice(body).context("the token response is malformed")?;
    if *response.token_type() != CoreTokenType::Bearer {
        bail!(
            "the provider issued a {:?} token; only Bearer is supported",
            response.token_type().as_ref()
        );
    }
    let granted = match response.scopes() {
        Some(scopes) => {
            let wire = scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let parsed = ScopeSet::parse(&wire);
            if !parsed.unknown.is_empty() {
                tracing::debug!(unknown = ?parsed.unknown, "ignoring scopes this CLI does not know");
            }
            parsed.known
        }
        None => requested,
    };
    Ok(TokenSet {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
        expires_in: response.expires_in(),
        granted,
    })
}

/// A one-line description of an OAuth error answer, without echoing
/// anything but the standard `error` / `error_description` fields.
fn describe_error(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{} ({d})", e.error),
            None => e.error,
        },
        Err(_) => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use giponext_shared::Scope;

    #[test]
    fn token_response_scopes_and_defaults() {
        let requested = ScopeSet::of(&[Scope::OpenId, Scope::Invoices, Scope::Patients]);
        let t = parse_token(
            br#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r","scope":"openid giponext.invoices profile","id_token":"x.y.z"}"#,
            requested,
        )
        .unwrap();
        assert_eq!(t.granted, ScopeSet::of(&[Scope::OpenId, Scope::Invoices]));
        assert_eq!(t.expires_in, Some(Duration::from_secs(60)));
        assert_eq!(t.refresh_token.unwrap().expose(), "r");
        let t = parse_token(br#"{"access_token":"a","token_type":"bearer"}"#, requested).unwrap();
        assert_eq!(t.granted, requested, "unstated scope means as requested");
        assert!(parse_token(br#"{"access_token":"a","token_type":"mac"}"#, requested).is_err());
    }

    #[test]
    fn errors_are_described_without_echoing_bodies() {
        assert_eq!(
            describe_error(
                StatusCode::BAD_REQUEST,
                br#"{"error":"invalid_scope","error_description":"no"}"#
            ),
            "invalid_scope (no)"
        );
        assert_eq!(
            describe_error(StatusCode::BAD_GATEWAY, b"<html>secret</html>"),
            "HTTP 502 Bad Gateway"
        );
        assert_eq!(form_encode("a b:c"), "a+b%3Ac");
    }
}
