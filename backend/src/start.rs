//! Start-up: bind, find the provider (or start the embedded sandbox), open
//! the session store, serve; and `check-config`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::config::{Config, StoreLocation, Upstream};
use crate::cookies::CookiePolicy;
use crate::discovery::ClientSettings;
use crate::metrics::Metrics;
use crate::oidc::Provider;
use crate::session::{
    CachedStore, RedisStore, SessionKey, SessionStore, Sessions, SqliteStore, cached,
};

/// A backend running in this process.
pub struct RunningBff {
    addr: SocketAddr,
    url: String,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    #[cfg(feature = "embedded-sandbox")]
    sandbox: Option<giponext_sandbox::RunningSandbox>,
    /// The exclusive lock on a SQLite store's lock file, held while this
    /// backend lives (dropping the file releases it).
    _store_lock: Option<std::fs::File>,
}

impl RunningBff {
    /// The public base URL, without trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests read metrics and tune the refresh leeway).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Test hook: marks the access token of the session with this cookie
    /// value as expired now, so the next API call refreshes. Returns whether
    /// the session exists.
    pub async fn expire_access_token(&self, session_cookie: &str) -> bool {
        let Some(id) = crate::types::SessionId::from_cookie(session_cookie) else {
            return false;
        };
        let now = chrono::Utc::now();
        matches!(
            crate::refresh::update_session(&self.state, &id, |r| r.tokens.access_expires_at = now)
                .await,
            Ok(Some(_))
        )
    }

    /// The embedded sandbox, when `GIPONEXT_ISSUER` was unset.
    #[cfg(feature = "embedded-sandbox")]
    pub fn sandbox(&self) -> Option<&giponext_sandbox::RunningSandbox> {
        self.sandbox.as_ref()
    }

