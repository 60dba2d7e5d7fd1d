//! The configuration, read once from the environment at start-up.
//!
//! The variables are the backend's (`GIPONEXT_ISSUER`, `GIPONEXT_CLIENT_ID`,
//! `GIPONEXT_CLIENT_SECRET`, `GIPONEXT_API_BASE`) plus the CLI's own storage
//! knobs. Defaults point at the local standalone sandbox.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use url::Url;

use crate::secret::Secret;

/// The local standalone sandbox's issuer: the default.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8090";
/// The sandbox's seeded device client: the default client id.
pub const DEFAULT_CLIENT_ID: &str = "giponext-cli";
/// The seeded device client's secret, used only against the local default
/// sandbox with the default client id.
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-cli-secret";

/// How tokens may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringMode {
    /// Use the OS keyring when one answers.
    Auto,
    /// Never use the OS keyring (`GIPONEXT_KEYRING=off`): as if none existed.
    Off,
}

/// Everything the CLI reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The OpenID provider's issuer, exactly as in its `iss` claim (no
    /// trailing slash added or removed beyond what the user gave).
    pub issuer: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret; `None` makes a public client.
    pub client_secret: Option<Secret>,
    /// The API root (`{api_base}/v2/...`).
    pub api_base: Url,
    /// Where the opt-in token file lives.
    pub config_dir: PathBuf,
    /// Whether the OS keyring may be used.
    pub keyring: KeyringMode,
    /// Whether the user opted in to plain-file token storage.
    pub insecure_storage: bool,
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// `variable` must be an https URL, or http on this machine.
///
/// # Security
/// The client secret, the device code, tokens and patient data travel to
/// these URLs (RFC 6749 §3.1 and RFC 8628 §3.1 require TLS); plain http is
/// accepted only for a loopback host (127.0.0.0/8, ::1, localhost), where
/// the sandbox runs.
fn require_tls(variable: &str, url: &Url) -> Result<()> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" if url.host().is_some() => bail!(
            "{variable} uses plain http on a non-loopback host ({url}); use https \
             (http is only for a provider on this machine: 127.0.0.1, ::1, localhost)"
        ),
        _ => bail!(
            "{variable} must be an http(s) URL with a host, got {:?}",
            url.as_str()
        ),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in
    /// tests). Fails with the name of the variable at fault.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let issuer = get("GIPONEXT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let issuer_url = Url::parse(&issuer)
            .with_context(|| format!("GIPONEXT_ISSUER is not a URL: {issuer:?}"))?;
        require_tls("GIPONEXT_ISSUER", &issuer_url)?;
        let client_id = get("GIPONEXT_CLIENT_ID").unwrap_or_else(|| DEFAULT_CLIENT_ID.to_owned());
        // An explicitly empty GIPONEXT_CLIENT_SECRET means "public client".
        let client_secret = match lookup("GIPONEXT_CLIENT_SECRET") {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(Secret::new(s)),
            None if issuer == DEFAULT_ISSUER && client_id == DEFAULT_CLIENT_ID => {
                Some(Secret::new(SANDBOX_CLIENT_SECRET))
            }
            None => None,
        };
        let api_base = match get("GIPONEXT_API_BASE") {
            Some(base) => {
                let url = Url::parse(&base)
                    .with_context(|| format!("GIPONEXT_API_BASE is not a URL: {base:?}"))?;
                require_tls("GIPONEXT_API_BASE", &url)?;
                url
            }
            None => issuer_url,
        };
        let config_dir = if let Some(dir) = get("GIPONEXT_CONFIG_DIR") {
            PathBuf::from(dir)
        } else if let Some(xdg) = get("XDG_CONFIG_HOME") {
            PathBuf::from(xdg).join("giponext")
        } else if let Some(home) = get("HOME") {
            PathBuf::from(home).join(".config").join("giponext")
        } else {
            bail!("cannot find a config directory: set GIPONEXT_CONFIG_DIR or HOME");
        };
        let keyring = match get("GIPONEXT_KEYRING").as_deref().map(str::trim) {
            None | Some("auto") => KeyringMode::Auto,
            Some("off" | "0" | "false" | "no") => KeyringMode::Off,
            Some(other) => bail!("GIPONEXT_KEYRING must be \"auto\" or \"off\", got {other:?}"),
        };
        let insecure_storage = get("GIPONEXT_INSECURE_STORAGE").is_some_and(|v| truthy(&v));
        Ok(Config {
            issuer,
            client_id,
            client_secret,
            api_base,
            config_dir,
            keyring,
            insecure_storage,
        })
    }

    /// A short name of the account this configuration logs in to, used as
    /// the storage key: tokens of two issuers or clients never mix.
    pub fn account_key(&self) -> String {
        format!("{}@{}", self.client_id, self.issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_point_at_the_local_sandbox() {
        let c = config(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(c.issuer, DEFAULT_ISSUER);
        assert_eq!(c.client_id, DEFAULT_CLIENT_ID);
        assert_eq!(
            c.client_secret.as_ref().map(Secret::expose),
            Some(SANDBOX_CLIENT_SECRET)
        );
        assert_eq!(c.api_base.as_str(), "http://127.0.0.1:8090/");
        assert_eq!(c.config_dir, PathBuf::from("/home/u/.config/giponext"));
        assert_eq!(c.keyring, KeyringMode::Auto);
        assert!(!c.insecure_storage);
    }

    #[test]
    fn sandbox_secret_is_never_sent_elsewhere() {
        let c = config(&[
            ("HOME", "/h"),
            ("GIPONEXT_ISSUER", "https://account.gipo.it"),
        ])
        .unwrap();
        assert!(c.client_secret.is_none());
        let c = config(&[
            ("HOME", "/h"),
            ("GIPONEXT_CLIENT_ID", "giponext-cli-public"),
        ])
        .unwrap();
        assert!(c.client_secret.is_none());
        let c = config(&[("HOME", "/h"), ("GIPONEXT_CLIENT_SECRET", "")]).unwrap();
        assert!(
            c.client_secret.is_none(),
            "empty secret means public client"
        );
    }

    #[test]
    fn overrides_and_errors_name_the_variable() {
        let c = config(&[
            ("GIPONEXT_CONFIG_DIR", "/tmp/x"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("GIPONEXT_KEYRING", "off"),
            ("GIPONEXT_INSECURE_STORAGE", "1"),
            ("GIPONEXT_API_BASE", "https://api.local:9/"),
        ])
        .unwrap();
        assert_eq!(c.config_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.keyring, KeyringMode::Off);
        assert!(c.insecure_storage);
        assert_eq!(c.api_base.as_str(), "https://api.local:9/");
        let c = config(&[("XDG_CONFIG_HOME", "/xdg")]).unwrap();
        assert_eq!(c.config_dir, PathBuf::from("/xdg/giponext"));
        for (var, value) in [
            ("GIPONEXT_ISSUER", "not a url"),
            ("GIPONEXT_ISSUER", "ftp://x"),
            ("GIPONEXT_API_BASE", "::"),
            ("GIPONEXT_KEYRING", "maybe"),
        ] {
            let err = config(&[("HOME", "/h"), (var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn provider_and_api_need_https_unless_on_this_machine() {
        for (var, value) in [
            ("GIPONEXT_ISSUER", "http://account.gipo.it"),
            ("GIPONEXT_ISSUER", "http://10.0.0.5:8090"),
            ("GIPONEXT_ISSUER", "http://localhost.example.com"),
            ("GIPONEXT_API_BASE", "http://api.giponext.it"),
            ("GIPONEXT_API_BASE", "http://192.168.1.2/"),
        ] {
            let err = config(&[("HOME", "/h"), (var, value)]).unwrap_err();
            let err = err.to_string();
            assert!(err.starts_with(var) && err.contains("use https"), "{err}");
        }
        for (issuer, api) in [
            ("https://account.gipo.it", "https://api.giponext.it"),
            ("http://127.0.0.1:8090", "http://127.0.0.1:8090/"),
            ("http://127.8.9.10:8090", "http://localhost:8090/"),
            ("http://[::1]:8090", "http://[::1]:8090/"),
        ] {
            let vars = [
                ("HOME", "/h"),
                ("GIPONEXT_ISSUER", issuer),
                ("GIPONEXT_API_BASE", api),
            ];
            assert!(config(&vars).is_ok(), "{issuer} {api}");
        }
    }
}
