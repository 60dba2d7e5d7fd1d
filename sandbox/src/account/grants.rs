//! Grant storage: one row per authorization a user gave a client (table
//! `grants`), the refresh tokens issued under it (table `refresh_tokens`,
//! stored as SHA-256 hashes) and the last consent per user and client (table
//! `consents`, for "già concesso" on the consent page).
//!
//! # Security
//! Refresh tokens are rotated on every use; presenting a rotated-out one
//! revokes the whole grant (RFC 9700 §4.14.2). Revoking a grant invalidates
//! its access tokens too ([`super::tokens::verify_access_token`] checks it).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use giponext_shared::ScopeSet;
use rand::RngCore;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::db::Db;

/// Creates the grant tables.
pub fn migrate(db: &Db) -> anyhow::Result<()> {
    db.with(|c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS grants (
                gid TEXT PRIMARY KEY,
                client_id TEXT NOT NULL,
                sub TEXT NOT NULL,
                tenant TEXT NOT NULL,
                scope TEXT NOT NULL,
                original_scope TEXT NOT NULL,
                sid TEXT,
                auth_time INTEGER NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL,
                last_used_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS grants_by_sub ON grants (sub);
            CREATE TABLE IF NOT EXISTS refresh_tokens (
                token_hash TEXT PRIMARY KEY,
                gid TEXT NOT NULL REFERENCES grants (gid),
                rotated INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS consents (
                sub TEXT NOT NULL,
                client_id TEXT NOT NULL,
                scope TEXT NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (sub, client_id)
            );",
        )
    })
    .context("creating the grant tables")
}

/// A random URL-safe token of 32 bytes of entropy.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One authorization a user gave a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Grant id (`gid` claim of its access tokens).
    pub gid: String,
    /// The client it was given to.
    pub client_id: String,
    /// The user (`sub`).
    pub sub: String,
    /// The user's tenant.
    pub tenant: String,
    /// What it grants now (may shrink: scope drift hook).
    pub scopes: ScopeSet,
    /// What the user granted originally (a refresh may ask for no more).
    pub original_scopes: ScopeSet,
    /// The login session at the account server it came from.
    pub sid: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Last time a token was issued under it.
    pub last_used_at: i64,
}

/// What is needed to create a grant.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Client.
    pub client_id: &'a str,
    /// User.
    pub sub: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Login session.
    pub sid: Option<&'a str>,
    /// Authentication time.
    pub auth_time: i64,
}

fn row_to_grant(r: &rusqlite::Row<'_>) -> rusqlite::Result<Grant> {
    let scope: String = r.get(4)?;
    let original: String = r.get(5)?;
    Ok(Grant {
        gid: r.get(0)?,
        client_id: r.get(1)?,
        sub: r.get(2)?,
        tenant: r.get(3)?,
        scopes: ScopeSet::parse(&scope).known,
        original_scopes: ScopeSet::parse(&original).known,
        sid: r.get(6)?,
        auth_time: r.get(7)?,
        revoked: r.get::<_, i64>(8)? != 0,
        last_used_at: r.get(9)?,
    })
}

const GRANT_COLUMNS: &str =
    "gid, client_id, sub, tenant, scope, original_scope, sid, auth_time, revoked, last_used_at";

/// A fresh grant id.
pub fn new_gid() -> String {
    format!("g-{}", &random_token()[..22])
}

/// Stores a new grant and returns it.
pub fn create(db: &Db, new: NewGrant<'_>) -> anyhow::Result<Grant> {
    create_with_gid(db, new_gid(), new)
}

/// Stores a new grant under a given id (from [`new_gid`]).
pub fn create_with_gid(db: &Db, gid: String, new: NewGrant<'_>) -> anyhow::Result<Grant> {
    let now = now();
    let wire = new.scopes.to_wire();
    db.with(|c| {
        c.execute(
            "INSERT INTO grants (gid, client_id, sub, tenant, scope, original_scope, sid, auth_time, revoked,
                                 created_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, 0, ?8, ?8)",
            params![gid, new.client_id, new.sub, new.tenant, wire, new.sid, new.auth_time, now],
        )
    })
    .context("storing a grant")?;
    Ok(Grant {
        gid,
        client_id: new.client_id.to_owned(),
        sub: new.sub.to_owned(),
        tenant: new.tenant.to_owned(),
        scopes: new.scopes,
        original_scopes: new.scopes,
        sid: new.sid.map(str::to_owned),
        auth_time: new.auth_time,
        revoked: false,
        last_used_at: now,
    })
}

/// The grant with this id.
pub fn get(db: &Db, gid: &str) -> anyhow::Result<Option<Grant>> {
    db.with(|c| {
        c.query_row(
            &format!("SELECT {GRANT_COLUMNS} FROM grants WHERE gid = ?1"),
            [gid],
            row_to_grant,
        )
        .optional()
    })
    .context("reading a grant")
}

/// Whether the grant is revoked (or unknown).
pub fn is_revoked(db: &Db, gid: &str) -> anyhow::Result<bool> {
    let revoked: Option<i64> = db
        .with(|c| {
            c.query_row("SELECT revoked FROM grants WHERE gid = ?1", [gid], |r| {
                r.get(0)
            })
            .optional()
        })
        .context("reading a grant")?;
    Ok(revoked.is_none_or(|r| r != 0))
}

