//! The REST API: the stand-in for api.giponext.it (`/v2/...`).
//!
//! TODO(api engineer): implement.

use std::sync::Arc;

use axum::Router;

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::server::SandboxState;

/// Creates the API's tables and seeds them when empty.
pub fn migrate_and_seed(_db: &Db, _config: &SandboxConfig) -> anyhow::Result<()> {
    Ok(())
}

/// The API's routes.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
}
