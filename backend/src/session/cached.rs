//! A write-through cache in front of a store that only this process writes
//! (the SQLite store of a single backend instance).
//!
//! Every proxied API call reads its session; without the cache that is a
//! blocking-pool hop and a SQLite query per call. With it, a session written
//! by this process (sign-in, refresh, touch) is read from memory.
//!
//! # Correctness
//! - Only values written through this wrapper are cached (a miss reads the
//!   store and caches nothing: `get` does not return the expiry), so the
//!   cache never holds what another writer put in the store. Never use it in
//!   front of a store other processes write (Redis).
//! - Writes (`put`, `take`, `delete`, `purge_expired`) are serialised by one
//!   async lock held across the store write and the cache update, so the
//!   cache and the store apply writes in the same order.
//! - Expiry is checked on every read, with the store's rule (`expires_at >
//!   now`).
//!
//! # Security
//! Values are the sealed (encrypted) records, as in the store: the cache
//! holds no token in clear.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::store::{SessionStore, StoreError};

/// Entries kept by default (a sealed session is about 3 KB).
pub const DEFAULT_CAPACITY: usize = 4096;

/// Sealed values and their expiry, by key.
type Entries = HashMap<String, (Vec<u8>, DateTime<Utc>)>;

/// `S` with the values written through it cached in memory.
pub struct CachedStore<S> {
    inner: S,
    entries: Mutex<Entries>,
    writes: tokio::sync::Mutex<()>,
    capacity: usize,
}

impl<S: SessionStore> CachedStore<S> {
    /// Caches up to `capacity` values written through it in front of `inner`.
    pub fn new(inner: S, capacity: usize) -> Self {
        CachedStore {
            inner,
            entries: Mutex::default(),
            writes: tokio::sync::Mutex::new(()),
            capacity,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Values cached now (expired ones included until read or purged).
    pub fn cached(&self) -> usize {
        self.entries().len()
    }

    fn remember(&self, key: &str, value: Vec<u8>, expires_at: DateTime<Utc>) {
        let mut entries = self.entries();
        if !entries.contains_key(key) && entries.len() >= self.capacity {
            let now = Utc::now();
            entries.retain(|_, (_, at)| *at > now);
            if entries.len() >= self.capacity {
                // Still full: drop one (any) so the newest is served fast.
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        if self.capacity > 0 {
            entries.insert(key.to_owned(), (value, expires_at));
        }
    }
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for CachedStore<S> {
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        // Forget first: if the store write fails, the old value may or may
        // not be there; the store decides.
        self.entries().remove(key);
        self.inner.put(key, value.clone(), expires_at).await?;
        self.remember(key, value, expires_at);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        {
            let mut entries = self.entries();
            match entries.get(key) {
                Some((value, at)) if *at > Utc::now() => return Ok(Some(value.clone())),
                Some(_) => {
                    entries.remove(key);
                    return Ok(None);
                }
                None => {}
            }
        }
        self.inner.get(key).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let _write = self.writes.lock().await;
        self.entries().remove(key);
        self.inner.take(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        self.entries().remove(key);
        self.inner.delete(key).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let _write = self.writes.lock().await;
        self.entries().retain(|_, (_, at)| *at > now);
        self.inner.purge_expired(now).await
    }

    async fn take_expired(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let _write = self.writes.lock().await;
        let taken = self.inner.take_expired(prefix, now, limit).await?;
        let mut entries = self.entries();
        for (key, _) in &taken {
            entries.remove(key);
        }
        Ok(taken)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SqliteStore;

    fn later() -> DateTime<Utc> {
        Utc::now() + chrono::Duration::minutes(5)
    }

    #[tokio::test]
    async fn reads_what_was_written_and_forgets_what_was_removed() {
        let sqlite = SqliteStore::in_memory().unwrap();
        let store = CachedStore::new(sqlite.clone(), 16);
        store.put("a", b"1".to_vec(), later()).await.unwrap();
        store.put("a", b"2".to_vec(), later()).await.unwrap();
        assert_eq!(store.cached(), 1);
        assert_eq!(store.get("a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(sqlite.get("a").await.unwrap(), Some(b"2".to_vec()));

        assert_eq!(store.take("a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get("a").await.unwrap(), None, "take is one-time");
        assert_eq!(store.take("a").await.unwrap(), None);

        store.put("b", b"x".to_vec(), later()).await.unwrap();
        store.delete("b").await.unwrap();
        assert_eq!(store.get("b").await.unwrap(), None);
        assert_eq!(sqlite.get("b").await.unwrap(), None);
        assert_eq!(store.cached(), 0);
    }

    #[tokio::test]
    async fn serves_from_memory_until_expiry() {
        let sqlite = SqliteStore::in_memory().unwrap();
        let store = CachedStore::new(sqlite.clone(), 16);
        store.put("k", b"v".to_vec(), later()).await.unwrap();
        // Proof the read does not touch SQLite: remove the row behind the
        // cache's back (only this test does that).
        sqlite.delete("k").await.unwrap();
        assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));

        let soon = Utc::now() + chrono::Duration::milliseconds(50);
        store.put("s", b"short".to_vec(), soon).await.unwrap();
        assert_eq!(store.get("s").await.unwrap(), Some(b"short".to_vec()));
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        assert_eq!(store.get("s").await.unwrap(), None, "expired is invisible");

        store.put("p", b"x".to_vec(), later()).await.unwrap();
        // As of a time after every expiry: "s" and "p" are in SQLite ("k" was
        // removed behind the cache's back), and every cached entry goes.
        let after_all = later() + chrono::Duration::seconds(1);
        assert_eq!(store.purge_expired(after_all).await.unwrap(), 2);
        assert_eq!(store.cached(), 0, "purge empties the cache too");
    }

    #[tokio::test]
    async fn a_miss_reads_the_store_and_capacity_is_bounded() {
        let sqlite = SqliteStore::in_memory().unwrap();
        sqlite.put("old", b"o".to_vec(), later()).await.unwrap();
        let store = CachedStore::new(sqlite, 2);
        assert_eq!(store.get("old").await.unwrap(), Some(b"o".to_vec()));
        assert_eq!(store.cached(), 0, "a read caches nothing");
        for key in ["a", "b", "c"] {
            store
                .put(key, key.as_bytes().to_vec(), later())
                .await
                .unwrap();
        }
        assert_eq!(store.cached(), 2);
        for key in ["a", "b", "c"] {
            assert_eq!(store.get(key).await.unwrap(), Some(key.as_bytes().to_vec()));
        }
    }

    #[tokio::test]
    async fn concurrent_writes_leave_cache_and_store_equal() {
        let sqlite = SqliteStore::in_memory().unwrap();
        let store = std::sync::Arc::new(CachedStore::new(sqlite.clone(), 16));
        let writers: Vec<_> = (0..50u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.put("k", vec![i], later()).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        assert_eq!(
            store.get("k").await.unwrap(),
            sqlite.get("k").await.unwrap()
        );
    }
}
