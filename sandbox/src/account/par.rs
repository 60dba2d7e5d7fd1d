//! The pushed authorization request endpoint (`POST /oauth2/par`, RFC 9126),
//! served only when `SANDBOX_PAR` is `on` or `required`.
//!
//! # Security
//! - The client authenticates as at the token endpoint (RFC 9126 §2.1), so
//!   the request is known to come from it before a person sees anything.
//! - `redirect_uri` and the scopes are checked when pushed (§2.1): a bad
//!   request is an answer to the client, never a page for the person.
//! - The `request_uri` is random, bound to the client that pushed it, lives
//!   [`REQUEST_URI_TTL`] seconds and is used once: the authorization
//!   endpoint takes it out of the store (§4, §7.3), so a second use of the
//!   same `request_uri` is refused.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::authorize::check_scopes;
use super::client_auth::{Params, authenticate};
use super::errors::{OAuthError, no_store_json};
use super::flows::PushedRequest;
use super::grants::{now, random_token};
use crate::config::ParMode;
use crate::server::SandboxState;

/// How long a pushed request may wait for the browser (RFC 9126 §2.2
/// suggests a short lifetime; 60 s is what the RFC's example uses).
pub const REQUEST_URI_TTL: i64 = 60;

/// The URN prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// `POST /oauth2/par`: 201 with `request_uri` and `expires_in`.
pub async fn push(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.config.par == ParMode::Off {
        return StatusCode::NOT_FOUND.into_response();
    }
    match accept(&state, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn accept(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let params = Params::from_form(headers, body)?;
    let client = authenticate(state, headers, &params)?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 §2.1)",
        ));
    }
    if params.get("request").is_some() {
        return Err(OAuthError::bad_request(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    let redirect_uri = params.require("redirect_uri")?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(OAuthError::invalid_request(
            "redirect_uri does not exactly match one registered for the client",
        ));
    }
    check_scopes(params.get("scope"), &client)
        .map_err(|(error, description)| OAuthError::bad_request(error, description))?;
    let mut stored = params.into_map();
    stored.remove("client_secret");
    stored.insert("client_id".into(), client.client_id.clone());
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token());
    state.account.flows().pushed.insert(
        request_uri.clone(),
        PushedRequest {
            client_id: client.client_id,
            params: stored,
            expires_at: now() + REQUEST_URI_TTL,
        },
    );
    state.stats.record_pushed_request();
    let mut response =
        no_store_json(json!({ "request_uri": request_uri, "expires_in": REQUEST_URI_TTL }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}
