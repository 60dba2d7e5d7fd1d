//! `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store answers, the provider has been discovered and its discovery
/// document can be fetched; otherwise 503 with the reason.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let store_ok = state.sessions.store().ping().await.is_ok();
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        state.issuer.trim_end_matches('/')
    );
    let provider = state.provider_cell.get();
    let issuer_ok = match &provider {
        Some(provider) => matches!(
            provider.http().get(&discovery).send().await,
            Ok(r) if r.status().is_success()
        ),
        None => false,
    };
    let status = if store_ok && issuer_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut body = serde_json::json!({ "store": word(store_ok), "issuer": word(issuer_ok) });
    // The cause (addresses, connection errors) goes to the log, not to an
    // unauthenticated endpoint.
    if provider.is_none() {
        body["reason"] =
            "the provider has not been discovered yet (retrying in the background; the log has the error)"
                .into();
    } else if !issuer_ok {
        body["reason"] = "the issuer's discovery document cannot be fetched".into();
    }
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render();
    if let Some(redis) = state.sessions.cluster() {
        text.push_str(&crate::session::redis::render_lock_stats(redis.stats()));
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
