//! `/api/giponext/{path}`: the guarded API proxy.
//!
//! # Security
//! - Allow-list: the RAW request path (never decoded or normalised) must
//!   match a row of `giponext_shared::operations::OPERATIONS` for the method;
//!   `..`, `%2e%2e`, `%2F` and friends match nothing and get 404.
//! - The `{tenantId}` segment must be the session's tenant.
//! - `X-CSRF: 1` is required (the header cannot be set cross-site without a
//!   CORS preflight, which this backend never approves).
//! - Only the body, `Content-Type` and `Accept` are forwarded; cookies and
//!   other browser headers are not. The token is added here and never
//!   returned.
//! - Responses are `Cache-Control: no-store`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use giponext_bff_core::UpstreamProblem;
use giponext_shared::operations::{Method, NoMatch, Operation, OperationMatch, match_path};

use crate::AppState;
use crate::error::AppError;
use crate::refresh::{fresh_record, reauth, update_session};
use crate::routes::{require_csrf, signed_in};
use crate::types::Secret;
use crate::upstream::{ApiRequest, ApiResponse};

/// The route prefix of the proxy.
pub const PREFIX: &str = "/api/giponext";

/// The proxy handler.
pub async fn forward(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = forward_inner(&state, &jar, &method, &uri, &headers, body).await;
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            if matches!(e, AppError::ScopeMissing { .. }) {
                state.metrics.scope_missing();
            }
            e.into_response()
        }
    };
    state
        .metrics
        .proxy(response.status().as_u16(), started.elapsed());
    let mut response = response;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The operation a raw proxied path and method address, with its path
/// parameters (matched once: the proxy reads the tenant from the same match).
pub fn allowed_operation<'p>(
    method: &HttpMethod,
    raw_path: &'p str,
) -> Result<OperationMatch<'p>, AppError> {
    let path = raw_path
        .strip_prefix(PREFIX)
        .filter(|p| p.starts_with('/'))
        .ok_or(AppError::NotFound("no such API operation"))?;
    let method = Method::from_wire(method.as_str()).ok_or(AppError::NotFound(
        "this API path does not allow the method",
    ))?;
    match_path(method, path).map_err(|e| match e {
        NoMatch::MethodNotAllowed => AppError::NotFound("this API path does not allow the method"),
        NoMatch::UnknownPath => AppError::NotFound("no such API operation"),
    })
}

async fn forward_inner(
    state: &Arc<AppState>,
    jar: &CookieJar,
    method: &HttpMethod,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    require_csrf(headers)?;
    let raw_path = uri.path();
    let matched = allowed_operation(method, raw_path)?;
    let operation = matched.operation;
    let api_path = &raw_path[PREFIX.len()..];
    let (id, record) = signed_in(state, jar).await?;
    if record.reauth_required {
        return Err(reauth());
    }
    if matched
        .tenant_id()
        .is_some_and(|tenant| tenant != record.tenant.id)
    {
        return Err(AppError::TenantMismatch);
    }
    let max = state.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(AppError::PayloadTooLarge(max));
    }
    // A client that never finishes its body is cut off (slowloris).
    let body = tokio::time::timeout(
        state.config.timings.client_timeout,
        axum::body::to_bytes(body, max),
    )
    .await
    .map_err(|_| AppError::RequestTimeout)?
    .map_err(|_| AppError::PayloadTooLarge(max))?;
    let url = state
        .api_url(api_path, uri.query())
        .map_err(|_| AppError::BadRequest("the query string is malformed".into()))?;

    crate::refresh::touch(state, &id, &record).await?;
    // The scopes this call needs: a refreshed (or a sibling's) token that
    // lacks them is never sent; the user is asked for them instead.
    let needs = operation
        .scope
        .map(|s| giponext_shared::ScopeSet::of(&[s]))
        .unwrap_or_default();
    let not_covered = |e| not_covered(e, operation, headers);
    let record = fresh_record(state, &id, record, false, needs)
        .await
        .map_err(not_covered)?;
    let call = Outgoing {
        method,
        uri: &url,
        content_type: headers.get(header::CONTENT_TYPE),
        body: &body,
    };
    let mut upstream = call.send(state, &record.tokens.access).await?;
    if upstream.status == StatusCode::UNAUTHORIZED {
        // The API says the token is no good: refresh once, retry once.
        let record = fresh_record(state, &id, record, true, needs)
            .await
            .map_err(not_covered)?;
        upstream = call.send(state, &record.tokens.access).await?;
        if upstream.status == StatusCode::UNAUTHORIZED {
            return Err(reauth());
        }
    }
    let status = upstream.status;
    if matches!(status.as_u16(), 403 | 429 | 500..=599) {
        let body: &[u8] = if status == StatusCode::FORBIDDEN {
            &upstream.body
        } else {
            &[]
        };
        let return_to = headers.get("x-return-to").and_then(|v| v.to_str().ok());
        let error = upstream_problem(
            status.as_u16(),
            upstream.retry_after.as_deref(),
            body,
            operation,
            return_to,
        )
        .unwrap_or_else(|| AppError::UpstreamUnavailable(format!("GipoNext answered {status}")));
        if let AppError::ScopeMissing {
            scope: Some(scope), ..
        } = &error
        {
            // The token lacks it whatever we thought: keep the session honest.
            let scope = *scope;
            let _ = update_session(state, &id, |r| r.granted.remove(scope)).await;
        }
        return Err(error);
    }
    let mut response = (status, upstream.body).into_response();
    if let Some(ct) = upstream.content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}

