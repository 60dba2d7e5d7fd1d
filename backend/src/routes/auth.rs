//! `/auth/login` and `/auth/logout` (the callback is in `callback.rs`).
//!
//! # Security
//! - Login state (state, PKCE verifier, nonce, requested scopes, return_to)
//!   is kept server-side, one-time, for `login_ttl` (10 min), under a random
//!   id in the Lax `gx_login` cookie scoped to `/auth` (RFC 9700 §2.1,
//!   §4.7): a callback without that cookie, with another state, or replayed
//!   after use fails. A browser may have several sign-ins pending (tabs),
//!   at most [`MAX_PENDING`](crate::routes::pending::MAX_PENDING); see
//!   [`pending`](crate::routes::pending).
//! - The callback checks RFC 9207 `iss` before anything else is done with
//!   the response, and validates the ID token (signature, iss, aud, exp,
//!   nonce) before a session exists.
//! - The session id is rotated at every sign-in (no session fixation).
//! - `return_to` is a validated local path ([`ReturnTo`]): no open redirect
//!   (RFC 9700 §4.11).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chrono::Utc;
use giponext_shared::features::essential_scopes;
use giponext_shared::{Scope, ScopeSet};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::routes::pages::page;
use crate::routes::{current_session, found, no_store, require_csrf};
use crate::session::{LoginState, to_chrono};
use crate::types::{ReturnTo, Secret};

/// Whether the client asked for JSON (a `fetch`) rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") || v.contains("application/problem+json"))
}

/// An error for a browser navigation: a page, or problem+json for `fetch`.
pub(super) fn refuse(headers: &HeaderMap, error: AppError, title: &str, detail: &str) -> Response {
    if wants_json(headers) {
        return error.into_response();
    }
    tracing::info!(error = %error, "sign-in refused");
    let status = StatusCode::from_u16(error.problem().status).unwrap_or(StatusCode::BAD_REQUEST);
    page(status, title, &[detail], None)
}

