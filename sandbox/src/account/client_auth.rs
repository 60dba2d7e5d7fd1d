//! Request parameters of back-channel endpoints and client authentication.
//!
//! # Security
//! Clients authenticate with `client_secret_basic` (RFC 6749 §2.3.1: the id
//! and secret form-urlencoded, then Basic) or `client_secret_post`; using
//! both at once is refused (§2.3: "MUST NOT use more than one
//! authentication method in each request"). Public clients send only
//! `client_id` (`none`).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::errors::OAuthError;
use crate::config::ClientRegistration;
use crate::server::SandboxState;

/// Form parameters of a back-channel request, each at most once
/// (RFC 6749 §3.2).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn from_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded (RFC 6749 §3.2)",
            ));
        }
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if v.is_empty() {
                // RFC 6749 §3.1: parameters sent without a value are omitted.
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {k} was sent more than once"
                )));
            }
        }
        Ok(Params(map))
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every parameter (a pushed authorization request keeps them).
    pub fn into_map(self) -> HashMap<String, String> {
        self.0
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

fn same_secret(a: &str, b: &str) -> bool {
    // Compare digests so the comparison time does not depend on where the
    // secrets first differ.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    // A raw `&` would split the pair: it can only mean a literal `&` here.
    url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Authenticates the client of a back-channel request and applies the
/// per-client rate limit.
pub fn authenticate(
    state: &SandboxState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientRegistration, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header", true))?;
            let Some(encoded) = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
            else {
                return Err(OAuthError::invalid_client(
                    "only HTTP Basic client authentication is supported",
                    true,
                ));
            };
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let id = form_decode(id)
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let secret = form_decode(secret)
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            Some((id, secret))
        }
        None => None,
    };
    let (client_id, secret, used_basic) = match basic {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: Basic or client_secret in the body, not both",
                ));
            }
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_client(
                    "client_id in the body differs from the Basic credentials",
                    true,
                ));
            }
            (id, Some(secret), true)
        }
        None => {
            let id = params.get("client_id").ok_or_else(|| {
                OAuthError::invalid_client("client authentication is missing", false)
            })?;
            (
                id.to_owned(),
                params.get("client_secret").map(str::to_owned),
                false,
            )
        }
    };
    let client = state
        .client(&client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong secret", used_basic))?;
    match (&client.client_secret, &secret) {
        (Some(expected), Some(given)) if same_secret(expected, given) => {}
        (None, None) => {}
        (None, Some(_)) => {
            return Err(OAuthError::invalid_client(
                "this public client has no secret",
                used_basic,
            ));
        }
        _ => {
            return Err(OAuthError::invalid_client(
                "unknown client or wrong secret",
                used_basic,
            ));
        }
    }
    state
        .rate_limiter
        .check(&client.client_id)
        .map_err(OAuthError::rate_limited)?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("x%26y%3Dz").as_deref(), Some("x&y=z"));
    }
}
