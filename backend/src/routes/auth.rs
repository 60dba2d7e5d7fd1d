//! `/auth/login`, `/auth/callback`, `/auth/logout`.
//!
//! # Security
//! - Login state (state, PKCE verifier, nonce, requested scopes, return_to)
//!   is kept server-side, one-time, for `login_ttl` (10 min), under a random
//!   id in the Lax `gx_login` cookie scoped to `/auth` (RFC 9700 §2.1,
//!   §4.7): a callback without that cookie, with another state, or replayed
//!   after use fails.
//! - The callback checks RFC 9207 `iss` before anything else is done with
//!   the response, and validates the ID token (signature, iss, aud, exp,
//!   nonce) before a session exists.
//! - The session id is rotated at every sign-in (no session fixation).
//! - `return_to` is a validated local path ([`ReturnTo`]): no open redirect
//!   (RFC 9700 §4.11).

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chrono::Utc;
use giponext_shared::api::{TenantRef, UserInfo};
use giponext_shared::features::essential_scopes;
use giponext_shared::session::SessionUser;
use giponext_shared::{Scope, ScopeSet};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::metrics::{ConsentOutcome, LoginOutcome};
use crate::oidc::OidcError;
use crate::routes::pages::page;
use crate::routes::{current_session, found, no_store, require_csrf};
use crate::session::{LoginState, SessionRecord, Tokens, to_chrono};
use crate::types::{ReturnTo, Secret, SessionId};

/// Whether the client asked for JSON (a `fetch`) rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") || v.contains("application/problem+json"))
}

/// An error for a browser navigation: a page, or problem+json for `fetch`.
fn refuse(headers: &HeaderMap, error: AppError, title: &str, detail: &str) -> Response {
    if wants_json(headers) {
        return error.into_response();
    }
    tracing::info!(error = %error, "sign-in refused");
    let status = StatusCode::from_u16(error.problem().status).unwrap_or(StatusCode::BAD_REQUEST);
    page(status, title, &[detail], None)
}

#[derive(Deserialize)]
struct LoginParams {
    scope: Option<String>,
    return_to: Option<String>,
}

/// `GET /auth/login?scope=<extra scopes>&return_to=<local path>`.
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
        Err(e) => return e.into_response(),
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

    let request = state.provider.authorization_request(requested);
    let login_id = Secret::random();
    let ttl = state.config.timings.login_ttl;
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
        return AppError::from(e).into_response();
    }
    let jar = jar.add(
        state
            .cookies
            .login_cookie(login_id.expose(), ttl.as_secs() as i64),
    );
    tracing::info!(requested = %requested, incremental = %incremental, "sign-in started");
    no_store((jar, found(request.url.as_str())).into_response())
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

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: the provider's redirect back.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // Whatever happens, the pre-login cookie is spent.
    let login_id = jar.get(state.cookies.login).map(|c| Secret::new(c.value()));
    let jar = jar.add(state.cookies.clear_login());
    let outcome = callback_inner(&state, &jar, &headers, query.as_deref(), login_id).await;
    let response = match outcome {
        Ok((jar, response)) => (jar, response).into_response(),
        Err(response) => {
            state.metrics.login(LoginOutcome::Rejected);
            (jar, response).into_response()
        }
    };
    no_store(response)
}

