//! Starting and stopping the sandbox, and the state its handlers share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::account::AccountState;
use crate::config::{ClientRegistration, SandboxConfig};
use crate::db::Db;
use crate::ratelimit::RateLimiter;

/// What every handler of the sandbox can reach.
pub struct SandboxState {
    /// The configuration it started with.
    pub config: SandboxConfig,
    /// The issuer identifier, e.g. `http://127.0.0.1:8090` (no trailing slash).
    pub issuer: String,
    /// The public base URL (the issuer as a URL).
    pub base_url: Url,
    /// The database.
    pub db: Db,
    /// Registered clients (tests may add more while it runs).
    pub clients: RwLock<Vec<ClientRegistration>>,
    /// The per-client rate limiter (API and token endpoint).
    pub rate_limiter: RateLimiter,
    /// The account server's own state (keys, pending requests, ...).
    pub account: AccountState,
    /// Counters tests assert on.
    pub stats: Stats,
}

impl SandboxState {
    /// The registered client with this id.
    pub fn client(&self, client_id: &str) -> Option<ClientRegistration> {
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
        clients.iter().find(|c| c.client_id == client_id).cloned()
    }
}

/// Counters of what clients did, for tests (e.g. "exactly one refresh").
#[derive(Default)]
pub struct Stats {
    inner: Mutex<StatsInner>,
}

#[derive(Default, Clone)]
struct StatsInner {
    token_requests: HashMap<String, u64>,
    refreshes_by_grant: HashMap<String, u64>,
    revocations: u64,
    pushed_requests: u64,
}

impl Stats {
    fn with<T>(&self, f: impl FnOnce(&mut StatsInner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a token request of `grant_type` (successful or not).
    pub fn record_token_request(&self, grant_type: &str) {
        self.with(|s| *s.token_requests.entry(grant_type.to_owned()).or_default() += 1);
    }

    /// Records a successful refresh of grant `grant_id`.
    pub fn record_refresh(&self, grant_id: &str) {
        self.with(|s| *s.refreshes_by_grant.entry(grant_id.to_owned()).or_default() += 1);
    }

    /// Records a revocation request.
    pub fn record_revocation(&self) {
        self.with(|s| s.revocations += 1);
    }

    /// Records an accepted pushed authorization request (RFC 9126).
    pub fn record_pushed_request(&self) {
        self.with(|s| s.pushed_requests += 1);
    }

    /// Pushed authorization requests accepted.
    pub fn pushed_requests(&self) -> u64 {
        self.with(|s| s.pushed_requests)
    }

    /// Token requests seen for `grant_type`.
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.with(|s| s.token_requests.get(grant_type).copied().unwrap_or(0))
    }

    /// Successful refreshes, all grants together.
    pub fn refreshes(&self) -> u64 {
        self.with(|s| s.refreshes_by_grant.values().sum())
    }

    /// Successful refreshes per grant id.
    pub fn refreshes_by_grant(&self) -> HashMap<String, u64> {
        self.with(|s| s.refreshes_by_grant.clone())
    }

    /// Revocation requests seen.
    pub fn revocations(&self) -> u64 {
        self.with(|s| s.revocations)
    }
}

/// A sandbox running in this process.
pub struct RunningSandbox {
    state: Arc<SandboxState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// The issuer URL (discovery is at `{issuer}/.well-known/openid-configuration`).
    pub fn issuer(&self) -> &Url {
        &self.state.base_url
    }

    /// The API root: API paths are `{api_base}/v2/...`.
    pub fn api_base(&self) -> &Url {
        &self.state.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for test hooks.
    pub fn state(&self) -> &Arc<SandboxState> {
        &self.state
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    /// Registers (or replaces) a client while running.
    pub fn register_client(&self, client: ClientRegistration) {
        let mut clients = self
            .state
            .clients
            .write()
            .unwrap_or_else(|p| p.into_inner());
        clients.retain(|c| c.client_id != client.client_id);
        clients.push(client);
    }

    /// Throws away every API record (patients, appointments, invoices, ...)
    /// and seeds the clinic afresh, as a new store would be seeded today.
    /// Grants, keys and sessions of the account server are kept.
    pub fn reseed(&self) -> anyhow::Result<()> {
        crate::api::reseed(&self.state.db, &self.state.config)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The whole sandbox as one router.
pub fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .merge(crate::account::router())
        .merge(crate::api::router())
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of a request: method and path only. Never the query, which may
/// hold an authorization code, a state or a patient search term.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Opens the store, seeds it if new, binds and starts serving.
pub async fn start(config: SandboxConfig) -> anyhow::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the sandbox to {}", config.listen))?;
    let addr = listener.local_addr()?;
    let base_url = match &config.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{addr}")).context("building the issuer URL")?,
    };
    let issuer = base_url.as_str().trim_end_matches('/').to_owned();
    let db = Db::open(config.data_path.as_deref())?;
    crate::account::migrate(&db)?;
    crate::api::migrate_and_seed(&db, &config)?;
    let account = AccountState::new(&db, &config)?;
    let state = Arc::new(SandboxState {
        rate_limiter: RateLimiter::new(config.rate_limit),
        clients: RwLock::new(config.clients.clone()),
        config,
        issuer,
        base_url,
        db,
        account,
        stats: Stats::default(),
    });
    let app = router(state.clone());
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "sandbox server stopped");
        }
    });
    tracing::info!(issuer = %state.issuer, "GipoNext sandbox listening");
    Ok(RunningSandbox {
        state,
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}
