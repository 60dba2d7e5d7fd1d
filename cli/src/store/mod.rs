//! Where the tokens live: the OS keyring, or (only on explicit opt-in) a
//! private file.
//!
//! # Security
//! There is no silent plain-text fallback: without a keyring and without
//! `--insecure-storage` / `GIPONEXT_INSECURE_STORAGE=1`, [`Store::open`] fails
//! with exit code 6. A rotated refresh token is saved (atomically, for the
//! file) before anything uses it (RFC 9700 §4.14.2 rotation: the old one is
//! dead as soon as the new one is issued).

mod file;
mod keyring_store;
mod lock;

use anyhow::Result;
use chrono::{DateTime, Utc};
use giponext_shared::ScopeSet;
use giponext_shared::api::TenantRef;
use serde::{Deserialize, Serialize};

use crate::config::{Config, KeyringMode};
use crate::exit::{Exit, Failure};
use crate::secret::Secret;

pub use file::FileStore;
pub use keyring_store::KeyringStore;
pub use lock::RefreshLock;

/// The signed-in person, as `/v2/userinfo` said at login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUser {
    /// Subject.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// The medical centre.
    pub tenant: Option<TenantRef>,
}

/// One login: tokens, scopes and who it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The issuer that issued the tokens.
    pub issuer: String,
    /// The client they were issued to.
    pub client_id: String,
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, when `offline_access` was granted.
    pub refresh_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// What the token carries.
    pub granted: ScopeSet,
    /// What the last consent asked for.
    pub requested: ScopeSet,
    /// Who logged in.
    pub user: Option<StoredUser>,
}

impl Credentials {
    /// Scopes asked for at the last consent and refused.
    pub fn declined(&self) -> ScopeSet {
        self.requested.difference(self.granted)
    }
}

/// The token store chosen for this run.
#[derive(Debug)]
pub enum Store {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring(KeyringStore),
    /// The opt-in file.
    File(FileStore),
}

impl Store {
    /// Picks the keyring when one answers, else the file when the user opted
    /// in, else refuses (exit 6).
    pub fn open(config: &Config) -> Result<Store> {
        let keyring_error = match config.keyring {
            KeyringMode::Off => "disabled by GIPONEXT_KEYRING=off".to_owned(),
            KeyringMode::Auto => match KeyringStore::open(&config.account_key()) {
                Ok(store) => return Ok(Store::Keyring(store)),
                Err(e) => e.to_string(),
            },
        };
        tracing::debug!(reason = %keyring_error, "OS keyring not available");
        if config.insecure_storage {
            return Ok(Store::File(FileStore::new(
                config.config_dir.clone(),
                config.account_key(),
            )));
        }
        Err(Failure::new(
            Exit::KeyringUnavailable,
            format!(
                "no OS keyring is available ({keyring_error}), and tokens are never \
                 written to a plain file without consent. Re-run with --insecure-storage \
                 (or GIPONEXT_INSECURE_STORAGE=1) to keep them in a private file under {}",
                config.config_dir.display()
            ),
        )
        .into())
    }

    /// The stored login, if any.
    pub fn load(&self) -> Result<Option<Credentials>> {
        match self {
            Store::Keyring(k) => k.load(),
            Store::File(f) => f.load(),
        }
    }

    /// Saves the login, replacing the previous one.
    pub fn save(&self, credentials: &Credentials) -> Result<()> {
        match self {
            Store::Keyring(k) => k.save(credentials),
            Store::File(f) => f.save(credentials),
        }
    }

    /// Deletes the stored login; no error when there is none.
    pub fn delete(&self) -> Result<()> {
        match self {
            Store::Keyring(k) => k.delete(),
            Store::File(f) => f.delete(),
        }
    }

    /// Where the tokens are, for `auth status`.
    pub fn describe(&self) -> String {
        match self {
            Store::Keyring(_) => "OS keyring".to_owned(),
            Store::File(f) => format!("file {}", f.path().display()),
        }
    }
}
