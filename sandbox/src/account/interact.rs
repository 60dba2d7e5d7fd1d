//! The login and consent pages of an authorization or device approval.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use giponext_shared::{Scope, ScopeSet};
use serde::Deserialize;

use super::authorize::{issue_code, redirect_error};
use super::flows::{BrowserSession, DeviceStatus, PendingRequest, RequestKind};
use super::grants::{self, now};
use super::pages::{self, ConsentView};
use super::session;
use crate::server::SandboxState;

/// `?request=...`
#[derive(Debug, Deserialize)]
pub struct RequestRef {
    request: Option<String>,
    /// `switch=1` on the login page: "not you?", log in as someone else.
    switch: Option<String>,
}

fn expired_page() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "la richiesta di accesso è scaduta o non è di questo browser: torna all'applicazione e riprova",
    )
}

/// The pending request `id` if it belongs to `browser` and is still valid.
fn pending(state: &SandboxState, id: Option<&str>, browser: &str) -> Option<PendingRequest> {
    let flows = state.account.flows();
    flows
        .requests
        .get(id?)
        .filter(|r| r.browser == browser && r.expires_at > now())
        .cloned()
}

/// Form fields; repeated names (the `scope` checkboxes) are all kept.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /oauth2/login?request=...`
pub async fn login_form(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    Query(q): Query<RequestRef>,
) -> Response {
    let (jar, browser, session) = session::browser(&state, jar);
    let Some(request) = pending(&state, q.request.as_deref(), &browser) else {
        return (jar, expired_page()).into_response();
    };
    let id = q.request.unwrap_or_default();
    if q.switch.is_some()
        && let Some(r) = state.account.flows().requests.get_mut(&id)
    {
        r.needs_login = true;
    }
    (
        jar,
        pages::login_page(&id, &session.csrf, &request.client_id, None, ""),
    )
        .into_response()
}

/// `POST /oauth2/login`
pub async fn login_submit(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let (jar, browser, session) = session::browser(&state, jar);
    if !session::csrf_ok(&session, field(&pairs, "csrf")) {
        return (jar, forbidden_csrf()).into_response();
    }
    let id = field(&pairs, "request").unwrap_or_default().to_owned();
    let Some(request) = pending(&state, Some(&id), &browser) else {
        return (jar, expired_page()).into_response();
    };
    let username = field(&pairs, "username").unwrap_or_default().trim();
    let password = field(&pairs, "password").unwrap_or_default();
    let Some(user) = crate::users::authenticate(username, password) else {
        return (
            jar,
            pages::login_page(
                &id,
                &session.csrf,
                &request.client_id,
                Some("Nome utente o password errati."),
                username,
            ),
        )
            .into_response();
    };
    session::log_in(&state, &browser, user.sub);
    if let Some(r) = state.account.flows().requests.get_mut(&id) {
        r.needs_login = false;
    }
    (jar, Redirect::to(&format!("/oauth2/consent?request={id}"))).into_response()
}

fn forbidden_csrf() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "invalid_request",
        "il modulo non è valido per questa sessione (token anti-CSRF errato): ricarica la pagina e riprova",
    )
}

/// The logged-in user of a session, unless the request still needs a login.
fn logged_in(session: &BrowserSession, request: &PendingRequest) -> Option<super::flows::Login> {
    session
        .login
        .clone()
        .filter(|l| l.expires_at > now() && !request.needs_login)
}

/// `GET /oauth2/consent?request=...`
pub async fn consent_form(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    Query(q): Query<RequestRef>,
) -> Response {
    let (jar, browser, session) = session::browser(&state, jar);
    let Some(request) = pending(&state, q.request.as_deref(), &browser) else {
        return (jar, expired_page()).into_response();
    };
    let id = q.request.unwrap_or_default();
    let Some(login) = logged_in(&session, &request) else {
        return (jar, Redirect::to(&format!("/oauth2/login?request={id}"))).into_response();
    };
    let user_name = crate::users::by_sub(&login.sub)
        .map(|u| u.name)
        .unwrap_or("?");
    let previously =
        grants::last_consent(&state.db, &login.sub, &request.client_id).unwrap_or(None);
    let user_code = match &request.kind {
        RequestKind::Device { device_key } => state
            .account
            .flows()
            .devices
            .get(device_key)
            .map(|d| d.user_code.clone()),
        RequestKind::Authorize { .. } => None,
    };
    let view = ConsentView {
        request: &id,
        csrf: &session.csrf,
        client_id: &request.client_id,
        user_name,
        username: crate::users::by_sub(&login.sub)
            .map(|u| u.username)
            .unwrap_or("?"),
        requested: request.scopes,
        previously,
        user_code: user_code.as_deref(),
    };
    (jar, pages::consent_page(&view)).into_response()
}

/// `POST /oauth2/consent`: `decision=allow` with the ticked `scope` boxes,
/// or `decision=deny`.
pub async fn consent_submit(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let (jar, browser, session) = session::browser(&state, jar);
    if !session::csrf_ok(&session, field(&pairs, "csrf")) {
        return (jar, forbidden_csrf()).into_response();
    }
    let id = field(&pairs, "request").unwrap_or_default().to_owned();
    let Some(request) = pending(&state, Some(&id), &browser) else {
        return (jar, expired_page()).into_response();
    };
    let Some(login) = logged_in(&session, &request) else {
        return (jar, Redirect::to(&format!("/oauth2/login?request={id}"))).into_response();
    };
    let allow = match field(&pairs, "decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return (
                jar,
                pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "scegli Consenti o Nega",
                ),
            )
                .into_response();
        }
    };
    // What was ticked, limited to what was asked; openid cannot be refused.
    let ticked: ScopeSet = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, v)| Scope::from_wire(v))
        .collect();
    let granted = ticked
        .intersection(request.scopes)
        .union(ScopeSet::of(&[Scope::OpenId]));
    state.account.flows().requests.remove(&id);
    if allow
        && let Err(err) = grants::record_consent(&state.db, &login.sub, &request.client_id, granted)
    {
        tracing::error!(error = %format!("{err:#}"), "storing a consent");
    }
    let response = match &request.kind {
        RequestKind::Authorize {
            redirect_uri,
            state: client_state,
            ..
        } => {
            if allow {
                issue_code(&state, &request, &login, granted)
            } else {
                redirect_error(
                    &state,
                    redirect_uri,
                    "access_denied",
                    "the user denied the request",
                    client_state.as_deref(),
                )
            }
        }
        RequestKind::Device { device_key } => {
            let mut flows = state.account.flows();
            match flows.devices.get_mut(device_key) {
                Some(device)
                    if device.expires_at > now()
                        && matches!(device.status, DeviceStatus::Pending) =>
                {
                    device.status = if allow {
                        DeviceStatus::Approved {
                            sub: login.sub.clone(),
                            scopes: granted,
                            sid: login.sid.clone(),
                            auth_time: login.auth_time,
                        }
                    } else {
                        DeviceStatus::Denied
                    };
                    pages::device_done_page(allow)
                }
                _ => pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "expired_token",
                    "il codice del dispositivo è scaduto o già usato: riavvia l'accesso dal dispositivo",
                ),
            }
        }
    };
    (jar, response).into_response()
}
