//! The backend's one configuration, read once at start-up.
//!
//! Every setting is an environment variable; an optional TOML file named by
//! `BFF_CONFIG` may set the same keys (`GIPONEXT_ISSUER = "..."`), and the
//! environment wins. Reading collects every problem and names the variable of
//! each, so `giponext-bff check-config` can list them all at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use giponext_shared::{RegisteredScopes, Scope, ScopeSet};
use url::Url;

use crate::client_addr::{ForwardedHeader, TrustedProxies};
use crate::session::{RedisTarget, SessionKey};
use crate::types::{Secret, TenantId};

/// Where the OpenID provider and the API are.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// `GIPONEXT_ISSUER` unset: start the sandbox in-process (development).
    Embedded,
    /// A real provider.
    External {
        /// The issuer identifier, exactly as the provider spells it.
        issuer: String,
        /// The API root (`{api_base}/v2/...`).
        api_base: Url,
    },
}

/// Pushed Authorization Requests (RFC 9126), `BFF_PAR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParSetting {
    /// Push every authorization request when discovery lists a
    /// `pushed_authorization_request_endpoint` (the default).
    #[default]
    Auto,
    /// Never push; refused at start-up when the provider requires PAR
    /// (`require_pushed_authorization_requests`).
    Off,
}

impl ParSetting {
    /// Parses `auto` or `off`.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "auto" => Ok(ParSetting::Auto),
            "off" => Ok(ParSetting::Off),
            other => Err(format!("must be auto or off (got {other:?})")),
        }
    }
}

/// Where sessions are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    File(PathBuf),
    /// In memory (tests; sessions die with the process).
    Memory,
    /// Redis shared by several instances: one server (`redis://host:port/db`,
    /// `rediss://` for TLS), Cluster (`redis+cluster://h1:p1,h2:p2`) or
    /// Sentinel (`redis+sentinel://s1:p1,s2:p2/primary-name`); see
    /// [`crate::session::redis_target`].
    Redis(RedisUrl),
}

/// A Redis URL; its `Debug` hides the password it may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match RedisTarget::parse(&self.0) {
            Ok(target) => write!(f, "RedisUrl({target:?})"),
            Err(_) => f.write_str("RedisUrl(<unparsable>)"),
        }
    }
}

/// Durations the backend works with.
#[derive(Debug, Clone)]
pub struct Timings {
    /// A session ends after this long unused (`BFF_SESSION_IDLE_SECS`;
    /// 30 minutes: clinic workstations are shared, ASVS 4.0 V3.3.2 level 2).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not, incremental
    /// consents included (`BFF_SESSION_MAX_SECS`; 12 hours, ASVS V3.3.2).
    pub session_max: Duration,
    /// How long a started sign-in may take (pre-login record lifetime).
    pub login_ttl: Duration,
    /// Refresh when the access token expires within this
    /// (`BFF_REFRESH_LEEWAY_SECS`).
    pub refresh_leeway: Duration,
    /// How long to wait for GipoNext (`BFF_UPSTREAM_TIMEOUT_SECS`).
    pub upstream_timeout: Duration,
    /// How often expired sessions are purged.
    pub cleanup_interval: Duration,
    /// How long a client may take to send its request headers, and its
    /// request body to the proxy (`BFF_CLIENT_TIMEOUT_SECS`); slower clients
    /// are cut off (slowloris).
    pub client_timeout: Duration,
    /// With Redis: how long the cluster refresh lock lasts unless renewed
    /// (`BFF_REFRESH_LEASE_MS`); a dead holder blocks its session this long.
    pub refresh_lease: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            login_ttl: Duration::from_secs(600),
            refresh_leeway: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(15),
            cleanup_interval: Duration::from_secs(300),
            client_timeout: Duration::from_secs(20),
            refresh_lease: crate::session::redis::DEFAULT_LEASE,
        }
    }
}

