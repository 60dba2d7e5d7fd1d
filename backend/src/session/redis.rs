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
//! grant). While a refresh runs the lease is renewed. Taking the lock also
//! takes a fencing value: `INCR` of a per-key counter, in the same Lua script
//! as the `SET NX`, so every holder gets a larger number than the one before.
//! Every write under the lock is a Lua compare on that number: it stores the
//! value (and, with it, the fencing value that wrote it) only if no later
//! holder has taken the lock and no later holder's value is stored. A holder
//! whose lease ran out (a paused or dying instance) can never overwrite the
//! newer token another instance stored, even after its lease has expired.
//!
//! # Data loss
//! A marker key `gx:epoch` holds a random value written at start-up. When it
//! is gone or changed, Redis lost its data (restarted without persistence,
//! flushed): a session cookie whose record is missing is then answered with
//! `reauth_required` (sign in again), not as an unknown visitor.

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

/// How long a fencing counter of a key that was never written lives.
const FENCE_TTL_MS: u64 = 2 * 24 * 3600 * 1000;

/// How long after seeing a data loss a missing session is answered with
/// `reauth_required` (the longest a session lives by default).
const LOSS_WINDOW: Duration = Duration::from_secs(24 * 3600);

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
    /// Writes refused by the fencing value (a later holder took the lock).
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
         # HELP bff_refresh_lock_fenced_total Writes refused by the fencing value (a later holder took the lock).\n\
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
    epoch: Arc<std::sync::Mutex<Epoch>>,
}

/// The data epoch this instance knows, and when it last saw a loss.
#[derive(Debug, Default)]
struct Epoch {
    value: Option<String>,
    lost_at: Option<std::time::Instant>,
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

/// The fencing counter of `k`: bumped by every lock acquisition.
fn fence_key(k: &str) -> String {
    format!("{PREFIX}fence:{k}")
}

/// The fencing value that wrote the value stored under `k`.
fn fenced_key(k: &str) -> String {
    format!("{PREFIX}fenced:{k}")
}

const EPOCH_KEY: &str = "gx:epoch";

/// Takes the lock (`SET NX PX`) and, if taken, a fencing value larger than
/// every earlier one (also than the one stored with the value, should the
/// counter have been lost). Returns the fencing value, or 0 if held.
/// KEYS: lock, counter, fenced. ARGV: token, lease ms, counter ttl ms.
const ACQUIRE: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
local n = redis.call('INCR', KEYS[2])
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if n <= last then
  n = last + 1
  redis.call('SET', KEYS[2], n)
end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return n";

/// Writes the value only if the writer's fencing value is the latest issued
/// and not older than the one stored with the value; stores it with the
/// value and keeps the counter at least as long.
/// KEYS: value, fenced, counter. ARGV: fence, value, expiry (ms since epoch).
const FENCED_SET: &str = r"
local f = tonumber(ARGV[1])
local issued = tonumber(redis.call('GET', KEYS[3]) or '0')
local stored = tonumber(redis.call('GET', KEYS[2]) or '0')
if f < issued or f < stored then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[3]) - now then
  redis.call('SET', KEYS[3], ARGV[1], 'PXAT', ARGV[3])
end
return 1";

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
        let store = RedisStore {
            conn,
            lease: DEFAULT_LEASE,
            stats: Arc::default(),
            epoch: Arc::default(),
        };
        let epoch = store.read_epoch().await?;
        store.epoch_state().value = Some(epoch);
        Ok(store)
    }

    fn epoch_state(&self) -> std::sync::MutexGuard<'_, Epoch> {
        self.epoch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The data epoch in Redis, creating it if absent.
    async fn read_epoch(&self) -> Result<String, StoreError> {
        let mut fresh = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut fresh);
        let _: Option<String> = query(
            &self.conn,
            redis::cmd("SET")
                .arg(EPOCH_KEY)
                .arg(hex::encode(fresh))
                .arg("NX"),
        )
        .await?;
        let epoch: Option<String> = query(&self.conn, redis::cmd("GET").arg(EPOCH_KEY)).await?;
        epoch.ok_or_else(|| StoreError::new("redis: the epoch marker vanished"))
    }

    /// Whether Redis lost its data (restarted without persistence, flushed)
    /// since this instance started, within the last day. Asked only when a
    /// session cookie names a record that is missing.
    pub async fn lost_data(&self) -> Result<bool, StoreError> {
        let now_epoch = self.read_epoch().await?;
        let mut epoch = self.epoch_state();
        if epoch.value.as_deref() != Some(now_epoch.as_str()) {
            tracing::warn!(
                "the session store lost its data (Redis restarted without persistence?)"
            );
            epoch.value = Some(now_epoch);
            epoch.lost_at = Some(std::time::Instant::now());
        }
        Ok(epoch.lost_at.is_some_and(|at| at.elapsed() < LOSS_WINDOW))
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
        let script = redis::Script::new(ACQUIRE);
        let (counter, fenced) = (fence_key(name), fenced_key(name));
        let (lease_arg, ttl_arg) = (lease_ms.to_string(), FENCE_TTL_MS.to_string());
        let fence = loop {
            let fence: u64 = invoke(
                &self.conn,
                &script,
                &[&lock, &counter, &fenced],
                &[token.as_bytes(), lease_arg.as_bytes(), ttl_arg.as_bytes()],
            )
            .await?;
            if fence > 0 {
                break fence;
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
        };
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
            fence,
            counter,
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
    fence: u64,
    counter: String,
    renew: tokio::task::JoinHandle<()>,
    stats: Arc<LockStats>,
}

impl Lease {
    /// This holder's fencing value (larger than every earlier holder's).
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// Test hook: stops renewing the lease, as a paused or hung instance
    /// would; the lease then runs out while this holder still holds it.
    pub fn stop_renewing(&self) {
        self.renew.abort();
    }

    /// Stores `value` under the store key `k` only if no later holder has
    /// taken the lock nor written (fencing); `Ok(false)` when refused
    /// (nothing written).
    pub async fn put_fenced(
        &self,
        k: &str,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = expires_at.timestamp_millis().to_string();
        let fence = self.fence.to_string();
        let written: i64 = invoke(
            &self.conn,
            &redis::Script::new(FENCED_SET),
            &[&key(k), &fenced_key(k), &self.counter],
            &[fence.as_bytes(), &value, at.as_bytes()],
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
