//! Server-side sessions: what the backend remembers about a signed-in user,
//! kept sealed in a [`SessionStore`].
//!
//! - [`SessionRecord`]: the user, tenant, scopes and tokens of one session.
//! - [`LoginState`]: a started sign-in (state, PKCE verifier, nonce, what was
//!   asked), one-time and short-lived.
//! - [`Sessions`]: serialises, seals and stores both, and hands out the
//!   per-session lock that makes a refresh single-flight.

pub mod cached;
mod crypto;
pub mod index;
pub mod redis;
pub mod redis_target;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use giponext_shared::ScopeSet;
use giponext_shared::api::TenantRef;
use giponext_shared::session::{DeclinedScope, SessionUser};
use serde::{Deserialize, Serialize};

pub use cached::CachedStore;
pub use crypto::{DraftKeys, OpenError, Sealer, SessionKey};
pub use redis::{Lease, RedisSettings, RedisStore};
pub use redis_target::{RedisShape, RedisTarget};
pub use store::{SessionStore, SqliteStore, StoreError};

use crate::types::{ReturnTo, Secret, SessionId, secret_serde};

/// The tokens of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token.
    #[serde(with = "secret_serde")]
    pub access: Secret,
    /// When it expires (from `expires_in`).
    pub access_expires_at: DateTime<Utc>,
    /// When it was issued (absent in records written before this field):
    /// with `access_expires_at`, the token's lifetime, which caps the
    /// refresh leeway (see [`SessionRecord::needs_refresh`]).
    #[serde(default)]
    pub access_issued_at: Option<DateTime<Utc>>,
    /// The refresh token, rotated on every use.
    #[serde(with = "secret_serde::option")]
    pub refresh: Option<Secret>,
    /// The ID token of the sign-in, for `id_token_hint` at logout.
    #[serde(with = "secret_serde::option")]
    pub id_token: Option<Secret>,
}

impl Tokens {
    /// `leeway` clamped to a quarter of the access token's lifetime.
    pub fn leeway(&self, leeway: std::time::Duration) -> chrono::Duration {
        let leeway = to_chrono(leeway);
        match self.access_issued_at {
            Some(issued) if issued < self.access_expires_at => {
                leeway.min((self.access_expires_at - issued) / 4)
            }
            _ => leeway,
        }
    }
}

/// One signed-in session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who.
    pub user: SessionUser,
    /// The medical centre the session works in.
    pub tenant: TenantRef,
    /// Scopes the current token carries.
    pub granted: ScopeSet,
    /// Scopes asked for and refused, with the latest refusal.
    pub declined: Vec<DeclinedScope>,
    /// The tokens.
    pub tokens: Tokens,
    /// The grant is gone (refresh refused): sign in again.
    pub reauth_required: bool,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
}

impl SessionRecord {
    /// The declined scopes as a set.
    pub fn declined_set(&self) -> ScopeSet {
        self.declined.iter().map(|d| d.scope).collect()
    }

    /// Records a consent outcome: `refused` scopes are declined now, `granted`
    /// ones leave the declined list.
    pub fn record_consent(&mut self, refused: ScopeSet, now: DateTime<Utc>) {
        let granted = self.granted;
        self.declined
            .retain(|d| !granted.contains(d.scope) && !refused.contains(d.scope));
        self.declined.extend(
            refused
                .difference(granted)
                .iter()
                .map(|scope| DeclinedScope { scope, at: now }),
        );
        self.declined.sort_by_key(|d| d.scope);
    }

    /// When the session ends: idle timeout from last use, capped by the
    /// absolute lifetime.
    pub fn expires_at(&self, timings: &crate::config::Timings) -> DateTime<Utc> {
        let idle = self.last_seen_at + to_chrono(timings.session_idle);
        let max = self.created_at + to_chrono(timings.session_max);
        idle.min(max)
    }

    /// Whole seconds left before the idle timeout and before the absolute
    /// lifetime ends, at `now` (0 once passed).
    pub fn remaining(
        &self,
        timings: &crate::config::Timings,
        now: DateTime<Utc>,
    ) -> giponext_shared::session::SessionRemaining {
        let left = |end: DateTime<Utc>| (end - now).num_seconds().max(0) as u64;
        let absolute = left(self.created_at + to_chrono(timings.session_max));
        giponext_shared::session::SessionRemaining {
            // The idle timeout never outlasts the absolute lifetime.
            idle_seconds_left: left(self.expires_at(timings)).min(absolute),
            absolute_seconds_left: absolute,
        }
    }

