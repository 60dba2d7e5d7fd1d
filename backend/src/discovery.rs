//! Finding the provider: discovery at start, retried in the background when
//! the issuer is not reachable yet.
//!
//! A deployment starts the backend and the provider in any order. When the
//! issuer does not answer at start, the backend serves anyway: `/readyz` says
//! not ready (with the reason), a sign-in gets the "sign-in service
//! unavailable" page (503), and discovery is retried with capped backoff
//! until it succeeds. The operator's own mistakes fail fast at start
//! instead: a malformed issuer URL, a discovery document naming another
//! issuer, a provider without PKCE S256 or the code flow, a provider that
//! requires pushed authorization requests when `BFF_PAR=off`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use url::Url;

use crate::oidc::{Provider, ProviderError};
use crate::types::Secret;

/// The first retry waits this long; each next one twice as long.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Retries are never further apart than this.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// What is needed to build our client at the provider.
#[derive(Clone)]
pub struct ClientSettings {
    /// The issuer identifier.
    pub issuer: String,
    /// Our client id.
    pub client_id: String,
    /// Our client secret.
    pub client_secret: Secret,
    /// Our redirect URI.
    pub redirect_uri: Url,
    /// The HTTP client for provider calls.
    pub http: reqwest::Client,
    /// `BFF_PAR`.
    pub par: crate::config::ParSetting,
}

impl ClientSettings {
    /// One discovery attempt and the client built from it.
    pub async fn connect(&self) -> Result<Provider, ProviderError> {
        let metadata = Provider::discover(&self.issuer, &self.http).await?;
        Provider::new(
            metadata,
            &self.client_id,
            &self.client_secret,
            &self.redirect_uri,
            self.http.clone(),
            self.par,
        )
    }
}

struct Ready {
    provider: Arc<Provider>,
    csp: String,
}

/// The provider once discovered, and why it is not (yet) when it is not.
pub struct ProviderCell {
    ready: OnceLock<Ready>,
    waiting_csp: String,
    reason: Mutex<String>,
}

impl ProviderCell {
    fn pending(reason: String) -> Self {
        ProviderCell {
            ready: OnceLock::new(),
            waiting_csp: csp(None),
            reason: Mutex::new(reason),
        }
    }

    /// A cell holding `provider`.
    pub fn ready(provider: Provider) -> Self {
        let cell = Self::pending(String::new());
        cell.set(provider);
        cell
    }

    fn set(&self, provider: Provider) {
        let csp = csp(Some(&provider.authorization_origin()));
        let _ = self.ready.set(Ready {
            provider: Arc::new(provider),
            csp,
        });
    }

    /// The provider, once discovered.
    pub fn get(&self) -> Option<Arc<Provider>> {
        self.ready.get().map(|r| r.provider.clone())
    }

    /// Why the provider is not available (`None` once it is).
    pub fn reason(&self) -> Option<String> {
        if self.ready.get().is_some() {
            return None;
        }
        Some(
            self.reason
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// The Content-Security-Policy: `form-action` allows the provider's
    /// authorization origin once it is known.
    pub fn csp(&self) -> &str {
        self.ready.get().map_or(&self.waiting_csp, |r| &r.csp)
    }
}

/// The Content-Security-Policy of every response.
fn csp(authorization_origin: Option<&str>) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'{}",
        authorization_origin
            .map(|o| format!(" {o}"))
            .unwrap_or_default()
    )
}

/// Discovers the provider. Fails for the operator's mistakes; when the
/// issuer is only unreachable, returns a pending cell and the task that
/// retries discovery (abort it at shutdown).
pub async fn start(
    settings: ClientSettings,
) -> anyhow::Result<(Arc<ProviderCell>, Option<JoinHandle<()>>)> {
    match settings.connect().await {
        Ok(provider) => Ok((Arc::new(ProviderCell::ready(provider)), None)),
        Err(e @ (ProviderError::Misconfigured(_) | ProviderError::Unsuitable(_))) => Err(e.into()),
        Err(ProviderError::Discovery(reason)) => {
            tracing::warn!(
                issuer = %settings.issuer,
                error = %reason,
                "the issuer is not reachable: serving anyway (not ready) and retrying discovery"
            );
            let cell = Arc::new(ProviderCell::pending(reason));
            let task = tokio::spawn(retry(settings, cell.clone()));
            Ok((cell, Some(task)))
        }
    }
}

/// Retries discovery with capped exponential backoff until it succeeds.
async fn retry(settings: ClientSettings, cell: Arc<ProviderCell>) {
    let mut wait = FIRST_RETRY;
    loop {
        tokio::time::sleep(wait).await;
        match settings.connect().await {
            Ok(provider) => {
                cell.set(provider);
                tracing::info!(issuer = %settings.issuer, "the issuer is reachable: ready for sign-ins");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "discovery failed again");
                *cell.reason.lock().unwrap_or_else(|p| p.into_inner()) = e.to_string();
            }
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_names_the_provider_only_once_known() {
        assert!(csp(None).ends_with("form-action 'self'"));
        assert!(csp(Some("https://id.example")).ends_with("form-action 'self' https://id.example"));
        let cell = ProviderCell::pending("down".into());
        assert!(cell.get().is_none());
        assert_eq!(cell.reason().as_deref(), Some("down"));
        assert!(cell.csp().contains("form-action 'self'"));
    }
}
