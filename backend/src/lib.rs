//! The backend-for-frontend of GipoNext Connect.
//!
//! The browser never holds a token. This backend runs the OAuth 2.0
//! Authorization Code flow (PKCE S256, state, nonce, RFC 9207 `iss`) as a
//! confidential client, keeps the tokens sealed in a server-side session,
//! tells the console which scopes the user granted (`/api/session`) and
//! forwards the console's API calls to GipoNext with the token attached,
//! allowing only the operations of the shared resource table
//! (`/api/giponext/{path}`). It follows RFC 9700 and the BFF pattern of
//! "OAuth 2.0 for Browser-Based Applications".
//!
//! Start it with [`serve`] and a [`Config`]; without `GIPONEXT_ISSUER` it
//! starts the sandbox in-process (cargo feature `embedded-sandbox`, on by
//! default) for development.
//!
//! Modules: [`config`] (settings), [`oidc`] (the provider), [`discovery`]
//! (finding it, retried while it is unreachable), [`session`]
//! (sealed server-side sessions), [`refresh`] (single-flight refresh),
//! [`proxy`] (the guarded API proxy), [`routes`] (auth, session, health,
//! static files), [`error`] (problem+json), [`metrics`], [`cookies`],
//! [`types`] (validated newtypes and secrets), [`upstream`] (the API
//! client), [`listen`] (the server loop with client timeouts),
//! [`client_addr`] (the client's address, through trusted proxies),
//! [`ratelimit`] (the sign-in limit).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client_addr;
pub mod config;
pub mod cookies;
pub mod discovery;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod oidc;
pub mod proxy;
pub mod ratelimit;
pub mod refresh;
pub mod routes;
pub mod session;
mod start;
pub mod types;
pub mod upstream;

pub use config::Config;
pub use error::AppError;
pub use routes::router;
pub use start::{RunningBff, check, check_config, init_tracing, serve, serve_from_env};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cookies::CookiePolicy;
use crate::metrics::Metrics;
use crate::oidc::Provider;
use crate::session::Sessions;

/// What every handler reads: configuration, provider, sessions, metrics.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// `BFF_PUBLIC_URL` (or the bound address), without trailing slash.
    pub public_url: String,
    /// The API root, without trailing slash.
    pub api_base: String,
    /// The issuer identifier.
    pub issuer: String,
    /// The OpenID provider, once discovered (see [`AppState::provider`]).
    pub provider_cell: std::sync::Arc<discovery::ProviderCell>,
    /// The client for GipoNext API calls.
    pub api: upstream::ApiClient,
    /// Sessions.
    pub sessions: Sessions,
    /// Counters.
    pub metrics: Metrics,
    /// Cookie names and attributes.
    pub cookies: CookiePolicy,
    /// Whether this runs against the embedded sandbox.
    pub sandbox: bool,
    /// The per-address sign-in limit.
    pub login_limiter: ratelimit::LoginLimiter,
    refresh_leeway_secs: AtomicU64,
}

impl AppState {
    /// The OpenID provider, or 503 "sign-in service unavailable" while its
    /// discovery has not succeeded yet.
    pub fn provider(&self) -> Result<std::sync::Arc<Provider>, AppError> {
        self.provider_cell.get().ok_or_else(|| {
            AppError::SignInUnavailable(self.provider_cell.reason().unwrap_or_default())
        })
    }

    /// Revokes a refresh token at the provider with this client's
    /// credentials, best effort: a failure (or a provider not yet
    /// discovered) is logged with `when`, never returned, since the caller
    /// goes on ending the session either way.
    pub async fn revoke_quietly(&self, refresh_token: &types::Secret, when: &'static str) {
        let Ok(provider) = self.provider() else {
            return;
        };
        if let Err(e) = provider
            .revoke(
                refresh_token,
                &self.config.client_id,
                &self.config.client_secret,
            )
            .await
        {
            tracing::warn!(error = %e, when, "revoking a refresh token failed");
        }
    }

    /// [`AppState::revoke_quietly`], waiting at most
    /// [`routes::logout_revocation_wait`]: a slower provider finishes in the
    /// background, so a user's request is never held up by it for long.
    pub async fn revoke_bounded(
        self: &std::sync::Arc<Self>,
        refresh_token: &types::Secret,
        when: &'static str,
    ) {
        let revoking = self.clone();
        let refresh = refresh_token.clone();
        let mut revocation = tokio::spawn(async move {
            revoking.revoke_quietly(&refresh, when).await;
        });
        let wait = routes::logout_revocation_wait(self.config.timings.upstream_timeout);
        if tokio::time::timeout(wait, &mut revocation).await.is_err() {
            tracing::info!(
                waited_ms = wait.as_millis() as u64,
                when,
                "the provider is slow to revoke: revocation continues in the background"
            );
        }
    }

    /// The Content-Security-Policy of every response.
    pub fn csp(&self) -> &str {
        self.provider_cell.csp()
    }

    /// Refresh when the access token expires within this.
    pub fn refresh_leeway(&self) -> Duration {
        Duration::from_secs(self.refresh_leeway_secs.load(Ordering::Relaxed))
    }

    /// Changes the refresh leeway at run time (tests use a large one to make
    /// every token "about to expire").
    pub fn set_refresh_leeway(&self, leeway: Duration) {
        self.refresh_leeway_secs
            .store(leeway.as_secs(), Ordering::Relaxed);
    }

    /// The redirect URI registered at the provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.public_url)
    }

    /// `{api_base}{path}`; `path` starts with `/v2/`. The base was parsed
    /// as a URL at start; what is appended is a raw path and query that
    /// hyper already parsed, so an `http::Uri` (no host re-processing) is
    /// enough.
    pub fn api_url(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<axum::http::Uri, axum::http::uri::InvalidUri> {
        let mut url = format!("{}{path}", self.api_base);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        axum::http::Uri::try_from(url)
    }
}
