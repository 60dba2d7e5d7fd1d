//! The Redis store, for several backend instances sharing sessions, and the
//! cluster-wide refresh lock.
//!
//! Keys live under the `gx:` prefix and expire in Redis itself (`SET ...
//! PXAT`), so no purge runs; a session's grant is still revoked when it
//! expires ([`afterlife`]). Values arrive sealed by [`super::Sealer`]
//! exactly as for SQLite: Redis never sees a token.
//!
//! # Shapes
//! One server (`redis://`, `rediss://`), Redis Cluster and a primary behind
//! Sentinel ([`super::redis_target`]). On Cluster every key a script touches
//! for one name (a session, a user's index) carries the name as a hash tag,
//! `gx:{session:…}`, `gx:lock:{session:…}`, `gx:fence:{session:…}`,
//! `gx:fenced:{session:…}`, so they live in one slot and the scripts run
//! there (a script over several slots is refused with CROSSSLOT). On one
//! server and with Sentinel the keys stay as they always were (no braces):
//! an instance of an older release, still running during a rolling upgrade,
//! then locks the very same keys as the new one, so a refresh stays single.
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
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};

use super::redis_target::{RedisShape, RedisTarget};
use super::store::{SessionStore, StoreError};

mod afterlife;

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

/// Sessions in Redis (`BFF_SESSION_STORE=redis://host:port/db`, or TLS,
/// Cluster, Sentinel: [`super::redis_target`]).
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    keys: Keys,
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

/// The names of the keys of one stored name (a session, a user's index):
/// with hash tags on Cluster (see the module doc), without elsewhere.
#[derive(Debug, Clone, Copy)]
struct Keys {
    tagged: bool,
}

impl Keys {
    fn of(&self, kind: &str, k: &str) -> String {
        if self.tagged {
            format!("{PREFIX}{kind}{{{k}}}")
        } else {
            format!("{PREFIX}{kind}{k}")
        }
    }

    /// The value.
    fn value(&self, k: &str) -> String {
        self.of("", k)
    }

    /// The refresh lock (lease).
    fn lock(&self, k: &str) -> String {
        self.of("lock:", k)
    }

    /// The fencing counter of `k`: bumped by every lock acquisition.
    fn fence(&self, k: &str) -> String {
        self.of("fence:", k)
    }

    /// The fencing value that wrote the value stored under `k`.
    fn fenced(&self, k: &str) -> String {
        self.of("fenced:", k)
    }

    /// The copy of an expired session's record kept for its revocation
    /// ([`afterlife`]).
    fn ended(&self, k: &str) -> String {
        self.of("ended:", k)
    }
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
async fn query<T: redis::FromRedisValue>(conn: &Conn, cmd: &redis::Cmd) -> Result<T, StoreError> {
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
    conn: &Conn,
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

/// How to reach Redis: `BFF_SESSION_STORE` and, for a private CA,
/// `BFF_REDIS_CA_FILE`.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Where (one server, Cluster, Sentinel) and as whom.
    pub target: RedisTarget,
    /// The PEM certificate(s) of the CA that signed the server's, trusted
    /// instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// The connection, by shape. All three reconnect by themselves: to the
/// same server, to the Cluster's current nodes (slots re-read on MOVED or a
/// lost node), or to the primary Sentinel names now.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
    Sentinel(SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// The primary Sentinel names, followed across failovers: a command that
/// fails as if the primary were gone (connection lost, or `READONLY` from
/// a demoted primary) makes the next one ask the Sentinels again.
#[derive(Clone)]
struct SentinelConn {
    sentinel: Arc<tokio::sync::Mutex<redis::sentinel::SentinelClient>>,
    current: Arc<std::sync::Mutex<(redis::ConnectionAddr, ConnectionManager)>>,
    config: ConnectionManagerConfig,
    db: i64,
    /// How many times this instance followed the primary to another node.
    moves: Arc<AtomicU64>,
}

impl SentinelConn {
    async fn connect(
        mut sentinel: redis::sentinel::SentinelClient,
        config: ConnectionManagerConfig,
        db: i64,
    ) -> Result<Self, redis::RedisError> {
        let client = sentinel.async_get_client().await?;
        let addr = client.get_connection_info().addr().clone();
        let conn = ConnectionManager::new_with_config(client, config.clone()).await?;
        Ok(SentinelConn {
            sentinel: Arc::new(tokio::sync::Mutex::new(sentinel)),
            current: Arc::new(std::sync::Mutex::new((addr, conn))),
            config,
            db,
            moves: Arc::default(),
        })
    }

    fn manager(&self) -> ConnectionManager {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.1.clone()
    }

    /// Asks the Sentinels for the primary and, if it moved, connects there.
    async fn follow(&self) {
        let mut sentinel = self.sentinel.lock().await;
        let client = match sentinel.async_get_client().await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "asking Sentinel for the primary failed");
                return;
            }
        };
        let addr = client.get_connection_info().addr().clone();
        if self.current.lock().unwrap_or_else(|p| p.into_inner()).0 == addr {
            return;
        }
        match ConnectionManager::new_with_config(client, self.config.clone()).await {
            Ok(conn) => {
                tracing::warn!("the Redis primary moved (Sentinel failover): following it");
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = (addr, conn);
                self.moves.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "connecting to the new Redis primary failed"),
        }
    }

