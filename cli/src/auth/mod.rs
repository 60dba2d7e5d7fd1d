//! Logging in and staying logged in: the device flow (RFC 8628), refresh
//! with rotation, revocation (RFC 7009), and the stored session.

mod device;
pub mod provider;
pub mod token;

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use giponext_shared::{Scope, ScopeSet};

use crate::config::Config;
use crate::exit::{Exit, Failure};
use crate::secret::Secret;
use crate::store::{Credentials, Store, StoredUser};
use crate::ui::Ui;
pub use device::DeviceOptions;
use token::{OAuthClient, RefreshError, TokenSet};

/// Refresh this long before the access token's stated expiry, so a request
/// does not leave with a token that dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(15);

/// The scopes every login asks for on top of the data scopes.
pub const BASE_SCOPES: ScopeSet = ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess]);

/// The CLI's session: configuration, token store and the stored login.
#[derive(Debug)]
pub struct Session {
    /// The configuration.
    pub config: Config,
    /// The HTTP client (no redirects: OAuth endpoints must not be bounced).
    pub http: reqwest::Client,
    /// Where the login is kept.
    pub store: Store,
    oauth: Option<OAuthClient>,
    /// The stored login, if any.
    pub credentials: Option<Credentials>,
}

/// What `logout` managed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider revoked the grant.
    Revoked,
    /// The provider has no revocation endpoint; only the local copy is gone.
    Unsupported,
    /// Revocation failed (network, error answer); only the local copy is gone.
    Failed,
}

/// The HTTP client every call uses.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("giponext-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

impl Session {
    /// Opens the store (may fail with exit 6) and loads the login of this
    /// issuer and client.
    pub fn open(config: Config) -> Result<Session> {
        let store = Store::open(&config)?;
        let credentials = store
            .load()?
            .filter(|c| c.issuer == config.issuer && c.client_id == config.client_id);
        Ok(Session {
            http: http_client()?,
            config,
            store,
            oauth: None,
            credentials,
        })
    }

    /// The OAuth client, discovering the provider on first use.
    pub async fn oauth(&mut self) -> Result<&OAuthClient> {
        if self.oauth.is_none() {
            let provider = provider::discover(&self.http, &self.config.issuer).await?;
            self.oauth = Some(OAuthClient::new(
                self.http.clone(),
                provider,
                self.config.client_id.clone(),
                self.config.client_secret.clone(),
            ));
        }
        Ok(self.oauth.as_ref().expect("set just above"))
    }

    /// The stored login, or exit 1 with "not logged in".
    pub fn require_login(&self) -> Result<&Credentials> {
        self.credentials.as_ref().ok_or_else(|| {
            Failure::new(
                Exit::Generic,
                format!(
                    "not logged in to {}; run `giponext login`",
                    self.config.issuer
                ),
            )
            .into()
        })
    }

    /// The scopes the current token carries (empty when logged out).
    pub fn granted(&self) -> ScopeSet {
        self.credentials
            .as_ref()
            .map_or(ScopeSet::EMPTY, |c| c.granted)
    }

    /// A usable access token, refreshed first when it is about to expire.
    pub async fn access_token(&mut self) -> Result<Secret> {
        let creds = self.require_login()?;
        let fresh = creds.expires_at - chrono::Duration::from_std(EXPIRY_MARGIN)? > Utc::now();
        if !fresh {
            self.refresh().await?;
        }
        Ok(self.require_login()?.access_token.clone())
    }

