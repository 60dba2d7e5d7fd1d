//! Token revocation (RFC 7009) and end-session (OpenID RP-Initiated
//! Logout 1.0).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::authorize::redirect_to;
use super::client_auth::{Params, authenticate};
use super::errors::OAuthError;
use super::grants::{self, RefreshLookup};
use super::pages;
use super::session;
use super::tokens::{AccessClaims, access_validation, verify_id_token_hint};
use crate::server::SandboxState;

/// `POST /oauth2/revoke`.
///
/// # Security
/// RFC 7009 §2.1: a refresh token revokes its grant, and so its access
/// tokens; an access token revokes its grant too. Only the client the token
/// was issued to can revoke it. Unknown tokens get 200 (§2.2).
pub async fn revoke(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = Params::from_form(&headers, &body)?;
    let client = authenticate(&state, &headers, &params)?;
    let token = params.require("token")?;
    state.stats.record_revocation();
    let hint = params.get("token_type_hint");
    if let Some(h) = hint
        && !matches!(h, "refresh_token" | "access_token")
    {
        return Err(OAuthError::bad_request(
            "unsupported_token_type",
            "token_type_hint must be refresh_token or access_token",
        ));
    }
    let gid = match grants::lookup_refresh_token(&state.db, token)? {
        RefreshLookup::Current(g) | RefreshLookup::Rotated(g) => Some(g),
        RefreshLookup::Unknown => None,
    }
    .filter(|g| g.client_id == client.client_id)
    .map(|g| g.gid)
    .or_else(|| {
        state
            .account
            .key
            .verify::<AccessClaims>(token, &access_validation(&state.issuer, false))
            .ok()
            .filter(|c| c.client_id == client.client_id)
            .map(|c| c.gid)
    });
    if let Some(gid) = gid {
        grants::revoke(&state.db, &gid)?;
    }
    Ok(StatusCode::OK.into_response())
}

/// `GET` or `POST /oauth2/logout`: `id_token_hint`, `client_id`,
/// `post_logout_redirect_uri` (exactly as registered), `state`.
pub async fn logout(
    State(state): State<Arc<SandboxState>>,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: Vec<(String, String)> = Vec::new();
    params.extend(
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    params
        .extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let hint = match get("id_token_hint") {
        Some(token) => match verify_id_token_hint(&state, token) {
            Some(claims) => Some(claims),
            None => {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "id_token_hint non valido",
                );
            }
        },
        None => None,
    };
    let client_id = get("client_id")
        .map(str::to_owned)
        .or_else(|| hint.as_ref().map(|h| h.aud.clone()));
    if let (Some(given), Some(h)) = (get("client_id"), &hint)
        && given != h.aud
    {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id e id_token_hint non corrispondono",
        );
    }
    let redirect = match get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client) = client_id.as_deref().and_then(|id| state.client(id)) else {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "post_logout_redirect_uri richiede id_token_hint o client_id di un'applicazione registrata",
                );
            };
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "post_logout_redirect_uri non è registrato per l'applicazione",
                );
            }
            Some(uri.to_owned())
        }
    };
    let (jar, browser, session) = session::browser(&state, jar);
    session::log_out(&state, &browser);
    if let Some(login) = session.login {
        super::backchannel::notify(&state, &login.sid, &login.sub).await;
    }
    let response = match redirect {
        Some(uri) => {
            let pairs: Vec<(&str, &str)> =
                get("state").map(|s| vec![("state", s)]).unwrap_or_default();
            redirect_to(&uri, &pairs)
        }
        None => pages::logged_out_page(),
    };
    (jar, response).into_response()
}
