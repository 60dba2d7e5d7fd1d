//! Newtypes for the values the backend handles: validated local paths,
//! tenant ids, session ids and secrets.
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

/// Where to send the browser after sign-in: a path on this site, checked.
///
/// # Security
/// Open redirect protection (RFC 9700 §4.11): only a path-absolute local
/// reference passes. It must start with exactly one `/`; it may not contain a
/// backslash (browsers read `/\host` as `//host`), `//`, a control or space
/// character, or a `..` segment; and the same holds for the value
/// percent-decoded once and twice, so `/%2F%2Fevil.example` and
/// `/%5Cevil.example` fail too. As a last line, the value resolved against a
/// base URL must keep that base's origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

/// Why a `return_to` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("return_to must be a path on this site starting with a single '/' (got a value that {0})")]
pub struct BadReturnTo(&'static str);

impl ReturnTo {
    /// The console's home.
    pub fn root() -> Self {
        ReturnTo("/".to_owned())
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Validates a value (as received, already decoded once by the query
    /// parser).
    pub fn parse(value: &str) -> Result<Self, BadReturnTo> {
        if value.len() > 2048 {
            return Err(BadReturnTo("is too long"));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(BadReturnTo("contains a space character"));
        }
        check_local(value)?;
        let once = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        check_local(&once)?;
        let twice = percent_encoding::percent_decode_str(&once).decode_utf8_lossy();
        check_local(&twice)?;
        let base = url::Url::parse("http://bff.invalid/").expect("constant base URL parses");
        match base.join(value) {
            Ok(joined) if joined.origin() == base.origin() => Ok(ReturnTo(value.to_owned())),
            _ => Err(BadReturnTo("leaves this site")),
        }
    }
}

fn check_local(value: &str) -> Result<(), BadReturnTo> {
    if !value.starts_with('/') {
        return Err(BadReturnTo("does not start with '/'"));
    }
    if value.contains('\\') {
        return Err(BadReturnTo("contains a backslash"));
    }
    if value.contains("//") {
        return Err(BadReturnTo("contains '//'"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(BadReturnTo("contains a control character"));
    }
    let path = value.split(['?', '#']).next().unwrap_or(value);
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(BadReturnTo("contains a dot segment"));
    }
    Ok(())
}

impl TryFrom<String> for ReturnTo {
    type Error = BadReturnTo;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ReturnTo::parse(&value)
    }
}

impl From<ReturnTo> for String {
    fn from(value: ReturnTo) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_local_paths() {
        for ok in [
            "/",
            "/patients",
            "/patients/42?tab=episodes",
            "/invoices#new",
            "/a%20b",
        ] {
            assert_eq!(ReturnTo::parse(ok).map(|r| r.0), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn return_to_refuses_open_redirects() {
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%255Cevil.example",
            "/%252F%252Fevil.example",
            "%2F%2Fevil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/x/../..//evil.example",
            "/%2e%2e/x",
            "/a\u{0}b",
            "",
            "evil.example",
            "/ /evil.example",
        ] {
            assert!(ReturnTo::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

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