/// Everything the backend is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Provider and API.
    pub upstream: Upstream,
    /// `GIPONEXT_CLIENT_ID`.
    pub client_id: String,
    /// `GIPONEXT_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// `GIPONEXT_REGISTERED_SCOPES`: the most the app may ever ask for.
    pub registered_scopes: RegisteredScopes,
    /// `GIPONEXT_ALLOWED_TENANTS`: if set, only these tenants may sign in.
    pub allowed_tenants: Option<Vec<TenantId>>,
    /// `BFF_PUBLIC_URL`; `None` means `http://{bound address}` (tests).
    pub public_url: Option<Url>,
    /// `BFF_LISTEN`.
    pub listen: SocketAddr,
    /// `BFF_SESSION_STORE`.
    pub session_store: StoreLocation,
    /// `BFF_REDIS_CA_FILE`: the PEM certificate of the private CA that signed
    /// the Redis server's certificate (`rediss://`), trusted instead of the
    /// system's roots.
    pub redis_ca_file: Option<PathBuf>,
    /// `BFF_SESSION_KEY`; `None` in development: a generated key kept next to
    /// the store (or in memory for an in-memory store).
    pub session_key: Option<SessionKey>,
    /// `BFF_STATIC_DIR`: the console bundle.
    pub static_dir: PathBuf,
    /// Durations.
    pub timings: Timings,
    /// Largest request or response body passed through the proxy.
    pub max_body_bytes: usize,
    /// Sign-ins (`/auth/login`) one client address may
    /// start per minute (`BFF_LOGIN_RATE_PER_MIN`); more get 429.
    pub login_rate_per_minute: u32,
    /// `BFF_TRUSTED_PROXIES`: the reverse proxies whose forwarding header
    /// names the client (none by default).
    pub trusted_proxies: TrustedProxies,
    /// `BFF_FORWARDED_HEADER`: the header those proxies set.
    pub forwarded_header: ForwardedHeader,
    /// `BFF_PAR`: whether authorization requests are pushed (RFC 9126).
    pub par: ParSetting,
}

/// One problem with the configuration, naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable, e.g. `GIPONEXT_CLIENT_SECRET`.
    pub variable: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every problem found while reading the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

/// Sign-ins per minute and client address unless `BFF_LOGIN_RATE_PER_MIN`
/// says otherwise: ample for people, a wall for scripts.
pub const DEFAULT_LOGIN_RATE_PER_MINUTE: u32 = 30;

/// The embedded sandbox's client, used when no issuer is configured.
pub const EMBEDDED_CLIENT_ID: &str = "giponext-connect-web";
const EMBEDDED_CLIENT_SECRET: &str = "sandbox-web-secret";

impl Config {
    /// For tests: embedded sandbox, port 0, in-memory store, a fixed key.
    pub fn for_tests() -> Self {
        Config {
            upstream: Upstream::Embedded,
            client_id: EMBEDDED_CLIENT_ID.to_owned(),
            client_secret: Secret::new(EMBEDDED_CLIENT_SECRET),
            registered_scopes: RegisteredScopes::new(ScopeSet::all()),
            allowed_tenants: None,
            public_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            session_store: StoreLocation::Memory,
            redis_ca_file: None,
            session_key: Some(SessionKey::generate()),
            static_dir: PathBuf::from("frontend/dist"),
            timings: Timings {
                cleanup_interval: Duration::from_secs(1),
                upstream_timeout: Duration::from_secs(5),
                ..Timings::default()
            },
            max_body_bytes: 1 << 20,
            login_rate_per_minute: 600,
            trusted_proxies: TrustedProxies::none(),
            forwarded_header: ForwardedHeader::default(),
            par: ParSetting::Auto,
        }
    }