    /// Whether the access token expires within the leeway: `leeway`, but at
    /// most a quarter of the token's lifetime. A provider issuing tokens
    /// shorter than the leeway (6 s against 30 s) would otherwise make every
    /// new token look about to expire, and a burst of calls would refresh
    /// again right after a refresh.
    pub fn needs_refresh(&self, leeway: std::time::Duration, now: DateTime<Utc>) -> bool {
        self.tokens.access_expires_at <= now + self.tokens.leeway(leeway)
    }
}

/// A started sign-in, kept server-side under the id in the `gx_login` cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// The `state` sent to the provider (CSRF protection of the callback).
    #[serde(with = "secret_serde")]
    pub state: Secret,
    /// The PKCE code verifier (RFC 7636).
    #[serde(with = "secret_serde")]
    pub pkce_verifier: Secret,
    /// The OpenID Connect nonce.
    #[serde(with = "secret_serde")]
    pub nonce: Secret,
    /// What was asked for.
    pub requested: ScopeSet,
    /// Where to land afterwards.
    pub return_to: ReturnTo,
    /// The new scopes of an incremental request (empty for a first sign-in).
    pub incremental: ScopeSet,
}

/// Converts a std duration to chrono's, saturating.
pub fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A failure reading or writing a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record did not decrypt.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A record did not parse.
    #[error("a stored record is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A later holder of the cluster lock took it or wrote (fencing):
    /// nothing written (another instance may hold a newer token).
    #[error("the session lock passed to another holder before the write")]
    LeaseLost,
}

/// The lock of one session, held while it is read, changed and written:
/// in-process always, and cluster-wide with the Redis store.
pub struct SessionGuard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    lease: Option<Lease>,
}

impl SessionGuard {
    /// The cluster lease (Redis only), e.g. for its fencing value.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }
}

/// The in-process part of a session's lock (see [`Sessions::lock_local`]).
pub struct LocalGuard(tokio::sync::OwnedMutexGuard<()>);

/// Sessions and login states, sealed in a store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    sealer: Sealer,
    draft_keys: DraftKeys,
    locks: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
    cluster: Option<RedisStore>,
}

impl Sessions {
    /// Sessions in `store`, sealed with `key`.
    pub fn new(store: Arc<dyn SessionStore>, key: &SessionKey) -> Self {
        Sessions {
            store,
            sealer: Sealer::new(key),
            draft_keys: DraftKeys::new(key),
            locks: Arc::default(),
            cluster: None,
        }
    }

    /// Sessions shared by several instances in Redis, sealed with `key`
    /// (the same key on every instance).
    pub fn clustered(store: RedisStore, key: &SessionKey) -> Self {
        Sessions {
            store: Arc::new(store.clone()),
            sealer: Sealer::new(key),
            draft_keys: DraftKeys::new(key),
            locks: Arc::default(),
            cluster: Some(store),
        }
    }

    /// The derivation of the console's draft keys (same session key, so
    /// every instance derives the same key for a person).
    pub fn draft_keys(&self) -> &DraftKeys {
        &self.draft_keys
    }

    /// The Redis store, when clustered.
    pub fn cluster(&self) -> Option<&RedisStore> {
        self.cluster.as_ref()
    }

    /// Whether the store lost its data recently (Redis restarted without
    /// persistence), so a missing session was lost rather than never there.
    /// Always `false` for SQLite (no round trip).
    pub async fn lost_data(&self) -> Result<bool, SessionError> {
        match &self.cluster {
            Some(redis) => Ok(redis.lost_data().await?),
            None => Ok(false),
        }
    }

    /// Takes the session's lock: the in-process one, then (clustered) the
    /// Redis lease. Write under it with [`Sessions::save_locked`].
    pub async fn lock(&self, id: &SessionId) -> Result<SessionGuard, SessionError> {
        self.lock_named(&id.store_key()).await
    }

    /// The lock of any stored key (sessions, user indexes).
    pub async fn lock_named(&self, key: &str) -> Result<SessionGuard, SessionError> {
        let local = self.local_lock(key).lock_owned().await;
        self.upgrade_named(key, local).await
    }

    /// Only the in-process part of the session's lock: enough to re-read
    /// the record after a sibling's refresh. Take the whole lock with
    /// [`Sessions::upgrade`] before writing.
    pub async fn lock_local(&self, id: &SessionId) -> LocalGuard {
        LocalGuard(self.local_lock(&id.store_key()).lock_owned().await)
    }

    /// The whole lock from its in-process part: adds the cluster lease with
    /// Redis (nothing to add with SQLite).
    pub async fn upgrade(
        &self,
        id: &SessionId,
        local: LocalGuard,
    ) -> Result<SessionGuard, SessionError> {
        self.upgrade_named(&id.store_key(), local.0).await
    }

