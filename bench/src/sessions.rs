//! Sessions at scale: 100,000 sealed sessions written through the
//! backend's own session API (`giponext_bff::session::Sessions`) into
//! SQLite and into Redis: bytes per session, process RSS, and the p99 of a
//! session lookup (read + decrypt + parse), the work every API call does.
//! Baseline: the same lookup with 1,000 sessions stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use giponext_bff::session::{RedisStore, SessionKey, SessionRecord, Sessions, SqliteStore, Tokens};
use giponext_bff::types::{Secret, SessionId};
use giponext_shared::ScopeSet;
use giponext_shared::api::TenantRef;
use giponext_shared::session::SessionUser;

use crate::stats::{ms, percentile, ratio, rss_bytes};
use crate::tools::Redis;

/// Sessions stored.
pub const SESSIONS: usize = 100_000;
/// Sessions of the baseline.
pub const BASELINE: usize = 1_000;
/// Lookups timed.
pub const LOOKUPS: usize = 20_000;
/// Writes in flight at once while filling.
const IN_FLIGHT: usize = 64;

/// One store's figures.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Store name.
    pub name: String,
    /// Stored bytes per session.
    pub bytes_per_session: f64,
    /// RSS growth of this process while filling, bytes.
    pub rss_growth: u64,
    /// RSS after filling.
    pub rss: u64,
    /// Time to write all sessions.
    pub fill: Duration,
    /// Lookup p50 / p99 with `SESSIONS` stored.
    pub p50: Duration,
    /// p99.
    pub p99: Duration,
    /// Lookup p99 with `BASELINE` stored.
    pub baseline_p99: Duration,
}

/// Runs SQLite, then Redis (when `redis-server` is there).
pub async fn run() -> anyhow::Result<Vec<Outcome>> {
    println!("== Sessions at scale: {SESSIONS} sessions, {LOOKUPS} lookups ==");
    let mut out = Vec::new();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sessions.sqlite3");
    let key = SessionKey::generate();
    let sqlite = Sessions::new(Arc::new(SqliteStore::open(&path)?), &key);
    let size = || -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
            .map(|m| m.len())
            .sum()
    };
    out.push(measure("SQLite (file, WAL)", &sqlite, size).await?);
    drop(sqlite);

    match Redis::start().await {
        Ok(redis) => {
            let store = RedisStore::connect(&redis.url()).await?;
            let sessions = Sessions::clustered(store, &key);
            let mut conn = redis.connection().await?;
            let used = move || -> u64 {
                // INFO over a blocking bridge: measure() calls this twice.
                let handle = tokio::runtime::Handle::current();
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        let info: String = redis::cmd("INFO")
                            .arg("memory")
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_default();
                        info.lines()
                            .find_map(|l| l.strip_prefix("used_memory:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0)
                    })
                })
            };
            out.push(measure("Redis", &sessions, used).await?);
        }
        Err(e) => println!("  Redis: SKIPPED ({e:#})"),
    }
    Ok(out)
}

async fn measure(
    name: &str,
    sessions: &Sessions,
    mut size: impl FnMut() -> u64,
) -> anyhow::Result<Outcome> {
    let rss_before = rss_bytes();
    let size_before = size();
    let start = Instant::now();
    let mut ids = fill(sessions, BASELINE).await?;
    let baseline_p99 = lookups(sessions, &ids).await?.1;
    ids.extend(fill(sessions, SESSIONS - BASELINE).await?);
    let fill_time = start.elapsed();
    let stored = size().saturating_sub(size_before);
    let rss = rss_bytes();
    let (p50, p99) = lookups(sessions, &ids).await?;
    let o = Outcome {
        name: name.to_owned(),
        bytes_per_session: stored as f64 / SESSIONS as f64,
        rss_growth: rss.saturating_sub(rss_before),
        rss,
        fill: fill_time,
        p50,
        p99,
        baseline_p99,
    };
    println!(
        "  {name}: {:.0} bytes/session, RSS {:.1} MiB (+{:.1} MiB while filling), filled in {:.1} s; \
         lookup p50 {} p99 {} vs p99 {} with {BASELINE} sessions -> ratio {:.2}",
        o.bytes_per_session,
        o.rss as f64 / 1048576.0,
        o.rss_growth as f64 / 1048576.0,
        o.fill.as_secs_f64(),
        ms(o.p50),
        ms(o.p99),
        ms(o.baseline_p99),
        ratio(o.p99.as_secs_f64(), o.baseline_p99.as_secs_f64()),
    );
    Ok(o)
}

/// Writes `n` realistic sessions (token sizes as the sandbox issues them).
async fn fill(sessions: &Sessions, n: usize) -> anyhow::Result<Vec<SessionId>> {
    let expires = Utc::now() + chrono::Duration::hours(8);
    let mut ids = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        let id = SessionId::generate();
        ids.push(id.clone());
        let sessions = sessions.clone();
        let record = record(i);
        pending.spawn(async move { sessions.save(&id, &record, expires).await });
        if pending.len() >= IN_FLIGHT
            && let Some(done) = pending.join_next().await
        {
            done??;
        }
    }
    while let Some(done) = pending.join_next().await {
        done??;
    }
    Ok(ids)
}

/// Sequential lookups of random stored sessions: (p50, p99).
async fn lookups(sessions: &Sessions, ids: &[SessionId]) -> anyhow::Result<(Duration, Duration)> {
    let mut samples = Vec::with_capacity(LOOKUPS);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..LOOKUPS {
        // xorshift: a cheap spread over the whole table.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = &ids[(x % ids.len() as u64) as usize];
        let t = Instant::now();
        let record = sessions.load(id).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(record.is_some(), "a stored session was not found");
    }
    let p50 = percentile(&mut samples, 50.0);
    Ok((p50, percentile(&mut samples, 99.0)))
}

fn filler(len: usize, seed: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|i| ALPHABET[(i * 31 + seed * 7) % ALPHABET.len()] as char)
        .collect()
}

fn record(i: usize) -> SessionRecord {
    let now = Utc::now();
    SessionRecord {
        user: SessionUser {
            sub: format!("user-{i:08}"),
            name: "Mario Rossi".into(),
            email: Some("mario.rossi@example.it".into()),
        },
        tenant: TenantRef {
            id: "tenant-abc123".into(),
            name: "Poliambulatorio San Marco".into(),
        },
        granted: ScopeSet::all(),
        declined: Vec::new(),
        tokens: Tokens {
            // An RS256 JWT of the sandbox is ~850 characters, an ID token
            // ~950, a refresh token 43.
            access: Secret::new(filler(850, i)),
            access_expires_at: now + chrono::Duration::minutes(5),
            access_issued_at: Some(now),
            refresh: Some(Secret::new(filler(43, i + 1))),
            id_token: Some(Secret::new(filler(950, i + 2))),
        },
        reauth_required: false,
        created_at: now,
        last_seen_at: now,
    }
}
