//! The account server's RS256 signing key: generated on first start, kept in
//! the database (table `signing_keys`) so tokens survive a restart of a
//! file-backed sandbox.
//!
//! In-memory sandboxes (tests) share ONE key per process, generated on first
//! use: RSA key generation costs up to a second even optimised, and a test
//! binary starts dozens of sandboxes. Each in-memory sandbox still has its own
//! issuer URL (its own port), so tokens of one are rejected by another.

use std::sync::OnceLock;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::Db;

/// The key every token of this sandbox is signed with.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Creates the key table.
pub fn migrate(db: &Db) -> anyhow::Result<()> {
    db.with(|c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS signing_keys (
                kid TEXT PRIMARY KEY,
                pem TEXT NOT NULL,
                created_at INTEGER NOT NULL
            );",
        )
    })
    .context("creating table signing_keys")
}

fn generate_pem() -> anyhow::Result<String> {
    let key =
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).context("generating an RSA key")?;
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the RSA key")?
        .to_string())
}

static PROCESS_KEY: OnceLock<String> = OnceLock::new();

impl SigningKey {
    /// The stored key, or a new one stored now. `persistent == false`
    /// (in-memory database) uses the process-wide shared key.
    pub fn load_or_create(db: &Db, persistent: bool) -> anyhow::Result<SigningKey> {
        if !persistent {
            let pem = match PROCESS_KEY.get() {
                Some(pem) => pem.clone(),
                None => {
                    let pem = generate_pem()?;
                    PROCESS_KEY.get_or_init(|| pem).clone()
                }
            };
            return SigningKey::from_pem(&pem);
        }
        let stored: Option<String> = db
            .with(|c| {
                c.query_row(
                    "SELECT pem FROM signing_keys ORDER BY created_at DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
            })
            .context("reading the signing key")?;
        if let Some(pem) = stored {
            return SigningKey::from_pem(&pem);
        }
        let pem = generate_pem()?;
        let key = SigningKey::from_pem(&pem)?;
        db.with(|c| {
            c.execute(
                "INSERT INTO signing_keys (kid, pem, created_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![key.kid, pem, chrono::Utc::now().timestamp()],
            )
        })
        .context("storing the signing key")?;
        Ok(key)
    }

    fn from_pem(pem: &str) -> anyhow::Result<SigningKey> {
        let private =
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).context("parsing the stored signing key")?;
        let public = private.to_public_key();
        let n = public.n().to_bytes_be();
        let e = public.e().to_bytes_be();
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(&n),
                e: URL_SAFE_NO_PAD.encode(&e),
            }),
        };
        // RFC 7638 thumbprint of the public key as the key id.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())
                .context("loading the signing key")?,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            jwk,
        })
    }

    /// The key id (`kid`), the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT with header `typ`.
    pub fn sign<T: Serialize>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Verifies the signature (RS256 only) and the checks in `validation`.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<T, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<T>(token, &self.decoding, validation).map(|d| d.claims)
    }

    /// The public key as a JWK (with `kid`, `use: sig`, `alg: RS256`).
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }
}
