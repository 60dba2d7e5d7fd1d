//! The account server: the stand-in for account.gipo.it.
//!
//! TODO(account engineer): implement.

use std::sync::Arc;

use axum::Router;

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::server::SandboxState;

/// The account server's own state.
pub struct AccountState {}

impl AccountState {
    /// Loads (or creates and stores) the signing keys and the rest.
    pub fn new(_db: &Db, _config: &SandboxConfig) -> anyhow::Result<Self> {
        Ok(AccountState {})
    }
}

/// Creates the account server's tables.
pub fn migrate(_db: &Db) -> anyhow::Result<()> {
    Ok(())
}

/// The account server's routes.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
}
