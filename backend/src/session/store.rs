//! Where sealed records live: a small key-value contract and its SQLite
//! implementation.
//!
//! The contract is deliberately that of a key-value store with expiry
//! (`put` with an expiry time, `get`, an atomic `take`, `delete`): a Redis
//! implementation for several backend instances maps one to one onto
//! `SET key value EXAT t`, `GET`, `GETDEL`, `DEL`, and lets Redis expire keys
//! itself. Values are opaque: they arrive sealed (encrypted), so no store
//! ever sees a token.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(String);

impl StoreError {
    /// A store failure described by `message` (never a value).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        StoreError(message.into())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Sealed records with an expiry, by key.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` under `key` until `expires_at`, replacing any value.
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The unexpired value under `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes and returns the unexpired value under `key`, atomically: two
    /// concurrent takes never both get it (one-time login state).
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Removes every expired value; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Removes and returns up to `limit` expired values whose key starts
    /// with `prefix`, so the caller can act on what they held (revoke an
    /// expired session's grant) before they are gone. A store that expires
    /// values by itself (Redis) has nothing to hand back.
    async fn take_expired(
        &self,
        _prefix: &str,
        _now: DateTime<Utc>,
        _limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(Vec::new())
    }
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The SQLite store: one connection behind a mutex, used from blocking
/// threads. Enough for one backend instance; see the module doc for scale-out.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        Self::init(Connection::open(path)?)
    }

    /// An in-memory store.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS records (
                 key TEXT PRIMARY KEY,
                 expires_at INTEGER NOT NULL,
                 value BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at);",
        )?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError("connection lock poisoned".into()))?;
            f(&mut guard).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError(format!("store task failed: {e}")))?
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO records (key, expires_at, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET expires_at = ?2, value = ?3",
                params![key, expires_at.timestamp_millis(), value],
            )
            .map(|_| ())
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT value FROM records WHERE key = ?1 AND expires_at > ?2",
                params![key, now_ms()],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let value: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM records WHERE key = ?1 AND expires_at > ?2",
                    params![key, now_ms()],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM records WHERE key = ?1", params![key])?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM records WHERE key = ?1", params![key])
                .map(|_| ())
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with(move |c| {
            c.execute(
                "DELETE FROM records WHERE expires_at <= ?1",
                params![now.timestamp_millis()],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn take_expired(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        // `prefix` is one of ours ("session:"), never user input; LIKE's
        // wildcards are not in it.
        let pattern = format!("{prefix}%");
        self.with(move |c| {
            let tx = c.transaction()?;
            let taken = {
                let mut stmt = tx.prepare(
                    "SELECT key, value FROM records WHERE expires_at <= ?1 AND key LIKE ?2 LIMIT ?3",
                )?;
                let rows = stmt.query_map(
                    params![now.timestamp_millis(), pattern, limit as i64],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            for (key, _) in &taken {
                tx.execute("DELETE FROM records WHERE key = ?1", params![key])?;
            }
            tx.commit()?;
            Ok(taken)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_take_delete_and_expiry() {
        let store = SqliteStore::in_memory().unwrap();
        let later = Utc::now() + chrono::Duration::minutes(5);
        store.put("a", b"1".to_vec(), later).await.unwrap();
        store.put("a", b"2".to_vec(), later).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.take("a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.take("a").await.unwrap(), None, "take is one-time");

        store
            .put(
                "old",
                b"x".to_vec(),
                Utc::now() - chrono::Duration::seconds(1),
            )
            .await
            .unwrap();
        assert_eq!(
            store.get("old").await.unwrap(),
            None,
            "expired is invisible"
        );
        store.put("b", b"y".to_vec(), later).await.unwrap();
        let past = Utc::now() - chrono::Duration::seconds(1);
        store.put("session:x", b"s".to_vec(), past).await.unwrap();
        store.put("session:y", b"t".to_vec(), later).await.unwrap();
        assert_eq!(
            store
                .take_expired("session:", Utc::now(), 10)
                .await
                .unwrap(),
            vec![("session:x".to_owned(), b"s".to_vec())],
            "only expired values under the prefix"
        );
        assert_eq!(store.purge_expired(Utc::now()).await.unwrap(), 1);
        store.delete("b").await.unwrap();
        assert_eq!(store.get("b").await.unwrap(), None);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn file_store_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/s.sqlite3");
        let later = Utc::now() + chrono::Duration::minutes(5);
        SqliteStore::open(&path)
            .unwrap()
            .put("k", b"v".to_vec(), later)
            .await
            .unwrap();
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.get("k").await.unwrap(), Some(b"v".to_vec()));
    }
}