async fn callback_inner(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    query: Option<&str>,
    login_id: Option<Secret>,
) -> Result<(CookieJar, Response), Response> {
    let bad = |title: &str, detail: &str| {
        refuse(
            headers,
            AppError::BadRequest(detail.to_owned()),
            title,
            detail,
        )
    };
    let params: CallbackParams = serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| {
        bad(
            "Sign-in failed",
            "The answer from the sign-in service is malformed.",
        )
    })?;
    let restart = "Start again from GipoNext Connect's sign-in.";
    let Some(login_id) = login_id else {
        return Err(bad(
            "Sign-in expired",
            &format!(
                "This sign-in was not started in this browser or took longer than 10 minutes. {restart}"
            ),
        ));
    };
    let login = state
        .sessions
        .take_login(&login_id)
        .await
        .map_err(|e| AppError::from(e).into_response())?
        .ok_or_else(|| {
            bad(
                "Sign-in expired",
                &format!("This sign-in has already been completed or has expired. {restart}"),
            )
        })?;
    if !params
        .state
        .as_deref()
        .is_some_and(|s| login.state.matches(s))
    {
        return Err(bad(
            "Sign-in failed",
            &format!(
                "The answer does not belong to the sign-in started here (state mismatch). {restart}"
            ),
        ));
    }
    state
        .provider
        .check_response_issuer(params.iss.as_deref())
        .map_err(|detail| bad("Sign-in failed", &format!("{detail}. {restart}")))?;
    let existing = current_session(state, jar)
        .await
        .map_err(IntoResponse::into_response)?;

    if let Some(error) = params.error {
        return provider_error(state, jar, &login, existing, &error).await;
    }
    let Some(code) = params.code else {
        return Err(bad(
            "Sign-in failed",
            "The answer has neither a code nor an error.",
        ));
    };

    let grant = match state
        .provider
        .exchange_code(&code, &login.pkce_verifier, &login.nonce)
        .await
    {
        Ok(g) => g,
        Err(OidcError::Unreachable(e)) => {
            return Err(refuse(
                headers,
                AppError::UpstreamUnavailable(e),
                "Sign-in service unavailable",
                "The sign-in service could not be reached. Try again in a few seconds.",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "code exchange or ID token validation failed");
            return Err(bad(
                "Sign-in failed",
                &format!("The sign-in could not be verified. {restart}"),
            ));
        }
    };
    let granted = grant
        .scope
        .as_ref()
        .map(|s| s.known)
        .unwrap_or(login.requested)
        .union(ScopeSet::of(&[Scope::OpenId]));

    let userinfo = fetch_userinfo(state, &grant.access).await.map_err(|e| {
        refuse(
            headers,
            e,
            "GipoNext unavailable",
            "Your GipoNext profile could not be read. Try again in a few seconds.",
        )
    })?;
    let Some(tenant) = choose_tenant(state, &userinfo.tenants) else {
        if let Some(refresh) = &grant.refresh {
            let _ = state
                .provider
                .revoke(
                    refresh,
                    &state.config.client_id,
                    &state.config.client_secret,
                )
                .await;
        }
        return Err(refuse(
            headers,
            AppError::TenantNotAllowed,
            "Medical centre not enabled",
            "Your medical centre is not enabled on this installation of GipoNext Connect. Ask your administrator.",
        ));
    };

    let now = Utc::now();
    let sub = grant
        .subject
        .clone()
        .unwrap_or_else(|| userinfo.sub.clone());
    let carried = existing
        .as_ref()
        .filter(|(_, r)| r.user.sub == sub)
        .map(|(_, r)| r.declined.clone())
        .unwrap_or_default();
    let mut record = SessionRecord {
        user: SessionUser {
            sub,
            name: userinfo.name.clone(),
            email: userinfo.email.clone(),
        },
        tenant,
        granted,
        declined: carried,
        tokens: Tokens {
            access: grant.access,
            access_expires_at: now
                + to_chrono(grant.expires_in.unwrap_or(state.config.timings.session_max)),
            refresh: grant.refresh,
            id_token: grant.id_token,
        },
        reauth_required: false,
        created_at: now,
        last_seen_at: now,
    };
    let refused = login.requested.difference(granted);
    record.record_consent(refused, now);
    state.metrics.consent(if refused.is_empty() {
        ConsentOutcome::Full
    } else {
        ConsentOutcome::Partial
    });

    // Rotate: a new id for the signed-in session; the old one is destroyed.
    if let Some((old, _)) = &existing {
        state
            .sessions
            .delete(old)
            .await
            .map_err(|e| AppError::from(e).into_response())?;
    }
    let id = SessionId::generate();
    let expires_at = record.expires_at(&state.config.timings);
    state
        .sessions
        .save(&id, &record, expires_at)
        .await
        .map_err(|e| AppError::from(e).into_response())?;
    state.metrics.login(LoginOutcome::Success);
    tracing::info!(granted = %record.granted, refused = %refused, "signed in");
    let jar = jar
        .clone()
        .add(state.cookies.session_cookie(id.cookie_value()));
    Ok((jar, found(login.return_to.as_str())))
}