    /// Uses the refresh token now, persisting the rotated one before the new
    /// access token is returned to anyone.
    ///
    /// # Security
    /// With rotation (RFC 9700 §4.14.2) the old refresh token is dead once the
    /// new one is issued, and replaying it revokes the grant: the new one is
    /// written to the store first, so a crash right after never strands the
    /// user with only a dead token.
    ///
    /// Several `giponext` processes (parallel batch jobs) may want to refresh
    /// at once: an exclusive lock serialises them, and a process that finds
    /// the stored refresh token already rotated by another adopts the stored
    /// login instead of replaying its stale token (which would revoke the
    /// whole grant).
    pub async fn refresh(&mut self) -> Result<()> {
        let _lock = crate::store::RefreshLock::acquire(&self.config.config_dir).await?;
        let mine = self.require_login()?.refresh_token.clone();
        if let Some(stored) = self
            .store
            .load()?
            .filter(|c| c.issuer == self.config.issuer && c.client_id == self.config.client_id)
            && stored.refresh_token != mine
        {
            tracing::debug!("another process refreshed meanwhile; using its tokens");
            self.credentials = Some(stored);
            return Ok(());
        }
        let creds = self.require_login()?.clone();
        let Some(refresh_token) = creds.refresh_token.clone() else {
            return Err(Failure::new(
                Exit::Generic,
                "the access token expired and there is no refresh token (offline_access was \
                 not granted); run `giponext login`",
            )
            .into());
        };
        let result = self
            .oauth()
            .await?
            .refresh(&refresh_token, creds.granted)
            .await;
        let tokens = match result {
            Ok(tokens) => tokens,
            Err(RefreshError::InvalidGrant(why)) => {
                // The grant is gone for good: forget it so `auth status` tells the truth.
                self.store.delete()?;
                self.credentials = None;
                return Err(Failure::new(
                    Exit::Generic,
                    format!("the session is over ({why}); run `giponext login`"),
                )
                .into());
            }
            Err(RefreshError::Other(e)) => return Err(e),
        };
        let updated = Credentials {
            access_token: tokens.access_token,
            // A provider that does not rotate keeps the old one valid.
            refresh_token: tokens.refresh_token.or(Some(refresh_token)),
            expires_at: expiry(tokens.expires_in),
            granted: tokens.granted,
            ..creds
        };
        self.store
            .save(&updated)
            .context("saving the rotated refresh token")?;
        tracing::debug!("access token refreshed");
        self.credentials = Some(updated);
        Ok(())
    }

    /// Runs a device login for `scopes` (plus `openid offline_access`), then
    /// saves the new login, replacing (and revoking) any previous one.
    pub async fn device_login(
        &mut self,
        scopes: ScopeSet,
        ui: &Ui,
        options: &DeviceOptions,
    ) -> Result<()> {
        let requested = scopes.union(BASE_SCOPES);
        let tokens = {
            let client_id = self.config.client_id.clone();
            let oauth = self.oauth().await?.clone();
            device::run(&oauth, &client_id, requested, ui, options).await?
        };
        let previous = self.credentials.take();
        let user = crate::api::fetch_user(&self.http, &self.config.api_base, &tokens.access_token)
            .await
            .map_err(|e| tracing::warn!("could not read /v2/userinfo: {e:#}"))
            .ok();
        let creds = credentials_from(&self.config, tokens, requested, user);
        self.store.save(&creds).context("saving the login")?;
        self.credentials = Some(creds);
        if let Some(old) = previous.and_then(|p| p.refresh_token) {
            // The old grant is superseded: do not leave it alive at the provider.
            if let Err(e) = self.oauth().await?.revoke(&old, "refresh_token").await {
                tracing::warn!("could not revoke the previous grant: {e:#}");
            }
        }
        Ok(())
    }

    /// Revokes the grant at the provider and deletes the local copy; the
    /// local copy is deleted even when revocation fails.
    pub async fn logout(&mut self) -> Result<Option<Revocation>> {
        let Some(creds) = self.credentials.take() else {
            return Ok(None);
        };
        // Revoking the refresh token revokes the grant and, at providers that
        // tie them (RFC 7009 §2.1), its access tokens; revoke both to be sure.
        let outcome = match self.oauth().await {
            Ok(oauth) => {
                let mut outcome = Revocation::Revoked;
                let tokens = creds
                    .refresh_token
                    .iter()
                    .map(|t| (t, "refresh_token"))
                    .chain([(&creds.access_token, "access_token")]);
                for (token, hint) in tokens {
                    match oauth.revoke(token, hint).await {
                        Ok(true) => {}
                        Ok(false) => outcome = Revocation::Unsupported,
                        Err(e) => {
                            tracing::warn!("revocation failed: {e:#}");
                            outcome = Revocation::Failed;
                        }
                    }
                }
                outcome
            }
            Err(e) => {
                tracing::warn!("cannot reach the provider to revoke: {e:#}");
                Revocation::Failed
            }
        };
        self.store.delete()?;
        Ok(Some(outcome))
    }
}

fn expiry(expires_in: Option<Duration>) -> chrono::DateTime<Utc> {
    // Never assume a lifetime (platform facts): unstated means "use it until
    // a 401", which the API client handles by refreshing.
    let lifetime = expires_in.unwrap_or(Duration::from_secs(3600));
    Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1))
}

fn credentials_from(
    config: &Config,
    tokens: TokenSet,
    requested: ScopeSet,
    user: Option<StoredUser>,
) -> Credentials {
    Credentials {
        issuer: config.issuer.clone(),
        client_id: config.client_id.clone(),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: expiry(tokens.expires_in),
        granted: tokens.granted,
        requested,
        user,
    }
}