/// Revokes a grant: its refresh and access tokens stop working.
pub fn revoke(db: &Db, gid: &str) -> anyhow::Result<()> {
    db.with(|c| c.execute("UPDATE grants SET revoked = 1 WHERE gid = ?1", [gid]))
        .context("revoking a grant")?;
    Ok(())
}

/// Issues a new refresh token under `gid` and returns it.
pub fn new_refresh_token(db: &Db, gid: &str) -> anyhow::Result<String> {
    let token = random_token();
    db.with(|c| {
        c.execute(
            "INSERT INTO refresh_tokens (token_hash, gid, rotated, created_at) VALUES (?1, ?2, 0, ?3)",
            params![token_hash(&token), gid, now()],
        )
    })
    .context("storing a refresh token")?;
    Ok(token)
}

/// What a presented refresh token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshLookup {
    /// Not a refresh token of ours.
    Unknown,
    /// Already rotated out (the grant id is given so it can be revoked).
    Rotated(Grant),
    /// The current refresh token of this grant (which may be revoked).
    Current(Grant),
}

/// Looks a refresh token up.
pub fn lookup_refresh_token(db: &Db, token: &str) -> anyhow::Result<RefreshLookup> {
    let row: Option<(String, i64)> = db
        .with(|c| {
            c.query_row(
                "SELECT gid, rotated FROM refresh_tokens WHERE token_hash = ?1",
                [token_hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .context("reading a refresh token")?;
    let Some((gid, rotated)) = row else {
        return Ok(RefreshLookup::Unknown);
    };
    let Some(grant) = get(db, &gid)? else {
        return Ok(RefreshLookup::Unknown);
    };
    Ok(if rotated != 0 {
        RefreshLookup::Rotated(grant)
    } else {
        RefreshLookup::Current(grant)
    })
}

/// Marks a refresh token as used; `false` if it was already rotated (a race
/// lost to a concurrent refresh, treated as reuse by the caller).
pub fn rotate_out(db: &Db, token: &str) -> anyhow::Result<bool> {
    let changed = db
        .with(|c| {
            c.execute(
                "UPDATE refresh_tokens SET rotated = 1 WHERE token_hash = ?1 AND rotated = 0",
                [token_hash(token)],
            )
        })
        .context("rotating a refresh token")?;
    Ok(changed == 1)
}

/// Records that a token was just issued under the grant.
pub fn touch(db: &Db, gid: &str) -> anyhow::Result<()> {
    db.with(|c| {
        c.execute(
            "UPDATE grants SET last_used_at = ?2 WHERE gid = ?1",
            params![gid, now()],
        )
    })
    .context("updating a grant")?;
    Ok(())
}

/// Removes `remove` from every live grant of `sub` (test hook: scope drift).
/// Returns how many grants changed.
pub fn shrink_for_user(db: &Db, sub: &str, remove: ScopeSet) -> anyhow::Result<usize> {
    let grants: Vec<Grant> = db
        .with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE sub = ?1 AND revoked = 0"
            ))?;
            let rows = stmt.query_map([sub], row_to_grant)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("reading grants")?;
    for g in &grants {
        let wire = g.scopes.difference(remove).to_wire();
        db.with(|c| {
            c.execute(
                "UPDATE grants SET scope = ?2 WHERE gid = ?1",
                params![g.gid, wire],
            )
        })
        .context("shrinking a grant")?;
    }
    Ok(grants.len())
}

/// Revokes every grant of `sub` (test hook). Returns how many were live.
pub fn revoke_for_user(db: &Db, sub: &str) -> anyhow::Result<usize> {
    db.with(|c| {
        c.execute(
            "UPDATE grants SET revoked = 1 WHERE sub = ?1 AND revoked = 0",
            [sub],
        )
    })
    .context("revoking grants")
}

/// How many grants of `sub` to `client_id` are live (not revoked).
pub fn live_count(db: &Db, client_id: &str, sub: &str) -> anyhow::Result<usize> {
    let n: i64 = db
        .with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM grants WHERE client_id = ?1 AND sub = ?2 AND revoked = 0",
                [client_id, sub],
                |r| r.get(0),
            )
        })
        .context("counting grants")?;
    Ok(n as usize)
}

/// The scopes `sub` last granted `client_id`, if any.
pub fn last_consent(db: &Db, sub: &str, client_id: &str) -> anyhow::Result<Option<ScopeSet>> {
    let scope: Option<String> = db
        .with(|c| {
            c.query_row(
                "SELECT scope FROM consents WHERE sub = ?1 AND client_id = ?2",
                [sub, client_id],
                |r| r.get(0),
            )
            .optional()
        })
        .context("reading a consent")?;
    Ok(scope.map(|s| ScopeSet::parse(&s).known))
}

/// Remembers what `sub` granted `client_id` just now.
pub fn record_consent(db: &Db, sub: &str, client_id: &str, scopes: ScopeSet) -> anyhow::Result<()> {
    db.with(|c| {
        c.execute(
            "INSERT INTO consents (sub, client_id, scope, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sub, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
            params![sub, client_id, scopes.to_wire(), now()],
        )
    })
    .context("storing a consent")?;
    Ok(())
}

/// The clients holding live grants from login session `sid`.
pub fn clients_of_session(db: &Db, sid: &str) -> anyhow::Result<Vec<String>> {
    db.with(|c| {
        let mut stmt = c.prepare(
            "SELECT DISTINCT client_id FROM grants WHERE sid = ?1 AND revoked = 0 ORDER BY client_id",
        )?;
        let rows = stmt.query_map([sid], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
    })
    .context("reading the clients of a login session")
}
