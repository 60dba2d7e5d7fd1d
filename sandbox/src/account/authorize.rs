//! The authorization endpoint (`GET /oauth2/authorize`, code flow only).
//!
//! # Security
//! - `client_id` and the EXACT `redirect_uri` are checked first; if either is
//!   wrong the person sees an error page and is never redirected
//!   (RFC 6749 §4.1.2.1, RFC 9700 §4.1.1).
//! - PKCE with S256 is required; `plain` is refused (RFC 9700 §2.1.1).
//! - Every redirect back carries `iss` (RFC 9207) and the client's `state`.
//! - With `SANDBOX_PAR` on, a pushed `request_uri` (RFC 9126) stands for
//!   the pushed parameters and serves once; with `required`, a request that
//!   was not pushed is refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use giponext_shared::{Scope, ScopeSet};
use url::Url;

use super::flows::{AuthCode, Login, PendingRequest, RequestKind};
use super::grants::{self, now, random_token, token_hash};
use super::pages;
use super::session;
use crate::clients::grants::AUTHORIZATION_CODE;
use crate::config::{ClientRegistration, ParMode};
use crate::server::SandboxState;

/// Query parameters, each at most once.
fn parse_query(raw: Option<&str>) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if v.is_empty() {
            continue;
        }
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(k.to_string());
        }
    }
    Ok(map)
}

/// `redirect_uri` with `pairs` added to its query.
pub fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            Redirect::to(url.as_str()).into_response()
        }
        // Registered URIs are checked at start; this is a misconfiguration.
        Err(_) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect URI registrato non valido",
        ),
    }
}

/// An error sent back to the client (RFC 6749 §4.1.2.1 with RFC 9207 `iss`).
pub fn redirect_error(
    state: &SandboxState,
    redirect_uri: &str,
    error: &str,
    description: &str,
    client_state: Option<&str>,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.issuer));
    redirect_to(redirect_uri, &pairs)
}

/// Checks a requested scope string against the platform and the client's
/// registration; the error is `(error, description)`.
pub fn check_scopes(
    raw: Option<&str>,
    client: &ClientRegistration,
) -> Result<ScopeSet, (&'static str, String)> {
    let raw = raw.ok_or((
        "invalid_scope",
        "scope is required and must include openid".to_owned(),
    ))?;
    let parsed = ScopeSet::parse(raw);
    let scopes = parsed.strict().map_err(|unknown| {
        (
            "invalid_scope",
            format!("{unknown}; known scopes: {}", ScopeSet::all().to_wire()),
        )
    })?;
    if !scopes.contains(Scope::OpenId) {
        return Err((
            "invalid_scope",
            "scope must include openid (required for all clients)".into(),
        ));
    }
    let outside = scopes.difference(client.scopes);
    if !outside.is_empty() {
        return Err((
            "invalid_scope",
            format!(
                "not registered for client {}: {} (changing a client's scopes needs a request to support)",
                client.client_id,
                outside.to_wire()
            ),
        ));
    }
    Ok(scopes)
}

fn is_pkce_challenge(s: &str) -> bool {
    // BASE64URL(SHA-256(verifier)) without padding is 43 characters.
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// With PAR on and a `request_uri` in `q`: the parameters pushed under it
/// (RFC 9126 §4), taken out of the store so it serves once, and `true`.
/// Otherwise `q` itself and `false` (without PAR a `request_uri` is then
/// refused as unsupported).
///
/// # Security
/// A `request_uri` unknown, expired, already used or pushed by another
/// client is an error page: nothing in it can be trusted, not even the
/// redirect URI to send an error to (RFC 9126 §4, §7.3).
fn take_pushed(
    state: &SandboxState,
    q: HashMap<String, String>,
) -> Result<(HashMap<String, String>, bool), Box<Response>> {
    let Some(request_uri) = q.get("request_uri") else {
        return Ok((q, false));
    };
    if state.config.par == ParMode::Off {
        return Ok((q, false));
    }
    let refused = |why: &str| {
        Box::new(pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request_uri",
            why,
        ))
    };
    let Some(client_id) = q.get("client_id") else {
        return Err(refused("manca il parametro client_id"));
    };
    let mut flows = state.account.flows();
    // Only the client that pushed it may use it: another client's attempt
    // does not spend it.
    if flows
        .pushed
        .get(request_uri)
        .is_none_or(|p| &p.client_id != client_id)
    {
        return Err(refused(
            "la richiesta di autorizzazione è sconosciuta, già usata o di un'altra applicazione",
        ));
    }
    let Some(entry) = flows.pushed.remove(request_uri) else {
        return Err(refused("la richiesta di autorizzazione è sconosciuta"));
    };
    if entry.expires_at <= now() {
        return Err(refused("la richiesta di autorizzazione è scaduta"));
    }
    Ok((entry.params, true))
}

