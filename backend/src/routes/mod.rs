//! The route table and what handlers share: the signed-in session, the
//! anti-CSRF check and the security headers.

mod auth;
pub mod backchannel;
mod callback;
mod health;
mod pages;
pub mod pending;
mod session_info;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum_extra::extract::CookieJar;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeader;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::session::SessionRecord;
use crate::types::SessionId;

pub use auth::{logout_revocation_wait, wants_json};
pub use callback::CallbackParams;

/// The whole backend as one router.
pub fn router(state: Arc<AppState>) -> Router {
    let static_dir = state.config.static_dir.clone();
    // `cargo xtask` writes each bundle asset beside its `.br` and `.gz`
    // (compressed once, at build time, as hard as each format allows); a
    // browser gets the smallest encoding it accepts, and a build without
    // them is served as is.
    let spa = ServeDir::new(&static_dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(true)
        .fallback(ServeFile::new(static_dir.join("index.html")));
    // The same URL answers in several encodings: caches must key on it.
    let spa = SetResponseHeader::appending(
        spa,
        header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route(
            "/auth/login",
            get(auth::login).route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::ratelimit::limit_sign_ins,
            )),
        )
        .route("/auth/callback", get(callback::callback))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/end-session/{step}", get(auth::end_session))
        .route("/api/session", get(session_info::session))
        .route("/api/session/keepalive", post(session_info::keepalive))
        .route("/api/session/remaining", get(session_info::remaining))
        .route("/api/sessions", get(sessions::list))
        .route(
            "/api/sessions/{id}",
            axum::routing::delete(sessions::revoke),
        )
        .route("/auth/logout-everywhere", post(sessions::logout_everywhere))
        .route("/auth/backchannel-logout", post(backchannel::receive))
        .route("/api/giponext/{*path}", any(crate::proxy::forward))
        .route("/api/{*rest}", any(api_not_found))
        .route("/auth/{*rest}", any(api_not_found))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback_service(spa)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // Never the URI: its query may hold a code or a state.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("static", MatchedPath::as_str);
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let client = request
                    .extensions()
                    .get::<ClientAddr>()
                    .map(|c| c.0)
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                tracing::info_span!("request", method = %request.method(), route, request_id, %client)
            }),
        )
        // Before the span is made: its `client` field is this.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::client_addr::resolve_client,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn api_not_found() -> AppError {
    AppError::NotFound("no such endpoint")
}

/// Adds the security headers to every response.
///
/// # Security
/// The CSP allows the WASM bundle (`'wasm-unsafe-eval'`) and nothing inline;
/// `frame-ancestors 'none'` forbids framing (clickjacking); `form-action`
/// allows only this site and the provider; no referrer leaves the site, so a
/// URL never leaks to a third party.
async fn security_headers(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(state.csp()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if state.cookies.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Refuses a request without `X-CSRF: 1`.
pub fn require_csrf(headers: &HeaderMap) -> Result<(), AppError> {
    match headers.get("x-csrf") {
        Some(v) if v.as_bytes() == b"1" => Ok(()),
        _ => Err(AppError::CsrfHeaderMissing),
    }
}

/// The session of the request's cookie, if any. A store that does not
/// answer is a 503 (`session_unavailable`), never a 500.
pub async fn current_session(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<(SessionId, SessionRecord)>, AppError> {
    let Some(id) = session_cookie(state, jar) else {
        return Ok(None);
    };
    match state.sessions.load(&id).await {
        Ok(Some(record)) if !tenant_allowed(state, &record.tenant.id) => {
            // The medical centre left GIPONEXT_ALLOWED_TENANTS (and the
            // backend restarted): the session ends at its next request,
            // with its grant revoked (RFC 7009).
            tracing::info!("ending a session whose medical centre is no longer allowed");
            sessions::end_loaded(
                state,
                &id.store_key(),
                &record,
                "ending a session of a medical centre no longer allowed",
            )
            .await?;
            Err(AppError::TenantNotAllowed)
        }
        Ok(Some(record)) => Ok(Some((id, record))),
        Ok(None) => Ok(None),
        Err(e @ crate::session::SessionError::Store(_)) => Err(e.into()),
        // Sealed with another key (rotated BFF_SESSION_KEY) or damaged: the
        // session is unusable; treat it as absent.
        Err(e) => {
            tracing::warn!(error = %e, "discarding an unreadable session");
            let _ = state.sessions.delete(&id).await;
            Ok(None)
        }
    }
}

/// Whether `GIPONEXT_ALLOWED_TENANTS` (if set) lets the medical centre
/// `tenant` work here.
pub fn tenant_allowed(state: &AppState, tenant: &str) -> bool {
    match &state.config.allowed_tenants {
        None => true,
        Some(allowed) => allowed.iter().any(|a| a.as_str() == tenant),
    }
}

fn session_cookie(state: &AppState, jar: &CookieJar) -> Option<SessionId> {
    jar.get(state.cookies.session)
        .and_then(|c| SessionId::from_cookie(c.value()))
}

/// The signed-in session, or 401 JSON: `unauthenticated`, or
/// `reauth_required` when the cookie names a session the store lost (Redis
/// came back without its data): the user signed in and must do so again.
pub async fn signed_in(
    state: &AppState,
    jar: &CookieJar,
) -> Result<(SessionId, SessionRecord), AppError> {
    if let Some(found) = current_session(state, jar).await? {
        return Ok(found);
    }
    if session_cookie(state, jar).is_some() && state.sessions.lost_data().await? {
        return Err(crate::refresh::reauth());
    }
    Err(AppError::Unauthenticated)
}

/// A `302 Found` to `location` (axum's `Redirect::to` is a 303).
pub fn found(location: &str) -> Response {
    let mut response = axum::http::StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `Cache-Control: no-store` on a response.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
