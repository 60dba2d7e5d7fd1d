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
}