/// [`refuse`] with the error's own title and detail (a session-store outage
/// during sign-in is a page saying so, with its `Retry-After`, not JSON).
fn refuse_as_problem(headers: &HeaderMap, error: AppError) -> Response {
    let problem = error.problem();
    let detail = problem.detail.clone().unwrap_or_default();
    let mut response = refuse(headers, error, &problem.title, &detail);
    if let Some(seconds) = problem.retry_after
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

#[derive(Deserialize)]
struct LoginParams {
    scope: Option<String>,
    return_to: Option<String>,
    prompt: Option<String>,
}

/// `GET /auth/login?scope=<extra scopes>&return_to=<local path>&prompt=login`.
///
/// `prompt=login` (the only `prompt` accepted) is passed to the
/// authorization request: the provider asks for the password again even if
/// its own session lingers. "Cambia utente" lands here after the provider's
/// end-session step.
///
/// When the browser's session got no refresh token for its
/// `offline_access` ([`offline_access_withheld`]), the request asks for it
/// again with `prompt=consent` (OpenID Connect Core §11).
pub async fn login(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params: LoginParams = match serde_urlencoded::from_str(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(_) => {
            let e = AppError::BadRequest("the query string is malformed".into());
            return refuse(
                &headers,
                e,
                "Bad sign-in link",
                "The sign-in link is malformed.",
            );
        }
    };
    let return_to = match params.return_to.as_deref().map(ReturnTo::parse).transpose() {
        Ok(r) => r.unwrap_or_else(ReturnTo::root),
        Err(e) => {
            let detail = e.to_string();
            return refuse(
                &headers,
                AppError::BadRequest(detail.clone()),
                "Bad sign-in link",
                &detail,
            );
        }
    };
    let login_again = match params.prompt.as_deref() {
        None => false,
        Some("login") => true,
        Some(other) => {
            let detail = format!(
                "The prompt parameter accepts only \"login\" (ask for the password again); got {:?}.",
                other.chars().take(40).collect::<String>()
            );
            return refuse(
                &headers,
                AppError::BadRequest(detail.clone()),
                "Bad sign-in link",
                &detail,
            );
        }
    };
    let wanted = ScopeSet::parse(
        params
            .scope
            .as_deref()
            .unwrap_or("")
            .replace(',', " ")
            .as_str(),
    );
    if !wanted.unknown.is_empty() {
        let detail = format!(
            "Unknown scope(s): {}. GipoNext defines: {}.",
            wanted.unknown.join(", "),
            ScopeSet::all().to_wire()
        );
        return refuse(
            &headers,
            AppError::BadRequest(detail.clone()),
            "Unknown permission",
            &detail,
        );
    }
    let registered = state.config.registered_scopes;
    let (askable, not_registered) = registered.partition(wanted.known);
    if !not_registered.is_empty() {
        return scope_not_registered(&state, &headers, not_registered);
    }

    let session = match current_session(&state, &jar).await {
        Ok(s) => s,
        // Its medical centre is no longer allowed: that session just ended;
        // this is a first sign-in (perhaps of someone else).
        Err(AppError::TenantNotAllowed) => None,
        Err(e) => return refuse_as_problem(&headers, e),
    };
    let first = essential_scopes()
        .union(ScopeSet::of(&[Scope::OpenId]))
        .intersection(registered.set());
    let (requested, incremental) = match &session {
        Some((_, record)) if !record.reauth_required => {
            // Incremental: what is granted plus the new scopes (the provider
            // issues a token for exactly what is asked and granted).
            let requested = record
                .granted
                .union(askable)
                .union(ScopeSet::of(&[Scope::OpenId]));
            (requested, askable.difference(record.granted))
        }
        Some((_, record)) => (first.union(record.granted).union(askable), ScopeSet::EMPTY),
        None => (first.union(askable), ScopeSet::EMPTY),
    };

    // OpenID Connect Core §11: the last sign-in got no refresh token, so
    // this one asks for offline_access again, with prompt=consent.
    let consent_again = session
        .as_ref()
        .is_some_and(|(_, record)| offline_access_withheld(registered, record));
    let requested = if consent_again {
        requested.union(ScopeSet::of(&[Scope::OfflineAccess]).intersection(registered.set()))
    } else {
        requested
    };

    let provider = match state.provider() {
        Ok(p) => p,
        Err(e) => {
            return refuse(
                &headers,
                e,
                "Sign-in service unavailable",
                "The sign-in service could not be reached. Try again in a few seconds.",
            );
        }
    };
    let request = match provider
        .authorization_request(requested, login_again, consent_again)
        .await
    {
        Ok(r) => r,
        // Only a pushed request (RFC 9126) can fail here: the provider
        // refused it or did not answer.
        Err(e) => {
            return refuse(
                &headers,
                AppError::SignInUnavailable(e.to_string()),
                "Sign-in service unavailable",
                "The sign-in service did not accept the sign-in request. Try again in a few seconds.",
            );
        }
    };
    let login_id = Secret::random();
    let ttl = state.config.timings.login_ttl;
    let mut pending = crate::routes::pending::PendingSignIns::parse(
        jar.get(state.cookies.login).map(|c| c.value()),
    );
    let dropped = pending.push(login_id.clone(), &request.state);
    let login = LoginState {
        state: request.state,
        pkce_verifier: request.pkce_verifier,
        nonce: request.nonce,
        requested,
        return_to,
        incremental,
    };
    if let Err(e) = state
        .sessions
        .put_login(&login_id, &login, Utc::now() + to_chrono(ttl))
        .await
    {
        return refuse_as_problem(&headers, AppError::from(e));
    }
    // Beyond the bound: the oldest sign-in of this browser ends.
    for old in dropped {
        let _ = state.sessions.take_login(&old).await;
    }
    let jar = jar.add(state.cookies.login_cookie(
        &pending.cookie_value().unwrap_or_default(),
        ttl.as_secs() as i64,
    ));
    tracing::info!(requested = %requested, incremental = %incremental, consent_again, "sign-in started");
    no_store((jar, found(request.url.as_str())).into_response())
}

/// Whether `record`'s sign-in asked for `offline_access` (every first
/// sign-in does when it is registered) and got no refresh token: the scope
/// is not granted and the session holds none (OpenID Connect Core §11; a
/// provider may withhold it without `prompt=consent`, or the person left it
/// unticked). A session whose refresh token was revoked later keeps
/// `offline_access` among its granted scopes and does not count.
pub fn offline_access_withheld(
    registered: giponext_shared::RegisteredScopes,
    record: &crate::session::SessionRecord,
) -> bool {
    registered.set().contains(Scope::OfflineAccess)
        && !record.granted.contains(Scope::OfflineAccess)
        && record.tokens.refresh.is_none()
}

fn scope_not_registered(state: &AppState, headers: &HeaderMap, scopes: ScopeSet) -> Response {
    let support_request = format!(
        "To: GipoNext integration support\n\
         Subject: scope change for client_id {client_id}\n\n\
         client_id: {client_id}\n\
         Scopes to add: {scopes}\n\
         Reason: staff of our medical centre need the GipoNext Connect feature(s) that require {scopes}.",
        client_id = state.config.client_id,
        scopes = scopes.to_wire(),
    );
    let error = AppError::ScopeNotRegistered {
        scopes,
        support_request: support_request.clone(),
    };
    if wants_json(headers) {
        return error.into_response();
    }
    let explanation = format!(
        "GipoNext Connect is not registered for {}. The permissions an application may ask for are fixed when it is registered with GipoNext, so signing in again cannot add them.",
        scopes.to_wire()
    );
    page(
        StatusCode::FORBIDDEN,
        "Permission not available for this application",
        &[
            explanation.as_str(),
            "Your administrator can ask GipoNext integration support to add them, with this request:",
        ],
        Some(&support_request),
    )
}

/// How long logout waits for the provider's revocation: at most 2 s, and
/// half the upstream timeout when that is shorter. A slower revocation
/// goes on in the background; the user is signed out already.
pub fn logout_revocation_wait(upstream_timeout: Duration) -> Duration {
    (upstream_timeout / 2).min(Duration::from_secs(2))
}

/// How long the one-time end-session step of a logout lives.
pub const END_SESSION_STEP_TTL: Duration = Duration::from_secs(120);

/// The body of `POST /auth/logout`: empty, `{}` or `{"switch_user": false}`
/// for a plain logout; `{"switch_user": true}` for "Cambia utente".
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    #[serde(default)]
    switch_user: bool,
}