/// What an upstream error answer means to the console: the pure mapping of
/// `giponext-bff-core` (fuzzed there), as this backend's error. `None` for a
/// status that is passed through.
pub fn upstream_problem(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    operation: &'static Operation,
    return_to: Option<&str>,
) -> Option<AppError> {
    giponext_bff_core::upstream_problem(status, retry_after, body, operation, return_to)
        .map(AppError::from)
}

/// A token that does not cover the call's scope becomes the same
/// `scope_missing` problem GipoNext's `insufficient_scope` would.
fn not_covered(
    e: crate::refresh::FreshError,
    operation: &'static Operation,
    headers: &HeaderMap,
) -> AppError {
    match e {
        crate::refresh::FreshError::NotCovered(scope) => {
            let return_to = headers.get("x-return-to").and_then(|v| v.to_str().ok());
            UpstreamProblem::scope_missing(operation, Some(scope), return_to).into()
        }
        crate::refresh::FreshError::App(e) => e,
    }
}

/// The API call a proxied request makes (sent again, with a refreshed
/// token, after a 401).
struct Outgoing<'a> {
    method: &'a HttpMethod,
    uri: &'a Uri,
    content_type: Option<&'a HeaderValue>,
    body: &'a Bytes,
}

impl Outgoing<'_> {
    /// Sends the call once with `token`; the whole answer or a clear error.
    async fn send(&self, state: &AppState, token: &Secret) -> Result<ApiResponse, AppError> {
        let writes = *self.method == HttpMethod::POST || *self.method == HttpMethod::PUT;
        let request = ApiRequest {
            method: self.method.clone(),
            uri: self.uri.clone(),
            token,
            content_type: self.content_type.filter(|_| writes).cloned(),
            body: if writes {
                self.body.clone()
            } else {
                Bytes::new()
            },
        };
        Ok(state.api.call(request).await?)
    }
}

pub use giponext_bff_core::grant_url;

impl From<UpstreamProblem> for AppError {
    fn from(p: UpstreamProblem) -> Self {
        match p {
            UpstreamProblem::ScopeMissing {
                scope,
                feature,
                grant_url,
            } => AppError::ScopeMissing {
                scope,
                feature,
                grant_url,
            },
            UpstreamProblem::PermissionDenied(message) => AppError::PermissionDenied(message),
            UpstreamProblem::RateLimited { retry_after } => AppError::RateLimited { retry_after },
            UpstreamProblem::Unavailable { status } => {
                AppError::UpstreamUnavailable(format!("GipoNext answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_on_raw_paths() {
        let get = HttpMethod::GET;
        let ok = |m: &HttpMethod, p: &str| allowed_operation(m, p).map(|o| o.operation.id).ok();
        assert_eq!(
            ok(&get, "/api/giponext/v2/tenants/t1/patients"),
            Some("patients.list")
        );
        assert_eq!(ok(&get, "/api/giponext/v2/userinfo"), Some("userinfo.get"));
        assert_eq!(
            ok(
                &HttpMethod::DELETE,
                "/api/giponext/v2/tenants/t1/appointments/7"
            ),
            Some("appointments.cancel")
        );
        for (method, path) in [
            (&get, "/api/giponext/v2/tenants/t1/patients/../invoices"),
            (&get, "/api/giponext/v2/tenants/t1/patients/%2e%2e"),
            (&get, "/api/giponext/v2/tenants/t1/%2e%2e/t2/patients"),
            (&get, "/api/giponext/v2/tenants/t1/secrets"),
            (&get, "/api/giponextv2/userinfo"),
            (&get, "/api/giponext"),
            (
                &HttpMethod::DELETE,
                "/api/giponext/v2/tenants/t1/patients/1",
            ),
            (&HttpMethod::PATCH, "/api/giponext/v2/tenants/t1/patients/1"),
            (&HttpMethod::POST, "/api/giponext/v2/tenants/t1/invoices/1"),
        ] {
            assert!(ok(method, path).is_none(), "{method} {path}");
        }
    }
}
