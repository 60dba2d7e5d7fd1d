//! The backend's one error type, rendered as `application/problem+json`
//! (RFC 9457) with the shared [`Problem`] body.
//!
//! A user's mistake keeps its 4xx and says what to do; an internal failure is
//! a 500 that names nothing internal. Each error is logged once, here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use giponext_bff_core::problem;
use giponext_shared::features::FeatureId;
use giponext_shared::session::{Problem, ProblemType};
use giponext_shared::{Scope, ScopeSet};

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No session.
    #[error("not signed in")]
    Unauthenticated,
    /// The grant is gone.
    #[error("the sign-in has expired")]
    ReauthRequired {
        /// Where to sign in again.
        login_url: String,
    },
    /// The `X-CSRF: 1` header is missing.
    #[error("anti-CSRF header missing")]
    CsrfHeaderMissing,
    /// The path names another tenant.
    #[error("tenant mismatch")]
    TenantMismatch,
    /// The tenant is not allowed on this installation.
    #[error("tenant not allowed")]
    TenantNotAllowed,
    /// Not in the resource table.
    #[error("no such operation: {0}")]
    NotFound(&'static str),
    /// Malformed request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The token lacks a scope.
    #[error("scope missing")]
    ScopeMissing {
        /// The scope.
        scope: Option<Scope>,
        /// The feature that needs it.
        feature: Option<FeatureId>,
        /// Where to grant it.
        grant_url: String,
    },
    /// Scopes outside the registration.
    #[error("scope not registered")]
    ScopeNotRegistered {
        /// The scopes asked for that are not registered.
        scopes: ScopeSet,
        /// The support request text.
        support_request: String,
    },
    /// The user's own GipoNext permission forbids it.
    #[error("permission denied")]
    PermissionDenied(String),
    /// Too many requests.
    #[error("rate limited")]
    RateLimited {
        /// Seconds to wait.
        retry_after: Option<u64>,
    },
    /// Too many sign-ins from one client address.
    #[error("too many sign-in attempts")]
    TooManySignIns {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The request body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge(usize),
    /// The client did not send its request body in time.
    #[error("request body timeout")]
    RequestTimeout,
    /// GipoNext failed or is unreachable.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(String),
    /// GipoNext did not answer in time.
    #[error("upstream timeout")]
    UpstreamTimeout,
    /// The sign-in service (the provider) has not been discovered yet: 503,
    /// retry shortly.
    #[error("sign-in service unavailable: {0}")]
    SignInUnavailable(String),
    /// The session store (Redis) did not answer, even after retries: 503,
    /// retry shortly; the session itself is not lost.
    #[error("session store unavailable: {0}")]
    SessionUnavailable(String),
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// An internal failure from any error (the message is logged, not shown).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (kind, status, title, detail): (ProblemType, StatusCode, &str, String) = match self {
            AppError::Unauthenticated => (
                ProblemType::Unauthenticated,
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "Sign in at /auth/login.".into(),
            ),
            AppError::ReauthRequired { .. } => (
                ProblemType::ReauthRequired,
                StatusCode::UNAUTHORIZED,
                "Sign in again",
                "Access to GipoNext has ended (revoked or expired); sign in again.".into(),
            ),
            AppError::CsrfHeaderMissing => (
                ProblemType::CsrfHeaderMissing,
                StatusCode::FORBIDDEN,
                "Anti-CSRF header missing",
                "Send the header `X-CSRF: 1` with every API call and logout.".into(),
            ),
            AppError::TenantMismatch => (
                ProblemType::TenantMismatch,
                StatusCode::FORBIDDEN,
                "Another medical centre",
                "The path names a tenant other than the one of your session.".into(),
            ),
            AppError::TenantNotAllowed => (
                ProblemType::TenantNotAllowed,
                StatusCode::FORBIDDEN,
                "Medical centre not enabled",
                "Your medical centre is not enabled on this installation of GipoNext Connect; ask your administrator.".into(),
            ),
            AppError::NotFound(what) => (
                ProblemType::NotFound,
                StatusCode::NOT_FOUND,
                "Not found",
                (*what).to_owned(),
            ),
            AppError::BadRequest(what) => (
                ProblemType::BadRequest,
                StatusCode::BAD_REQUEST,
                "Bad request",
                what.clone(),
            ),
            // GipoNext's answers: the pure (fuzzed) mapping of giponext-bff-core.
            AppError::ScopeMissing {
                scope,
                feature,
                grant_url,
            } => return problem::scope_missing(*scope, *feature, grant_url),
            AppError::ScopeNotRegistered { support_request, .. } => (
                ProblemType::ScopeNotRegistered,
                StatusCode::FORBIDDEN,
                "Permission not registered for this application",
                support_request.clone(),
            ),
            AppError::PermissionDenied(message) => return problem::permission_denied(message),
            AppError::RateLimited { retry_after } => return problem::rate_limited(*retry_after),
            AppError::TooManySignIns { .. } => (
                ProblemType::RateLimited,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-in attempts",
                "Too many sign-ins were started from your address; retry after the indicated seconds.".into(),
            ),
            AppError::PayloadTooLarge(max) => (
                ProblemType::BadRequest,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                format!("The request body is larger than {max} bytes."),
            ),
            AppError::RequestTimeout => (
                ProblemType::BadRequest,
                StatusCode::REQUEST_TIMEOUT,
                "Request too slow",
                "The request body did not arrive in time; send it again.".into(),
            ),
            AppError::UpstreamUnavailable(_) => return problem::upstream_unavailable(),
            AppError::UpstreamTimeout => return problem::upstream_timeout(),
            AppError::SignInUnavailable(_) => (
                ProblemType::UpstreamUnavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in service unavailable",
                "The sign-in service could not be reached. Try again in a few seconds.".into(),
            ),
            AppError::SessionUnavailable(_) => (
                ProblemType::SessionUnavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "Session service temporarily unavailable",
                "The session service is temporarily unavailable; retry in a few seconds. You stay signed in.".into(),
            ),
            AppError::Internal(_) => (
                ProblemType::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Something failed on our side; it has been logged.".into(),
            ),
        };
        let mut problem = Problem::new(kind, status.as_u16(), title, detail);
        match self {
            AppError::ReauthRequired { login_url } => problem.login_url = Some(login_url.clone()),
            AppError::Unauthenticated => problem.login_url = Some("/auth/login".into()),
            AppError::ScopeNotRegistered { scopes, .. } => problem.scope = scopes.iter().next(),
            AppError::TooManySignIns { retry_after } => problem.retry_after = Some(*retry_after),
            AppError::SessionUnavailable(_) => problem.retry_after = Some(SESSION_RETRY_AFTER_SECS),
            AppError::SignInUnavailable(_) => problem.retry_after = Some(SIGN_IN_RETRY_AFTER_SECS),
            _ => {}
        }
        problem
    }
}

