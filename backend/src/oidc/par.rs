//! Pushed Authorization Requests (RFC 9126): the authorization request
//! `openidconnect` built is sent to the provider over the back channel, and
//! the browser gets a URL with only `client_id` and `request_uri`.
//!
//! # Security
//! - The push is authenticated as the confidential client exactly as the
//!   token endpoint is (RFC 9126 §2: "the same ... client authentication
//!   method"): HTTP Basic with the id and secret form-urlencoded first
//!   (RFC 6749 §2.3.1, as `oauth2` does at the token endpoint), or
//!   `client_secret` in the body when the provider does not offer Basic.
//! - The pushed parameters are the ones `openidconnect` put in the URL
//!   (PKCE S256 challenge, state, nonce, scopes, redirect URI, prompt): one
//!   builder for both ways, so a pushed request can never lack a check the
//!   plain one has.
//! - The `request_uri` is the provider's one-time handle; we never reuse
//!   one (each sign-in pushes afresh) and never log it.

use serde::Deserialize;
use url::Url;

use super::{OidcError, Provider, basic_client_auth, error_chain, send};

/// The provider's answer (RFC 9126 §2.2).
#[derive(Deserialize)]
struct Pushed {
    request_uri: String,
    // `expires_in` is required by the RFC; the pre-login record lives
    // `login_ttl` anyway, and the provider enforces its own lifetime.
}

/// An error answer (RFC 9126 §2.3, RFC 6749 §5.2).
#[derive(Deserialize)]
struct PushError {
    error: String,
}

impl Provider {
    /// Pushes the parameters of `authorize_url` to `endpoint` and returns
    /// the URL to send the browser to.
    pub(super) async fn push(&self, endpoint: &Url, authorize_url: &Url) -> Result<Url, OidcError> {
        let mut form: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
        let mut request = self
            .http
            .post(endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if self.basic_auth {
            request = basic_client_auth(request, &self.client_id, &self.client_secret);
        } else {
            form.push((
                "client_secret".into(),
                self.client_secret.expose().to_owned(),
            ));
        }
        let response = send(request.form(&form)).await?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| OidcError::Unreachable(error_chain(&e)))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<PushError>(&body) {
                Ok(e) => OidcError::Refused(format!(
                    "pushed authorization request: {}",
                    e.error.chars().take(60).collect::<String>()
                )),
                Err(_) => OidcError::Unreachable(format!(
                    "the pushed authorization request endpoint answered {status}"
                )),
            });
        }
        let pushed: Pushed = serde_json::from_slice(&body).map_err(|e| {
            OidcError::Unreachable(format!(
                "the pushed authorization request endpoint answered no request_uri: {e}"
            ))
        })?;
        let mut url = self.client.auth_uri().url().clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ParSetting;
    use crate::oidc::Metadata;

    fn metadata(par: serde_json::Value) -> Metadata {
        let mut doc = serde_json::json!({
            "issuer": "https://id.example",
            "authorization_endpoint": "https://id.example/authorize",
            "token_endpoint": "https://id.example/token",
            "jwks_uri": "https://id.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        });
        for (k, v) in par.as_object().into_iter().flatten() {
            doc[k] = v.clone();
        }
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn bff_par_off_is_a_problem_only_where_par_is_required() {
        let offered = metadata(serde_json::json!({
            "pushed_authorization_request_endpoint": "https://id.example/par",
        }));
        let required = metadata(serde_json::json!({
            "pushed_authorization_request_endpoint": "https://id.example/par",
            "require_pushed_authorization_requests": true,
        }));
        let required_without_endpoint = metadata(serde_json::json!({
            "require_pushed_authorization_requests": true,
        }));
        assert!(Provider::check_metadata(&offered, ParSetting::Off).is_empty());
        assert!(Provider::check_metadata(&required, ParSetting::Auto).is_empty());
        let problems = Provider::check_metadata(&required, ParSetting::Off);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("BFF_PAR=off"), "{problems:?}");
        let problems = Provider::check_metadata(&required_without_endpoint, ParSetting::Auto);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("pushed_authorization_request_endpoint"),
            "{problems:?}"
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(crate::oidc::form_encode("a:b c&d"), "a%3Ab+c%26d");
        assert_eq!(crate::oidc::form_encode("plain-id"), "plain-id");
    }
}
