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

#[cfg(test)]
mod tests {
    use super::*;

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
