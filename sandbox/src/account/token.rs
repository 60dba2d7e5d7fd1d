//! The token endpoint (`POST /oauth2/token`).
//!
//! # Security
//! - Authorization codes are one-time, bound to the client, the redirect URI
//!   and the PKCE verifier; a replayed code revokes the tokens issued from it
//!   (RFC 6749 §4.1.2, RFC 9700 §4.5.3).
//! - Refresh tokens rotate on every use; presenting a rotated-out one revokes
//!   the whole grant (RFC 9700 §4.14.2). A refresh may narrow the scope but
//!   never widen it (RFC 6749 §6).
//! - Device codes follow RFC 8628 §3.5 (authorization_pending, slow_down with
//!   the interval growing by 5 s, expired_token, access_denied).
//! - `client_credentials` is refused: every token belongs to a person.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use giponext_shared::{Scope, ScopeSet};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client_auth::{Params, authenticate};
use super::errors::{OAuthError, no_store_json};
use super::flows::DeviceStatus;
use super::grants::{self, Grant, NewGrant, RefreshLookup, now, token_hash};
use super::tokens::{issue_access_token, issue_id_token};
use crate::clients::grants::{AUTHORIZATION_CODE, DEVICE_CODE, REFRESH_TOKEN};
use crate::config::ClientRegistration;
use crate::server::SandboxState;

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = Params::from_form(&headers, &body)?;
    let grant_type = params.require("grant_type")?.to_owned();
    state.stats.record_token_request(&grant_type);
    let client = authenticate(&state, &headers, &params)?;
    let known = [AUTHORIZATION_CODE, REFRESH_TOKEN, DEVICE_CODE];
    if !known.contains(&grant_type.as_str()) {
        let why = if grant_type == "client_credentials" {
            "client_credentials is not supported: every GipoNext token belongs to a person who logged in"
        } else {
            "supported grant types: authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code"
        };
        return Err(OAuthError::bad_request("unsupported_grant_type", why));
    }
    if !client.allows_grant(&grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use {grant_type}"
        )));
    }
    match grant_type.as_str() {
        AUTHORIZATION_CODE => authorization_code(&state, &client, &params),
        REFRESH_TOKEN => {
            let hold = state.account.refresh_hold();
            if !hold.is_zero() {
                tokio::time::sleep(hold).await;
            }
            let answer = refresh(&state, &client, &params);
            let delay = state.account.refresh_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        }
        _ => device_code(&state, &client, &params),
    }
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    // RFC 7636 §4.1: 43..=128 unreserved characters.
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

fn authorization_code(
    state: &SandboxState,
    client: &ClientRegistration,
    params: &Params,
) -> Result<Response, OAuthError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.require("code_verifier")?;
    let (entry, gid) = {
        let mut flows = state.account.flows();
        let Some(entry) = flows.codes.get_mut(&token_hash(code)) else {
            return Err(OAuthError::invalid_grant(
                "unknown or expired authorization code",
            ));
        };
        if entry.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if let Some(gid) = entry.exchanged_grant.clone() {
            drop(flows);
            grants::revoke(&state.db, &gid)?;
            return Err(OAuthError::invalid_grant(
                "the code was already used; the tokens issued from it are now revoked",
            ));
        }
        if entry.expires_at <= now() {
            return Err(OAuthError::invalid_grant("the authorization code expired"));
        }
        if entry.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if !pkce_matches(verifier, &entry.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge (PKCE)",
            ));
        }
        let gid = grants::new_gid();
        entry.exchanged_grant = Some(gid.clone());
        (entry.clone(), gid)
    };
    let user = crate::users::by_sub(&entry.sub)
        .ok_or_else(|| OAuthError::internal(anyhow::anyhow!("code for unknown user")))?;
    let grant = grants::create_with_gid(
        &state.db,
        gid,
        NewGrant {
            client_id: &client.client_id,
            sub: user.sub,
            tenant: user.tenant,
            scopes: entry.scopes,
            sid: Some(&entry.sid),
            auth_time: entry.auth_time,
        },
    )?;
    token_response(state, &grant, grant.scopes, entry.nonce)
}

