//! Helpers shared by the sandbox's integration tests.

#![allow(dead_code)]

use giponext_sandbox::account::tokens::issue_access_token_for_tests;
use giponext_sandbox::{RunningSandbox, SandboxConfig};
use giponext_shared::{Scope, ScopeSet};

/// A sandbox with the test defaults (in memory, free port), fewer invoices
/// so it starts fast.
pub async fn sandbox() -> RunningSandbox {
    sandbox_with(|_| {}).await
}

/// A sandbox with the test defaults changed by `adjust`.
pub async fn sandbox_with(adjust: impl FnOnce(&mut SandboxConfig)) -> RunningSandbox {
    let mut config = SandboxConfig::for_tests();
    config.seed_invoices = 150;
    adjust(&mut config);
    giponext_sandbox::start(config)
        .await
        .expect("the sandbox starts")
}

/// An access token of `user` for the web client, with `openid` and `scopes`,
/// made without the browser flow (validated normally by the API).
pub fn token(sandbox: &RunningSandbox, user: &str, scopes: &[Scope]) -> String {
    let mut set = ScopeSet::of(scopes);
    set.insert(Scope::OpenId);
    issue_access_token_for_tests(
        sandbox.state(),
        user,
        set,
        giponext_sandbox::clients::WEB_CLIENT_ID,
    )
}

/// An access token with every scope.
pub fn full_token(sandbox: &RunningSandbox, user: &str) -> String {
    issue_access_token_for_tests(
        sandbox.state(),
        user,
        ScopeSet::all(),
        giponext_sandbox::clients::WEB_CLIENT_ID,
    )
}

/// `{api_base}{path}` (`path` starts with `/v2`).
pub fn api_url(sandbox: &RunningSandbox, path: &str) -> String {
    format!(
        "{}{}",
        sandbox.api_base().as_str().trim_end_matches('/'),
        path
    )
}

/// An HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds")
}
