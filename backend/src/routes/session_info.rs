//! `GET /api/session`: what the console needs to know, never a token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use giponext_shared::session::{ScopesInfo, SessionInfo, TokenState, feature_states};
use giponext_shared::{GrantedScopes, ScopeSet};

use crate::AppState;
use crate::error::AppError;
use crate::routes::{current_session, no_store};

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
        },
        Some((id, record)) => {
            crate::refresh::touch(&state, &id, &record).await?;
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
                user: Some(record.user),
                tenant: Some(record.tenant),
            }
        }
    };
    Ok(no_store(Json(info).into_response()))
}
