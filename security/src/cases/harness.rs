//! A backend on the embedded sandbox with browsers that sign in through
//! the sandbox's forms, keeping every token for the leak scan.

use giponext_bff::types::SessionId;
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::testing::{Browser, Consent};
use url::Url;

use crate::support::{Client, Seen};

/// The seeded tenants.
pub const TENANT: &str = "tenant-abc123";
/// Luca Verdi's tenant.
pub const OTHER_TENANT: &str = "tenant-def456";

/// A backend on the embedded sandbox with a browser.
pub struct SignedIn {
    pub bff: RunningBff,
    pub client: Client,
    pub browser: Browser,
    pub secrets: Vec<String>,
    pub id_tokens: Vec<String>,
}

impl SignedIn {
    pub async fn start() -> Self {
        Self::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let bff = giponext_bff::serve(config).await.expect("backend starts");
        let client = Client::new(bff.url());
        let browser = Browser::with_client(client.http.clone());
        SignedIn {
            bff,
            client,
            browser,
            secrets: Vec::new(),
            id_tokens: Vec::new(),
        }
    }

    /// A second browser on the same backend.
    pub fn other_browser(&self) -> (Client, Browser) {
        let client = Client::new(self.bff.url());
        let browser = Browser::with_client(client.http.clone());
        (client, browser)
    }

    /// Signs `user` in through the sandbox forms, asking for `scope`.
    pub async fn login_as(
        &mut self,
        client: &Client,
        browser: &Browser,
        user: &str,
        scope: &str,
    ) -> Seen {
        let start = client.get(&format!("/auth/login?scope={scope}")).await;
        let auth = Url::parse(start.location()).expect("authorization URL");
        let callback = browser
            .authorize(&auth, user, "sandbox", Consent::GrantAll)
            .await
            .expect("sandbox login");
        if let Some((_, code)) = callback.query_pairs().find(|(k, _)| k == "code") {
            self.secrets.push(code.into_owned());
        }
        let done = client.get(callback.as_str()).await;
        self.remember(client).await;
        done
    }

    pub async fn login(&mut self, user: &str, scope: &str) -> Seen {
        let (client, browser) = (self.client.clone(), self.browser.clone());
        self.login_as(&client, &browser, user, scope).await
    }

    /// Keeps the session's tokens for the leak scan.
    pub async fn remember(&mut self, client: &Client) {
        let Some(id) = client
            .session_cookie()
            .and_then(|c| SessionId::from_cookie(&c))
        else {
            return;
        };
        if let Ok(Some(r)) = self.bff.state().sessions.load(&id).await {
            self.secrets.push(r.tokens.access.expose().to_owned());
            if let Some(refresh) = &r.tokens.refresh {
                self.secrets.push(refresh.expose().to_owned());
            }
            if let Some(id_token) = &r.tokens.id_token {
                self.id_tokens.push(id_token.expose().to_owned());
            }
        }
    }
}