    async fn upgrade_named(
        &self,
        key: &str,
        local: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<SessionGuard, SessionError> {
        let lease = match &self.cluster {
            Some(redis) => Some(redis.lock(key).await?),
            None => None,
        };
        Ok(SessionGuard {
            _local: local,
            lease,
        })
    }

    /// Stores the session while `guard` holds its lock; with Redis, only if
    /// no later holder took the lock or wrote (fencing value), else
    /// [`SessionError::LeaseLost`].
    pub async fn save_locked(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        expires_at: DateTime<Utc>,
        guard: &SessionGuard,
    ) -> Result<(), SessionError> {
        self.write_locked(&id.store_key(), record, expires_at, guard)
            .await
    }

    async fn write_locked<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        expires_at: DateTime<Utc>,
        guard: &SessionGuard,
    ) -> Result<(), SessionError> {
        let Some(lease) = &guard.lease else {
            return self.put(key, value, expires_at).await;
        };
        let sealed = self.sealer.seal(key, &serde_json::to_vec(value)?);
        if lease.put_fenced(key, sealed, expires_at).await? {
            Ok(())
        } else {
            Err(SessionError::LeaseLost)
        }
    }

    async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, SessionError> {
        let blob = self.store.get(key).await?;
        self.open(key, blob)
    }

    /// The session stored under `key` (see [`SessionId::store_key`]).
    pub async fn load_key(&self, key: &str) -> Result<Option<SessionRecord>, SessionError> {
        self.read(key).await
    }

    /// The store, for readiness and purging.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        expires_at: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let json = serde_json::to_vec(value)?;
        let sealed = self.sealer.seal(key, &json);
        Ok(self.store.put(key, sealed, expires_at).await?)
    }

    fn open<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
        blob: Option<Vec<u8>>,
    ) -> Result<Option<T>, SessionError> {
        match blob {
            None => Ok(None),
            Some(blob) => Ok(Some(serde_json::from_slice(
                &self.sealer.open(key, &blob)?,
            )?)),
        }
    }

    /// The session `id`, if it exists and has not expired.
    pub async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, SessionError> {
        let key = id.store_key();
        let blob = self.store.get(&key).await?;
        self.open(&key, blob)
    }

    /// Stores the session until `expires_at`.
    pub async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        self.put(&id.store_key(), record, expires_at).await
    }

    /// Destroys the session, under its lock: a refresh running elsewhere
    /// finishes first, and a late holder of an expired lease (its fencing
    /// value is now older) cannot write the session back.
    pub async fn delete(&self, id: &SessionId) -> Result<(), SessionError> {
        let _guard = self.lock(id).await?;
        Ok(self.store.delete(&id.store_key()).await?)
    }

    /// Removes and returns up to `limit` sessions that expired, with their
    /// store keys; one that no longer opens (another key, damaged) is
    /// removed and skipped. Empty with Redis, which expires keys itself.
    pub async fn take_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, SessionRecord)>, SessionError> {
        let taken = self.store.take_expired("session:", now, limit).await?;
        Ok(taken
            .into_iter()
            .filter_map(|(key, blob)| match self.open(&key, Some(blob)) {
                Ok(Some(record)) => Some((key, record)),
                _ => None,
            })
            .collect())
    }

    /// Stores the provider end-session URL of a logout (it carries the ID
    /// token as `id_token_hint`) under the one-time id `step_id` until
    /// `expires_at`: the browser gets only `/auth/end-session/{step_id}`.
    pub async fn put_end_session(
        &self,
        step_id: &Secret,
        url: &Secret,
        expires_at: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let step = EndSessionStep { url: url.clone() };
        self.put(&end_session_key(step_id), &step, expires_at).await
    }

    /// Takes (one time) the end-session URL stored under `step_id`.
    pub async fn take_end_session(&self, step_id: &Secret) -> Result<Option<Secret>, SessionError> {
        let key = end_session_key(step_id);
        let blob = self.store.take(&key).await?;
        Ok(self.open::<EndSessionStep>(&key, blob)?.map(|s| s.url))
    }

    /// Stores a started sign-in under the `gx_login` cookie value `login_id`.
    pub async fn put_login(
        &self,
        login_id: &Secret,
        state: &LoginState,
        expires_at: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        self.put(&login_key(login_id), state, expires_at).await
    }

    /// Takes (one time) the sign-in under `login_id`.
    pub async fn take_login(&self, login_id: &Secret) -> Result<Option<LoginState>, SessionError> {
        let key = login_key(login_id);
        let blob = self.store.take(&key).await?;
        self.open(&key, blob)
    }

    /// The lock that serialises refreshes of one session.
    pub fn refresh_lock(&self, id: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        self.local_lock(&id.store_key())
    }

    fn local_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Whether a refresh of the session is running now.
    pub fn is_refreshing(&self, id: &SessionId) -> bool {
        let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .get(&id.store_key())
            .and_then(Weak::upgrade)
            .is_some_and(|lock| lock.try_lock().is_err())
    }
}

