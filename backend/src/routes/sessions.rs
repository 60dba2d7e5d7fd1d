//! Connected sessions: `GET /api/sessions`, `DELETE /api/sessions/{id}`
//! (revoke one) and `POST /auth/logout-everywhere`.
//!
//! # Security
//! Both changes need `X-CSRF: 1`. A user sees and ends only their own
//! sessions (the index is per subject); ids are hashes of store keys, never
//! a cookie. Ending a session revokes its refresh token at the provider
//! (RFC 7009) before the record is destroyed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use giponext_shared::session::ConnectedSession;

use super::{no_store, require_csrf, signed_in};
use crate::AppState;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::session::index::{IndexEntry, summarize_user_agent};
use crate::session::{SessionRecord, to_chrono};
use crate::types::SessionId;

/// Records a new session in its user's index (after sign-in). A failure is
/// logged: the session works, it is only missing from the list.
pub async fn register(
    state: &AppState,
    id: &SessionId,
    record: &SessionRecord,
    headers: &HeaderMap,
    client: ClientAddr,
) {
    let user_agent = summarize_user_agent(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let entry = IndexEntry {
        key: id.store_key(),
        sid: record
            .tokens
            .id_token
            .as_ref()
            .and_then(|t| id_token_sid(t.expose())),
        user_agent,
        address: Some(client.0),
    };
    let until = chrono::Utc::now() + to_chrono(state.config.timings.session_max);
    if let Err(e) = state
        .sessions
        .index_add(&record.user.sub, entry, until)
        .await
    {
        tracing::warn!(error = %e, "recording the session in the user's index failed");
    }
}

/// The `sid` claim of an ID token that the callback has just verified
/// (signature, issuer, audience, nonce by `openidconnect`); read here only
/// to remember which provider login session this is.
fn id_token_sid(id_token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Sid {
        sid: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode::<Sid>(id_token)
        .ok()?
        .claims
        .sid
}

/// `GET /api/sessions`: the signed-in user's sessions, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let (id, record) = signed_in(&state, &jar).await?;
    let current = id.store_key();
    let mut sessions: Vec<ConnectedSession> = state
        .sessions
        .index_list(&record.user.sub)
        .await?
        .into_iter()
        .map(|(entry, r)| ConnectedSession {
            id: entry.public_id(),
            user_agent: entry.user_agent.clone(),
            address: entry.address.map(|a| a.to_string()),
            started: r.created_at,
            last_seen: r.last_seen_at,
            scopes: r.granted,
            current: entry.key == current,
        })
        .collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.started));
    Ok(no_store(Json(sessions).into_response()))
}

/// Revokes the session's refresh token at the provider (best effort) and
/// destroys it and its index entry.
pub async fn end_session(state: &AppState, sub: &str, key: &str) -> Result<(), AppError> {
    match state.sessions.load_key(key).await.ok().flatten() {
        Some(record) => end_loaded(state, key, &record, "ending a session").await,
        None => Ok(state.sessions.index_remove(sub, key).await?),
    }
}

/// [`end_session`] for a session already loaded (stored under `key`):
/// revokes its refresh token (best effort; a failure is logged with
/// `when`), then destroys it and its index entry.
pub async fn end_loaded(
    state: &AppState,
    key: &str,
    record: &SessionRecord,
    when: &'static str,
) -> Result<(), AppError> {
    if let Some(refresh) = &record.tokens.refresh {
        state.revoke_quietly(refresh, when).await;
    }
    state.sessions.index_remove(&record.user.sub, key).await?;
    Ok(())
}

/// Ends a session replaced at sign-in (session rotation): destroys it and
/// its index entry, and revokes its refresh token unless it is `kept` (a
/// provider that handed the same one back). Failures are logged: the new
/// session is in place either way.
pub async fn end_replaced(
    state: &Arc<AppState>,
    id: &SessionId,
    record: &SessionRecord,
    kept: Option<&str>,
) {
    // Re-read: another tab may have refreshed (rotated the refresh token)
    // since the callback read it; the newest one is the one to revoke.
    let newest = state.sessions.load(id).await.ok().flatten();
    let record = newest.as_ref().unwrap_or(record);
    if let Err(e) = state
        .sessions
        .index_remove(&record.user.sub, &id.store_key())
        .await
    {
        tracing::warn!(error = %e, "ending the replaced session failed");
    }
    if let Some(refresh) = &record.tokens.refresh
        && Some(refresh.expose()) != kept
    {
        state
            .revoke_bounded(refresh, "ending the replaced session")
            .await;
    }
}

/// How many expired sessions one purge round ends at most (the next round
/// takes the rest).
const PURGE_BATCH: usize = 200;

/// Ends the sessions that expired: each one's refresh token is revoked at
/// the provider (RFC 7009, best effort) and its index entry removed, so an
/// idle workstation leaves no live grant behind. Failures are logged.
pub async fn purge_expired(state: &AppState) {
    let expired = match state
        .sessions
        .take_expired(chrono::Utc::now(), PURGE_BATCH)
        .await
    {
        Ok(expired) => expired,
        Err(e) => {
            tracing::warn!(error = %e, "reading expired sessions failed");
            return;
        }
    };
    for (key, record) in &expired {
        if let Some(refresh) = &record.tokens.refresh {
            state
                .revoke_quietly(refresh, "purging an expired session")
                .await;
        }
        if let Err(e) = state.sessions.index_remove(&record.user.sub, key).await {
            tracing::warn!(error = %e, "removing an expired session from its index failed");
        }
    }
    if !expired.is_empty() {
        tracing::info!(ended = expired.len(), "expired sessions ended");
    }
}

/// `DELETE /api/sessions/{id}` (needs `X-CSRF: 1`): ends one of the user's
/// sessions; 404 for an id that is not one of theirs.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
    Path(target): Path<String>,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let (id, record) = signed_in(&state, &jar).await?;
    let sessions = state.sessions.index_list(&record.user.sub).await?;
    let Some((entry, _)) = sessions.iter().find(|(e, _)| e.public_id() == target) else {
        return Err(AppError::NotFound("no such session"));
    };
    end_session(&state, &record.user.sub, &entry.key).await?;
    tracing::info!("a connected session was ended by its user");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if entry.key == id.store_key() {
        response = (jar.add(state.cookies.clear_session()), response).into_response();
    }
    Ok(no_store(response))
}

/// `POST /auth/logout-everywhere` (needs `X-CSRF: 1`): ends every session
/// of the user, revoking each refresh token; answers the number ended.
pub async fn logout_everywhere(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let (id, record) = signed_in(&state, &jar).await?;
    let sub = record.user.sub.clone();
    let mut ended = 0usize;
    for (entry, _) in state.sessions.index_list(&sub).await? {
        end_session(&state, &sub, &entry.key).await?;
        ended += 1;
    }
    // The current session even if the index missed it.
    end_session(&state, &sub, &id.store_key()).await?;
    tracing::info!(ended, "signed out everywhere");
    let jar = jar.add(state.cookies.clear_session());
    Ok(no_store(
        (jar, Json(serde_json::json!({ "ended": ended }))).into_response(),
    ))
}
