//! Ending a sign-in at the provider: RFC 7009 revocation and the
//! RP-Initiated Logout 1.0 URL.

use url::Url;

use super::{OidcError, Provider, basic_client_auth, send};
use crate::types::Secret;

impl Provider {
    /// Revokes a refresh token (RFC 7009), if the provider has the endpoint.
    /// Returns whether it was revoked.
    pub async fn revoke(
        &self,
        refresh_token: &Secret,
        client_id: &str,
        client_secret: &Secret,
    ) -> Result<bool, OidcError> {
        let Some(endpoint) = &self.extra.revocation_endpoint else {
            return Ok(false);
        };
        let request = basic_client_auth(self.http.post(endpoint.clone()), client_id, client_secret)
            .form(&[
                ("token", refresh_token.expose()),
                ("token_type_hint", "refresh_token"),
            ]);
        let response = send(request).await?;
        if response.status().is_success() {
            Ok(true)
        } else {
            Err(OidcError::Refused(format!(
                "revocation answered {}",
                response.status()
            )))
        }
    }

    /// The RP-Initiated Logout URL, if the provider has one.
    ///
    /// # Security
    /// It carries the ID token (`id_token_hint`): it is handed to the browser
    /// only as a redirect's `Location`, never in a body page script reads
    /// (see `routes::auth::logout`).
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&Secret>,
        client_id: &str,
        post_logout_redirect_uri: &str,
        state: &Secret,
    ) -> Option<Url> {
        let mut url = self.extra.end_session_endpoint.clone()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint.expose());
            }
            q.append_pair("client_id", client_id);
            q.append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
            q.append_pair("state", state.expose());
        }
        Some(url)
    }
}
