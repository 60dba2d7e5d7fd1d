//! The problem+json documents (RFC 9457) of GipoNext's error answers, and the
//! headers every problem response of the backend carries.
//!
//! The backend's error enum renders these cases by calling the functions
//! here, so the fuzzed mapping is the one users get.

use giponext_shared::Scope;
use giponext_shared::features::FeatureId;
use giponext_shared::session::{Problem, ProblemType};

/// The media type of a problem document.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// 403: the token lacks `scope`; the console offers `grant_url`.
pub fn scope_missing(scope: Option<Scope>, feature: Option<FeatureId>, grant_url: &str) -> Problem {
    let detail = match scope {
        Some(s) => format!("This needs the permission {s}; grant it via grant_url."),
        None => "This needs a permission you have not granted.".into(),
    };
    Problem {
        scope,
        feature,
        grant_url: Some(grant_url.to_owned()),
        ..Problem::new(
            ProblemType::ScopeMissing,
            403,
            "Permission not granted",
            detail,
        )
    }
}

/// 403: the user's own GipoNext role forbids it (`message` is GipoNext's).
pub fn permission_denied(message: &str) -> Problem {
    let detail = if message.is_empty() {
        "Your GipoNext user is not allowed to do this; ask your centre's administrator.".into()
    } else {
        message.to_owned()
    };
    Problem::new(
        ProblemType::PermissionDenied,
        403,
        "Not allowed by your GipoNext role",
        detail,
    )
}

/// 429: GipoNext's rate limit, with its `Retry-After` when it gave one.
pub fn rate_limited(retry_after: Option<u64>) -> Problem {
    Problem {
        retry_after,
        ..Problem::new(
            ProblemType::RateLimited,
            429,
            "Too many requests",
            "GipoNext limits requests; retry after the indicated seconds.".into(),
        )
    }
}

/// 502: GipoNext failed or could not be reached (nothing internal shown).
pub fn upstream_unavailable() -> Problem {
    Problem::new(
        ProblemType::UpstreamUnavailable,
        502,
        "GipoNext unavailable",
        "GipoNext answered with an error or could not be reached; retry in a few seconds.".into(),
    )
}

/// 504: GipoNext did not answer in time.
pub fn upstream_timeout() -> Problem {
    Problem::new(
        ProblemType::UpstreamTimeout,
        504,
        "GipoNext did not answer in time",
        "Retry in a few seconds.".into(),
    )
}

/// The headers of a problem response besides its status: the media type,
/// `Cache-Control: no-store` and, for a rate limit, `Retry-After`.
pub fn headers(problem: &Problem) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", CONTENT_TYPE.to_owned()),
        ("cache-control", "no-store".to_owned()),
    ];
    if let Some(seconds) = problem.retry_after {
        headers.push(("retry-after", seconds.to_string()));
    }
    headers
}

/// The body of a problem response.
pub fn body(problem: &Problem) -> Vec<u8> {
    serde_json::to_vec(problem).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_carries_retry_after_in_body_and_header() {
        let p = rate_limited(Some(7));
        assert_eq!(p.status, 429);
        assert_eq!(p.retry_after, Some(7));
        assert!(headers(&p).contains(&("retry-after", "7".to_owned())));
        let v: serde_json::Value = serde_json::from_slice(&body(&p)).expect("the body is JSON");
        assert_eq!(v["type"], "rate_limited");
        assert_eq!(v["retry_after"], 7);
    }

    #[test]
    fn other_problems_have_no_retry_after() {
        for p in [
            upstream_unavailable(),
            upstream_timeout(),
            permission_denied(""),
            scope_missing(
                Some(Scope::Invoices),
                None,
                "/auth/login?scope=giponext.invoices",
            ),
        ] {
            assert!(
                headers(&p).iter().all(|(n, _)| *n != "retry-after"),
                "{p:?}"
            );
            assert!(p.detail.as_deref().is_some_and(|d| !d.is_empty()));
        }
    }
}