/// The provider answered with an error (e.g. the user refused consent):
/// nothing changes but the record of what was declined; the user lands on
/// the app.
async fn provider_error(
    state: &AppState,
    jar: &CookieJar,
    login: &LoginState,
    existing: Option<(SessionId, SessionRecord)>,
    error: &str,
) -> Result<(CookieJar, Response), Response> {
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .take(40)
        .collect();
    state.metrics.login(LoginOutcome::ProviderError);
    if code == "access_denied" {
        state.metrics.consent(ConsentOutcome::Denied);
    }
    tracing::info!(error = %code, "the provider returned an error");
    match existing {
        Some((id, record)) if !record.reauth_required => {
            if code == "access_denied" && !login.incremental.is_empty() {
                let refused = login.incremental;
                crate::refresh::update_session(state, &id, |r| {
                    r.record_consent(refused, Utc::now())
                })
                .await
                .map_err(IntoResponse::into_response)?;
            }
            Ok((jar.clone(), found(login.return_to.as_str())))
        }
        _ => Ok((jar.clone(), found(&format!("/signin?error={code}")))),
    }
}

async fn fetch_userinfo(state: &AppState, access: &Secret) -> Result<UserInfo, AppError> {
    let url = state
        .api_url("/v2/userinfo", None)
        .map_err(AppError::internal)?;
    let response = state
        .api_http
        .get(url)
        .bearer_auth(access.expose())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                AppError::UpstreamTimeout
            } else {
                AppError::UpstreamUnavailable(format!(
                    "userinfo: {}",
                    crate::oidc::error_chain(&e.without_url())
                ))
            }
        })?;
    if !response.status().is_success() {
        return Err(AppError::UpstreamUnavailable(format!(
            "userinfo answered {}",
            response.status()
        )));
    }
    response.json::<UserInfo>().await.map_err(|e| {
        AppError::UpstreamUnavailable(format!("userinfo is malformed: {}", e.without_url()))
    })
}

/// The tenant to work in: the first of the user's tenants that the
/// allow-list permits (any, without an allow-list).
fn choose_tenant(state: &AppState, tenants: &[TenantRef]) -> Option<TenantRef> {
    tenants
        .iter()
        .filter(|t| giponext_shared::operations::is_valid_param(&t.id))
        .find(|t| match &state.config.allowed_tenants {
            None => true,
            Some(allowed) => allowed.iter().any(|a| a.as_str() == t.id),
        })
        .cloned()
}

/// `POST /auth/logout` (needs `X-CSRF: 1`): revokes the refresh token,
/// destroys the session, and answers with the provider's end-session URL.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let mut end_session_url = None;
    if let Some((id, record)) = current_session(&state, &jar).await? {
        if let Some(refresh) = &record.tokens.refresh {
            if let Err(e) = state
                .provider
                .revoke(
                    refresh,
                    &state.config.client_id,
                    &state.config.client_secret,
                )
                .await
            {
                tracing::warn!(error = %e, "revoking the refresh token at logout failed");
            }
        }
        state.sessions.delete(&id).await?;
        end_session_url = state
            .provider
            .end_session_url(
                record.tokens.id_token.as_ref(),
                &state.config.client_id,
                &format!("{}/", state.public_url),
            )
            .map(|u| u.to_string());
        tracing::info!("signed out");
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