/// `Retry-After` of a 503 while the session store is unreachable.
pub const SESSION_RETRY_AFTER_SECS: u64 = 2;

/// `Retry-After` of a 503 while the provider is not discovered yet.
pub const SIGN_IN_RETRY_AFTER_SECS: u64 = 5;

/// Renders a problem with `Cache-Control: no-store`.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, problem::body(problem)).into_response();
    for (name, value) in problem::headers(problem) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Internal(message) | AppError::UpstreamUnavailable(message) => {
                tracing::error!(error = %message, "request failed");
            }
            AppError::UpstreamTimeout => tracing::warn!("GipoNext did not answer in time"),
            AppError::SessionUnavailable(message) => {
                tracing::warn!(error = %message, "session store unavailable")
            }
            AppError::SignInUnavailable(message) => {
                tracing::warn!(error = %message, "the sign-in service is not reachable yet")
            }
            other => tracing::info!(error = %other, "request refused"),
        }
        problem_response(&self.problem())
    }
}

impl From<crate::session::SessionError> for AppError {
    /// A store that does not answer (or a lease lost to a sibling) is a
    /// retryable 503; a record that does not open is internal.
    fn from(e: crate::session::SessionError) -> Self {
        use crate::session::SessionError;
        match e {
            SessionError::Store(e) => AppError::SessionUnavailable(e.to_string()),
            SessionError::LeaseLost => AppError::SessionUnavailable(e.to_string()),
            other => AppError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_answers_render_as_the_pure_mapping() {
        use giponext_bff_core::UpstreamProblem as U;
        for u in [
            U::ScopeMissing {
                scope: Some(Scope::Invoices),
                feature: None,
                grant_url: "/auth/login?scope=giponext.invoices&return_to=%2F".into(),
            },
            U::PermissionDenied("Your role cannot do this.".into()),
            U::PermissionDenied(String::new()),
            U::RateLimited {
                retry_after: Some(4),
            },
            U::RateLimited { retry_after: None },
            U::Unavailable { status: 503 },
        ] {
            assert_eq!(AppError::from(u.clone()).problem(), u.problem(), "{u:?}");
        }
        assert_eq!(
            AppError::UpstreamTimeout.problem(),
            problem::upstream_timeout()
        );
    }

    #[tokio::test]
    async fn statuses_and_bodies() {
        let cases: Vec<(AppError, u16, &str)> = vec![
            (AppError::Unauthenticated, 401, "unauthenticated"),
            (
                AppError::ReauthRequired {
                    login_url: "/auth/login".into(),
                },
                401,
                "reauth_required",
            ),
            (AppError::CsrfHeaderMissing, 403, "csrf_header_missing"),
            (AppError::TenantMismatch, 403, "tenant_mismatch"),
            (AppError::NotFound("x"), 404, "not_found"),
            (
                AppError::PermissionDenied(String::new()),
                403,
                "permission_denied",
            ),
            (
                AppError::RateLimited {
                    retry_after: Some(3),
                },
                429,
                "rate_limited",
            ),
            (
                AppError::UpstreamUnavailable("boom".into()),
                502,
                "upstream_unavailable",
            ),
            (AppError::UpstreamTimeout, 504, "upstream_timeout"),
            (
                AppError::SessionUnavailable("redis: refused".into()),
                503,
                "session_unavailable",
            ),
            (
                AppError::Internal("db path /secret".into()),
                500,
                "internal",
            ),
        ];
        for (error, status, kind) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            assert_eq!(response.headers()["cache-control"], "no-store");
            let retry = response.headers().get("retry-after").cloned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["type"], kind);
            assert!(
                !String::from_utf8_lossy(&body).contains("/secret"),
                "no internals"
            );
            if status == 429 {
                assert_eq!(retry.unwrap(), "3");
                assert_eq!(v["retry_after"], 3);
            } else if status == 503 {
                assert_eq!(retry.unwrap(), "2");
                assert!(
                    v["detail"]
                        .as_str()
                        .unwrap()
                        .contains("temporarily unavailable")
                );
            }
        }
    }
}
