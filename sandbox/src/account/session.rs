//! The browser session at the account server: cookie `gx_sandbox`.
//!
//! # Security
//! The cookie is a random id (HttpOnly, SameSite=Lax, Path=/; Secure when the
//! issuer is https). Every form carries the session's anti-CSRF token and
//! every pending request is bound to the browser that started it, so a
//! request id leaked to another browser is useless.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::flows::{BrowserSession, Login};
use super::grants::{now, random_token};
use crate::server::SandboxState;

/// The cookie name.
pub const COOKIE: &str = "gx_sandbox";

/// The browser's session id and a copy of its session, creating one (and
/// setting the cookie on the returned jar) if the browser has none.
pub fn browser(state: &SandboxState, jar: CookieJar) -> (CookieJar, String, BrowserSession) {
    let mut flows = state.account.flows();
    if let Some(id) = jar.get(COOKIE).map(|c| c.value().to_owned())
        && let Some(session) = flows.browsers.get_mut(&id)
    {
        if session
            .login
            .as_ref()
            .is_some_and(|l| l.expires_at <= now())
        {
            session.login = None;
        }
        return (jar, id.clone(), session.clone());
    }
    let id = random_token();
    let session = BrowserSession {
        csrf: random_token(),
        login: None,
        created_at: now(),
    };
    flows.browsers.insert(id.clone(), session.clone());
    flows.prune(now());
    let mut cookie = Cookie::new(COOKIE, id.clone());
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.base_url.scheme() == "https");
    (jar.add(cookie), id, session)
}

/// Records a fresh login in the browser session.
pub fn log_in(state: &SandboxState, browser: &str, sub: &str) -> Login {
    let now = now();
    let login = Login {
        sid: format!("s-{}", &random_token()[..22]),
        sub: sub.to_owned(),
        auth_time: now,
        expires_at: now + state.config.login_session_ttl.as_secs() as i64,
    };
    let mut flows = state.account.flows();
    if let Some(session) = flows.browsers.get_mut(browser) {
        session.login = Some(login.clone());
    }
    login
}

/// Ends the login of a browser session (a new CSRF token too).
pub fn log_out(state: &SandboxState, browser: &str) {
    let mut flows = state.account.flows();
    if let Some(session) = flows.browsers.get_mut(browser) {
        session.login = None;
        session.csrf = random_token();
    }
}

/// Whether `given` is the session's CSRF token.
pub fn csrf_ok(session: &BrowserSession, given: Option<&str>) -> bool {
    given.is_some_and(|g| g == session.csrf)
}
