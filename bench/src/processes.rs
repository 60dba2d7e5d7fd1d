//! The proxy-hop benchmark's system under test as a user deploys it: the
//! `giponext-sandbox` and `giponext-bff` release binaries (the backend
//! built without `embedded-sandbox`, as for production), each its own OS
//! process on a free loopback port with its default log settings, the
//! backend on a SQLite session file with its own `BFF_SESSION_KEY`. Neither
//! shares a runtime or a process with the other, with nginx or with this
//! benchmark, so each one's CPU can be read from `/proc`.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use giponext_sandbox::clients::{CLI_CLIENT_ID, CLI_CLIENT_SECRET, grants};
use giponext_shared::ScopeSet;
use reqwest::cookie::Jar;

use crate::stack::{CLIENT_ID, CLIENT_SECRET, session_cookie, sign_in};
use crate::tools::{ChildGuard, free_port, release_binary, wait_for_port};

/// The sandbox and the backend as child processes, and a signed-in browser.
pub struct Deployment {
    /// The issuer (and API root), `http://127.0.0.1:PORT`.
    pub sandbox_url: String,
    /// `127.0.0.1:PORT` of the sandbox.
    pub sandbox_addr: String,
    /// The sandbox's process id.
    pub sandbox_pid: u32,
    /// The backend's public URL.
    pub bff_url: String,
    /// The backend's process id.
    pub bff_pid: u32,
    /// The browser's HTTP client (cookie store, no redirects).
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    // Dropped in this order: the backend, then the sandbox, then their files.
    _bff: ChildGuard,
    _sandbox: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// Builds both binaries if needed, starts the sandbox (long-lived
    /// tokens, no rate limit in the way), then the backend against it, and
    /// signs Mario in through the backend.
    pub async fn start() -> anyhow::Result<Deployment> {
        let sandbox_exe = release_binary("giponext-sandbox", "giponext-sandbox", &[]).await?;
        let bff_exe =
            release_binary("giponext-bff", "giponext-bff", &["--no-default-features"]).await?;
        let dir = tempfile::tempdir()?;
        let (sandbox_port, bff_port) = (free_port()?, free_port()?);
        let sandbox_addr = format!("127.0.0.1:{sandbox_port}");
        let sandbox_url = format!("http://{sandbox_addr}");
        let bff_url = format!("http://127.0.0.1:{bff_port}");

        let clients = dir.path().join("clients.toml");
        std::fs::write(&clients, clients_toml(&bff_url)?)?;
        let sandbox = spawn(
            Command::new(&sandbox_exe)
                .env("SANDBOX_LISTEN", &sandbox_addr)
                .env("SANDBOX_PUBLIC_URL", &sandbox_url)
                .env("SANDBOX_DATA", ":memory:")
                .env("SANDBOX_ACCESS_TOKEN_TTL", "3600")
                .env("SANDBOX_RATE_LIMIT", format!("{}/1", u32::MAX))
                .env("SANDBOX_DEVICE_POLL_INTERVAL", "1")
                .env("SANDBOX_CLIENTS", &clients),
            &dir.path().join("sandbox.log"),
        )?;
        wait_for_port(sandbox_port)
            .await
            .context("the sandbox did not start (see sandbox.log)")?;

        let bff = spawn(
            Command::new(&bff_exe)
                .env_remove("BFF_CONFIG")
                .env("GIPONEXT_ISSUER", &sandbox_url)
                .env("GIPONEXT_API_BASE", format!("{sandbox_url}/"))
                .env("GIPONEXT_CLIENT_ID", CLIENT_ID)
                .env("GIPONEXT_CLIENT_SECRET", CLIENT_SECRET)
                .env("GIPONEXT_REGISTERED_SCOPES", ScopeSet::all().to_wire())
                .env_remove("GIPONEXT_ALLOWED_TENANTS")
                .env("BFF_LISTEN", format!("127.0.0.1:{bff_port}"))
                .env("BFF_PUBLIC_URL", &bff_url)
                .env("BFF_SESSION_STORE", dir.path().join("sessions.sqlite3"))
                .env("BFF_SESSION_KEY", random_key()?)
                .env("BFF_STATIC_DIR", dir.path())
                .env("BFF_UPSTREAM_TIMEOUT_SECS", "30"),
            &dir.path().join("bff.log"),
        )?;
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        wait_ready(&http, &bff_url).await?;

        let deployment = Deployment {
            sandbox_url,
            sandbox_addr,
            sandbox_pid: sandbox.id(),
            bff_url,
            bff_pid: bff.id(),
            http,
            jar,
            _bff: ChildGuard::new(bff),
            _sandbox: ChildGuard::new(sandbox),
            _dir: dir,
        };
        sign_in(&deployment.http, &deployment.bff_url).await?;
        deployment
            .session_cookie()
            .context("no session cookie after login")?;
        Ok(deployment)
    }

