//! Revoking the grants of Redis sessions that expire by themselves.
//!
//! SQLite keeps an expired record until the purge takes it and revokes its
//! grant (RFC 7009, issue 14). Redis drops a key at its `PXAT`, and with it
//! the only copy of the refresh token, which would then stay live at the
//! provider. So for a session (a `session:` key) the store also keeps a
//! copy of the sealed record, `gx:ended:…` (the same hash tag on Cluster),
//! until [`AFTERLIFE_MS`] past the session's expiry, and notes the expiry
//! in one sorted set, `gx:expiring`. The purge
//! ([`super::RedisStore`]'s `take_expired`) takes the members that are due,
//! each with its own `ZREM` (so of several instances purging, one takes a
//! given session), then the copy (`GETDEL`), and hands the record back to
//! be revoked and dropped from its user's index.
//!
//! The copy is sealed like the record: nothing more is readable in Redis.
//! It is written beside the record, not atomically with it (on Cluster the
//! sorted set lives in another slot): a write lost between the two only
//! loses the revocation of that session (its grant then expires at the
//! provider on its own, as before). If no instance purges within the
//! afterlife (all of them down for an hour), the same.

use super::{Conn, Keys, StoreError, query};

/// The keys whose records hold a grant to revoke when they expire.
pub const REVOCABLE: &str = "session:";

/// How long the copy outlives the session: twelve purge rounds (one every
/// five minutes), so a restart or a slow provider does not lose it.
pub const AFTERLIFE_MS: i64 = 3600 * 1000;

/// The sorted set of sessions by expiry (ms since the epoch).
const EXPIRING: &str = "gx:expiring";

/// Whether `k` is a session whose grant must be revoked when it expires.
pub fn revocable(k: &str) -> bool {
    k.starts_with(REVOCABLE)
}

/// Keeps the copy of session `k`'s sealed record and notes its expiry.
pub async fn remember(
    conn: &Conn,
    keys: &Keys,
    k: &str,
    sealed: &[u8],
    expires_at_ms: i64,
) -> Result<(), StoreError> {
    let () = query(
        conn,
        redis::cmd("SET")
            .arg(keys.ended(k))
            .arg(sealed)
            .arg("PXAT")
            .arg(expires_at_ms + AFTERLIFE_MS),
    )
    .await?;
    let _: i64 = query(
        conn,
        redis::cmd("ZADD").arg(EXPIRING).arg(expires_at_ms).arg(k),
    )
    .await?;
    Ok(())
}

/// Forgets session `k` (it ended otherwise: sign-out, rotation; its grant
/// was revoked there).
pub async fn forget(conn: &Conn, keys: &Keys, k: &str) -> Result<(), StoreError> {
    let _: i64 = query(conn, redis::cmd("DEL").arg(keys.ended(k))).await?;
    let _: i64 = query(conn, redis::cmd("ZREM").arg(EXPIRING).arg(k)).await?;
    Ok(())
}

/// Takes at most `limit` sessions expired by `now_ms`: their keys and the
/// sealed copies of their records.
pub async fn take_due(
    conn: &Conn,
    keys: &Keys,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let due: Vec<String> = query(
        conn,
        redis::cmd("ZRANGEBYSCORE")
            .arg(EXPIRING)
            .arg("-inf")
            .arg(now_ms)
            .arg("LIMIT")
            .arg(0)
            .arg(limit),
    )
    .await?;
    let mut taken = Vec::new();
    for k in due {
        let ours: i64 = query(conn, redis::cmd("ZREM").arg(EXPIRING).arg(&k)).await?;
        if ours != 1 {
            continue; // another instance took it
        }
        let copy: Option<Vec<u8>> = query(conn, redis::cmd("GETDEL").arg(keys.ended(&k))).await?;
        if let Some(sealed) = copy {
            taken.push((k, sealed));
        }
    }
    Ok(taken)
}