    /// Reads the process environment and the `BFF_CONFIG` file.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let file = match std::env::var("BFF_CONFIG").ok().filter(|v| !v.is_empty()) {
            Some(path) => read_toml(&path)?,
            None => BTreeMap::new(),
        };
        Self::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| file.get(name).cloned())
        })
    }

    /// Reads the settings through `lookup` (variable name to value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut problems = Vec::new();
        let mut problem = |variable: &'static str, message: String| {
            problems.push(ConfigProblem { variable, message })
        };
        let issuer = lookup("GIPONEXT_ISSUER");
        let external = issuer.is_some();
        let required = |name: &'static str, problem: &mut dyn FnMut(&'static str, String)| {
            let value = lookup(name);
            if value.is_none() && external {
                problem(name, "is required when GIPONEXT_ISSUER is set".into());
            }
            value
        };

        let client_id = required("GIPONEXT_CLIENT_ID", &mut problem)
            .unwrap_or_else(|| EMBEDDED_CLIENT_ID.to_owned());
        let client_secret = required("GIPONEXT_CLIENT_SECRET", &mut problem)
            .map(Secret::new)
            .unwrap_or_else(|| Secret::new(EMBEDDED_CLIENT_SECRET));
        let api_base = required("GIPONEXT_API_BASE", &mut problem).and_then(|v| {
            check_upstream_url(&v)
                .map_err(|e| problem("GIPONEXT_API_BASE", e))
                .ok()
        });
        let upstream = match issuer {
            None => Upstream::Embedded,
            Some(issuer) => {
                if let Err(e) = check_upstream_url(&issuer) {
                    problem("GIPONEXT_ISSUER", e);
                }
                Upstream::External {
                    issuer,
                    api_base: api_base
                        .unwrap_or_else(|| Url::parse("http://invalid/").expect("constant URL")),
                }
            }
        };

        let registered = match required("GIPONEXT_REGISTERED_SCOPES", &mut problem) {
            None => ScopeSet::all(),
            Some(v) => {
                let parsed = ScopeSet::parse(&v.replace(',', " "));
                if !parsed.unknown.is_empty() {
                    problem(
                        "GIPONEXT_REGISTERED_SCOPES",
                        format!(
                            "unknown scope(s) {}; the platform defines: {}",
                            parsed.unknown.join(", "),
                            ScopeSet::all().to_wire()
                        ),
                    );
                }
                parsed.known
            }
        };
        if !registered.contains(Scope::OpenId) {
            problem(
                "GIPONEXT_REGISTERED_SCOPES",
                "openid is not registered; every client must register it".into(),
            );
        }

        let allowed_tenants = lookup("GIPONEXT_ALLOWED_TENANTS").map(|v| {
            v.split([',', ' '])
                .filter(|t| !t.is_empty())
                .filter_map(|t| match TenantId::try_from(t.to_owned()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        problem("GIPONEXT_ALLOWED_TENANTS", e);
                        None
                    }
                })
                .collect::<Vec<_>>()
        });

        let public_url = lookup("BFF_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let public_url = match check_public_url(&public_url) {
            Ok(url) => Some(url),
            Err(e) => {
                problem("BFF_PUBLIC_URL", e);
                None
            }
        };
        let https = public_url.as_ref().is_some_and(|u| u.scheme() == "https");

        let listen = lookup("BFF_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen.parse().unwrap_or_else(|_| {
            problem(
                "BFF_LISTEN",
                format!("must be host:port, e.g. 127.0.0.1:8080 (got {listen:?})"),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });

        let session_store = match lookup("BFF_SESSION_STORE").as_deref() {
            Some(":memory:") => StoreLocation::Memory,
            Some(url) if crate::session::redis_target::is_redis(url) => {
                // The message never repeats the value: it may hold a password.
                if let Err(e) = RedisTarget::parse(url) {
                    problem("BFF_SESSION_STORE", e);
                }
                StoreLocation::Redis(RedisUrl(url.to_owned()))
            }
            Some(path) => StoreLocation::File(PathBuf::from(path)),
            None => StoreLocation::File(PathBuf::from("var/bff-sessions.sqlite3")),
        };
        let redis_ca_file = lookup("BFF_REDIS_CA_FILE").map(PathBuf::from);
        if let Some(path) = &redis_ca_file {
            match &session_store {
                StoreLocation::Redis(url) if !url.0.starts_with("rediss") => problem(
                    "BFF_REDIS_CA_FILE",
                    "is set but BFF_SESSION_STORE is not TLS (rediss://...)".into(),
                ),
                StoreLocation::Redis(_) => {
                    if let Err(e) = std::fs::metadata(path) {
                        problem(
                            "BFF_REDIS_CA_FILE",
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                }
                _ => problem(
                    "BFF_REDIS_CA_FILE",
                    "is set but BFF_SESSION_STORE is not Redis".into(),
                ),
            }
        }
        let session_key = match lookup("BFF_SESSION_KEY") {
            Some(v) => match SessionKey::from_base64(&v) {
                Ok(k) => Some(k),
                Err(e) => {
                    problem("BFF_SESSION_KEY", e);
                    None
                }
            },
            None if https => {
                problem(
                    "BFF_SESSION_KEY",
                    "is required over https (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)"
                        .into(),
                );
                None
            }
            None => None,
        };

        let mut timings = Timings::default();
        for (name, slot) in [
            ("BFF_SESSION_IDLE_SECS", &mut timings.session_idle),
            ("BFF_SESSION_MAX_SECS", &mut timings.session_max),
            ("BFF_REFRESH_LEEWAY_SECS", &mut timings.refresh_leeway),
            ("BFF_UPSTREAM_TIMEOUT_SECS", &mut timings.upstream_timeout),
            ("BFF_CLIENT_TIMEOUT_SECS", &mut timings.client_timeout),
        ] {
            if let Some(v) = lookup(name) {
                match v.parse::<u64>() {
                    Ok(n) => *slot = Duration::from_secs(n),
                    Err(_) => problem(name, format!("must be a number of seconds (got {v:?})")),
                }
            }
        }

        // A session that ends at once (0) or whose idle timeout outlives its
        // absolute lifetime is a typo, not a policy.
        for (name, value) in [
            ("BFF_SESSION_IDLE_SECS", timings.session_idle),
            ("BFF_SESSION_MAX_SECS", timings.session_max),
        ] {
            if value.is_zero() {
                problem(
                    name,
                    "must be at least 1 second (e.g. 1800 for 30 minutes)".into(),
                );
            }
        }
        if !timings.session_max.is_zero() && timings.session_idle > timings.session_max {
            problem(
                "BFF_SESSION_IDLE_SECS",
                format!(
                    "({} s) must not exceed BFF_SESSION_MAX_SECS ({} s): the absolute lifetime caps the idle timeout",
                    timings.session_idle.as_secs(),
                    timings.session_max.as_secs()
                ),
            );
        }

        if let Some(v) = lookup("BFF_REFRESH_LEASE_MS") {
            match v.parse::<u64>() {
                Ok(n) if n >= 100 => timings.refresh_lease = Duration::from_millis(n),
                _ => problem(
                    "BFF_REFRESH_LEASE_MS",
                    format!("must be a number of milliseconds, at least 100 (got {v:?})"),
                ),
            }
        }

        let mut login_rate_per_minute = DEFAULT_LOGIN_RATE_PER_MINUTE;
        if let Some(v) = lookup("BFF_LOGIN_RATE_PER_MIN") {
            match v.parse::<u32>() {
                Ok(n) if n > 0 => login_rate_per_minute = n,
                _ => problem(
                    "BFF_LOGIN_RATE_PER_MIN",
                    format!("must be a positive number of sign-ins per minute (got {v:?})"),
                ),
            }
        }

        let trusted_proxies = match lookup("BFF_TRUSTED_PROXIES") {
            None => TrustedProxies::none(),
            Some(v) => TrustedProxies::parse(&v).unwrap_or_else(|e| {
                problem("BFF_TRUSTED_PROXIES", e);
                TrustedProxies::none()
            }),
        };
        let forwarded_header = match lookup("BFF_FORWARDED_HEADER") {
            None => ForwardedHeader::default(),
            Some(v) => ForwardedHeader::parse(&v).unwrap_or_else(|e| {
                problem("BFF_FORWARDED_HEADER", e);
                ForwardedHeader::default()
            }),
        };
        let par = match lookup("BFF_PAR") {
            None => ParSetting::Auto,
            Some(v) => ParSetting::parse(&v).unwrap_or_else(|e| {
                problem("BFF_PAR", e);
                ParSetting::Auto
            }),
        };

        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        Ok(Config {
            upstream,
            client_id,
            client_secret,
            registered_scopes: RegisteredScopes::new(registered),
            allowed_tenants,
            public_url,
            listen,
            session_store,
            redis_ca_file,
            session_key,
            static_dir: lookup("BFF_STATIC_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("frontend/dist")),
            timings,
            max_body_bytes: 1 << 20,
            login_rate_per_minute,
            trusted_proxies,
            forwarded_header,
            par,
        })
    }
}

fn read_toml(path: &str) -> Result<BTreeMap<String, String>, ConfigErrors> {
    let fail = |message: String| {
        ConfigErrors(vec![ConfigProblem {
            variable: "BFF_CONFIG",
            message,
        }])
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| fail(format!("{path} is not valid TOML: {e}")))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => {
                return Err(fail(format!(
                    "{key} must be a string, number or list, got {other}"
                )));
            }
        };
        out.insert(key, value);
    }
    Ok(out)
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{value:?} must be an http(s) URL with a host"));
    }
    Ok(url)
}

