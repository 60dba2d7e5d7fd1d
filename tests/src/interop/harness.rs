//! Installing, starting and stopping the provider process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALL_SCOPES: &str = "openid offline_access giponext.patients giponext.agenda giponext.treatments \
                          giponext.episodes giponext.medicalreports giponext.invoices";

/// How to start the provider.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// Refresh token (and grant) lifetime in seconds.
    pub refresh_token_ttl: u64,
    /// Device code lifetime in seconds.
    pub device_code_ttl: u64,
    /// The polling interval the device authorization response announces;
    /// `None`: none (clients then use RFC 8628's default of 5 s).
    pub device_interval: Option<u64>,
    /// Client registrations (oidc-provider metadata); more can be added
    /// later with [`Harness::register_client`].
    pub clients: Vec<Value>,
    /// Pushed Authorization Requests (RFC 9126).
    pub par: HarnessPar,
    /// Apply OpenID Connect Core §11 as oidc-provider does by itself: no
    /// refresh token unless the client sends `prompt=consent` (by default
    /// the harness adds it, as GipoNext shows its consent page anyway).
    pub strict_offline_access: bool,
}

/// The provider's PAR setting (`par` in `provider.mjs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HarnessPar {
    /// Offered, not required (oidc-provider's default).
    #[default]
    On,
    /// Not offered.
    Off,
    /// `require_pushed_authorization_requests`: a request not pushed is
    /// refused.
    Required,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            access_token_ttl: 300,
            refresh_token_ttl: 3600,
            device_code_ttl: 600,
            device_interval: Some(1),
            clients: Vec::new(),
            par: HarnessPar::On,
            strict_offline_access: false,
        }
    }
}

/// A confidential web client (code flow with refresh) registered for every
/// GipoNext scope unless `scope` says otherwise; for a backend's redirect URI
/// (`.../auth/callback`), its switch-user sign-in is a post-logout URI too.
pub fn web_client(
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    post_logout_redirect_uri: &str,
    scope: Option<&str>,
) -> Value {
    // A backend's "Cambia utente" comes back to its sign-in with
    // prompt=login after the provider's end-session step.
    let mut after_logout = vec![post_logout_redirect_uri.to_owned()];
    if let Some(base) = redirect_uri.strip_suffix("/auth/callback") {
        after_logout.push(format!("{base}/auth/login?prompt=login"));
    }
    json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": after_logout,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": scope.unwrap_or(ALL_SCOPES),
    })
}

/// A confidential device-flow client.
pub fn device_client(client_id: &str, secret: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [],
        "grant_types": [DEVICE_GRANT, "refresh_token"],
        "response_types": [],
        "scope": ALL_SCOPES,
    })
}

/// A public device-flow client (no secret).
pub fn public_device_client(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        "redirect_uris": [],
        "grant_types": [DEVICE_GRANT, "refresh_token"],
        "response_types": [],
        "scope": ALL_SCOPES,
    })
}

/// Counters of provider events, read from `/_harness/stats`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HarnessStats {
    /// Provider events by name (`refresh_token.consumed`, `grant.revoked`,
    /// `end_session.success`, `server_error`, ...).
    pub events: BTreeMap<String, u64>,
    /// Successful token-endpoint grants by `grant_type`.
    pub grants: BTreeMap<String, u64>,
}

impl HarnessStats {
    /// How often the named event happened.
    pub fn event(&self, name: &str) -> u64 {
        self.events.get(name).copied().unwrap_or(0)
    }

    /// How many token requests of this grant type succeeded.
    pub fn grants(&self, grant_type: &str) -> u64 {
        self.grants.get(grant_type).copied().unwrap_or(0)
    }
}

/// A running provider; killed when dropped.
#[derive(Debug)]
pub struct Harness {
    issuer: String,
    child: Child,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Ready {
    ready: bool,
    issuer: String,
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Runs `scripts/ensure-tools.sh interop` once per test process: it installs
/// node and npm when missing (as root) and runs `npm ci` when
/// `node_modules` does not hold the pinned provider.
fn ensure_installed() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-tools.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("interop")
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`scripts/ensure-tools.sh interop` failed ({}); the interop tests need node and npm:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

impl Harness {
    /// Installs (if needed) and starts the provider on a free loopback port.
    pub async fn start(options: HarnessOptions) -> anyhow::Result<Harness> {
        tokio::task::spawn_blocking(ensure_installed)
            .await
            .context("installer task")??;
        let mut settings = json!({
            "port": 0,
            "accessTokenTtl": options.access_token_ttl,
            "refreshTokenTtl": options.refresh_token_ttl,
            "deviceCodeTtl": options.device_code_ttl,
            "clients": options.clients,
            "watchStdin": true,
            "par": match options.par {
                HarnessPar::On => "on",
                HarnessPar::Off => "off",
                HarnessPar::Required => "required",
            },
            "strictOfflineAccess": options.strict_offline_access,
        });
        if let Some(interval) = options.device_interval {
            settings["deviceInterval"] = json!(interval);
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(settings.to_string())
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting `node provider.mjs` (is node installed? scripts/ensure-tools.sh interop installs it)")?;
        let stdout = child.stdout.take().context("provider stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("the provider did not report ready within 60 s")?
            .context("reading the provider's stdout")?;
        let Some(line) = line else {
            let status = child.wait().await?;
            bail!("the provider exited before it was ready ({status}); see its stderr above");
        };
        let ready: Ready =
            serde_json::from_str(&line).with_context(|| format!("provider said: {line}"))?;
        if !ready.ready {
            bail!("the provider is not ready: {line}");
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Harness {
            issuer: ready.issuer,
            child,
            http: reqwest::Client::new(),
        })
    }

    /// The issuer identifier, e.g. `http://127.0.0.1:41751` (no trailing
    /// slash). The GipoNext API (`/v2/userinfo`, `/v2/tenants/{id}/patients`)
    /// is served at the same root.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer as a URL.
    pub fn url(&self) -> Url {
        Url::parse(&self.issuer).expect("the provider reports a valid issuer URL")
    }

    /// Registers one more client (oidc-provider metadata, e.g. from
    /// [`web_client`]); it is validated by the provider.
    pub async fn register_client(&self, metadata: Value) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/_harness/clients", self.issuer))
            .json(&metadata)
            .send()
            .await?;
        if resp.status() != reqwest::StatusCode::CREATED {
            bail!(
                "client registration refused: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Event counters since start.
    pub async fn stats(&self) -> anyhow::Result<HarnessStats> {
        let resp = self
            .http
            .get(format!("{}/_harness/stats", self.issuer))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    /// How many grants `account` (a `sub`) gave `client_id` are still live
    /// at the provider (a refresh token neither rotated out nor revoked).
    pub async fn live_grants(&self, client_id: &str, account: &str) -> anyhow::Result<u64> {
        let resp = self
            .http
            .get(format!("{}/_harness/grants", self.issuer))
            .query(&[("client_id", client_id), ("account", account)])
            .send()
            .await?;
        let body: Value = resp.error_for_status()?.json().await?;
        body["live"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("/_harness/grants: no count in {body}"))
    }

    /// Stops the provider.
    pub async fn shutdown(mut self) {
        let _ = self.child.kill().await;
    }
}
