//! Encryption of session records at rest: AES-256-GCM.
//!
//! # Security
//! Every record is sealed with a fresh 96-bit random nonce and the record's
//! store key as associated data, so a sealed blob cannot be moved under
//! another session's key (NIST SP 800-38D; the `aes-gcm` crate does the
//! work, nothing is hand-rolled).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};

/// The key that encrypts tokens at rest (`BFF_SESSION_KEY`).
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        SessionKey(Aes256Gcm::generate_key(OsRng).into())
    }

    /// The raw bytes, to persist a development key.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// Seals and opens records.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

/// A sealed blob did not open: wrong key, tampered, or moved.
#[derive(Debug, thiserror::Error)]
#[error("a stored record could not be decrypted (wrong key or tampered)")]
pub struct OpenError;

const NONCE_LEN: usize = 12;

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &SessionKey) -> Self {
        Sealer {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.0)),
        }
    }

    /// `nonce || ciphertext+tag` of `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a blob made by [`Sealer::seal`] with the same `aad`.
    pub fn open(&self, aad: &str, blob: &[u8]) -> Result<Vec<u8>, OpenError> {
        if blob.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

/// Derives the key of each person's console drafts from the session key.
///
/// # Security
/// HKDF-SHA256 (RFC 5869): extract once from `BFF_SESSION_KEY` with its own
/// salt, then expand per person with `info` = purpose label, `sub` and tenant
/// (length-prefixed, so no two pairs share an input). The result opens only
/// that person's drafts in that centre; it is no token and reveals nothing
/// of the session key. Rotating `BFF_SESSION_KEY` makes old drafts unreadable
/// (the console then deletes them), as it does sessions.
#[derive(Clone)]
pub struct DraftKeys(hkdf::Hkdf<sha2::Sha256>);

impl DraftKeys {
    /// The derivation for `key`.
    pub fn new(key: &SessionKey) -> Self {
        DraftKeys(hkdf::Hkdf::new(Some(b"giponext console drafts v1"), &key.0))
    }

    /// The key of `sub`'s drafts in `tenant`, and its public name.
    pub fn for_person(&self, sub: &str, tenant: &str) -> giponext_shared::session::DraftKey {
        let mut info = Vec::with_capacity(sub.len() + tenant.len() + 32);
        for part in [b"draft-key".as_slice(), sub.as_bytes(), tenant.as_bytes()] {
            info.extend_from_slice(&(part.len() as u32).to_be_bytes());
            info.extend_from_slice(part);
        }
        let mut okm = [0u8; 40];
        self.0
            .expand(&info, &mut okm)
            .expect("40 bytes is within HKDF-SHA256's 8160-byte limit");
        giponext_shared::session::DraftKey {
            key: hex::encode(&okm[..32]),
            id: hex::encode(&okm[32..]),
        }
    }
}

impl fmt::Debug for DraftKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DraftKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_keys_differ_per_person_and_centre_and_are_stable() {
        let key = SessionKey::generate();
        let keys = DraftKeys::new(&key);
        let mario = keys.for_person("user-7f3a9c01", "tenant-abc123");
        assert_eq!(
            mario,
            DraftKeys::new(&key).for_person("user-7f3a9c01", "tenant-abc123")
        );
        assert_eq!((mario.key.len(), mario.id.len()), (64, 16));
        for (sub, tenant) in [
            ("user-7f3a9c01", "tenant-def456"),
            ("user-2b81d4e7", "tenant-abc123"),
            // Length prefixes: moving a byte from one part to the other
            // changes the key.
            ("user-7f3a9c01t", "enant-abc123"),
        ] {
            let other = keys.for_person(sub, tenant);
            assert_ne!(other.key, mario.key, "{sub} {tenant}");
            assert_ne!(other.id, mario.id, "{sub} {tenant}");
        }
        let rotated = DraftKeys::new(&SessionKey::generate());
        assert_ne!(
            rotated.for_person("user-7f3a9c01", "tenant-abc123").key,
            mario.key
        );
        assert!(!format!("{mario:?}").contains(&mario.key), "redacted");
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let sealer = Sealer::new(&SessionKey::generate());
        let blob = sealer.seal("session:a", b"refresh-token-xyz");
        assert!(
            !blob.windows(5).any(|w| w == b"token"),
            "plaintext must not show"
        );
        assert_eq!(
            sealer.open("session:a", &blob).unwrap(),
            b"refresh-token-xyz"
        );
        assert!(sealer.open("session:b", &blob).is_err(), "bound to its key");
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("session:a", &tampered).is_err());
        let other = Sealer::new(&SessionKey::generate());
        assert!(other.open("session:a", &blob).is_err(), "wrong key");
        assert!(sealer.open("session:a", b"short").is_err());
        assert_ne!(
            sealer.seal("k", b"x"),
            sealer.seal("k", b"x"),
            "fresh nonce each time"
        );
    }
}