/// `GIPONEXT_ISSUER` and `GIPONEXT_API_BASE`: an http(s) URL, https unless
/// the host is this machine.
///
/// # Security
/// Tokens, the client secret and patient data travel on these connections
/// (RFC 9700 §4.1 and RFC 6749 §3.1 require TLS for the endpoints); plain
/// http is accepted only for a loopback host (127.0.0.0/8, ::1, localhost),
/// where the sandbox and the tests run.
pub fn check_upstream_url(value: &str) -> Result<Url, String> {
    let url = parse_http_url(value)?;
    if url.scheme() == "http" && !is_loopback_host(&url) {
        return Err(format!(
            "{value:?} uses plain http on a non-loopback host; use https (http is only for a provider on this machine: 127.0.0.1, ::1, localhost)"
        ));
    }
    Ok(url)
}

/// Whether `host` is this machine, where plain http is tolerated for
/// development.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The public URL must be an origin: the redirect URI and the cookie scope
/// derive from it.
///
/// # Security
/// Plain http is allowed only for a loopback host (development, RFC 9700
/// §4.1.1 permits loopback redirect URIs); anything reachable from the network
/// must be https, so the session cookie can be `Secure`.
pub fn check_public_url(value: &str) -> Result<Url, String> {
    let url = parse_http_url(value)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{value:?} must be an origin like https://connect.example.it (no path, query or fragment)"
        ));
    }
    if url.scheme() == "http" && !is_loopback_host(&url) {
        return Err(format!(
            "{value:?} uses plain http on a non-loopback host; use https (http is only for localhost development)"
        ));
    }
    Ok(url)
}

