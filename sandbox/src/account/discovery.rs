//! OpenID Provider metadata and the JWKS.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use giponext_shared::ScopeSet;
use serde_json::{Value, json};

use crate::clients::grants::{AUTHORIZATION_CODE, DEVICE_CODE, REFRESH_TOKEN};
use crate::config::ParMode;
use crate::server::SandboxState;

/// The discovery document (OpenID Connect Discovery 1.0 §3).
///
/// With PAR on (`par`), it also lists `pushed_authorization_request_endpoint`
/// and `require_pushed_authorization_requests` (RFC 9126 §5).
pub fn metadata(issuer: &str, par: ParMode) -> Value {
    let scopes: Vec<&str> = ScopeSet::all().iter().map(|s| s.as_str()).collect();
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "userinfo_endpoint": format!("{issuer}/v2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [AUTHORIZATION_CODE, REFRESH_TOKEN, DEVICE_CODE],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp", "name", "email", "tenant"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if par != ParMode::Off {
        document["pushed_authorization_request_endpoint"] = json!(format!("{issuer}/oauth2/par"));
        document["require_pushed_authorization_requests"] = json!(par == ParMode::Required);
    }
    document
}

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration(State(state): State<Arc<SandboxState>>) -> impl IntoResponse {
    Json(metadata(&state.issuer, state.config.par))
}

/// `GET /oauth2/jwks`.
pub async fn jwks(State(state): State<Arc<SandboxState>>) -> impl IntoResponse {
    Json(json!({ "keys": [state.account.key.jwk()] }))
}