/// A logout's provider round trip, kept server-side (see
/// [`Sessions::put_end_session`]).
#[derive(Serialize, Deserialize)]
struct EndSessionStep {
    #[serde(with = "secret_serde")]
    url: Secret,
}

fn end_session_key(step_id: &Secret) -> String {
    format!("endsession:{}", step_id.digest())
}

fn login_key(login_id: &Secret) -> String {
    format!("login:{}", login_id.digest())
}

#[cfg(test)]
mod tests {
    use super::*;
    use giponext_shared::Scope;

    fn record() -> SessionRecord {
        let now = Utc::now();
        SessionRecord {
            user: SessionUser {
                sub: "u".into(),
                name: "U".into(),
                email: None,
            },
            tenant: TenantRef {
                id: "t".into(),
                name: "T".into(),
            },
            granted: ScopeSet::of(&[Scope::OpenId, Scope::Patients]),
            declined: vec![],
            tokens: Tokens {
                access: Secret::new("access-secret-value"),
                access_expires_at: now + chrono::Duration::seconds(60),
                access_issued_at: Some(now),
                refresh: Some(Secret::new("refresh-secret-value")),
                id_token: None,
            },
            reauth_required: false,
            created_at: now,
            last_seen_at: now,
        }
    }

    #[tokio::test]
    async fn records_are_sealed_at_rest() {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let sessions = Sessions::new(store.clone(), &SessionKey::generate());
        let id = SessionId::generate();
        let later = Utc::now() + chrono::Duration::minutes(1);
        sessions.save(&id, &record(), later).await.unwrap();
        let raw = store.get(&id.store_key()).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("secret-value"));
        let back = sessions.load(&id).await.unwrap().unwrap();
        assert_eq!(
            back.tokens.refresh.unwrap().expose(),
            "refresh-secret-value"
        );
        assert!(
            !format!("{:?}", record()).contains("secret-value"),
            "Debug redacts"
        );
        let other_key = Sessions::new(store, &SessionKey::generate());
        assert!(other_key.load(&id).await.is_err());
    }

    #[test]
    fn the_refresh_leeway_is_at_most_a_quarter_of_the_token_lifetime() {
        let leeway = std::time::Duration::from_secs(30);
        let issued = Utc::now();
        let mut r = record();
        // A 6-second token: 1.5 s of leeway, not 30 s.
        r.tokens.access_issued_at = Some(issued);
        r.tokens.access_expires_at = issued + chrono::Duration::seconds(6);
        assert_eq!(
            r.tokens.leeway(leeway),
            chrono::Duration::milliseconds(1500)
        );
        assert!(!r.needs_refresh(leeway, issued + chrono::Duration::seconds(4)));
        assert!(r.needs_refresh(leeway, issued + chrono::Duration::seconds(5)));
        // A 5-minute token keeps the whole 30 s.
        r.tokens.access_expires_at = issued + chrono::Duration::seconds(300);
        assert_eq!(r.tokens.leeway(leeway), chrono::Duration::seconds(30));
        assert!(r.needs_refresh(leeway, issued + chrono::Duration::seconds(271)));
        // A record without the issue time (written before it was kept).
        r.tokens.access_issued_at = None;
        r.tokens.access_expires_at = issued + chrono::Duration::seconds(6);
        assert!(r.needs_refresh(leeway, issued));
    }

    #[test]
    fn declined_accumulates_and_later_grant_removes() {
        let mut r = record();
        let t1 = Utc::now();
        r.record_consent(ScopeSet::of(&[Scope::Invoices]), t1);
        r.record_consent(ScopeSet::of(&[Scope::Agenda]), t1);
        assert_eq!(
            r.declined_set(),
            ScopeSet::of(&[Scope::Agenda, Scope::Invoices])
        );
        r.granted.insert(Scope::Invoices);
        r.record_consent(ScopeSet::EMPTY, t1);
        assert_eq!(r.declined_set(), ScopeSet::of(&[Scope::Agenda]));
    }

    #[tokio::test]
    async fn refresh_lock_is_shared_per_session() {
        let sessions = Sessions::new(
            Arc::new(SqliteStore::in_memory().unwrap()),
            &SessionKey::generate(),
        );
        let id = SessionId::generate();
        let a = sessions.refresh_lock(&id);
        let b = sessions.refresh_lock(&id);
        assert!(Arc::ptr_eq(&a, &b));
        let _g = a.lock().await;
        assert!(sessions.is_refreshing(&id));
        assert!(!sessions.is_refreshing(&SessionId::generate()));
    }
}
