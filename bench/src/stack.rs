//! The system under test: a sandbox and one or more backend instances on
//! free loopback ports, a signed-in browser session and a bearer token for
//! calling the sandbox API directly.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use giponext_bff::config::{RedisUrl, StoreLocation, Upstream};
use giponext_bff::session::SessionKey;
use giponext_bff::types::Secret;
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::clients::{CLI_CLIENT_ID, CLI_CLIENT_SECRET, grants};
use giponext_sandbox::config::RateLimit;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{ClientRegistration, RunningSandbox, SandboxConfig, users};
use giponext_shared::ScopeSet;
use reqwest::cookie::{CookieStore as _, Jar};
use url::Url;

/// The tenant every benchmark reads.
pub const TENANT: &str = users::TENANT_MAIN;
/// The API path of the patients page every benchmark reads.
pub const PATIENTS_PAGE: &str = "v2/tenants/tenant-abc123/patients?limit=20";

/// The benchmark backend's client id at the sandbox.
pub const CLIENT_ID: &str = "giponext-connect-bench";
/// Its secret.
pub const CLIENT_SECRET: &str = "bench-secret";

/// Sandbox settings for load: long-lived tokens, no rate limit in the way.
pub fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::for_tests();
    config.access_token_ttl = Duration::from_secs(3600);
    config.rate_limit = RateLimit {
        requests: u32::MAX,
        window: Duration::from_secs(1),
    };
    config
}

/// A sandbox, backend instances and one signed-in browser.
pub struct Stack {
    /// The sandbox (provider and API).
    pub sandbox: RunningSandbox,
    /// The backend instances.
    pub bffs: Vec<RunningBff>,
    /// The browser's HTTP client (cookie store, no redirects).
    pub http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Stack {
    /// Starts `instances` backends on `sandbox`, on in-memory sessions, or
    /// on one Redis (`redis_url`) with a shared key; then signs Mario in
    /// through the first one.
    pub async fn start(
        sandbox: SandboxConfig,
        instances: usize,
        redis_url: Option<String>,
    ) -> anyhow::Result<Stack> {
        let sandbox = giponext_sandbox::start(sandbox).await?;
        let key = SessionKey::generate();
        let mut bffs = Vec::new();
        for _ in 0..instances {
            let mut config = Config::for_tests();
            config.upstream = Upstream::External {
                issuer: sandbox.state().issuer.clone(),
                api_base: sandbox.api_base().clone(),
            };
            config.client_id = CLIENT_ID.to_owned();
            config.client_secret = Secret::new(CLIENT_SECRET);
            config.session_key = Some(key.clone());
            config.timings.upstream_timeout = Duration::from_secs(30);
            if let Some(url) = &redis_url {
                config.session_store = StoreLocation::Redis(RedisUrl(url.clone()));
            }
            bffs.push(giponext_bff::serve(config).await?);
        }
        sandbox.register_client(ClientRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            grant_types: vec![
                grants::AUTHORIZATION_CODE.into(),
                grants::REFRESH_TOKEN.into(),
            ],
            redirect_uris: bffs
                .iter()
                .map(|b| format!("{}/auth/callback", b.url()))
                .collect(),
            post_logout_redirect_uris: bffs.iter().map(|b| format!("{}/", b.url())).collect(),
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        });
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2048)
            .build()?;
        let stack = Stack {
            sandbox,
            bffs,
            http,
            jar,
        };
        stack.login().await?;
        Ok(stack)
    }

    /// Signs Mario in through the first backend, granting everything, the
    /// way a person would (login and consent forms).
    async fn login(&self) -> anyhow::Result<()> {
        sign_in(&self.http, self.bffs[0].url()).await?;
        self.session_cookie()
            .context("no session cookie after login")?;
        Ok(())
    }

    /// The `gx_session` cookie value.
    pub fn session_cookie(&self) -> Option<String> {
        session_cookie(&self.jar, self.bffs[0].url())
    }

    /// `GET {backend}/api/giponext/{PATIENTS_PAGE}` through instance `via`;
    /// the status.
    pub async fn patients_via(&self, via: usize) -> anyhow::Result<u16> {
        let url = format!("{}/api/giponext/{PATIENTS_PAGE}", self.bffs[via].url());
        let res = self.http.get(url).header("X-CSRF", "1").send().await?;
        let status = res.status().as_u16();
        let _ = res.bytes().await?;
        Ok(status)
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        for bff in self.bffs {
            bff.shutdown().await;
        }
        self.sandbox.shutdown().await;
    }
}

/// Signs Mario in through the backend at `base`, granting everything, the
/// way a person would (login and consent forms); `http` keeps the cookies.
pub async fn sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let start = http.get(format!("{base}/auth/login")).send().await?;
    let location = location(&start).context("/auth/login did not redirect")?;
    let auth_url = Url::parse(&location)?;
    let callback = Browser::with_client(http.clone())
        .authorize(&auth_url, users::MARIO, users::PASSWORD, Consent::GrantAll)
        .await?;
    let done = http.get(callback.as_str()).send().await?;
    if !done.status().is_redirection() {
        bail!("the callback answered {}", done.status());
    }
    Ok(())
}

/// The `gx_session` cookie value `jar` holds for the backend at `base`.
pub fn session_cookie(jar: &Jar, base: &str) -> Option<String> {
    let url = Url::parse(base).ok()?;
    let header = jar.cookies(&url)?;
    header
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|c| c.strip_prefix("gx_session=").map(str::to_owned))
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("location")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// An access token for Mario from the sandbox at `issuer`, through the
/// device flow of the seeded CLI client (approved with the login and consent
/// forms).
pub async fn bearer_token(issuer: &str, scope: &str) -> anyhow::Result<String> {
    let issuer = issuer.trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    let auth: serde_json::Value = http
        .post(format!("{issuer}/oauth2/device_authorization"))
        .basic_auth(CLI_CLIENT_ID, Some(CLI_CLIENT_SECRET))
        .form(&[("scope", scope)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let field = |name: &str| -> anyhow::Result<String> {
        auth[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in {auth}"))
    };
    let verification = Url::parse(&field("verification_uri")?)?;
    Browser::new()
        .approve_device(
            &verification,
            &field("user_code")?,
            users::MARIO,
            users::PASSWORD,
            Consent::GrantAll,
        )
        .await?;
    let device_code = field("device_code")?;
    for _ in 0..50 {
        let res = http
            .post(format!("{issuer}/oauth2/token"))
            .basic_auth(CLI_CLIENT_ID, Some(CLI_CLIENT_SECRET))
            .form(&[
                ("grant_type", grants::DEVICE_CODE),
                ("device_code", device_code.as_str()),
            ])
            .send()
            .await?;
        let body: serde_json::Value = res.json().await?;
        if let Some(token) = body["access_token"].as_str() {
            return Ok(token.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    bail!("the device flow did not yield a token")
}
