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
//! The lock is in-process with the SQLite store; with the Redis store it is
//! also cluster-wide (a renewed `SET NX PX` lease, writes fenced by a
//! monotonic fencing value, see [`crate::session::redis`]), so at most one
//! instance refreshes a grant at a time and the others re-read the stored
//! result. An `invalid_grant` is checked against the store first: if the
//! stored refresh token is no longer the one sent, a sibling already rotated
//! it and its record is used.
//!
//! # Scope sets
//! The lock is per grant (per session), not per scope set: one refresh token
//! can be spent only once, so two refreshes of one grant "for different
//! scope sets" would be exactly the reuse that revokes the grant. What is
//! per scope set is the adoption: every caller names the scopes its call
//! needs, and a waiter uses a sibling's result only if the token it finds
//! covers them. A token that does not (the grant shrank at the provider, or
//! changed meanwhile) is never used for the call: the caller gets
//! [`FreshError::NotCovered`] and asks for its own scopes (incremental consent) instead.
//! No SQL or Redis round trip is added to the single-instance path.

use chrono::Utc;
use giponext_shared::{Scope, ScopeSet};

use crate::AppState;
use crate::error::AppError;
use crate::oidc::OidcError;
use crate::session::{SessionGuard, SessionRecord, to_chrono};
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
    let guard = state.sessions.lock(id).await?;
    let Some(mut record) = state.sessions.load(id).await? else {
        return Ok(None);
    };
    change(&mut record);
    let expires_at = record.expires_at(&state.config.timings);
    state
        .sessions
        .save_locked(id, &record, expires_at, &guard)
        .await?;
    Ok(Some(record))
}

/// Keeps an active session alive (idle timeout), writing at most once a
/// minute; answers the last use now on record.
pub async fn touch(
    state: &AppState,
    id: &SessionId,
    record: &SessionRecord,
) -> Result<chrono::DateTime<Utc>, AppError> {
    let now = Utc::now();
    if now - record.last_seen_at > chrono::Duration::seconds(60) {
        update_session(state, id, |r| r.last_seen_at = now).await?;
        return Ok(now);
    }
    Ok(record.last_seen_at)
}

/// Why [`fresh_record`] gave no token.
#[derive(Debug)]
pub enum FreshError {
    /// The usable token does not carry `0` (the first scope missing of the
    /// ones the call needs): ask for it, do not call with this token.
    NotCovered(Scope),
    /// Anything else.
    App(AppError),
}

impl From<AppError> for FreshError {
    fn from(e: AppError) -> Self {
        FreshError::App(e)
    }
}

impl From<crate::session::SessionError> for FreshError {
    fn from(e: crate::session::SessionError) -> Self {
        FreshError::App(e.into())
    }
}

fn covering(record: SessionRecord, needs: ScopeSet) -> Result<SessionRecord, FreshError> {
    match needs.difference(record.granted).iter().next() {
        None => Ok(record),
        Some(scope) => Err(FreshError::NotCovered(scope)),
    }
}

