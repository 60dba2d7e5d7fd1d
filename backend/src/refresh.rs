//! Keeping a session's access token fresh.
//!
//! # Security
//! - Single-flight per session: concurrent requests of one session take the
//!   session's refresh lock, re-read the record and refresh only if nobody
//!   did meanwhile, so a rotated refresh token (RFC 9700 §4.14.2) is never
//!   used twice (which would make the provider revoke the whole grant).
//! - The rotated refresh token is stored before the new access token is used
//!   for anything.
//! - Every change to a stored session goes through [`update_session`], which
//!   holds the same lock, so a slow request can never write back a record
//!   with an already-rotated refresh token.
//! - Granted scopes are re-read from every refresh response (RFC 6749 §5.1:
//!   absent means unchanged), so a shrunken grant shrinks the features.
//! - `invalid_grant` marks the session `reauth_required`.
//!
//! The lock is in-process; several backend instances would need a shared
//! lock (e.g. a Redis `SET NX PX` lease) around the same steps.

use chrono::Utc;

use crate::AppState;
use crate::error::AppError;
use crate::oidc::OidcError;
use crate::session::{SessionRecord, to_chrono};
use crate::types::SessionId;

/// Where to send a user whose grant is gone.
pub const LOGIN_URL: &str = "/auth/login";

/// The error for a session that must sign in again.
pub fn reauth() -> AppError {
    AppError::ReauthRequired {
        login_url: LOGIN_URL.to_owned(),
    }
}

/// Applies `change` to the stored session under its refresh lock and stores
/// it; returns the updated record (`None` if the session is gone).
pub async fn update_session(
    state: &AppState,
    id: &SessionId,
    change: impl FnOnce(&mut SessionRecord),
) -> Result<Option<SessionRecord>, AppError> {
    let lock = state.sessions.refresh_lock(id);
    let _guard = lock.lock().await;
    let Some(mut record) = state.sessions.load(id).await? else {
        return Ok(None);
    };
    change(&mut record);
    let expires_at = record.expires_at(&state.config.timings);
    state.sessions.save(id, &record, expires_at).await?;
    Ok(Some(record))
}

/// Keeps an active session alive (idle timeout), writing at most once a
/// minute.
pub async fn touch(
    state: &AppState,
    id: &SessionId,
    record: &SessionRecord,
) -> Result<(), AppError> {
    let now = Utc::now();
    if now - record.last_seen_at > chrono::Duration::seconds(60) {
        update_session(state, id, |r| r.last_seen_at = now).await?;
    }
    Ok(())
}

/// A record whose access token can be used now. `seen` is the record the
/// caller has; `force` refreshes even if the token looks valid (the API
/// answered 401 to it).
pub async fn fresh_record(
    state: &AppState,
    id: &SessionId,
    seen: SessionRecord,
    force: bool,
) -> Result<SessionRecord, AppError> {
    if seen.reauth_required {
        return Err(reauth());
    }
    let leeway = state.refresh_leeway();
    if !force && !seen.needs_refresh(leeway, Utc::now()) {
        return Ok(seen);
    }
    let lock = state.sessions.refresh_lock(id);
    let _guard = lock.lock().await;
    let current = state
        .sessions
        .load(id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if current.reauth_required {
        return Err(reauth());
    }
    // Another request refreshed while we waited: use its token, never
    // refresh twice in a row (the second would spend the rotated token).
    if !current.tokens.access.matches(seen.tokens.access.expose()) {
        return Ok(current);
    }
    let Some(refresh_token) = current.tokens.refresh.clone() else {
        // No offline_access: nothing to refresh with.
        mark_reauth(state, id, current).await?;
        return Err(reauth());
    };

    match state.provider.refresh(&refresh_token).await {
        Ok(grant) => {
            let now = Utc::now();
            let mut next = current;
            next.tokens.access = grant.access;
            // Without `expires_in` we cannot know: rely on the API's 401.
            next.tokens.access_expires_at = match grant.expires_in {
                Some(d) => now + to_chrono(d),
                None => now + to_chrono(state.config.timings.session_max),
            };
            if let Some(rotated) = grant.refresh {
                next.tokens.refresh = Some(rotated);
            }
            if let Some(scope) = grant.scope {
                if scope.known != next.granted {
                    tracing::info!(
                        before = %next.granted,
                        after = %scope.known,
                        "granted scopes changed on refresh"
                    );
                }
                next.granted = scope.known;
            }
            let expires_at = next.expires_at(&state.config.timings);
            state.sessions.save(id, &next, expires_at).await?;
            state.metrics.refresh(Ok(()));
            tracing::info!("access token refreshed");
            Ok(next)
        }
        Err(OidcError::InvalidGrant) => {
            state.metrics.refresh(Err(true));
            tracing::info!("refresh refused (invalid_grant): sign-in required");
            mark_reauth(state, id, current).await?;
            Err(reauth())
        }
        Err(OidcError::Refused(code))
            if code == "rate_limit_exceeded" || code == "temporarily_unavailable" =>
        {
            state.metrics.refresh(Err(false));
            Err(AppError::RateLimited { retry_after: None })
        }
        Err(e) => {
            state.metrics.refresh(Err(false));
            Err(AppError::UpstreamUnavailable(format!(
                "token refresh failed: {e}"
            )))
        }
    }
}

async fn mark_reauth(
    state: &AppState,
    id: &SessionId,
    mut record: SessionRecord,
) -> Result<(), AppError> {
    record.reauth_required = true;
    record.tokens.refresh = None;
    let expires_at = record.expires_at(&state.config.timings);
    state.sessions.save(id, &record, expires_at).await?;
    Ok(())
}
