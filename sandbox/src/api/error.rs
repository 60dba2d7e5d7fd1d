//! The API's errors, rendered as the platform documents them: a JSON
//! [`ApiError`] body, the right status, and `WWW-Authenticate` /
//! `Retry-After` where the protocol asks for them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use giponext_shared::Scope;
use giponext_shared::api::{ApiError, FieldError, error_codes};

use crate::ratelimit::RetryAfter;

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// 400: the query or body could not be read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: missing, invalid or expired token (RFC 6750 §3.1).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// 403: the token lacks the operation's scope (RFC 6750 §3.1).
    #[error("insufficient scope: {}", .0.as_str())]
    InsufficientScope(Scope),
    /// 403: the user's GipoNext role does not allow the call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// 404: not found, or not in the token's tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the path exists but not with this method; the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// 409: stale version, overlap, duplicate, already cancelled.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413: the body is larger than the API accepts.
    #[error("body too large")]
    PayloadTooLarge,
    /// 422: well-formed but invalid data, field by field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: over the client's rate limit.
    #[error("rate limited")]
    RateLimited(RetryAfter),
    /// 500: our own fault; the details are logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for ApiFailure {
    fn from(err: rusqlite::Error) -> Self {
        ApiFailure::Internal(err.into())
    }
}

impl ApiFailure {
    /// A 422 with one field error; `code` is one of
    /// [`giponext_shared::api::field_codes`].
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiFailure::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiFailure::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiFailure::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiFailure::InsufficientScope(_) | ApiFailure::PermissionDenied(_) => {
                StatusCode::FORBIDDEN
            }
            ApiFailure::NotFound(_) => StatusCode::NOT_FOUND,
            ApiFailure::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiFailure::Conflict(_) => StatusCode::CONFLICT,
            ApiFailure::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiFailure::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiFailure::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> ApiError {
        let plain = |error: &str, message: String| ApiError {
            error: error.to_owned(),
            message,
            scope: None,
            fields: Vec::new(),
        };
        match self {
            ApiFailure::BadRequest(m) => plain(error_codes::BAD_REQUEST, m.clone()),
            ApiFailure::InvalidToken(m) => plain(error_codes::INVALID_TOKEN, m.clone()),
            ApiFailure::InsufficientScope(scope) => ApiError {
                scope: Some(scope.as_str().to_owned()),
                ..plain(
                    error_codes::INSUFFICIENT_SCOPE,
                    format!(
                        "the access token does not grant the scope {}",
                        scope.as_str()
                    ),
                )
            },
            ApiFailure::PermissionDenied(m) => plain(error_codes::PERMISSION_DENIED, m.clone()),
            ApiFailure::NotFound(m) => plain(error_codes::NOT_FOUND, m.clone()),
            ApiFailure::MethodNotAllowed(_) => plain(
                "method_not_allowed",
                "this API path does not allow the method".into(),
            ),
            ApiFailure::Conflict(m) => plain(error_codes::CONFLICT, m.clone()),
            ApiFailure::PayloadTooLarge => {
                plain("payload_too_large", "the request body is too large".into())
            }
            ApiFailure::Validation(fields) => ApiError {
                fields: fields.clone(),
                ..plain(
                    error_codes::VALIDATION_FAILED,
                    format!(
                        "invalid data: {}",
                        fields
                            .iter()
                            .map(|f| format!("{}: {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            },
            ApiFailure::RateLimited(retry) => plain(
                error_codes::RATE_LIMIT_EXCEEDED,
                format!(
                    "too many requests for this client; retry after {} s",
                    retry.header_seconds()
                ),
            ),
            ApiFailure::Internal(_) => plain(
                "internal_error",
                "an internal error occurred; retry in a few seconds".into(),
            ),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        if let ApiFailure::Internal(err) = &self {
            tracing::error!(error = %format!("{err:#}"), "API request failed");
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiFailure::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiFailure::InsufficientScope(scope) => {
                let value = format!(
                    r#"Bearer error="insufficient_scope", scope="{}""#,
                    scope.as_str()
                );
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiFailure::RateLimited(retry) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry.header_seconds()),
                );
            }
            ApiFailure::MethodNotAllowed(allow) => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}