/// `GET /oauth2/authorize`, or `POST` with the same parameters as a form
/// body (OpenID Connect Core §3.1.2.1).
pub async fn authorize(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let raw = if body.is_empty() {
        raw
    } else {
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    let q = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(dup) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("il parametro {dup} compare più volte"),
            );
        }
    };
    let (q, pushed) = match take_pushed(&state, q) {
        Ok(resolved) => resolved,
        Err(page) => return *page,
    };
    let get = |k: &str| q.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "manca il parametro client_id",
        );
    };
    let Some(client) = state.client(client_id) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            &format!("l'applicazione {client_id} non è registrata"),
        );
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "manca il parametro redirect_uri",
        );
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "il redirect_uri non corrisponde esattamente a uno di quelli registrati per l'applicazione",
        );
    }
    // From here on, errors go back to the client.
    let client_state = get("state");
    let fail = |error: &str, description: &str| {
        redirect_error(&state, redirect_uri, error, description, client_state)
    };
    if state.config.par == ParMode::Required && !pushed {
        return fail(
            "invalid_request",
            "this provider requires pushed authorization requests (RFC 9126 §5): push the request to the pushed_authorization_request_endpoint and send only client_id and request_uri",
        );
    }
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    match get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    if get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    let scopes = match check_scopes(get("scope"), &client) {
        Ok(s) => s,
        Err((error, description)) => return fail(error, &description),
    };
    let Some(code_challenge) = get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    match get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") | None => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
        Some(_) => {
            return fail(
                "invalid_request",
                "unsupported code_challenge_method; use S256",
            );
        }
    }
    if !is_pkce_challenge(code_challenge) {
        return fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let prompts: Vec<&str> = get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(bad) = prompts
        .iter()
        .find(|p| !matches!(**p, "none" | "login" | "consent" | "select_account"))
    {
        return fail(
            "invalid_request",
            &format!("unsupported prompt value {bad}"),
        );
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    let max_age = match get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            return fail(
                "invalid_request",
                "max_age must be a non-negative number of seconds",
            );
        }
    };
    let (jar, browser, session) = session::browser(&state, jar);
    let login = session
        .login
        .clone()
        .filter(|l| max_age.is_none_or(|age| now() - l.auth_time <= age));
    let needs_login = login.is_none() || prompts.contains(&"login");
    let kind = RequestKind::Authorize {
        redirect_uri: redirect_uri.to_owned(),
        state: client_state.map(str::to_owned),
        nonce: get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    };
    if prompt_none {
        let Some(login) = login else {
            return (jar, fail("login_required", "the user is not logged in")).into_response();
        };
        let previous =
            grants::last_consent(&state.db, &login.sub, &client.client_id).unwrap_or(None);
        if !previous.is_some_and(|p| p.is_superset(scopes)) {
            return (
                jar,
                fail("consent_required", "the user has not granted these scopes"),
            )
                .into_response();
        }
        let request = PendingRequest {
            browser,
            client_id: client.client_id.clone(),
            scopes,
            needs_login: false,
            kind,
            expires_at: now() + 600,
        };
        return (jar, issue_code(&state, &request, &login, scopes)).into_response();
    }
    let id = random_token();
    state.account.flows().requests.insert(
        id.clone(),
        PendingRequest {
            browser,
            client_id: client.client_id.clone(),
            scopes,
            needs_login,
            kind,
            expires_at: now() + 600,
        },
    );
    let next = if needs_login {
        "/oauth2/login"
    } else {
        "/oauth2/consent"
    };
    (jar, Redirect::to(&format!("{next}?request={id}"))).into_response()
}

/// Issues an authorization code for an approved request and redirects back
/// to the client with `code`, `state` and `iss`.
pub fn issue_code(
    state: &SandboxState,
    request: &PendingRequest,
    login: &Login,
    granted: ScopeSet,
) -> Response {
    let RequestKind::Authorize {
        redirect_uri,
        state: client_state,
        nonce,
        code_challenge,
    } = &request.kind
    else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "richiesta non valida",
        );
    };
    let code = random_token();
    state.account.flows().codes.insert(
        token_hash(&code),
        AuthCode {
            client_id: request.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: code_challenge.clone(),
            nonce: nonce.clone(),
            sub: login.sub.clone(),
            scopes: granted,
            sid: login.sid.clone(),
            auth_time: login.auth_time,
            expires_at: now() + state.config.auth_code_ttl.as_secs() as i64,
            exchanged_grant: None,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.issuer));
    redirect_to(redirect_uri, &pairs)
}