    /// Stops serving and waits for the server (and embedded sandbox) to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        #[cfg(feature = "embedded-sandbox")]
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.shutdown().await;
        }
    }

    /// Serves until Ctrl-C / SIGTERM, then shuts down.
    pub async fn run_until_signal(self) {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler at start-up");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

impl Drop for RunningBff {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Sets up `tracing` (env filter `RUST_LOG`, default `info`; JSON lines when
/// `BFF_LOG_FORMAT=json`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only on a terminal: a log file or collector gets plain
    // text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if std::env::var("BFF_LOG_FORMAT").as_deref() == Ok("json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// `giponext-bff serve`: the backend configured from the environment, until
/// SIGINT/SIGTERM. Exit code 2 for a configuration error, 1 when it cannot
/// start.
pub async fn serve_from_env() -> std::process::ExitCode {
    init_tracing();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    match serve(config).await {
        Ok(running) => {
            running.run_until_signal().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("giponext-bff: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Binds, connects to the provider and serves in the background.
pub async fn serve(config: Config) -> anyhow::Result<RunningBff> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("BFF_LISTEN: cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Before anything else: a second process on the same SQLite file stops here.
    let store_lock = match &config.session_store {
        StoreLocation::File(path) => Some(lock_sqlite_store(path)?),
        _ => None,
    };
    let public_url = match &config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    let https = public_url.starts_with("https://");
    let provider_http = Provider::http_client(config.timings.upstream_timeout);

    let (issuer, api_base, embedded) = match &config.upstream {
        Upstream::External { issuer, api_base } => (
            {
                // A `Config` built in code gets the same TLS rule as one
                // read from the environment.
                crate::config::check_upstream_url(issuer)
                    .map_err(|e| anyhow::anyhow!("GIPONEXT_ISSUER: {e}"))?;
                crate::config::check_upstream_url(api_base.as_str())
                    .map_err(|e| anyhow::anyhow!("GIPONEXT_API_BASE: {e}"))?;
                issuer.clone()
            },
            api_base.as_str().trim_end_matches('/').to_owned(),
            None,
        ),
        Upstream::Embedded => start_embedded_sandbox(&config, &public_url).await?,
    };
    let sandbox = embedded.is_some();

    let redirect_uri = url::Url::parse(&format!("{public_url}/auth/callback"))?;
    let (provider_cell, discovery) = crate::discovery::start(ClientSettings {
        issuer: issuer.clone(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        redirect_uri,
        http: provider_http,
        par: config.par,
    })
    .await?;

    let key = session_key(&config)?;
    let sessions = match &config.session_store {
        // One instance writes a SQLite store: its sessions are read from
        // memory (`CachedStore`); Redis is shared, so never cached.
        StoreLocation::Memory => Sessions::new(cached_sqlite(SqliteStore::in_memory()?), &key),
        StoreLocation::File(path) => Sessions::new(cached_sqlite(SqliteStore::open(path)?), &key),
        StoreLocation::Redis(url) => Sessions::clustered(
            RedisStore::connect_with(&redis_settings(url, &config)?)
                .await
                .context("BFF_SESSION_STORE: cannot connect to Redis")?
                .with_lease(config.timings.refresh_lease),
            &key,
        ),
    };
    let store: Arc<dyn SessionStore> = sessions.store().clone();
    let api_uri = axum::http::Uri::try_from(format!("{api_base}/"))
        .context("the API base URL is not a valid URI")?;
    let api = crate::upstream::ApiClient::new(&api_uri, config.timings.upstream_timeout)?;
    if api.via_proxy() {
        tracing::info!("GipoNext API calls go through the configured outbound proxy");
    }

    let state = Arc::new(AppState {
        public_url: public_url.clone(),
        api_base,
        issuer,
        provider_cell,
        api,
        sessions,
        metrics: Metrics::default(),
        cookies: CookiePolicy::for_https(https),
        sandbox,
        refresh_leeway_secs: AtomicU64::new(config.timings.refresh_leeway.as_secs()),
        login_limiter: crate::ratelimit::LoginLimiter::new(config.login_rate_per_minute),
        config,
    });

    let cleanup_every = state.config.timings.cleanup_interval;
    let purging = state.clone();
    let cleanup = tokio::spawn(async move {
        let mut tick = tokio::time::interval(cleanup_every);
        loop {
            tick.tick().await;
            // Expired sessions first, one by one: their grants are revoked
            // and their index entries removed; then every other expired record.
            crate::routes::sessions::purge_expired(&purging).await;
            match store.purge_expired(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired sessions removed"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
        }
    });

    let app = crate::routes::router(state.clone());
    let client_timeout = state.config.timings.client_timeout;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        crate::listen::serve(listener, app, client_timeout, async {
            let _ = rx.await;
        })
        .await;
        cleanup.abort();
        if let Some(discovery) = discovery {
            discovery.abort();
        }
    });
    tracing::info!(%addr, url = %public_url, sandbox, "giponext-bff listening");
    Ok(RunningBff {
        addr,
        url: public_url,
        state,
        shutdown: Some(tx),
        task: Some(task),
        #[cfg(feature = "embedded-sandbox")]
        sandbox: embedded,
        _store_lock: store_lock,
    })
}

#[cfg(feature = "embedded-sandbox")]
type Embedded = giponext_sandbox::RunningSandbox;
#[cfg(not(feature = "embedded-sandbox"))]
type Embedded = std::convert::Infallible;

#[cfg(not(feature = "embedded-sandbox"))]
async fn start_embedded_sandbox(
    _config: &Config,
    _public_url: &str,
) -> anyhow::Result<(String, String, Option<Embedded>)> {
    anyhow::bail!(
        "GIPONEXT_ISSUER is not set and this build has no embedded sandbox; set GIPONEXT_ISSUER"
    )
}

/// Starts the sandbox in-process and registers this backend as a client
/// with its exact redirect URI.
#[cfg(feature = "embedded-sandbox")]
async fn start_embedded_sandbox(
    config: &Config,
    public_url: &str,
) -> anyhow::Result<(String, String, Option<Embedded>)> {
    use giponext_sandbox::clients::grants;
    let mut sandbox_config = if config.public_url.is_none() {
        giponext_sandbox::SandboxConfig::for_tests()
    } else {
        giponext_sandbox::SandboxConfig::from_env()?
    };
    if config.public_url.is_some() {
        // In-process by default: a free port and memory, unless told otherwise.
        if std::env::var_os("SANDBOX_DATA").is_none() {
            sandbox_config.data_path = None;
        }
        if std::env::var_os("SANDBOX_LISTEN").is_none() {
            sandbox_config.listen.set_port(0);
        }
    }
    let sandbox = giponext_sandbox::start(sandbox_config).await?;
    sandbox.register_client(giponext_sandbox::ClientRegistration {
        client_id: config.client_id.clone(),
        client_secret: Some(config.client_secret.expose().to_owned()),
        grant_types: vec![
            grants::AUTHORIZATION_CODE.into(),
            grants::REFRESH_TOKEN.into(),
        ],
        redirect_uris: vec![format!("{public_url}/auth/callback")],
        // Plain logout, and "Cambia utente" (back to a sign-in that asks
        // for the password again).
        post_logout_redirect_uris: vec![
            format!("{public_url}/"),
            format!("{public_url}/auth/login?prompt=login"),
        ],
        scopes: config.registered_scopes.set(),
        backchannel_logout_uri: None,
    });
    tracing::warn!(
        issuer = %sandbox.issuer(),
        "GIPONEXT_ISSUER is not set: running against the EMBEDDED SANDBOX with fake data. \
         Never use this in production; set GIPONEXT_ISSUER and the client settings."
    );
    let issuer = sandbox.state().issuer.clone();
    let api_base = sandbox.api_base().as_str().trim_end_matches('/').to_owned();
    Ok((issuer, api_base, Some(sandbox)))
}

/// The SQLite store behind the write-through cache.
fn cached_sqlite(store: SqliteStore) -> Arc<dyn SessionStore> {
    Arc::new(CachedStore::new(store, cached::DEFAULT_CAPACITY))
}

/// The lock file of a SQLite session store: `{store}.lock`.
pub fn store_lock_path(store: &Path) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    std::path::PathBuf::from(name)
}

/// Takes the exclusive advisory lock next to a SQLite store, or fails: the
/// write-through cache ([`CachedStore`]) is only correct while one process
/// writes the file.
fn lock_sqlite_store(path: &Path) -> anyhow::Result<std::fs::File> {
    let lock_path = store_lock_path(path);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("BFF_SESSION_STORE: creating {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("BFF_SESSION_STORE: opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "BFF_SESSION_STORE: the SQLite session store {} is in use by another giponext-bff \
             (lock {}); use Redis for several instances",
            path.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(anyhow::Error::new(e).context(format!(
            "BFF_SESSION_STORE: locking {}",
            lock_path.display()
        ))),
    }
}

/// The configured key, or in development a generated one: kept in a file
/// next to the store (mode 0600) so sessions survive a restart, or only in
/// memory for an in-memory store.
fn session_key(config: &Config) -> anyhow::Result<SessionKey> {
    if let Some(key) = &config.session_key {
        return Ok(key.clone());
    }
    let path = match &config.session_store {
        StoreLocation::Memory => return Ok(SessionKey::generate()),
        StoreLocation::Redis(_) => anyhow::bail!(
            "BFF_SESSION_KEY must be set with a Redis store: every instance needs the same key"
        ),
        StoreLocation::File(path) => path.with_extension("key"),
    };
    load_or_create_dev_key(&path)
}

fn load_or_create_dev_key(path: &Path) -> anyhow::Result<SessionKey> {
    if let Ok(bytes) = std::fs::read(path) {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key; delete it", path.display()))?;
        tracing::warn!(path = %path.display(), "BFF_SESSION_KEY is not set: using the development key file");
        return Ok(SessionKey::from_bytes(bytes));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key = SessionKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the development key {}", path.display()))?;
    std::io::Write::write_all(&mut file, key.bytes())?;
    tracing::warn!(
        path = %path.display(),
        "BFF_SESSION_KEY is not set: generated a development key (mode 0600); set BFF_SESSION_KEY in production"
    );
    Ok(key)
}

/// The Redis connection settings of `BFF_SESSION_STORE` and
/// `BFF_REDIS_CA_FILE` (the error never repeats the URL: it may hold a
/// password).
fn redis_settings(
    url: &crate::config::RedisUrl,
    config: &Config,
) -> anyhow::Result<crate::session::RedisSettings> {
    let target = crate::session::RedisTarget::parse(&url.0)
        .map_err(|e| anyhow::anyhow!("BFF_SESSION_STORE: {e}"))?;
    Ok(crate::session::RedisSettings {
        target,
        ca_file: config.redis_ca_file.clone(),
    })
}

/// Validates the configuration from the environment and the provider;
/// returns every problem, each naming its variable.
pub async fn check_config() -> Vec<String> {
    match Config::from_env() {
        Ok(config) => check(&config).await,
        Err(errors) => errors.0.iter().map(|p| p.to_string()).collect(),
    }
}

/// Checks a parsed configuration against its provider: reachable, S256,
/// code flow, token endpoint, registered scopes offered, PAR when required.
pub async fn check(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if let StoreLocation::Redis(url) = &config.session_store {
        match redis_settings(url, config) {
            Err(e) => problems.push(e.to_string()),
            Ok(settings) => {
                if let Err(e) = RedisStore::connect_with(&settings).await {
                    problems.push(format!("BFF_SESSION_STORE: cannot connect to Redis: {e}"));
                }
            }
        }
    }
    match &config.upstream {
        Upstream::Embedded => {
            if cfg!(not(feature = "embedded-sandbox")) {
                problems.push(
                    "GIPONEXT_ISSUER: not set, and this build has no embedded sandbox".into(),
                );
            }
        }
        Upstream::External { issuer, .. } => {
            let http = Provider::http_client(config.timings.upstream_timeout);
            match Provider::discover(issuer, &http).await {
                Err(e) => problems.push(e.to_string()),
                Ok(metadata) => {
                    problems.extend(
                        Provider::check_metadata(&metadata, config.par)
                            .into_iter()
                            .map(|p| format!("GIPONEXT_ISSUER: {p}")),
                    );
                    if let Some(supported) = metadata.scopes_supported() {
                        for scope in config.registered_scopes.set().iter() {
                            if !supported.iter().any(|s| s.as_str() == scope.as_str()) {
                                problems.push(format!(
                                    "GIPONEXT_REGISTERED_SCOPES: {scope} is not in the provider's scopes_supported"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    problems
}
