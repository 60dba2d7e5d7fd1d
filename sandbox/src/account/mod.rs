//! The account server: the stand-in for account.gipo.it.
//!
//! - [`keys`]: the RS256 signing key (persisted) and its JWK.
//! - [`grants`]: grants, refresh tokens (rotated) and remembered consents.
//! - [`tokens`]: access and ID tokens, and [`tokens::verify_access_token`]
//!   used by the API.

pub mod grants;
pub mod keys;
pub mod tokens;

use std::sync::Arc;

use axum::Router;

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::server::SandboxState;

/// The account server's own state.
pub struct AccountState {
    /// The signing key of every token.
    pub key: keys::SigningKey,
}

impl AccountState {
    /// Loads (or creates and stores) the signing keys and the rest.
    pub fn new(db: &Db, config: &SandboxConfig) -> anyhow::Result<Self> {
        let key = keys::SigningKey::load_or_create(db, config.data_path.is_some())?;
        Ok(AccountState { key })
    }
}

/// Creates the account server's tables.
pub fn migrate(db: &Db) -> anyhow::Result<()> {
    keys::migrate(db)?;
    grants::migrate(db)?;
    Ok(())
}

/// The account server's routes.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
}
