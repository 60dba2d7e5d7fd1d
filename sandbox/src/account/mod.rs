//! The account server: the stand-in for account.gipo.it.
//!
//! Routes (all under the issuer URL):
//! - `GET /.well-known/openid-configuration`, `GET /oauth2/jwks`
//! - `GET /oauth2/authorize` → `/oauth2/login` → `/oauth2/consent` (HTML
//!   forms, cookie `gx_sandbox`) → redirect with `code`, `state`, `iss`
//! - `POST /oauth2/par` (RFC 9126; only with `SANDBOX_PAR` on or required)
//! - `POST /oauth2/token` (authorization_code, refresh_token, device_code)
//! - `POST /oauth2/device_authorization`, `GET|POST /device` (verification)
//! - `POST /oauth2/revoke`, `GET|POST /oauth2/logout`
//!
//! Modules: [`keys`] (RS256 key, persisted), [`grants`] (grants, rotated
//! refresh tokens, remembered consents), [`tokens`] (access and ID tokens and
//! [`tokens::verify_access_token`] used by the API), [`flows`] (in-memory
//! state of flows in progress), [`hooks`] (test hooks on `RunningSandbox`).

pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod endsession;
pub mod errors;
pub mod flows;
pub mod grants;
pub mod hooks;
pub mod interact;
pub mod keys;
pub mod pages;
pub mod par;
pub mod session;
pub mod token;
pub mod tokens;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::server::SandboxState;

/// The account server's own state.
pub struct AccountState {
    /// The signing key of every token.
    pub key: keys::SigningKey,
    flows: Mutex<flows::Flows>,
    /// Test hook: how long a refresh answer is held back after the refresh
    /// was processed (milliseconds; 0 = none).
    refresh_delay_ms: std::sync::atomic::AtomicU64,
    /// Test hook: how long a refresh request waits before it is processed
    /// (milliseconds; 0 = none).
    refresh_hold_ms: std::sync::atomic::AtomicU64,
}

impl AccountState {
    /// Loads (or creates and stores) the signing keys and the rest.
    pub fn new(db: &Db, config: &SandboxConfig) -> anyhow::Result<Self> {
        let key = keys::SigningKey::load_or_create(db, config.data_path.is_some())?;
        Ok(AccountState {
            key,
            flows: Mutex::new(flows::Flows::default()),
            refresh_delay_ms: std::sync::atomic::AtomicU64::new(0),
            refresh_hold_ms: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How long refresh answers are held back (see
    /// `RunningSandbox::delay_refresh_answers`).
    pub fn refresh_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.refresh_delay_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Sets how long refresh answers are held back.
    pub fn set_refresh_delay(&self, delay: std::time::Duration) {
        self.refresh_delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How long refresh requests wait before being processed (see
    /// `RunningSandbox::delay_refresh_requests`).
    pub fn refresh_hold(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.refresh_hold_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Sets how long refresh requests wait before being processed.
    pub fn set_refresh_hold(&self, hold: std::time::Duration) {
        self.refresh_hold_ms.store(
            hold.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The flows in progress. Hold the guard briefly and never across an
    /// `.await` or a database call.
    pub fn flows(&self) -> MutexGuard<'_, flows::Flows> {
        self.flows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates the account server's tables.
pub fn migrate(db: &Db) -> anyhow::Result<()> {
    keys::migrate(db)?;
    grants::migrate(db)?;
    Ok(())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        pages::CSS,
    )
}

/// The account server's routes.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/oauth2/jwks", get(discovery::jwks))
        .route(
            "/oauth2/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(
            "/oauth2/login",
            get(interact::login_form).post(interact::login_submit),
        )
        .route(
            "/oauth2/consent",
            get(interact::consent_form).post(interact::consent_submit),
        )
        .route("/oauth2/par", post(par::push))
        .route("/oauth2/token", post(token::token))
        .route(
            "/oauth2/device_authorization",
            post(device::device_authorization),
        )
        .route(
            "/device",
            get(device::device_page).post(device::device_submit),
        )
        .route("/oauth2/revoke", post(endsession::revoke))
        .route(
            "/oauth2/logout",
            get(endsession::logout).post(endsession::logout),
        )
        .route("/oauth2/assets/sandbox.css", get(stylesheet))
}
