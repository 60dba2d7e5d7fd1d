//! The problem+json mapping of GipoNext's error answers: any status, body,
//! `Retry-After` and `X-Return-To` gives a well-formed problem with the
//! right status, never a 500, and a grant URL that stays on this site.
#![no_main]

use giponext_bff_core::{problem, upstream_problem};
use giponext_shared::operations::OPERATIONS;
use giponext_shared::session::Problem;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    retry_after: Option<String>,
    /// Use an `insufficient_scope` body with this scope name.
    scope_body: Option<String>,
    body: Vec<u8>,
    operation: u8,
    return_to: Option<String>,
}

fuzz_target!(|input: Input| {
    let operation = &OPERATIONS[usize::from(input.operation) % OPERATIONS.len()];
    let body = match &input.scope_body {
        Some(scope) => serde_json::to_vec(&serde_json::json!({
            "error": "insufficient_scope", "message": "m", "scope": scope,
        }))
        .expect("json"),
        None => input.body.clone(),
    };
    let Some(error) = upstream_problem(
        input.status,
        input.retry_after.as_deref(),
        &body,
        operation,
        input.return_to.as_deref(),
    ) else {
        assert!(!matches!(input.status, 403 | 429 | 500..=599));
        return;
    };
    let problem = error.problem();
    let expected = match input.status {
        403 => 403,
        429 => 429,
        _ => 502,
    };
    assert_eq!(problem.status, expected, "{problem:?}");
    assert!(!problem.title.is_empty());
    assert!(problem.detail.as_deref().is_some_and(|d| !d.is_empty()));
    if input.status != 429 {
        assert!(problem.retry_after.is_none());
    }
    if let Some(grant) = &problem.grant_url {
        assert!(grant.starts_with("/auth/login?"), "{grant}");
        assert!(!grant.contains("//") && !grant.contains('\\'), "{grant}");
        // The return_to inside decodes to a path that passes validation.
        let url = url::Url::parse("http://bff.example").expect("constant").join(grant);
        let url = url.expect("a grant URL is a valid reference");
        let back = url.query_pairs().find(|(k, _)| k == "return_to");
        let back = back.expect("return_to present").1;
        assert!(giponext_bff_core::ReturnTo::parse(&back).is_ok(), "{back:?}");
    }
    let headers = problem::headers(&problem);
    assert!(headers.contains(&("content-type", problem::CONTENT_TYPE.to_owned())));
    assert!(headers.contains(&("cache-control", "no-store".to_owned())));
    let retry_header = headers.iter().find(|(n, _)| *n == "retry-after");
    assert_eq!(
        retry_header.map(|(_, v)| v.clone()),
        problem.retry_after.map(|s| s.to_string())
    );
    let json = problem::body(&problem);
    let back: Problem = serde_json::from_slice(&json).expect("parses back");
    assert_eq!(back, problem);
});