impl LogoutRequest {
    fn parse(body: &[u8]) -> Result<Self, AppError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(LogoutRequest::default());
        }
        serde_json::from_slice(body).map_err(|e| {
            AppError::BadRequest(format!(
                "The logout body must be empty, {{}} or {{\"switch_user\": true}}: {e}."
            ))
        })
    }
}

/// `POST /auth/logout` (needs `X-CSRF: 1`; body: see [`LogoutRequest`]):
/// destroys the session first, then revokes its refresh token (waiting a
/// bounded time, see [`logout_revocation_wait`]), and answers
/// `{"end_session_url": ...}` for the console to navigate to:
/// - with a session and a provider end-session endpoint, a same-origin
///   one-time URL `/auth/end-session/{id}` (see [`end_session`]);
/// - with a session and no such endpoint, the post-logout URL itself;
/// - without a session, `null` (plain) or the sign-in URL (switch user).
///
/// The post-logout URL is `{public}/` for a plain logout, and
/// `{public}/auth/login?prompt=login` for a switch of user: the provider's
/// round trip comes back to a sign-in that asks for the password again.
///
/// # Security
/// The ID token never reaches the browser: the end-session URL carrying it
/// as `id_token_hint` (RP-Initiated Logout 1.0 §2) stays in the session
/// store, sealed, for [`END_SESSION_STEP_TTL`], and is handed out once, as
/// the `Location` of a redirect, which page script cannot read.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let request = LogoutRequest::parse(&body)?;
    let post_logout = post_logout_uri(&state, request.switch_user);
    let mut end_session_url = request.switch_user.then(|| post_logout.clone());
    let session = match current_session(&state, &jar).await {
        // Its medical centre was taken off the allow-list: already ended.
        Err(AppError::TenantNotAllowed) => None,
        other => other?,
    };
    if let Some((id, record)) = session {
        state
            .sessions
            .index_remove(&record.user.sub, &id.store_key())
            .await?;
        if let Some(refresh) = &record.tokens.refresh {
            state.revoke_bounded(refresh, "at logout").await;
        }
        end_session_url = Some(end_session_step(&state, &record, &post_logout).await?);
        tracing::info!(switch_user = request.switch_user, "signed out");
    }
    let jar = jar.add(state.cookies.clear_session());
    Ok(no_store(
        (
            jar,
            Json(serde_json::json!({ "end_session_url": end_session_url })),
        )
            .into_response(),
    ))
}

/// Where the provider sends the browser after its end-session step (each
/// must be registered at the provider as a post-logout redirect URI).
pub fn post_logout_uri(state: &AppState, switch_user: bool) -> String {
    if switch_user {
        format!("{}/auth/login?prompt=login", state.public_url)
    } else {
        format!("{}/", state.public_url)
    }
}

/// Stores the provider's end-session URL (with `id_token_hint`, `client_id`,
/// `post_logout_redirect_uri` and `state`) under a one-time id and returns
/// the same-origin URL that redirects to it; without an end-session
/// endpoint (or before discovery), the post-logout URL itself.
async fn end_session_step(
    state: &AppState,
    record: &crate::session::SessionRecord,
    post_logout: &str,
) -> Result<String, AppError> {
    let Some(url) = state.provider().ok().and_then(|p| {
        p.end_session_url(
            record.tokens.id_token.as_ref(),
            &state.config.client_id,
            post_logout,
            &Secret::random(),
        )
    }) else {
        return Ok(post_logout.to_owned());
    };
    let step = Secret::random();
    state
        .sessions
        .put_end_session(
            &step,
            &Secret::new(String::from(url)),
            Utc::now() + to_chrono(END_SESSION_STEP_TTL),
        )
        .await?;
    Ok(format!("/auth/end-session/{}", step.expose()))
}

/// `GET /auth/end-session/{id}`: the one-time step of a logout. Answers 302
/// to the provider's end-session endpoint the first time within
/// [`END_SESSION_STEP_TTL`]; used again, expired, unknown or unreadable, 302
/// to the signed-out home page (the user is signed out here either way).
pub async fn end_session(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(step): axum::extract::Path<String>,
) -> Response {
    let well_formed = step.len() == 43
        && step
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let target = if well_formed {
        match state.sessions.take_end_session(&Secret::new(step)).await {
            Ok(Some(url)) => Some(url),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "reading an end-session step failed");
                None
            }
        }
    } else {
        None
    };
    match target {
        Some(url) => no_store(found(url.expose())),
        None => {
            tracing::info!("an end-session step was used again, expired or unknown");
            no_store(found("/"))
        }
    }
}
