//! The Redis store, for several backend instances sharing sessions, and the
//! cluster-wide refresh lock.
//!
//! Keys live under the `gx:` prefix and expire in Redis itself (`SET ...
//! PXAT`), so no purge runs. Values arrive sealed by [`super::Sealer`]
//! exactly as for SQLite: Redis never sees a token.
//!
//! # Security
//! The refresh lock is a lease (`SET NX PX` with a random value, RFC 9700
//! §4.14.2 is why it exists: a rotated refresh token used twice revokes the
//! grant). While a refresh runs the lease is renewed; every write under the
//! lock is a compare-and-set in a Lua script that checks the lock still holds
//! the writer's value, so a holder whose lease ran out (a paused or dying
//! instance) can never overwrite the newer token another instance stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::{SessionStore, StoreError};

/// Key prefix of everything this backend writes.
const PREFIX: &str = "gx:";

/// How long a lock lasts unless renewed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// How long a waiter waits for a lock before giving up (503).
const MAX_WAIT: Duration = Duration::from_secs(20);

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::new(format!("redis: {e}"))
    }
}

/// Counters of the cluster lock, for `/metrics`.
#[derive(Debug, Default)]
pub struct LockStats {
    /// Lock attempts that found the lock held by someone else.
    pub collisions: AtomicU64,
    /// Acquisitions that had to wait at least once.
    pub waits: AtomicU64,
    /// Leases renewed while a refresh ran.
    pub renewals: AtomicU64,
    /// Writes refused because the lease was lost (fencing).
    pub fenced: AtomicU64,
}

/// The lock counters in the Prometheus text format.
pub fn render_lock_stats(stats: &LockStats) -> String {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "# HELP bff_refresh_lock_collisions_total Cluster refresh-lock attempts that found it held.\n\
         # TYPE bff_refresh_lock_collisions_total counter\n\
         bff_refresh_lock_collisions_total {}\n\
         # HELP bff_refresh_lock_waits_total Cluster refresh-lock acquisitions that waited.\n\
         # TYPE bff_refresh_lock_waits_total counter\n\
         bff_refresh_lock_waits_total {}\n\
         # HELP bff_refresh_lock_renewals_total Leases renewed during a refresh.\n\
         # TYPE bff_refresh_lock_renewals_total counter\n\
         bff_refresh_lock_renewals_total {}\n\
         # HELP bff_refresh_lock_fenced_total Writes refused because the lease was lost.\n\
         # TYPE bff_refresh_lock_fenced_total counter\n\
         bff_refresh_lock_fenced_total {}\n",
        get(&stats.collisions),
        get(&stats.waits),
        get(&stats.renewals),
        get(&stats.fenced),
    )
}

/// Sessions in Redis (`BFF_SESSION_STORE=redis://host:port/db`).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    lease: Duration,
    stats: Arc<LockStats>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("RedisStore")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

fn key(k: &str) -> String {
    format!("{PREFIX}{k}")
}

fn lock_key(k: &str) -> String {
    format!("{PREFIX}lock:{k}")
}

/// Writes the value only while the lock holds the writer's token.
const CAS_SET: &str = r"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  return 1
end
return 0";

/// Extends the lease only while it is still ours.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Releases the lock only while it is still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

fn transient(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal() || e.is_timeout()
}

