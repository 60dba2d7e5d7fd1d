//! The backend's two cookies: the session and the pre-login state.
//!
//! # Security
//! - Both are `HttpOnly` (no script reads them) and hold only a random id;
//!   everything else stays server-side.
//! - `SameSite=Lax`, not `Strict`: the provider sends the browser back to
//!   `/auth/callback` with a cross-site top-level navigation, and that request
//!   must carry the pre-login cookie (to check `state`) and the session cookie
//!   (to extend an existing session on incremental consent). `Strict` would
//!   drop both there. Lax still withholds them from cross-site sub-requests and
//!   POSTs, and every state-changing call additionally needs the `X-CSRF: 1`
//!   header, which a cross-site form or image cannot set (the header forces a
//!   CORS preflight that this backend never approves).
//! - Over https the cookies are `Secure` and the session cookie takes the
//!   `__Host-` prefix (Path=/, no Domain: bound to this exact origin);
//!   the pre-login cookie, scoped to `/auth`, takes `__Secure-`. Plain http
//!   is accepted only for a loopback `BFF_PUBLIC_URL` (development), where
//!   browsers would refuse `Secure` cookies from `http://127.0.0.1`.

use axum_extra::extract::cookie::{Cookie, SameSite};
use cookie::time::Duration as CookieDuration;

/// Cookie names and attributes for one deployment.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    /// The session cookie's name.
    pub session: &'static str,
    /// The pre-login cookie's name.
    pub login: &'static str,
    /// Whether cookies are `Secure`.
    pub secure: bool,
}

/// The pre-login cookie's path: only the `/auth` routes need it.
pub const LOGIN_COOKIE_PATH: &str = "/auth";

impl CookiePolicy {
    /// The policy for a public URL scheme.
    pub fn for_https(https: bool) -> Self {
        if https {
            CookiePolicy {
                session: "__Host-gx_session",
                login: "__Secure-gx_login",
                secure: true,
            }
        } else {
            CookiePolicy {
                session: "gx_session",
                login: "gx_login",
                secure: false,
            }
        }
    }

    fn base(&self, name: &'static str, value: String, path: &'static str) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path(path)
            .build()
    }

    /// The session cookie (a session cookie in the browser's sense too: no
    /// Max-Age, the server decides when it ends).
    pub fn session_cookie(&self, value: &str) -> Cookie<'static> {
        self.base(self.session, value.to_owned(), "/")
    }

    /// Clears the session cookie.
    pub fn clear_session(&self) -> Cookie<'static> {
        let mut c = self.base(self.session, String::new(), "/");
        c.set_max_age(CookieDuration::ZERO);
        c
    }

    /// The pre-login cookie, living `ttl_secs`.
    pub fn login_cookie(&self, value: &str, ttl_secs: i64) -> Cookie<'static> {
        let mut c = self.base(self.login, value.to_owned(), LOGIN_COOKIE_PATH);
        c.set_max_age(CookieDuration::seconds(ttl_secs));
        c
    }

    /// Clears the pre-login cookie.
    pub fn clear_login(&self) -> Cookie<'static> {
        let mut c = self.base(self.login, String::new(), LOGIN_COOKIE_PATH);
        c.set_max_age(CookieDuration::ZERO);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_over_http_and_https() {
        let dev = CookiePolicy::for_https(false);
        let s = dev.session_cookie("abc").to_string();
        assert!(s.starts_with("gx_session=abc"));
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Path=/"));
        assert!(!s.contains("Secure"));

        let prod = CookiePolicy::for_https(true);
        let s = prod.session_cookie("abc").to_string();
        assert!(s.starts_with("__Host-gx_session=abc"));
        assert!(s.contains("Secure") && s.contains("HttpOnly") && s.contains("Path=/"));
        assert!(!s.contains("Domain"), "__Host- forbids Domain");
        let l = prod.login_cookie("xyz", 600).to_string();
        assert!(l.starts_with("__Secure-gx_login=xyz"));
        assert!(
            l.contains("Path=/auth") && l.contains("Max-Age=600") && l.contains("SameSite=Lax")
        );
        assert!(prod.clear_session().to_string().contains("Max-Age=0"));
    }
}
