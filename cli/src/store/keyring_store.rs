//! The OS keyring, through the `keyring` crate.

use anyhow::{Context, Result};

use super::Credentials;

/// The keyring service name of every entry.
const SERVICE: &str = "giponext-cli";

/// One keyring entry per account (client id at issuer).
pub struct KeyringStore {
    entry: keyring::Entry,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyringStore")
    }
}

impl KeyringStore {
    /// Opens the entry, failing when no keyring answers.
    pub fn open(account: &str) -> Result<KeyringStore> {
        if let Err(e) = keyring::Entry::store_status() {
            anyhow::bail!("{e}");
        }
        let entry = keyring::Entry::new(SERVICE, account).context("opening the keyring entry")?;
        // A store can exist and still refuse access (locked, no daemon):
        // probe once so the failure is told now, not after a login.
        match entry.get_secret() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(KeyringStore { entry }),
            Err(e) => Err(e).context("the keyring does not answer"),
        }
    }

    /// The stored login.
    pub fn load(&self) -> Result<Option<Credentials>> {
        match self.entry.get_secret() {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).context("the keyring entry is not readable")?,
            )),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e).context("reading the keyring"),
        }
    }

    /// Replaces the stored login.
    pub fn save(&self, credentials: &Credentials) -> Result<()> {
        let bytes = serde_json::to_vec(credentials).context("encoding credentials")?;
        self.entry
            .set_secret(&bytes)
            .context("writing to the keyring")
    }

    /// Deletes the stored login.
    pub fn delete(&self) -> Result<()> {
        match self.entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e).context("deleting from the keyring"),
        }
    }
}