/// Runs `cmd`, retrying a few times while the connection manager reconnects
/// (e.g. Redis restarted): a dropped connection is not the user's problem.
async fn query<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    cmd: &redis::Cmd,
) -> Result<T, StoreError> {
    let mut conn = conn.clone();
    let mut pause = Duration::from_millis(50);
    for _ in 0..4 {
        match cmd.query_async(&mut conn).await {
            Err(e) if transient(&e) => {
                tracing::debug!(error = %e, "redis connection lost; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return Ok(other?),
        }
    }
    Ok(cmd.query_async(&mut conn).await?)
}

/// [`query`] for a Lua script.
async fn invoke<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    script: &redis::Script,
    keys: &[&str],
    args: &[&[u8]],
) -> Result<T, StoreError> {
    let mut conn = conn.clone();
    let mut pause = Duration::from_millis(50);
    for attempt in 0..5 {
        let mut call = script.prepare_invoke();
        for k in keys {
            call.key(*k);
        }
        for a in args {
            call.arg(*a);
        }
        match call.invoke_async(&mut conn).await {
            Err(e) if transient(&e) && attempt < 4 => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return Ok(other?),
        }
    }
    unreachable!("the last attempt returns")
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); reconnects by itself
    /// after Redis restarts.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisStore {
            conn,
            lease: DEFAULT_LEASE,
            stats: Arc::default(),
        })
    }

    /// The same store with another lease length (tests use short ones).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The lock counters.
    pub fn stats(&self) -> &Arc<LockStats> {
        &self.stats
    }

    /// Takes the cluster-wide lock of `name`, waiting while another instance
    /// holds it; the lease is renewed until the returned [`Lease`] drops.
    pub async fn lock(&self, name: &str) -> Result<Lease, StoreError> {
        let lock = lock_key(name);
        let mut token = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut token);
        let token = hex::encode(token);
        let lease_ms = self.lease.as_millis().max(1) as u64;
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        let mut waited = false;
        let mut pause = Duration::from_millis(5);
        loop {
            let got: Option<String> = query(
                &self.conn,
                redis::cmd("SET")
                    .arg(&lock)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease_ms),
            )
            .await?;
            if got.is_some() {
                break;
            }
            self.stats.collisions.fetch_add(1, Ordering::Relaxed);
            if !waited {
                waited = true;
                self.stats.waits.fetch_add(1, Ordering::Relaxed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::new("timed out waiting for the refresh lock"));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        let renew = {
            let conn = self.conn.clone();
            let (lock, token, stats) = (lock.clone(), token.clone(), self.stats.clone());
            let every = self.lease / 3;
            tokio::spawn(async move {
                let script = redis::Script::new(RENEW);
                let lease_ms = lease_ms.to_string();
                loop {
                    tokio::time::sleep(every).await;
                    let renewed: Result<i64, _> = invoke(
                        &conn,
                        &script,
                        &[&lock],
                        &[token.as_bytes(), lease_ms.as_bytes()],
                    )
                    .await;
                    match renewed {
                        Ok(1) => {
                            stats.renewals.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            tracing::warn!("refresh lease lost before the refresh ended");
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing the refresh lease failed"),
                    }
                }
            })
        };
        Ok(Lease {
            conn: self.conn.clone(),
            lock,
            token,
            renew,
            stats: self.stats.clone(),
        })
    }

    /// Test hook: leaves a lock behind as an instance that died holding it
    /// would (no renewal, no release), for `lease`.
    pub async fn leave_dead_lock(&self, name: &str, lease: Duration) -> Result<(), StoreError> {
        let () = query(
            &self.conn,
            redis::cmd("SET")
                .arg(lock_key(name))
                .arg("dead-holder")
                .arg("PX")
                .arg(lease.as_millis() as u64),
        )
        .await?;
        Ok(())
    }
}

/// A held cluster lock. Dropping it stops the renewal and releases the lock
/// (if still ours); a holder that dies simply lets the lease run out.
pub struct Lease {
    conn: ConnectionManager,
    lock: String,
    token: String,
    renew: tokio::task::JoinHandle<()>,
    stats: Arc<LockStats>,
}

impl Lease {
    /// Stores `value` under the store key `k` only if this lease still holds
    /// the lock; `Ok(false)` when it was lost (nothing written).
    pub async fn put_fenced(
        &self,
        k: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = expires_at.timestamp_millis().to_string();
        let written: i64 = invoke(
            &self.conn,
            &redis::Script::new(CAS_SET),
            &[&key(k), &self.lock],
            &[self.token.as_bytes(), &value, at.as_bytes()],
        )
        .await?;
        if written != 1 {
            self.stats.fenced.fetch_add(1, Ordering::Relaxed);
        }
        Ok(written == 1)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let conn = self.conn.clone();
        let (lock, token) = (
            std::mem::take(&mut self.lock),
            std::mem::take(&mut self.token),
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let released: Result<i64, _> = invoke(
                    &conn,
                    &redis::Script::new(RELEASE),
                    &[&lock],
                    &[token.as_bytes()],
                )
                .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "releasing the refresh lock failed (it expires)");
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn put(
        &self,
        k: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = expires_at.timestamp_millis();
        if at <= Utc::now().timestamp_millis() {
            return self.delete(k).await;
        }
        query(
            &self.conn,
            redis::cmd("SET").arg(key(k)).arg(value).arg("PXAT").arg(at),
        )
        .await
    }

    async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        query(&self.conn, redis::cmd("GET").arg(key(k))).await
    }

    async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        query(&self.conn, redis::cmd("GETDEL").arg(key(k))).await
    }

    async fn delete(&self, k: &str) -> Result<(), StoreError> {
        let _: i64 = query(&self.conn, redis::cmd("DEL").arg(key(k))).await?;
        Ok(())
    }

    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Redis expires keys itself.
        Ok(0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = query(&self.conn, &redis::cmd("PING")).await?;
        Ok(())
    }
}