    fn after(&self, e: &redis::RedisError) -> bool {
        transient(e)
            || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
            || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::MasterDown)
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let mut conn = self.manager();
            let result = conn.req_packed_command(cmd).await;
            if let Err(e) = &result
                && self.after(e)
            {
                self.follow().await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            let mut conn = self.manager();
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            if let Err(e) = &result
                && self.after(e)
            {
                self.follow().await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

/// A connection failure in words an operator can act on, never with the
/// password (redis-rs does not print it; `scrub` makes sure).
fn connect_error(e: &redis::RedisError, settings: &RedisSettings) -> StoreError {
    let text = e.to_string();
    let scrub = |t: String| match &settings.target.password {
        Some(p) if !p.expose().is_empty() => t.replace(p.expose(), "<redacted>"),
        _ => t,
    };
    let lower = text.to_ascii_lowercase();
    let message = if e.kind() == redis::ErrorKind::AuthenticationFailed
        || lower.contains("wrongpass")
        || lower.contains("noauth")
        || lower.contains("invalid username-password")
        // The Cluster client wraps the refusal in an I/O error.
        || lower.contains("authentication failed")
    {
        format!(
            "Redis refused the user name or password (check the ACL user and its password): {}",
            scrub(text)
        )
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!(
            "the Redis server's TLS certificate was not accepted ({}); {}",
            scrub(text),
            if settings.ca_file.is_some() {
                "is BFF_REDIS_CA_FILE the CA that signed it, and does the certificate name the host?"
            } else {
                "if a private CA signed it, set BFF_REDIS_CA_FILE to that CA's certificate"
            }
        )
    } else {
        format!("cannot reach Redis: {}", scrub(text))
    };
    StoreError::new(message)
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); reconnects by itself
    /// after Redis restarts. See [`RedisStore::connect_with`] for the other
    /// shapes and a private CA.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let target = RedisTarget::parse(url).map_err(StoreError::new)?;
        Self::connect_with(&RedisSettings {
            target,
            ca_file: None,
        })
        .await
    }

    /// Connects as `settings` say: one server, Cluster or Sentinel, with
    /// TLS and an ACL user if given. The error says what to fix and never
    /// carries the password.
    pub async fn connect_with(settings: &RedisSettings) -> Result<Self, StoreError> {
        let target = &settings.target;
        let certs = match &settings.ca_file {
            None => None,
            Some(path) => {
                if !target.tls {
                    return Err(StoreError::new(
                        "BFF_REDIS_CA_FILE is set but the store URL is not TLS (rediss://)",
                    ));
                }
                let pem = std::fs::read(path).map_err(|e| {
                    StoreError::new(format!(
                        "BFF_REDIS_CA_FILE: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                Some(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                })
            }
        };
        let fail = |e: redis::RedisError| connect_error(&e, settings);
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = match &target.shape {
            RedisShape::Standalone => {
                let (host, port) = &target.nodes[0];
                let url = target.node_url(host, *port, true);
                let client = match certs {
                    None => redis::Client::open(url.as_str()),
                    Some(certs) => redis::Client::build_with_tls(url.as_str(), certs),
                }
                .map_err(fail)?;
                Conn::Single(
                    ConnectionManager::new_with_config(client, manager_config)
                        .await
                        .map_err(fail)?,
                )
            }
            RedisShape::Cluster => {
                let seeds: Vec<String> = target
                    .nodes
                    .iter()
                    .map(|(h, p)| target.node_url(h, *p, true))
                    .collect();
                let mut builder = redis::cluster::ClusterClientBuilder::new(seeds)
                    .connection_timeout(Duration::from_secs(1))
                    .response_timeout(Duration::from_secs(1))
                    // A failover takes a few seconds: give up quickly (503,
                    // Retry-After) rather than hold the browser's call.
                    .retries(2)
                    .min_retry_wait(50)
                    .max_retry_wait(400);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(fail)?;
                Conn::Cluster(client.get_async_connection().await.map_err(fail)?)
            }
            RedisShape::Sentinel { primary } => {
                let sentinels = target.nodes.iter().map(|(h, p)| {
                    if target.tls {
                        redis::ConnectionAddr::TcpTls {
                            host: h.clone(),
                            port: *p,
                            insecure: false,
                            tls_params: None,
                        }
                    } else {
                        redis::ConnectionAddr::Tcp(h.clone(), *p)
                    }
                });
                let mut builder = redis::sentinel::SentinelClientBuilder::new(
                    sentinels,
                    primary,
                    redis::sentinel::SentinelServerType::Master,
                )
                .map_err(fail)?
                .set_client_to_redis_db(target.db);
                if let Some(user) = &target.username {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = &target.password {
                    builder = builder.set_client_to_redis_password(password.expose());
                }
                if target.tls {
                    builder = builder
                        .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
                    if let Some(certs) = certs {
                        builder = builder
                            .set_client_to_redis_certificates(certs.clone())
                            .set_client_to_sentinel_certificates(certs);
                    }
                }
                let sentinel = builder.build().map_err(fail)?;
                Conn::Sentinel(
                    SentinelConn::connect(sentinel, manager_config, target.db)
                        .await
                        .map_err(fail)?,
                )
            }
        };
        let store = RedisStore {
            keys: Keys {
                tagged: matches!(conn, Conn::Cluster(_)),
            },
            conn,
            lease: DEFAULT_LEASE,
            stats: Arc::default(),
            epoch: Arc::default(),
        };
        let epoch = store.read_epoch().await.map_err(|e| {
            StoreError::new(format!(
                "Redis answered the connection but not a command: {e}"
            ))
        })?;
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
        let epoch = epoch.ok_or_else(|| StoreError::new("redis: the epoch marker vanished"))?;
        match &self.conn {
            Conn::Single(_) => return Ok(epoch),
            // The same for a primary behind Sentinel: a session missing
            // after this instance followed a failover may have been lost
            // with the old primary (an instance started later cannot know).
            Conn::Sentinel(s) => {
                return Ok(format!("{epoch}@{}", s.moves.load(Ordering::Relaxed)));
            }
            Conn::Cluster(_) => {}
        }
        // On Cluster a failover loses what its primary had not yet
        // replicated, while the marker (in another shard, or replicated long
        // ago) survives: the cluster's epoch, bumped by every failover, is
        // part of the data epoch so a session missing after one is answered
        // as lost (sign in again). A resharding bumps it too; then a missing
        // session is merely called lost, which asks for the same sign-in.
        // An ACL user without `CLUSTER INFO` (it is @slow, not @dangerous)
        // still works: only the failover part of the epoch is missing.
        let info: String = query(&self.conn, redis::cmd("CLUSTER").arg("INFO"))
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "CLUSTER INFO refused: failovers not counted");
                String::new()
            });
        let current = info
            .lines()
            .find_map(|l| l.strip_prefix("cluster_current_epoch:"))
            .map(str::trim)
            .unwrap_or("?");
        Ok(format!("{epoch}@{current}"))
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
        let lock = self.keys.lock(name);
        let mut token = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut token);
        let token = hex::encode(token);
        let lease_ms = self.lease.as_millis().max(1) as u64;
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        let mut waited = false;
        let mut pause = Duration::from_millis(5);
        let script = redis::Script::new(ACQUIRE);
        let (counter, fenced) = (self.keys.fence(name), self.keys.fenced(name));
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
            keys: self.keys,
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
                .arg(self.keys.lock(name))
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
    conn: Conn,
    keys: Keys,
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
            &[&self.keys.value(k), &self.keys.fenced(k), &self.counter],
            &[fence.as_bytes(), &value, at.as_bytes()],
        )
        .await?;
        if written != 1 {
            self.stats.fenced.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        if afterlife::revocable(k) {
            afterlife::remember(
                &self.conn,
                &self.keys,
                k,
                &value,
                expires_at.timestamp_millis(),
            )
            .await?;
        }
        Ok(true)
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
        let () = query(
            &self.conn,
            redis::cmd("SET")
                .arg(self.keys.value(k))
                .arg(&value)
                .arg("PXAT")
                .arg(at),
        )
        .await?;
        if afterlife::revocable(k) {
            afterlife::remember(&self.conn, &self.keys, k, &value, at).await?;
        }
        Ok(())
    }

    async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        query(&self.conn, redis::cmd("GET").arg(self.keys.value(k))).await
    }

    async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let taken = query(&self.conn, redis::cmd("GETDEL").arg(self.keys.value(k))).await?;
        if afterlife::revocable(k) {
            afterlife::forget(&self.conn, &self.keys, k).await?;
        }
        Ok(taken)
    }

    async fn delete(&self, k: &str) -> Result<(), StoreError> {
        let _: i64 = query(&self.conn, redis::cmd("DEL").arg(self.keys.value(k))).await?;
        if afterlife::revocable(k) {
            afterlife::forget(&self.conn, &self.keys, k).await?;
        }
        Ok(())
    }

    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Redis expires keys itself (expired sessions' grants: `take_expired`).
        Ok(0)
    }

    async fn take_expired(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        if prefix != afterlife::REVOCABLE {
            return Ok(Vec::new());
        }
        afterlife::take_due(&self.conn, &self.keys, now.timestamp_millis(), limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = query(&self.conn, &redis::cmd("PING")).await?;
        Ok(())
    }
}