/// A record whose access token can be used now for a call that needs the
/// scopes `needs`. `seen` is the record the caller has; `force` refreshes
/// even if the token looks valid (the API answered 401 to it). A refreshed
/// or adopted token that does not cover `needs` is refused with
/// [`FreshError::NotCovered`].
pub async fn fresh_record(
    state: &AppState,
    id: &SessionId,
    seen: SessionRecord,
    force: bool,
    needs: ScopeSet,
) -> Result<SessionRecord, FreshError> {
    if seen.reauth_required {
        return Err(reauth().into());
    }
    let leeway = state.refresh_leeway();
    if !force && !seen.needs_refresh(leeway, Utc::now()) {
        return Ok(seen);
    }
    // The in-process lock first: a request of this instance that waited
    // for a sibling's refresh re-reads the record and adopts its token
    // without a Redis lock round trip; only the first takes the cluster
    // lease (and re-reads once more under it).
    let local = state.sessions.lock_local(id).await;
    let current = load_current(state, id).await?;
    if let Some(adopted) = adopt(state, &seen, &current, needs) {
        return adopted;
    }
    let guard = state.sessions.upgrade(id, local).await?;
    let current = match guard.lease() {
        None => current,
        Some(_) => load_current(state, id).await?,
    };
    if let Some(adopted) = adopt(state, &seen, &current, needs) {
        return adopted;
    }
    let Some(refresh_token) = current.tokens.refresh.clone() else {
        // No offline_access: nothing to refresh with.
        mark_reauth(state, id, current, &guard).await?;
        return Err(reauth().into());
    };

    let refreshed = state
        .provider()?
        .refresh(
            &refresh_token,
            current.tokens.id_token.as_ref(),
            &current.user.sub,
        )
        .await;
    match refreshed {
        Ok(grant) => {
            let now = Utc::now();
            let mut next = current;
            next.tokens.access = grant.access;
            next.tokens.access_issued_at = Some(now);
            // Without `expires_in` we cannot know: rely on the API's 401.
            next.tokens.access_expires_at = match grant.expires_in {
                Some(d) => now + to_chrono(d),
                None => now + to_chrono(state.config.timings.session_max),
            };
            if let Some(rotated) = grant.refresh {
                next.tokens.refresh = Some(rotated);
            }
            // Validated (OpenID Connect Core 12.2): the newest is the logout hint.
            if let Some(id_token) = grant.id_token {
                next.tokens.id_token = Some(id_token);
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
            state
                .sessions
                .save_locked(id, &next, expires_at, &guard)
                .await?;
            state.metrics.refresh(Ok(()));
            tracing::info!("access token refreshed");
            covering(next, needs)
        }
        Err(OidcError::InvalidGrant) => {
            state.metrics.refresh(Err(true));
            // A sibling may have rotated the token meanwhile (a lost lease):
            // its stored record wins over declaring the grant gone.
            if let Some(stored) = state.sessions.load(id).await?
                && !stored.reauth_required
                && stored.tokens.refresh.as_ref().map(|r| r.expose())
                    != Some(refresh_token.expose())
            {
                tracing::info!("refresh refused but a sibling holds a newer token");
                return covering(stored, needs);
            }
            tracing::info!("refresh refused (invalid_grant): sign-in required");
            mark_reauth(state, id, current, &guard).await?;
            Err(reauth().into())
        }
        Err(OidcError::Refused(code))
            if code == "rate_limit_exceeded" || code == "temporarily_unavailable" =>
        {
            state.metrics.refresh(Err(false));
            Err(AppError::RateLimited { retry_after: None }.into())
        }
        Err(OidcError::Timeout) => {
            state.metrics.refresh(Err(false));
            Err(AppError::UpstreamTimeout.into())
        }
        Err(OidcError::BadRefreshedIdToken { why, rotated }) => {
            // The provider answered for someone else (or forged): this
            // session can no longer be trusted. Its old refresh token is
            // spent; the one issued with the bad ID token must not live on.
            state.metrics.refresh(Err(true));
            tracing::warn!(error = %why, "the refreshed ID token is not valid: sign-in required");
            if let Some(rotated) = rotated {
                state
                    .revoke_quietly(&rotated, "after an invalid refreshed ID token")
                    .await;
            }
            mark_reauth(state, id, current, &guard).await?;
            Err(reauth().into())
        }
        Err(e) => {
            state.metrics.refresh(Err(false));
            Err(AppError::UpstreamUnavailable(format!("token refresh failed: {e}")).into())
        }
    }
}

async fn load_current(state: &AppState, id: &SessionId) -> Result<SessionRecord, FreshError> {
    let current = state
        .sessions
        .load(id)
        .await?
        .ok_or(FreshError::App(AppError::Unauthenticated))?;
    if current.reauth_required {
        return Err(reauth().into());
    }
    Ok(current)
}

/// Another request refreshed while this one waited: never refresh twice in
/// a row (the second would spend the rotated token). Its token is used only
/// if it covers what this call needs. `None`: nobody refreshed.
fn adopt(
    state: &AppState,
    seen: &SessionRecord,
    current: &SessionRecord,
    needs: ScopeSet,
) -> Option<Result<SessionRecord, FreshError>> {
    if current.tokens.access.matches(seen.tokens.access.expose()) {
        return None;
    }
    let adopted = covering(current.clone(), needs);
    state.metrics.refresh_wait(adopted.is_ok());
    if adopted.is_err() {
        tracing::info!("a sibling's refresh does not cover this call's scopes: not used");
    }
    Some(adopted)
}

async fn mark_reauth(
    state: &AppState,
    id: &SessionId,
    mut record: SessionRecord,
    guard: &SessionGuard,
) -> Result<(), AppError> {
    record.reauth_required = true;
    record.tokens.refresh = None;
    let expires_at = record.expires_at(&state.config.timings);
    state
        .sessions
        .save_locked(id, &record, expires_at, guard)
        .await?;
    Ok(())
}
