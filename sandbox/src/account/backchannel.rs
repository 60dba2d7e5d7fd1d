//! OpenID Connect Back-Channel Logout 1.0: when a person logs out at the
//! account server, every client that got tokens from that login session and
//! registered a `backchannel_logout_uri` receives a signed logout token.
//!
//! # Security
//! The logout token is an RS256 JWT (`typ: logout+jwt`) with `iss`, `aud`
//! (the client), `iat`, `exp`, `jti`, `sub`, `sid` and the back-channel
//! logout event, and never a `nonce` (§2.4). It is POSTed as the form field
//! `logout_token` (§2.5); no cookies are sent.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::grants::{self, now, random_token};
use crate::server::SandboxState;

/// The event that marks a logout token (Back-Channel Logout §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

/// Notifies the clients of login session `sid` of `sub`. Waits for each
/// receiver at most 2 s; failures are logged, never shown to the person.
pub async fn notify(state: &SandboxState, sid: &str, sub: &str) {
    let client_ids = match grants::clients_of_session(&state.db, sid) {
        Ok(ids) => ids,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "finding the clients of a login session");
            return;
        }
    };
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(%err, "building the back-channel logout client");
            return;
        }
    };
    for client_id in client_ids {
        let Some(uri) = state
            .client(&client_id)
            .and_then(|c| c.backchannel_logout_uri)
        else {
            continue;
        };
        let iat = now();
        let claims = LogoutClaims {
            iss: &state.issuer,
            aud: &client_id,
            iat,
            exp: iat + 120,
            jti: random_token(),
            sub,
            sid,
            events: json!({ LOGOUT_EVENT: {} }),
        };
        let token = match state.account.key.sign("logout+jwt", &claims) {
            Ok(token) => token,
            Err(err) => {
                tracing::error!(%err, "signing a logout token");
                continue;
            }
        };
        match http
            .post(&uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
        {
            Ok(res) if res.status().is_success() => {
                tracing::info!(client_id, "back-channel logout delivered");
            }
            Ok(res) => {
                tracing::warn!(client_id, status = %res.status(), "back-channel logout refused")
            }
            Err(err) => {
                tracing::warn!(client_id, error = %err, "back-channel logout not delivered")
            }
        }
    }
}