fn refresh(
    state: &SandboxState,
    client: &ClientRegistration,
    params: &Params,
) -> Result<Response, OAuthError> {
    let token = params.require("refresh_token")?;
    let grant = match grants::lookup_refresh_token(&state.db, token)? {
        RefreshLookup::Unknown => return Err(OAuthError::invalid_grant("unknown refresh token")),
        RefreshLookup::Rotated(grant) => {
            if grant.client_id == client.client_id {
                grants::revoke(&state.db, &grant.gid)?;
                tracing::warn!(gid = %grant.gid, "rotated-out refresh token presented again: grant revoked");
            }
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the whole grant is now revoked (RFC 9700 §4.14.2)",
            ));
        }
        RefreshLookup::Current(grant) => grant,
    };
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked {
        return Err(OAuthError::invalid_grant(
            "the grant was revoked; log in again",
        ));
    }
    if now() - grant.last_used_at > state.config.refresh_token_ttl.as_secs() as i64 {
        return Err(OAuthError::invalid_grant(
            "the refresh token expired after inactivity; log in again",
        ));
    }
    let scopes = match params.get("scope") {
        None => grant.scopes,
        Some(raw) => {
            let asked = ScopeSet::parse(raw)
                .strict()
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            let wider = asked.difference(grant.original_scopes);
            if !wider.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "a refresh cannot add scopes that were not granted: {}",
                    wider.to_wire()
                )));
            }
            asked.intersection(grant.scopes)
        }
    };
    if !grants::rotate_out(&state.db, token)? {
        grants::revoke(&state.db, &grant.gid)?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; the whole grant is now revoked",
        ));
    }
    state.stats.record_refresh(&grant.gid);
    token_response(state, &grant, scopes, None)
}

fn device_code(
    state: &SandboxState,
    client: &ClientRegistration,
    params: &Params,
) -> Result<Response, OAuthError> {
    let device_code = params.require("device_code")?;
    let (sub, scopes, sid, auth_time) = {
        let mut flows = state.account.flows();
        let Some(device) = flows.devices.get_mut(&token_hash(device_code)) else {
            return Err(OAuthError::invalid_grant("unknown device_code"));
        };
        if device.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the device_code was issued to another client",
            ));
        }
        if device.expires_at <= now() {
            return Err(OAuthError::bad_request(
                "expired_token",
                "the device code expired; start again",
            ));
        }
        let polled_now = Instant::now();
        let too_fast = device.last_poll.is_some_and(|last| {
            polled_now.duration_since(last).as_secs_f64() < device.interval as f64
        });
        device.last_poll = Some(polled_now);
        if too_fast {
            device.interval += 5;
            return Err(OAuthError::bad_request(
                "slow_down",
                format!(
                    "polling too fast; wait at least {} seconds between requests",
                    device.interval
                ),
            ));
        }
        match device.status.clone() {
            DeviceStatus::Pending => {
                return Err(OAuthError::bad_request(
                    "authorization_pending",
                    "the user has not decided yet",
                ));
            }
            DeviceStatus::Denied => {
                return Err(OAuthError::bad_request(
                    "access_denied",
                    "the user denied the request",
                ));
            }
            DeviceStatus::Consumed => {
                return Err(OAuthError::invalid_grant(
                    "the device code was already used",
                ));
            }
            DeviceStatus::Approved {
                sub,
                scopes,
                sid,
                auth_time,
            } => {
                device.status = DeviceStatus::Consumed;
                (sub, scopes, sid, auth_time)
            }
        }
    };
    let user = crate::users::by_sub(&sub)
        .ok_or_else(|| OAuthError::internal(anyhow::anyhow!("device grant for unknown user")))?;
    let grant = grants::create(
        &state.db,
        NewGrant {
            client_id: &client.client_id,
            sub: user.sub,
            tenant: user.tenant,
            scopes,
            sid: Some(&sid),
            auth_time,
        },
    )?;
    token_response(state, &grant, scopes, None)
}

/// The success response: always `scope`, `expires_in`, `token_type`; an ID
/// token when `openid` is in `scopes`; a new refresh token when the grant
/// includes `offline_access`.
fn token_response(
    state: &SandboxState,
    grant: &Grant,
    scopes: ScopeSet,
    nonce: Option<String>,
) -> Result<Response, OAuthError> {
    let (access_token, expires_in) = issue_access_token(state, grant, scopes)?;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(expires_in));
    body.insert("scope".into(), json!(scopes.to_wire()));
    if scopes.contains(Scope::OpenId) {
        body.insert(
            "id_token".into(),
            json!(issue_id_token(state, grant, nonce, &access_token)?),
        );
    }
    if grant.scopes.contains(Scope::OfflineAccess) {
        body.insert(
            "refresh_token".into(),
            json!(grants::new_refresh_token(&state.db, &grant.gid)?),
        );
    }
    grants::touch(&state.db, &grant.gid)?;
    Ok(no_store_json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_in_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