    /// The `gx_session` cookie value.
    pub fn session_cookie(&self) -> Option<String> {
        session_cookie(&self.jar, &self.bff_url)
    }
}

/// Starts `command` with no stdin and its output into `log`.
fn spawn(command: &mut Command, log: &Path) -> anyhow::Result<std::process::Child> {
    let log = std::fs::File::create(log)?;
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))
}

/// Waits until the backend's `/readyz` says it found the provider.
async fn wait_ready(http: &reqwest::Client, bff_url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{bff_url}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the backend did not become ready (see bff.log)")
}

/// The sandbox's registered clients: the benchmark's backend (redirect URI
/// on its port) and the seeded confidential CLI client, whose device flow
/// yields the direct runs' bearer token.
fn clients_toml(bff_url: &str) -> anyhow::Result<String> {
    let scopes = serde_json::to_string(
        &ScopeSet::all()
            .to_wire()
            .split(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    )?;
    let list = |items: &[&str]| serde_json::to_string(items);
    Ok(format!(
        "[[client]]\n\
         client_id = {}\nclient_secret = {}\ngrant_types = {}\n\
         redirect_uris = {}\npost_logout_redirect_uris = {}\nscopes = {scopes}\n\n\
         [[client]]\n\
         client_id = {}\nclient_secret = {}\ngrant_types = {}\nscopes = {scopes}\n",
        serde_json::to_string(CLIENT_ID)?,
        serde_json::to_string(CLIENT_SECRET)?,
        list(&[grants::AUTHORIZATION_CODE, grants::REFRESH_TOKEN])?,
        list(&[&format!("{bff_url}/auth/callback")])?,
        list(&[&format!("{bff_url}/")])?,
        serde_json::to_string(CLI_CLIENT_ID)?,
        serde_json::to_string(CLI_CLIENT_SECRET)?,
        list(&[grants::DEVICE_CODE, grants::REFRESH_TOKEN])?,
    ))
}

/// A fresh `BFF_SESSION_KEY`: base64 of 32 bytes from the OS.
fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_reads_the_clients_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("clients.toml");
        std::fs::write(&path, clients_toml("http://127.0.0.1:4321")?)?;
        let clients = giponext_sandbox::config::load_clients(&path.display().to_string())?;
        assert_eq!(clients.len(), 2);
        let web = &clients[0];
        assert_eq!(web.client_id, CLIENT_ID);
        assert_eq!(web.client_secret.as_deref(), Some(CLIENT_SECRET));
        assert_eq!(web.redirect_uris, ["http://127.0.0.1:4321/auth/callback"]);
        assert_eq!(web.post_logout_redirect_uris, ["http://127.0.0.1:4321/"]);
        assert_eq!(web.scopes, ScopeSet::all());
        assert!(web.allows_grant(grants::AUTHORIZATION_CODE));
        let cli = &clients[1];
        assert_eq!(cli.client_id, CLI_CLIENT_ID);
        assert!(cli.allows_grant(grants::DEVICE_CODE));
        assert_eq!(cli.scopes, ScopeSet::all());
        Ok(())
    }

    #[test]
    fn session_keys_are_32_random_bytes() -> anyhow::Result<()> {
        let (a, b) = (random_key()?, random_key()?);
        assert_ne!(a, b);
        let bytes = base64::engine::general_purpose::STANDARD.decode(&a)?;
        assert_eq!(bytes.len(), 32);
        Ok(())
    }
}
