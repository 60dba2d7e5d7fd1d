//! Access tokens (RS256 JWTs, RFC 9068 style) and ID tokens, and their
//! verification by the API.
//!
//! # Security
//! Access tokens are checked for signature (RS256 only, the sandbox key),
//! issuer, audience `giponext-api`, expiry (no leeway: tests use short
//! lifetimes) and that their grant was not revoked (RFC 7009 §2: revoking a
//! refresh token may revoke the access tokens of the same grant).

use giponext_shared::ScopeSet;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use super::grants::{self, Grant, NewGrant, now, random_token};
use crate::server::SandboxState;

/// The audience of every access token: the GipoNext API.
pub const API_AUDIENCE: &str = "giponext-api";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (the sandbox's issuer URL, no trailing slash).
    pub iss: String,
    /// The user.
    pub sub: String,
    /// Always [`API_AUDIENCE`].
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The user's tenant.
    pub tenant: String,
    /// The grant it was issued under.
    pub gid: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
}

impl AccessClaims {
    /// The granted scopes.
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).known
    }
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Expired.
    #[error("the access token expired")]
    Expired,
    /// Not a valid token of this sandbox (signature, issuer, audience, format).
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    /// Its grant was revoked.
    #[error("the access token was revoked")]
    Revoked,
    /// The grant store could not be read.
    #[error("internal error checking the token")]
    Internal(#[source] anyhow::Error),
}

/// The validation rules for our access tokens; `check_exp == false` for
/// revocation, which accepts expired tokens.
pub(crate) fn access_validation(issuer: &str, check_exp: bool) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[API_AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 0;
    v.validate_exp = check_exp;
    v
}

/// Verifies an access token as the API (a resource server) does.
pub fn verify_access_token(state: &SandboxState, token: &str) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = state
        .account
        .key
        .verify(token, &access_validation(&state.issuer, true))
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            other => TokenError::Invalid(format!("{other:?}")),
        })?;
    if grants::is_revoked(&state.db, &claims.gid).map_err(TokenError::Internal)? {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}

/// Signs an access token for `grant` carrying `scopes`; returns it and its
/// lifetime in seconds.
pub fn issue_access_token(
    state: &SandboxState,
    grant: &Grant,
    scopes: ScopeSet,
) -> anyhow::Result<(String, i64)> {
    let ttl = state.config.access_token_ttl.as_secs() as i64;
    let iat = now();
    let claims = AccessClaims {
        iss: state.issuer.clone(),
        sub: grant.sub.clone(),
        aud: API_AUDIENCE.to_owned(),
        client_id: grant.client_id.clone(),
        scope: scopes.to_wire(),
        tenant: grant.tenant.clone(),
        gid: grant.gid.clone(),
        exp: iat + ttl,
        iat,
        jti: random_token(),
    };
    Ok((state.account.key.sign("at+jwt", &claims)?, ttl))
}

/// Creates a grant for a seeded user and returns an access token for it,
/// without the browser flow. For API tests only; the token is validated
/// normally.
///
/// # Panics
/// If `username` is not a seeded user (a mistake in the test).
pub fn issue_access_token_for_tests(
    state: &SandboxState,
    username: &str,
    scopes: ScopeSet,
    client_id: &str,
) -> String {
    let user = crate::users::by_username(username)
        .unwrap_or_else(|| panic!("{username} is not a seeded user"));
    let grant = grants::create(
        &state.db,
        NewGrant {
            client_id,
            sub: user.sub,
            tenant: user.tenant,
            scopes,
            sid: None,
            auth_time: now(),
        },
    )
    .expect("the in-process grant store is writable");
    issue_access_token(state, &grant, scopes)
        .expect("signing with the sandbox key works")
        .0
}

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The login session at the account server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Access token hash (OpenID Connect Core §3.1.3.6): base64url of the
    /// left half of SHA-256 of the access token issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Authorized party (the client).
    pub azp: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// The user's tenant.
    pub tenant: String,
}

/// The `at_hash` of an access token signed with RS256.
pub fn access_token_hash(access_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs an ID token for `grant`, issued together with `access_token`.
pub fn issue_id_token(
    state: &SandboxState,
    grant: &Grant,
    nonce: Option<String>,
    access_token: &str,
) -> anyhow::Result<String> {
    let user = crate::users::by_sub(&grant.sub)
        .ok_or_else(|| anyhow::anyhow!("grant {} names an unknown user", grant.gid))?;
    let iat = now();
    let claims = IdClaims {
        iss: state.issuer.clone(),
        sub: grant.sub.clone(),
        aud: grant.client_id.clone(),
        exp: iat + state.config.id_token_ttl.as_secs() as i64,
        iat,
        auth_time: grant.auth_time,
        nonce,
        sid: grant.sid.clone(),
        at_hash: Some(access_token_hash(access_token)),
        azp: grant.client_id.clone(),
        name: user.name.to_owned(),
        email: user.email.to_owned(),
        tenant: grant.tenant.clone(),
    };
    Ok(state.account.key.sign("JWT", &claims)?)
}

/// Checks an ID token we issued (signature and issuer; expiry ignored, as an
/// `id_token_hint` may be expired: OpenID RP-Initiated Logout §2).
pub fn verify_id_token_hint(state: &SandboxState, token: &str) -> Option<IdClaims> {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[&state.issuer]);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "sub", "aud"]);
    state.account.key.verify(token, &v).ok()
}
