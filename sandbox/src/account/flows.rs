//! In-memory state of flows in progress: browser sessions (cookie
//! `gx_sandbox`), pending authorization requests, authorization codes and
//! device authorizations. None of it needs to survive a restart: a person
//! just starts again (grants and refresh tokens are in the database).

use std::collections::HashMap;
use std::time::Instant;

use giponext_shared::ScopeSet;

/// A browser known to the account server (one `gx_sandbox` cookie).
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// Anti-CSRF token embedded in every form this browser gets.
    pub csrf: String,
    /// Who is logged in, if anyone.
    pub login: Option<Login>,
    /// When the browser was first seen (unused sessions are pruned).
    pub created_at: i64,
}

/// A login at the account server.
#[derive(Debug, Clone)]
pub struct Login {
    /// Session id as given to clients in the ID token's `sid`.
    pub sid: String,
    /// The user.
    pub sub: String,
    /// When the user entered the password.
    pub auth_time: i64,
    /// When the login ends.
    pub expires_at: i64,
}

/// What an authorization or device verification is for.
#[derive(Debug, Clone)]
pub enum RequestKind {
    /// An authorization code request.
    Authorize {
        /// The exact registered redirect URI.
        redirect_uri: String,
        /// The client's `state`, passed back.
        state: Option<String>,
        /// The client's `nonce`, into the ID token.
        nonce: Option<String>,
        /// PKCE S256 challenge.
        code_challenge: String,
    },
    /// A device authorization being approved in a browser.
    Device {
        /// The key of the device authorization (hash of the device code).
        device_key: String,
    },
}

/// A request waiting for the person to log in and consent.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// The browser session it belongs to.
    pub browser: String,
    /// The client.
    pub client_id: String,
    /// The scopes asked for.
    pub scopes: ScopeSet,
    /// `prompt=login` (or `max_age` exceeded) and not yet logged in again.
    pub needs_login: bool,
    /// What it is for.
    pub kind: RequestKind,
    /// Unix time it ends.
    pub expires_at: i64,
}

/// An authorization code (stored under its hash).
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// The user.
    pub sub: String,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Login session id.
    pub sid: String,
    /// Authentication time.
    pub auth_time: i64,
    /// Unix time it expires.
    pub expires_at: i64,
    /// Set once exchanged: the grant created from it (revoked on replay,
    /// RFC 6749 §4.1.2).
    pub exchanged_grant: Option<String>,
}

/// Where a device authorization stands.
#[derive(Debug, Clone)]
pub enum DeviceStatus {
    /// The user has not decided yet.
    Pending,
    /// Approved with these scopes.
    Approved {
        /// The user.
        sub: String,
        /// Granted scopes.
        scopes: ScopeSet,
        /// Login session id.
        sid: String,
        /// Authentication time.
        auth_time: i64,
    },
    /// Denied by the user.
    Denied,
    /// Tokens were issued (the device code is spent).
    Consumed,
}

/// A device authorization (stored under the hash of its device code).
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    /// The client.
    pub client_id: String,
    /// The code the person types, e.g. `BCDF-GHJK`.
    pub user_code: String,
    /// The scopes asked for.
    pub scopes: ScopeSet,
    /// Unix time it expires.
    pub expires_at: i64,
    /// Current minimum polling interval in seconds (grows by 5 on slow_down).
    pub interval: u64,
    /// Last poll.
    pub last_poll: Option<Instant>,
    /// Decision.
    pub status: DeviceStatus,
}

/// A pushed authorization request (RFC 9126), stored under its
/// `request_uri` until its first use or expiry.
#[derive(Debug, Clone)]
pub struct PushedRequest {
    /// The client that pushed it, the only one that may use it.
    pub client_id: String,
    /// The authorization request's parameters as pushed.
    pub params: HashMap<String, String>,
    /// Unix time it expires.
    pub expires_at: i64,
}

/// Everything in flight.
#[derive(Debug, Default)]
pub struct Flows {
    /// Browser sessions by cookie value.
    pub browsers: HashMap<String, BrowserSession>,
    /// Pending requests by id.
    pub requests: HashMap<String, PendingRequest>,
    /// Authorization codes by hash.
    pub codes: HashMap<String, AuthCode>,
    /// Device authorizations by device code hash.
    pub devices: HashMap<String, DeviceAuth>,
    /// Pushed authorization requests by `request_uri`.
    pub pushed: HashMap<String, PushedRequest>,
}

impl Flows {
    /// Drops what expired long ago (called now and then).
    pub fn prune(&mut self, now: i64) {
        self.requests.retain(|_, r| r.expires_at > now);
        self.pushed.retain(|_, p| p.expires_at > now);
        // Keep exchanged codes a while after expiry so a replay is recognised.
        self.codes.retain(|_, c| c.expires_at + 600 > now);
        self.devices.retain(|_, d| d.expires_at + 600 > now);
        // A browser that never logged in is forgotten after a day; one that
        // did, a day after its login ended.
        self.browsers.retain(|_, b| match &b.login {
            Some(login) => login.expires_at + 86_400 > now,
            None => b.created_at + 86_400 > now,
        });
    }

    /// The device authorization with this user code (case- and
    /// dash-insensitive, as people type it).
    pub fn device_by_user_code(&self, user_code: &str) -> Option<(String, DeviceAuth)> {
        let wanted = normalize_user_code(user_code);
        if wanted.is_empty() {
            return None;
        }
        self.devices
            .iter()
            .find(|(_, d)| normalize_user_code(&d.user_code) == wanted)
            .map(|(k, d)| (k.clone(), d.clone()))
    }
}

/// Upper-case letters only: `bcdf ghjk` and `BCDF-GHJK` are the same code.
pub fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_compare_as_people_type_them() {
        assert_eq!(normalize_user_code("bcdf ghjk"), "BCDFGHJK");
        assert_eq!(normalize_user_code("BCDF-GHJK"), "BCDFGHJK");
        let mut flows = Flows::default();
        flows.devices.insert(
            "k".into(),
            DeviceAuth {
                client_id: "c".into(),
                user_code: "BCDF-GHJK".into(),
                scopes: ScopeSet::EMPTY,
                expires_at: i64::MAX,
                interval: 5,
                last_poll: None,
                status: DeviceStatus::Pending,
            },
        );
        assert!(flows.device_by_user_code("bcdfghjk").is_some());
        assert!(flows.device_by_user_code("BCDF-GHJX").is_none());
        assert!(
            flows.device_by_user_code("--").is_none(),
            "an empty code matches nothing"
        );
    }

    #[test]
    fn prune_forgets_old_unused_browsers_and_ended_logins() {
        let mut flows = Flows::default();
        let now = 1_000_000;
        let browser = |created_at, login_expires: Option<i64>| BrowserSession {
            csrf: "c".into(),
            login: login_expires.map(|expires_at| Login {
                sid: "s".into(),
                sub: "u".into(),
                auth_time: created_at,
                expires_at,
            }),
            created_at,
        };
        flows
            .browsers
            .insert("fresh".into(), browser(now - 60, None));
        flows
            .browsers
            .insert("stale".into(), browser(now - 2 * 86_400, None));
        flows.browsers.insert(
            "logged-in".into(),
            browser(now - 2 * 86_400, Some(now + 60)),
        );
        flows.browsers.insert(
            "long-gone".into(),
            browser(now - 3 * 86_400, Some(now - 2 * 86_400)),
        );
        flows.prune(now);
        let mut left: Vec<_> = flows.browsers.keys().cloned().collect();
        left.sort();
        assert_eq!(left, ["fresh", "logged-in"]);
    }
}
