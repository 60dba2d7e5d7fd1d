//! Error responses of the account server's endpoints.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ratelimit::RetryAfter;

/// An RFC 6749 §5.2 error of a back-channel endpoint (token, device
/// authorization, revocation): JSON, `Cache-Control: no-store`.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `Some(seconds)` for 429 (`Retry-After`).
    retry_after: Option<u64>,
    /// Client authentication through the Authorization header failed: the
    /// answer carries `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    basic_challenge: bool,
}

impl OAuthError {
    /// A 400 with `error` and a description.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            retry_after: None,
            basic_challenge: false,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_scope", description)
    }

    /// `unauthorized_client`.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::bad_request("unauthorized_client", description)
    }

    /// 401 `invalid_client`; `basic` when the client tried HTTP Basic.
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            retry_after: None,
            basic_challenge: basic,
        }
    }

    /// 429 `rate_limit_exceeded`, as the platform answers past the limit.
    pub fn rate_limited(retry: RetryAfter) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "rate_limit_exceeded",
            description: "Too many requests for this client_id; retry after the indicated seconds."
                .into(),
            retry_after: Some(retry.header_seconds()),
            basic_challenge: false,
        }
    }

    /// 500 with no internals (they are logged once here).
    pub fn internal(err: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{err:#}"), "account server internal error");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "Internal error of the sandbox.".into(),
            retry_after: None,
            basic_challenge: false,
        }
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        self.error
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(err: anyhow::Error) -> Self {
        OAuthError::internal(err)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = if self.status == StatusCode::TOO_MANY_REQUESTS {
            json!({ "error": self.error, "message": self.description, "error_description": self.description })
        } else {
            json!({ "error": self.error, "error_description": self.description })
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"GipoNext sandbox\""),
            );
        }
        res
    }
}

/// JSON success with `Cache-Control: no-store` (RFC 6749 §5.1).
pub fn no_store_json(value: serde_json::Value) -> Response {
    let mut res = axum::Json(value).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