impl SessionKey {
    /// Parses `BFF_SESSION_KEY`: base64 of exactly 32 bytes.
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| "must be base64 (of 32 random bytes)".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("must decode to 32 bytes, got {}", v.len()))?;
        Ok(SessionKey::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    fn problem_vars(vars: &[(&str, &str)]) -> Vec<&'static str> {
        read(vars)
            .err()
            .map(|e| e.0.iter().map(|p| p.variable).collect())
            .unwrap_or_default()
    }

    #[test]
    fn no_issuer_means_embedded_sandbox_with_defaults() {
        let c = read(&[]).unwrap();
        assert!(matches!(c.upstream, Upstream::Embedded));
        assert_eq!(c.client_id, EMBEDDED_CLIENT_ID);
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.public_url.unwrap().as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.registered_scopes.set(), ScopeSet::all());
        // Shared clinic workstations: ASVS V3.3.2 level 2.
        assert_eq!(c.timings.session_idle, Duration::from_secs(30 * 60));
        assert_eq!(c.timings.session_max, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn external_issuer_requires_client_and_registration() {
        assert_eq!(
            problem_vars(&[("GIPONEXT_ISSUER", "https://account.gipo.it")]),
            vec![
                "GIPONEXT_CLIENT_ID",
                "GIPONEXT_CLIENT_SECRET",
                "GIPONEXT_API_BASE",
                "GIPONEXT_REGISTERED_SCOPES"
            ]
        );
        let ok = read(&[
            ("GIPONEXT_ISSUER", "https://account.gipo.it"),
            ("GIPONEXT_CLIENT_ID", "c"),
            ("GIPONEXT_CLIENT_SECRET", "s"),
            ("GIPONEXT_API_BASE", "https://api.giponext.it"),
            (
                "GIPONEXT_REGISTERED_SCOPES",
                "openid offline_access giponext.patients",
            ),
            ("GIPONEXT_ALLOWED_TENANTS", "tenant-abc123, tenant-x"),
        ])
        .unwrap();
        assert_eq!(ok.allowed_tenants.unwrap().len(), 2);
        assert_eq!(
            ok.registered_scopes.set(),
            ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients])
        );
    }

    #[test]
    fn each_bad_value_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("GIPONEXT_REGISTERED_SCOPES", "giponext.patients")],
                "GIPONEXT_REGISTERED_SCOPES",
            ),
            (
                &[("GIPONEXT_REGISTERED_SCOPES", "openid profile")],
                "GIPONEXT_REGISTERED_SCOPES",
            ),
            (
                &[("BFF_PUBLIC_URL", "http://connect.example.it")],
                "BFF_PUBLIC_URL",
            ),
            (
                &[("BFF_PUBLIC_URL", "https://connect.example.it/app")],
                "BFF_PUBLIC_URL",
            ),
            (&[("BFF_PUBLIC_URL", "ftp://localhost")], "BFF_PUBLIC_URL"),
            (
                &[("BFF_PUBLIC_URL", "https://connect.example.it")],
                "BFF_SESSION_KEY",
            ),
            (&[("BFF_SESSION_KEY", "c2hvcnQ=")], "BFF_SESSION_KEY"),
            (&[("BFF_LISTEN", "localhost")], "BFF_LISTEN"),
            (
                &[("GIPONEXT_ALLOWED_TENANTS", "../x")],
                "GIPONEXT_ALLOWED_TENANTS",
            ),
            (
                &[("BFF_REFRESH_LEEWAY_SECS", "soon")],
                "BFF_REFRESH_LEEWAY_SECS",
            ),
            (&[("BFF_REFRESH_LEASE_MS", "10")], "BFF_REFRESH_LEASE_MS"),
            (&[("BFF_SESSION_IDLE_SECS", "0")], "BFF_SESSION_IDLE_SECS"),
            (&[("BFF_SESSION_MAX_SECS", "0")], "BFF_SESSION_MAX_SECS"),
            (&[("BFF_SESSION_MAX_SECS", "12h")], "BFF_SESSION_MAX_SECS"),
            (
                &[
                    ("BFF_SESSION_IDLE_SECS", "7200"),
                    ("BFF_SESSION_MAX_SECS", "3600"),
                ],
                "BFF_SESSION_IDLE_SECS",
            ),
            (
                &[("BFF_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33")],
                "BFF_TRUSTED_PROXIES",
            ),
            (
                &[("BFF_TRUSTED_PROXIES", "proxy.clinic.lan")],
                "BFF_TRUSTED_PROXIES",
            ),
            (
                &[("BFF_FORWARDED_HEADER", "x-real-ip")],
                "BFF_FORWARDED_HEADER",
            ),
            (&[("BFF_PAR", "required")], "BFF_PAR"),
            (
                &[(
                    "BFF_SESSION_STORE",
                    "rediss://u:p@redis.lan:6380/0#insecure",
                )],
                "BFF_SESSION_STORE",
            ),
            (
                &[("BFF_SESSION_STORE", "redis://a:1,b:2")],
                "BFF_SESSION_STORE",
            ),
            (
                &[
                    ("BFF_SESSION_STORE", "redis://redis.lan:6379/0"),
                    ("BFF_REDIS_CA_FILE", "/etc/ssl/redis-ca.pem"),
                ],
                "BFF_REDIS_CA_FILE",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(problem_vars(vars), vec![*var], "{vars:?}");
        }
    }

    #[test]
    fn a_bad_redis_url_is_named_without_its_password() {
        let errors =
            read(&[("BFF_SESSION_STORE", "rediss://gx:hunter2@redis.lan:port/0")]).unwrap_err();
        let text: Vec<String> = errors.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(text[0].contains("BFF_SESSION_STORE"), "{text:?}");
        assert!(!text[0].contains("hunter2"), "{text:?}");
        let fine = read(&[(
            "BFF_SESSION_STORE",
            "redis+cluster://gx:hunter2@10.0.0.1:7000,10.0.0.2:7000",
        )])
        .unwrap();
        assert!(!format!("{:?}", fine.session_store).contains("hunter2"));
    }

    #[test]
    fn provider_and_api_need_https_unless_on_this_machine() {
        let external = |issuer: &str, api: &str| {
            read(&[
                ("GIPONEXT_ISSUER", issuer),
                ("GIPONEXT_CLIENT_ID", "c"),
                ("GIPONEXT_CLIENT_SECRET", "s"),
                ("GIPONEXT_API_BASE", api),
                ("GIPONEXT_REGISTERED_SCOPES", "openid"),
            ])
        };
        for (issuer, api, wrong) in [
            (
                "http://account.gipo.it",
                "https://api.giponext.it",
                &["GIPONEXT_ISSUER"][..],
            ),
            (
                "https://account.gipo.it",
                "http://api.giponext.it",
                &["GIPONEXT_API_BASE"],
            ),
            (
                "http://10.0.0.5:8090",
                "http://192.168.1.2/",
                &["GIPONEXT_API_BASE", "GIPONEXT_ISSUER"],
            ),
            (
                "http://localhost.example.com",
                "https://a.b",
                &["GIPONEXT_ISSUER"],
            ),
        ] {
            let problems = external(issuer, api).unwrap_err().0;
            let vars: Vec<_> = problems.iter().map(|p| p.variable).collect();
            assert_eq!(vars, wrong, "{issuer} {api}");
            assert!(problems[0].message.contains("use https"), "{problems:?}");
        }
        for (issuer, api) in [
            ("https://account.gipo.it", "https://api.giponext.it"),
            ("http://127.0.0.1:8090", "http://127.0.0.1:8090/"),
            ("http://127.8.9.10:8090", "http://localhost:8090/"),
            ("http://[::1]:8090", "http://[::1]:8090/"),
        ] {
            assert!(external(issuer, api).is_ok(), "{issuer} {api}");
        }
    }

    #[test]
    fn trusted_proxies_are_read_from_the_environment_or_a_list() {
        let c = read(&[("BFF_TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8")]).unwrap();
        assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(c.trusted_proxies.contains("fd00::9".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("192.0.2.1".parse().unwrap()));
        assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
        assert!(read(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn https_with_key_and_localhost_http_are_fine() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(
            read(&[
                ("BFF_PUBLIC_URL", "https://connect.example.it"),
                ("BFF_SESSION_KEY", &key)
            ])
            .is_ok()
        );
        assert!(read(&[("BFF_PUBLIC_URL", "http://localhost:8080")]).is_ok());
        assert!(read(&[("BFF_PUBLIC_URL", "http://[::1]:8080")]).is_ok());
    }

    #[test]
    fn toml_file_is_read_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bff.toml");
        std::fs::write(
            &path,
            "BFF_LISTEN = \"127.0.0.1:9999\"\nGIPONEXT_REGISTERED_SCOPES = [\"openid\", \"giponext.agenda\"]\nBFF_TRUSTED_PROXIES = [\"10.0.0.0/8\", \"192.168.1.10\"]\nBFF_FORWARDED_HEADER = \"forwarded\"\n",
        )
        .unwrap();
        let file = read_toml(path.to_str().unwrap()).unwrap();
        let env: BTreeMap<&str, &str> = [("BFF_LISTEN", "127.0.0.1:7777")].into();
        let c = Config::from_lookup(|k| {
            env.get(k)
                .map(|v| v.to_string())
                .or_else(|| file.get(k).cloned())
        })
        .unwrap();
        assert_eq!(c.listen.port(), 7777);
        assert!(c.trusted_proxies.contains("192.168.1.10".parse().unwrap()));
        assert!(c.trusted_proxies.contains("10.9.9.9".parse().unwrap()));
        assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(
            c.registered_scopes.set(),
            ScopeSet::of(&[Scope::OpenId, Scope::Agenda])
        );
    }
}
