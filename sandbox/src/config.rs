//! The sandbox's configuration: where it listens, what it calls itself,
//! token lifetimes, rate limit and registered clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use giponext_shared::{Scope, ScopeSet};
use serde::Deserialize;
use url::Url;

/// A registered OAuth client, as declared on account.gipo.it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientRegistration {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`; `None` for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Grant types it may use: `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub grant_types: Vec<String>,
    /// Exact redirect URIs (authorization code clients).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes declared at registration: the most it may ask for.
    #[serde(deserialize_with = "de_scopes")]
    pub scopes: ScopeSet,
    /// OpenID Back-Channel Logout receiver, if any.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

fn de_scopes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ScopeSet, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    ScopeSet::parse(&names.join(" "))
        .strict()
        .map_err(serde::de::Error::custom)
}

impl ClientRegistration {
    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

/// A per-client rate limit: at most `requests` in any sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in a window.
    pub requests: u32,
    /// The window's length.
    pub window: Duration,
}

/// Pushed Authorization Requests (RFC 9126), `SANDBOX_PAR`. GipoNext's
/// documentation does not mention PAR, so the default is `Off`: the
/// sandbox behaves as account.gipo.it is documented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParMode {
    /// No PAR endpoint; a `request_uri` is refused.
    #[default]
    Off,
    /// `pushed_authorization_request_endpoint` is advertised and served;
    /// plain authorization requests still work.
    On,
    /// As `On`, with `require_pushed_authorization_requests: true`: an
    /// authorization request without a pushed `request_uri` is refused
    /// (RFC 9126 §5).
    Required,
}

impl ParMode {
    /// Parses `off`, `on` or `required`.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "off" => Ok(ParMode::Off),
            "on" => Ok(ParMode::On),
            "required" => Ok(ParMode::Required),
            other => Err(format!("must be off, on or required, got {other:?}")),
        }
    }
}

/// Everything the sandbox is told at start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The public base URL (the issuer); `None` means `http://{bound addr}`.
    pub public_url: Option<Url>,
    /// The SQLite file; `None` keeps everything in memory.
    pub data_path: Option<PathBuf>,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// ID token lifetime.
    pub id_token_ttl: Duration,
    /// Refresh token (grant) idle lifetime.
    pub refresh_token_ttl: Duration,
    /// Authorization code lifetime.
    pub auth_code_ttl: Duration,
    /// Device code lifetime.
    pub device_code_ttl: Duration,
    /// Minimum polling interval of the device flow.
    pub device_poll_interval: Duration,
    /// Login session lifetime at the account server.
    pub login_session_ttl: Duration,
    /// Per-client rate limit over the API and the token endpoint.
    pub rate_limit: RateLimit,
    /// Registered clients.
    pub clients: Vec<ClientRegistration>,
    /// How many invoices to seed per tenant (the CLI's export tests and the
    /// benchmarks want many).
    pub seed_invoices: u32,
    /// Pushed Authorization Requests (`SANDBOX_PAR`).
    pub par: ParMode,
}

