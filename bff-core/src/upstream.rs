//! What an error answer of GipoNext means to the console.

use giponext_shared::Scope;
use giponext_shared::api::{ApiError, error_codes};
use giponext_shared::features::{FeatureId, feature_for_operation};
use giponext_shared::operations::Operation;
use giponext_shared::session::Problem;

use crate::problem;
use crate::return_to::ReturnTo;

/// An upstream error answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamProblem {
    /// 403 `insufficient_scope`: the token lacks a scope.
    ScopeMissing {
        /// The scope (GipoNext's, or else the operation's).
        scope: Option<Scope>,
        /// The feature that needs it.
        feature: Option<FeatureId>,
        /// `/auth/login?scope=...&return_to=...`.
        grant_url: String,
    },
    /// Any other 403: the user's own GipoNext permission, with its message.
    PermissionDenied(String),
    /// 429, with `Retry-After` in seconds when it was a number.
    RateLimited {
        /// Seconds to wait.
        retry_after: Option<u64>,
    },
    /// 5xx.
    Unavailable {
        /// GipoNext's status (logged, not shown).
        status: u16,
    },
}

impl UpstreamProblem {
    /// The token lacks `scope` (or else the operation's): the grant prompt
    /// for the operation's feature, bringing the user back to `return_to`
    /// (the console's `X-Return-To`, validated, else `/`).
    pub fn scope_missing(
        operation: &'static Operation,
        scope: Option<Scope>,
        return_to: Option<&str>,
    ) -> Self {
        let scope = scope.or(operation.scope);
        let return_to = return_to
            .and_then(|v| ReturnTo::parse(v).ok())
            .unwrap_or_else(ReturnTo::root);
        UpstreamProblem::ScopeMissing {
            scope,
            feature: feature_for_operation(operation.id).map(|f| f.id),
            grant_url: grant_url(scope, &return_to),
        }
    }

    /// The problem document the console gets.
    pub fn problem(&self) -> Problem {
        match self {
            UpstreamProblem::ScopeMissing {
                scope,
                feature,
                grant_url,
            } => problem::scope_missing(*scope, *feature, grant_url),
            UpstreamProblem::PermissionDenied(message) => problem::permission_denied(message),
            UpstreamProblem::RateLimited { retry_after } => problem::rate_limited(*retry_after),
            UpstreamProblem::Unavailable { .. } => problem::upstream_unavailable(),
        }
    }
}

/// What an upstream error answer means: 403 `insufficient_scope` becomes
/// scope_missing with the scope, the feature and a grant URL back to
/// `return_to` (the console's `X-Return-To`, validated, else `/`); any other
/// 403 is the user's own GipoNext permission; 429 keeps `Retry-After`; 5xx
/// is "GipoNext unavailable". `None` for a status that is passed through.
pub fn upstream_problem(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    operation: &'static Operation,
    return_to: Option<&str>,
) -> Option<UpstreamProblem> {
    match status {
        403 => {
            let error = serde_json::from_slice::<ApiError>(body).ok();
            Some(classify_forbidden(operation, error, return_to))
        }
        429 => Some(UpstreamProblem::RateLimited {
            retry_after: retry_after.and_then(|v| v.trim().parse::<u64>().ok()),
        }),
        500..=599 => Some(UpstreamProblem::Unavailable { status }),
        _ => None,
    }
}

/// Tells a missing scope from a missing GipoNext permission.
fn classify_forbidden(
    operation: &'static Operation,
    error: Option<ApiError>,
    return_to: Option<&str>,
) -> UpstreamProblem {
    let Some(error) = error else {
        return UpstreamProblem::PermissionDenied(String::new());
    };
    if error.error == error_codes::INSUFFICIENT_SCOPE {
        let scope = error.scope.as_deref().and_then(Scope::from_wire);
        UpstreamProblem::scope_missing(operation, scope, return_to)
    } else {
        UpstreamProblem::PermissionDenied(error.message)
    }
}

/// `/auth/login?scope=...&return_to=...`.
pub fn grant_url(scope: Option<Scope>, return_to: &ReturnTo) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(scope) = scope {
        query.append_pair("scope", scope.as_str());
    }
    query.append_pair("return_to", return_to.as_str());
    format!("/auth/login?{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use giponext_shared::OPERATIONS;

    fn op(id: &str) -> &'static Operation {
        OPERATIONS
            .iter()
            .find(|o| o.id == id)
            .expect("an operation of the table")
    }

    #[test]
    fn grant_url_encodes() {
        let r = ReturnTo::parse("/invoices?x=1&y=2").expect("a local path");
        assert_eq!(
            grant_url(Some(Scope::Invoices), &r),
            "/auth/login?scope=giponext.invoices&return_to=%2Finvoices%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn forbidden_tells_scope_from_permission() {
        let body = br#"{"error":"insufficient_scope","message":"m","scope":"giponext.invoices"}"#;
        let p = upstream_problem(403, None, body, op("invoices.list"), Some("//evil.example"));
        let Some(UpstreamProblem::ScopeMissing {
            scope, grant_url, ..
        }) = p
        else {
            panic!("{p:?}");
        };
        assert_eq!(scope, Some(Scope::Invoices));
        // A bad X-Return-To falls back to the console's home.
        assert!(grant_url.ends_with("return_to=%2F"), "{grant_url}");
        let body = br#"{"error":"permission_denied","message":"front desk"}"#;
        assert_eq!(
            upstream_problem(403, None, body, op("invoices.list"), None),
            Some(UpstreamProblem::PermissionDenied("front desk".into()))
        );
    }

    #[test]
    fn statuses() {
        let o = op("patients.list");
        let status = |s: u16, retry: Option<&str>| {
            upstream_problem(s, retry, b"", o, None).map(|p| p.problem().status)
        };
        assert_eq!(status(429, Some(" 7 ")), Some(429));
        assert_eq!(
            upstream_problem(429, Some("soon"), b"", o, None),
            Some(UpstreamProblem::RateLimited { retry_after: None })
        );
        assert_eq!(status(500, None), Some(502));
        assert_eq!(status(503, None), Some(502));
        assert_eq!(status(404, None), None);
        assert_eq!(status(200, None), None);
    }
}
