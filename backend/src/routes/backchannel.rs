//! `POST /auth/backchannel-logout`: the OpenID Connect Back-Channel Logout
//! 1.0 receiver. When the user signs out at the provider, it posts a signed
//! logout token here and the matching sessions end on every instance (they
//! share the store).
//!
//! # Security
//! The logout token is validated as Back-Channel Logout 1.0 §2.6 requires,
//! with `jsonwebtoken` (nothing hand-rolled): RS256 signature against the
//! provider's JWKS, `iss` = the issuer, `aud` contains our client id, `iat`
//! and `exp` present and current, the back-channel logout event in
//! `events`, `sub` present, and no `nonce`. Failures answer 400 with
//! `invalid_request` (§2.8); nothing about the token is logged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::no_store;
use crate::AppState;

/// The event that marks a logout token (§2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The form the provider posts (§2.5).
#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: String,
}

#[derive(Deserialize)]
struct LogoutClaims {
    iat: i64,
    sub: Option<String>,
    sid: Option<String>,
    events: HashMap<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// Why a logout token was refused.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    #[error("the provider's keys could not be fetched")]
    Keys,
    #[error("the logout token is not a valid signed JWT for this client: {0}")]
    Token(String),
    #[error("the logout token {0}")]
    Claims(&'static str),
}

/// `POST /auth/backchannel-logout`.
pub async fn receive(State(state): State<Arc<AppState>>, Form(form): Form<LogoutForm>) -> Response {
    let claims = match validate(&state, &form.logout_token).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout refused");
            let body = serde_json::json!({
                "error": "invalid_request",
                "error_description": e.to_string(),
            });
            return no_store((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
    };
    let Some(sub) = claims.sub else {
        // Validated above; kept for the type.
        return no_store(StatusCode::BAD_REQUEST.into_response());
    };
    let sessions = match state.sessions.index_list(&sub).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: reading the sessions failed");
            return no_store(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    let mut ended = 0;
    for (entry, _) in sessions {
        // With a `sid`, only that provider login session; without, all.
        if claims.sid.is_some() && entry.sid.is_some() && entry.sid != claims.sid {
            continue;
        }
        if let Err(e) = state.sessions.index_remove(&sub, &entry.key).await {
            tracing::error!(error = %e, "back-channel logout: ending a session failed");
            return no_store(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
        ended += 1;
    }
    tracing::info!(ended, "back-channel logout");
    no_store(StatusCode::OK.into_response())
}

async fn validate(state: &AppState, token: &str) -> Result<LogoutClaims, Invalid> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| Invalid::Token(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(Invalid::Token("algorithm must be RS256".into()));
    }
    let provider = state.provider().map_err(|_| Invalid::Keys)?;
    let keys: JwkSet = provider
        .http()
        .get(provider.jwks_url())
        .send()
        .await
        .map_err(|_| Invalid::Keys)?
        .json()
        .await
        .map_err(|_| Invalid::Keys)?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| Invalid::Token("signed with an unknown key".into()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| Invalid::Token(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[provider.issuer()]);
    validation.set_audience(&[state.config.client_id.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    validation.leeway = 30;
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| Invalid::Token(e.to_string()))?
        .claims;
    if !claims.events.contains_key(LOGOUT_EVENT) {
        return Err(Invalid::Claims("lacks the back-channel logout event"));
    }
    if claims.nonce.is_some() {
        return Err(Invalid::Claims("must not carry a nonce"));
    }
    let now = chrono::Utc::now().timestamp();
    if claims.iat > now + 30 || claims.iat < now - 600 {
        return Err(Invalid::Claims("was not issued recently"));
    }
    if claims.sub.is_none() {
        // §2.4 allows a sid alone; this backend finds sessions by subject.
        return Err(Invalid::Claims(
            "lacks sub (sid-only tokens are not supported)",
        ));
    }
    Ok(claims)
}