impl SandboxConfig {
    /// The defaults of the standalone binary: port 8090, data in
    /// `var/sandbox.sqlite3`, realistic lifetimes.
    pub fn standalone() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            public_url: None,
            data_path: Some(PathBuf::from("var/sandbox.sqlite3")),
            access_token_ttl: Duration::from_secs(300),
            id_token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            auth_code_ttl: Duration::from_secs(60),
            device_code_ttl: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
            login_session_ttl: Duration::from_secs(8 * 3600),
            rate_limit: RateLimit {
                requests: 600,
                window: Duration::from_secs(60),
            },
            clients: crate::clients::seeded(&[
                "http://127.0.0.1:8080/auth/callback",
                "http://localhost:8080/auth/callback",
            ]),
            seed_invoices: 1200,
            par: ParMode::Off,
        }
    }

    /// For tests: a free port, in memory, short lifetimes, a fast device flow,
    /// a rate limit high enough not to disturb (tests of 429 lower it).
    pub fn for_tests() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_path: None,
            access_token_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(60),
            device_code_ttl: Duration::from_secs(30),
            device_poll_interval: Duration::from_secs(1),
            rate_limit: RateLimit {
                requests: 100_000,
                window: Duration::from_secs(60),
            },
            ..Self::standalone()
        }
    }

    /// The standalone defaults overridden by `SANDBOX_*` variables:
    /// `SANDBOX_LISTEN`, `SANDBOX_PUBLIC_URL`, `SANDBOX_DATA` (a path, or
    /// `:memory:`), `SANDBOX_ACCESS_TOKEN_TTL` (seconds),
    /// `SANDBOX_RATE_LIMIT` (`requests/seconds`), `SANDBOX_CLIENTS` (a TOML
    /// file with `[[client]]` tables replacing the seeded clients),
    /// `SANDBOX_DEVICE_POLL_INTERVAL`, `SANDBOX_SEED_INVOICES`, `SANDBOX_PAR`
    /// (`off`, `on`, `required`).
    pub fn from_env() -> anyhow::Result<Self> {
        let mut c = Self::standalone();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secs = |name: &str, v: String| -> anyhow::Result<Duration> {
            let n: u64 = v
                .parse()
                .with_context(|| format!("{name} must be a number of seconds, got {v:?}"))?;
            Ok(Duration::from_secs(n))
        };
        if let Some(v) = var("SANDBOX_LISTEN") {
            c.listen = v
                .parse()
                .with_context(|| format!("SANDBOX_LISTEN must be host:port, got {v:?}"))?;
        }
        if let Some(v) = var("SANDBOX_PUBLIC_URL") {
            c.public_url = Some(
                Url::parse(&v)
                    .with_context(|| format!("SANDBOX_PUBLIC_URL is not a URL: {v:?}"))?,
            );
        }
        if let Some(v) = var("SANDBOX_DATA") {
            c.data_path = if v == ":memory:" {
                None
            } else {
                Some(PathBuf::from(v))
            };
        }
        if let Some(v) = var("SANDBOX_ACCESS_TOKEN_TTL") {
            c.access_token_ttl = secs("SANDBOX_ACCESS_TOKEN_TTL", v)?;
        }
        if let Some(v) = var("SANDBOX_DEVICE_POLL_INTERVAL") {
            c.device_poll_interval = secs("SANDBOX_DEVICE_POLL_INTERVAL", v)?;
        }
        if let Some(v) = var("SANDBOX_SEED_INVOICES") {
            c.seed_invoices = v
                .parse()
                .with_context(|| format!("SANDBOX_SEED_INVOICES must be a number, got {v:?}"))?;
        }
        if let Some(v) = var("SANDBOX_RATE_LIMIT") {
            let Some((req, window)) = v.split_once('/') else {
                bail!("SANDBOX_RATE_LIMIT must be requests/seconds, e.g. 600/60, got {v:?}");
            };
            c.rate_limit = RateLimit {
                requests: req
                    .parse()
                    .with_context(|| format!("SANDBOX_RATE_LIMIT: bad request count in {v:?}"))?,
                window: secs("SANDBOX_RATE_LIMIT", window.to_owned())?,
            };
        }
        if let Some(v) = var("SANDBOX_PAR") {
            c.par = ParMode::parse(&v).map_err(|e| anyhow::anyhow!("SANDBOX_PAR {e}"))?;
        }
        if let Some(path) = var("SANDBOX_CLIENTS") {
            c.clients = load_clients(&path)?;
        }
        Ok(c)
    }
}

#[derive(Deserialize)]
struct ClientsFile {
    client: Vec<ClientRegistration>,
}

/// Reads registered clients from a TOML file of `[[client]]` tables.
pub fn load_clients(path: &str) -> anyhow::Result<Vec<ClientRegistration>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading SANDBOX_CLIENTS file {path}"))?;
    let file: ClientsFile =
        toml::from_str(&text).with_context(|| format!("parsing SANDBOX_CLIENTS file {path}"))?;
    for client in &file.client {
        if !client.scopes.contains(Scope::OpenId) {
            bail!(
                "client {} in {path}: openid must be registered (required for all clients)",
                client.client_id
            );
        }
    }
    Ok(file.client)
}
