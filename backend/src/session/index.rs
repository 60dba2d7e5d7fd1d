//! The index of a user's sessions: which sessions one person has open, for
//! "connected sessions", sign-out everywhere and back-channel logout.
//!
//! Kept in the same sealed key-value store as the sessions (so it works with
//! SQLite and Redis alike): one record per user under `user:{sha256(sub)}`,
//! changed only under the user's lock (cluster-wide with Redis). The index
//! shrinks as sessions end: an ended session's entry is removed with it
//! ([`Sessions::index_remove`], also for sessions purged as expired), and
//! entries whose session expired on its own (Redis expires keys itself) are
//! removed, and the index written back, whenever the index is added to or
//! listed. An index left empty is deleted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{SessionError, SessionRecord, Sessions};

/// One session of a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The session's store key.
    pub key: String,
    /// The provider's login-session id (`sid` of the ID token), if given.
    pub sid: Option<String>,
    /// A short description of the browser.
    pub user_agent: String,
    /// The client address it signed in from ([`ClientAddr`](crate::client_addr::ClientAddr));
    /// absent in entries written before it was kept.
    #[serde(default)]
    pub address: Option<std::net::IpAddr>,
}

impl IndexEntry {
    /// The id shown to the user (`ConnectedSession::id`): a hash of the store
    /// key, so neither the cookie nor the store key leaves the backend.
    pub fn public_id(&self) -> String {
        public_id(&self.key)
    }
}

/// The public id of the session stored under `key`.
pub fn public_id(key: &str) -> String {
    hex::encode(&Sha256::digest(format!("connected:{key}").as_bytes())[..16])
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UserIndex {
    sessions: Vec<IndexEntry>,
}

fn user_key(sub: &str) -> String {
    format!("user:{}", hex::encode(Sha256::digest(sub.as_bytes())))
}

impl Sessions {
    /// Adds a session to its user's index, kept until `expires_at` (the
    /// longest a session can live).
    pub async fn index_add(
        &self,
        sub: &str,
        entry: IndexEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let key = user_key(sub);
        let guard = self.lock_named(&key).await?;
        let index: UserIndex = self.read(&key).await?.unwrap_or_default();
        let mut kept = Vec::with_capacity(index.sessions.len() + 1);
        for e in index.sessions {
            if e.key != entry.key && self.store.get(&e.key).await?.is_some() {
                kept.push(e);
            }
        }
        kept.push(entry);
        let index = UserIndex { sessions: kept };
        self.write_locked(&key, &index, expires_at, &guard).await
    }

    /// How many entries the user's index holds, live or not (no pruning):
    /// for tests and diagnostics.
    pub async fn index_len(&self, sub: &str) -> Result<usize, SessionError> {
        Ok(self
            .read::<UserIndex>(&user_key(sub))
            .await?
            .map_or(0, |i| i.sessions.len()))
    }

    /// The user's live sessions with their records (the index is pruned of
    /// the ones that ended).
    pub async fn index_list(
        &self,
        sub: &str,
    ) -> Result<Vec<(IndexEntry, SessionRecord)>, SessionError> {
        let key = user_key(sub);
        let Some(index) = self.read::<UserIndex>(&key).await? else {
            return Ok(Vec::new());
        };
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for entry in index.sessions {
            match self.load_key(&entry.key).await {
                Ok(Some(record)) if record.user.sub == sub => live.push((entry, record)),
                Ok(_) | Err(SessionError::Open(_)) | Err(SessionError::Malformed(_)) => {
                    dead.push(entry.key)
                }
                Err(e) => return Err(e),
            }
        }
        if !dead.is_empty() {
            self.index_forget(sub, &dead).await?;
        }
        Ok(live)
    }

    /// Removes the entries `keys` from the user's index (deleting an index
    /// left empty), under the user's lock.
    async fn index_forget(&self, sub: &str, keys: &[String]) -> Result<(), SessionError> {
        let ukey = user_key(sub);
        let guard = self.lock_named(&ukey).await?;
        let Some(mut index) = self.read::<UserIndex>(&ukey).await? else {
            return Ok(());
        };
        index.sessions.retain(|e| !keys.contains(&e.key));
        if index.sessions.is_empty() {
            self.store.delete(&ukey).await?;
            return Ok(());
        }
        let later = Utc::now() + chrono::Duration::days(1);
        self.write_locked(&ukey, &index, later, &guard).await
    }

    /// Removes the session stored under `key` and its index entry.
    ///
    /// The session's lock is taken for the delete, so a refresh running
    /// elsewhere finishes first, and a late holder of an expired lease (its
    /// fencing value is now older) cannot write the ended session back.
    pub async fn index_remove(&self, sub: &str, key: &str) -> Result<(), SessionError> {
        {
            let _session = self.lock_named(key).await?;
            self.store.delete(key).await?;
        }
        self.index_forget(sub, &[key.to_owned()]).await
    }
}

/// "Firefox on Linux" from a `User-Agent` header; never the raw header.
pub fn summarize_user_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua else {
        return "Unknown browser".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "Program"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name)
    .unwrap_or("Browser");
    let os = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_summaries() {
        for (ua, want) in [
            (
                Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
                "Firefox on Linux",
            ),
            (
                Some(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0",
                ),
                "Edge on Windows",
            ),
            (None, "Unknown browser"),
        ] {
            assert_eq!(summarize_user_agent(ua), want);
        }
        assert_ne!(public_id("session:a"), public_id("session:b"));
        assert!(!public_id("session:a").contains("session"));
    }
}
