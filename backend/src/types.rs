//! Newtypes for the values the backend handles: validated local paths
//! (re-exported from `giponext-bff-core`), tenant ids, session ids and
//! secrets.
//!
//! # Security
//! Secrets ([`Secret`]) have a redacting `Debug`, no `Display` and no
//! `Serialize`: a log line or a JSON answer cannot carry one by accident. The
//! only way to serialise one is [`secret_serde`], used by the records that
//! are sealed (encrypted) before they reach the store.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// A secret string: a token, a code verifier, a nonce, a client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret of 32 bytes, base64url (256 bits of entropy).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// SHA-256 of the value, hex: safe to use as a lookup key or to compare
    /// in time independent of the secret's content.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether two secrets are equal, comparing digests so the time taken does
    /// not depend on where they first differ.
    pub fn matches(&self, other: &str) -> bool {
        let theirs = hex::encode(Sha256::digest(other.as_bytes()));
        self.digest() == theirs
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Serde for [`Secret`] fields of records that are encrypted before storage.
pub(crate) mod secret_serde {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }

    /// The same for `Option<Secret>`.
    pub(crate) mod option {
        use super::Secret;
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            secret: &Option<Secret>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match secret {
                Some(secret) => s.serialize_some(secret.expose()),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Secret>, D::Error> {
            Option::<String>::deserialize(d).map(|v| v.map(Secret::new))
        }
    }
}

/// A session id: 256 random bits, known only to the browser's cookie. The
/// store keys records by its SHA-256, so a copy of the store does not give
/// usable session ids.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(Secret);

impl SessionId {
    /// A fresh random id.
    pub fn generate() -> Self {
        SessionId(Secret::random())
    }

    /// Reads an id from a cookie value; `None` unless it has the shape of one.
    pub fn from_cookie(value: &str) -> Option<Self> {
        let ok = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| SessionId(Secret::new(value)))
    }

    /// The cookie value.
    pub fn cookie_value(&self) -> &str {
        self.0.expose()
    }

    /// The key under which the store keeps this session.
    pub fn store_key(&self) -> String {
        format!("session:{}", self.0.digest())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// A tenant id as GipoNext spells it: the same alphabet as an API path
/// parameter, so it can be compared with a path segment verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if giponext_shared::operations::is_valid_param(&value) {
            Ok(TenantId(value))
        } else {
            Err(format!(
                "{value:?} is not a tenant id (1-64 letters, digits, '-' or '_')"
            ))
        }
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where to send the browser after sign-in (validated; see the type's
/// `# Security` note). Lives in `giponext-bff-core` so that it is fuzzed.
pub use giponext_bff_core::return_to::{BadReturnTo, ReturnTo};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(id.cookie_value()));
        assert!(s.matches("tok-123"));
        assert!(!s.matches("tok-124"));
    }

    #[test]
    fn session_id_cookie_shape_is_checked() {
        let id = SessionId::generate();
        assert!(SessionId::from_cookie(id.cookie_value()).is_some());
        assert!(SessionId::from_cookie("short").is_none());
        assert!(SessionId::from_cookie(&"a".repeat(42).replace('a', "a;")).is_none());
        assert_ne!(id.store_key(), SessionId::generate().store_key());
    }

    #[test]
    fn tenant_id_uses_path_alphabet() {
        assert!(TenantId::try_from("tenant-abc123".to_owned()).is_ok());
        assert!(TenantId::try_from("../x".to_owned()).is_err());
        assert!(TenantId::try_from(String::new()).is_err());
    }
}
