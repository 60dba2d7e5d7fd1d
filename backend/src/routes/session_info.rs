//! `GET /api/session`: what the console needs to know, never a token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chrono::Utc;
use giponext_shared::session::{
    ScopesInfo, SessionInfo, SessionRemaining, TokenState, feature_states,
};
use giponext_shared::{GrantedScopes, ScopeSet};

use crate::AppState;
use crate::error::AppError;
use crate::routes::{current_session, no_store, require_csrf, signed_in};

/// The session as JSON; 200 with `authenticated: false` when signed out (the
/// console renders its sign-in page from it).
pub async fn session(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let registered = state.config.registered_scopes;
    let not_registered = ScopeSet::all().difference(registered.set());
    let info = match current_session(&state, &jar).await? {
        None => SessionInfo {
            authenticated: false,
            sandbox: state.sandbox,
            client_id: state.config.client_id.clone(),
            user: None,
            tenant: None,
            scopes: ScopesInfo {
                granted: ScopeSet::EMPTY,
                declined: vec![],
                registered: registered.set(),
                not_registered,
            },
            features: feature_states(
                GrantedScopes::new(ScopeSet::EMPTY),
                ScopeSet::EMPTY,
                registered,
            ),
            token: None,
            expires_at: None,
            idle_seconds_left: None,
            absolute_seconds_left: None,
            draft_key: None,
            offline_access_withheld: false,
        },
        Some((id, mut record)) => {
            record.last_seen_at = crate::refresh::touch(&state, &id, &record).await?;
            let left = record.remaining(&state.config.timings, Utc::now());
            let draft_key = state
                .sessions
                .draft_keys()
                .for_person(&record.user.sub, &record.tenant.id);
            let token = if record.reauth_required {
                TokenState::ReauthRequired
            } else if state.sessions.is_refreshing(&id) {
                TokenState::Refreshing
            } else {
                TokenState::Ok
            };
            let granted = GrantedScopes::new(record.granted);
            SessionInfo {
                authenticated: true,
                sandbox: state.sandbox,
                client_id: state.config.client_id.clone(),
                features: feature_states(granted, record.declined_set(), registered),
                scopes: ScopesInfo {
                    granted: record.granted,
                    declined: record.declined.clone(),
                    registered: registered.set(),
                    not_registered,
                },
                token: Some(token),
                expires_at: Some(record.expires_at(&state.config.timings)),
                idle_seconds_left: Some(left.idle_seconds_left),
                absolute_seconds_left: Some(left.absolute_seconds_left),
                draft_key: Some(draft_key),
                offline_access_withheld: crate::routes::auth::offline_access_withheld(
                    registered, &record,
                ),
                user: Some(record.user),
                tenant: Some(record.tenant),
            }
        }
    };
    Ok(no_store(Json(info).into_response()))
}

/// `POST /api/session/keepalive` (needs `X-CSRF: 1`): "Resta collegato".
/// Restarts the idle timeout (one store write, nothing upstream) and answers
/// the time left; 401 when signed out.
pub async fn keepalive(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let (id, _) = signed_in(&state, &jar).await?;
    let now = Utc::now();
    let record = crate::refresh::update_session(&state, &id, |r| r.last_seen_at = now)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let left: SessionRemaining = record.remaining(&state.config.timings, now);
    Ok(no_store(Json(left).into_response()))
}

/// `GET /api/session/remaining`: the time left, without counting as use (the
/// console asks before it warns, so another tab's activity is seen); 401
/// when signed out.
pub async fn remaining(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let (_, record) = signed_in(&state, &jar).await?;
    let left = record.remaining(&state.config.timings, Utc::now());
    Ok(no_store(Json(left).into_response()))
}
