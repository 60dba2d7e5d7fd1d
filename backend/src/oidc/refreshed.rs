//! The ID token of a refresh response, checked per OpenID Connect Core 1.0
//! §12.2: signature (the provider's keys, allowed algorithms, never
//! `none`), `iss`, `aud` and `exp` as at sign-in, and then against the ID
//! token of the original authentication: the same `iss`, `sub` and `aud`,
//! the same `auth_time` when both state it, and no `nonce` or the original
//! one.

use chrono::{DateTime, Utc};
use openidconnect::Nonce;
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier};

use super::{OidcError, Provider};
use crate::types::Secret;

impl Provider {
    /// Validates `token` (from a refresh) against the original ID token of
    /// the session (if kept) and its subject.
    pub(super) async fn check_refreshed_id_token(
        &self,
        token: &CoreIdToken,
        original: Option<&Secret>,
        subject: &str,
    ) -> Result<(), OidcError> {
        let original_token = original
            .map(|t| t.expose().parse::<CoreIdToken>())
            .transpose()
            .map_err(|e| OidcError::BadIdToken(format!("the original ID token: {e}")))?;
        let original_claims = original_token.as_ref().map(read_own).transpose()?;
        let original_nonce = original_claims
            .and_then(|c| c.nonce())
            .map(|n| n.secret().clone());
        let nonce_check = || {
            let original_nonce = original_nonce.clone();
            move |nonce: Option<&Nonce>| match (nonce, &original_nonce) {
                (None, _) => Ok(()),
                (Some(n), Some(o)) if n.secret() == o => Ok(()),
                (Some(_), _) => Err("the nonce differs from the original ID token's".to_owned()),
            }
        };
        let claims = self.verified_claims(token, nonce_check).await?;
        let bad = |what: &str| {
            Err(OidcError::BadIdToken(format!(
                "the refreshed ID token has another {what} than the original (OpenID Connect Core 12.2)"
            )))
        };
        if claims.subject().as_str() != subject {
            return bad("sub");
        }
        let Some(original) = original_claims else {
            return Ok(());
        };
        if claims.subject() != original.subject() {
            return bad("sub");
        }
        if claims.issuer() != original.issuer() {
            return bad("iss");
        }
        let audiences = |c: &CoreIdTokenClaims| {
            let mut a: Vec<String> = c.audiences().iter().map(|a| a.to_string()).collect();
            a.sort();
            a
        };
        if audiences(claims) != audiences(original) {
            return bad("aud");
        }
        if let (Some(new), Some(old)) = (claims.auth_time(), original.auth_time())
            && new != old
        {
            return bad("auth_time");
        }
        Ok(())
    }
}

/// Reads the claims of an ID token this backend validated at sign-in and
/// kept sealed in the session (it may have expired since): no checks.
fn read_own(token: &CoreIdToken) -> Result<&CoreIdTokenClaims, OidcError> {
    let reader = CoreIdTokenVerifier::new_insecure_without_verification()
        .set_time_fn(|| DateTime::<Utc>::MIN_UTC);
    token
        .claims(&reader, |_: Option<&Nonce>| Ok(()))
        .map_err(|e| OidcError::BadIdToken(format!("the original ID token: {e}")))
}
