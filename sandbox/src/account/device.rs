//! The device authorization endpoint and the verification pages (RFC 8628).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::authorize::check_scopes;
use super::client_auth::{Params, authenticate};
use super::errors::{OAuthError, no_store_json};
use super::flows::{DeviceAuth, DeviceStatus, PendingRequest, RequestKind};
use super::grants::{now, random_token, token_hash};
use super::pages;
use super::session;
use crate::clients::grants::DEVICE_CODE;
use crate::server::SandboxState;

/// Consonants only (RFC 8628 §6.1: no vowels, so no words; no look-alikes).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

fn new_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char);
    }
    code
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1–3.2).
pub async fn device_authorization(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = Params::from_form(&headers, &body)?;
    let client = authenticate(&state, &headers, &params)?;
    if !client.allows_grant(DEVICE_CODE) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let scopes = check_scopes(params.get("scope"), &client)
        .map_err(|(e, d)| OAuthError::bad_request(e, d))?;
    let device_code = random_token();
    let ttl = state.config.device_code_ttl.as_secs() as i64;
    let interval = state.config.device_poll_interval.as_secs().max(1);
    let user_code = {
        let mut flows = state.account.flows();
        flows.prune(now());
        let mut code = new_user_code();
        while flows.device_by_user_code(&code).is_some() {
            code = new_user_code();
        }
        flows.devices.insert(
            token_hash(&device_code),
            DeviceAuth {
                client_id: client.client_id.clone(),
                user_code: code.clone(),
                scopes,
                expires_at: now() + ttl,
                interval,
                last_poll: None,
                status: DeviceStatus::Pending,
            },
        );
        code
    };
    let verification_uri = format!("{}/device", state.issuer);
    let mut complete =
        url::Url::parse(&verification_uri).map_err(|e| OAuthError::internal(e.into()))?;
    complete
        .query_pairs_mut()
        .append_pair("user_code", &user_code);
    Ok(no_store_json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete.as_str(),
        "expires_in": ttl,
        "interval": interval,
    })))
}

/// `?user_code=...`
#[derive(Debug, Deserialize)]
pub struct UserCodeQuery {
    user_code: Option<String>,
}

/// `GET /device`: the code entry form (pre-filled from
/// `verification_uri_complete`; the person still confirms, RFC 8628 §5.4).
pub async fn device_page(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    Query(q): Query<UserCodeQuery>,
) -> Response {
    let (jar, _, session) = session::browser(&state, jar);
    (
        jar,
        pages::device_entry_page(&session.csrf, q.user_code.as_deref().unwrap_or(""), None),
    )
        .into_response()
}

/// `POST /device`: looks the code up and continues to login and consent.
pub async fn device_submit(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (jar, browser, session) = session::browser(&state, jar);
    let user_code = get("user_code").unwrap_or("").trim().to_owned();
    if get("csrf") != Some(session.csrf.as_str()) {
        let page = pages::device_entry_page(
            &session.csrf,
            &user_code,
            Some("Il modulo è scaduto: riprova."),
        );
        return (jar, page).into_response();
    }
    let found = state.account.flows().device_by_user_code(&user_code);
    let (device_key, device) = match found {
        Some((key, d)) if d.expires_at > now() && matches!(d.status, DeviceStatus::Pending) => {
            (key, d)
        }
        _ => {
            let page = pages::device_entry_page(
                &session.csrf,
                &user_code,
                Some("Codice non valido o scaduto. Controlla il codice mostrato dal dispositivo."),
            );
            return (jar, page).into_response();
        }
    };
    let needs_login = session.login.is_none();
    let id = random_token();
    state.account.flows().requests.insert(
        id.clone(),
        PendingRequest {
            browser,
            client_id: device.client_id.clone(),
            scopes: device.scopes,
            needs_login,
            kind: RequestKind::Device { device_key },
            expires_at: device.expires_at,
        },
    );
    let next = if needs_login {
        "/oauth2/login"
    } else {
        "/oauth2/consent"
    };
    (jar, Redirect::to(&format!("{next}?request={id}"))).into_response()
}
