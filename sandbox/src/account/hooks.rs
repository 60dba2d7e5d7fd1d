//! Test hooks on [`RunningSandbox`] that simulate what happens on the real
//! platform outside the client's control.

use giponext_shared::ScopeSet;

use super::grants;
use crate::server::RunningSandbox;

impl RunningSandbox {
    /// Scope drift: removes `remove` from every live grant of `username`, as
    /// if an administrator or the user withdrew them. The next refresh of
    /// those grants returns (and its access token carries) fewer scopes;
    /// access tokens already issued keep theirs until they expire.
    /// Returns how many grants changed.
    ///
    /// # Panics
    /// If `username` is not a seeded user, or the store fails (tests only).
    pub fn shrink_grants(&self, username: &str, remove: ScopeSet) -> usize {
        let user = crate::users::by_username(username)
            .unwrap_or_else(|| panic!("{username} is not a seeded user"));
        grants::shrink_for_user(&self.state().db, user.sub, remove)
            .expect("the grant store is writable")
    }

    /// Revokes every grant of `username` (as a user revoking the app on the
    /// platform): the next refresh gets `invalid_grant`, and the grants'
    /// access tokens get 401 from the API at once. Returns how many grants
    /// were live.
    ///
    /// # Panics
    /// If `username` is not a seeded user, or the store fails (tests only).
    pub fn revoke_grants(&self, username: &str) -> usize {
        let user = crate::users::by_username(username)
            .unwrap_or_else(|| panic!("{username} is not a seeded user"));
        grants::revoke_for_user(&self.state().db, user.sub).expect("the grant store is writable")
    }

    /// How many grants `username` has given `client_id` that are still live
    /// (not revoked, by the user, by reuse detection or by RFC 7009
    /// revocation): a client that abandons a refresh token without revoking
    /// it leaves one behind.
    ///
    /// # Panics
    /// If `username` is not a seeded user, or the store fails (tests only).
    pub fn live_grants(&self, client_id: &str, username: &str) -> usize {
        let user = crate::users::by_username(username)
            .unwrap_or_else(|| panic!("{username} is not a seeded user"));
        grants::live_count(&self.state().db, client_id, user.sub)
            .expect("the grant store is readable")
    }

    /// A slow token endpoint: every refresh is processed at once (the old
    /// refresh token is rotated out and the refresh is counted in
    /// [`crate::server::Stats`]) but its answer is held back for `delay`, as
    /// on a slow network. A client that dies meanwhile never learns the new
    /// refresh token. `Duration::ZERO` turns it off.
    pub fn delay_refresh_answers(&self, delay: std::time::Duration) {
        self.state().account.set_refresh_delay(delay);
    }

    /// A slow token endpoint of the other kind: every refresh request waits
    /// `hold` before it is processed (counted in
    /// [`crate::server::Stats::token_requests`] at once, as a refresh only
    /// once processed). A client that disconnects meanwhile cancels it: the
    /// refresh token is not rotated. `Duration::ZERO` turns it off.
    pub fn delay_refresh_requests(&self, hold: std::time::Duration) {
        self.state().account.set_refresh_hold(hold);
    }
}
