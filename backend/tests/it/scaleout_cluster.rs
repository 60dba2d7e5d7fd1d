//! Redis Cluster, as managed services shard it: three primaries made with
//! `redis-cli --cluster create` and two backend instances; then a primary
//! killed during a storm of calls, its replica taking over; and the same
//! failover with a primary behind Sentinel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use giponext_bff::session::{RedisStore, SessionStore as _};
use giponext_bff::types::SessionId;

use crate::redis_cluster::{RedisCluster, RedisSentinel};
use crate::scaleout::{Cluster, one_refresh_for_500_concurrent_calls};
use crate::scaleout_sessions::{
    back_channel_logout_ends_the_session_on_every_instance,
    connected_sessions_revoke_one_and_sign_out_everywhere,
};
use crate::support::Client;

const TENANT: &str = "tenant-abc123";

fn patients() -> String {
    format!("tenants/{TENANT}/patients?limit=1")
}

/// Empties every primary (the next run's backends start afresh).
async fn flush(cluster: &RedisCluster) {
    let client = redis::cluster::ClusterClient::new(vec![
        cluster
            .url()
            .replacen("redis+cluster://", "redis://", 1)
            .split(',')
            .next()
            .unwrap()
            .to_owned(),
    ])
    .unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_storm_connected_sessions_and_back_channel_logout_on_a_redis_cluster() {
    let redis = Arc::new(RedisCluster::start(3, 0).await);
    let url = redis.url();

    let c = Cluster::start_on(redis.clone(), &url, None, 2, |_| {}).await;
    let took = one_refresh_for_500_concurrent_calls(c).await;
    eprintln!("refresh storm on a 3-primary Redis Cluster: {took:?}");

    flush(&redis).await;
    let c = Cluster::start_on(redis.clone(), &url, None, 2, |_| {}).await;
    connected_sessions_revoke_one_and_sign_out_everywhere(c).await;

    flush(&redis).await;
    let c = Cluster::start_on(redis.clone(), &url, None, 2, |_| {}).await;
    back_channel_logout_ends_the_session_on_every_instance(c).await;
}

/// The scripts of one name run in one slot, and fencing keeps its guarantee
/// there: a late holder is refused after a newer one took the lock.
#[tokio::test]
async fn the_keys_of_one_session_share_a_slot_and_fencing_holds_on_a_cluster() {
    let redis = RedisCluster::start(3, 0).await;
    let store = RedisStore::connect(&redis.url())
        .await
        .unwrap()
        .with_lease(Duration::from_millis(300));
    let later = Utc::now() + chrono::Duration::minutes(5);
    for n in 0..8 {
        let key = format!("session:slot-test-{n}");
        let old = store.lock(&key).await.unwrap();
        assert!(old.put_fenced(&key, b"one".to_vec(), later).await.unwrap());
        old.stop_renewing();
        tokio::time::sleep(Duration::from_millis(350)).await;
        let new = store.lock(&key).await.unwrap();
        assert!(new.fence() > old.fence());
        assert!(
            !old.put_fenced(&key, b"stale".to_vec(), later)
                .await
                .unwrap()
        );
        assert!(new.put_fenced(&key, b"two".to_vec(), later).await.unwrap());
        assert_eq!(store.get(&key).await.unwrap().unwrap(), b"two");
        // Every key the scripts touched is in the value's slot.
        let slot = redis.primary_of(&format!("gx:{{{key}}}")).await;
        for kind in ["lock:", "fence:", "fenced:"] {
            assert_eq!(redis.primary_of(&format!("gx:{kind}{{{key}}}")).await, slot);
        }
    }
}

/// What one call of the storm saw.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    unavailable: usize,
    other: Vec<String>,
}

/// Calls through both instances, one after another per task, until `stop`.
async fn storm<R: Send + Sync + 'static>(
    c: Arc<Cluster<R>>,
    stop: Arc<AtomicBool>,
    tasks: usize,
) -> Tally {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (c, stop) = (c.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let seen = c.api(i % 2, &patients()).await;
                i += 1;
                match seen.status.as_u16() {
                    200 => tally.ok += 1,
                    503 if seen.json()["type"] == "session_unavailable"
                        && !seen.header("retry-after").is_empty() =>
                    {
                        tally.unavailable += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => tally.other.push(format!("{} {}", seen.status, seen.body)),
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for h in handles {
        let t = h.await.unwrap();
        all.ok += t.ok;
        all.unavailable += t.unavailable;
        all.other.extend(t.other);
    }
    all
}

/// Waits (at most 10 s) until a call through each instance is no longer
/// answered 503: a loaded CI machine may need a moment more after the
/// failover for every instance to have reconnected.
async fn settled<R>(c: &Cluster<R>) {
    for via in [0, 1] {
        for _ in 0..100 {
            if c.api(via, &patients()).await.status != 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The tagged key of a session's record.
fn record_key(id: &SessionId) -> String {
    format!("gx:{{{}}}", id.store_key())
}

async fn replica_has(port: u16, key: &str) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let _: Result<(), _> = redis::cmd("READONLY").query_async(&mut conn).await;
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(&mut conn)
        .await
        .is_ok_and(|n| n == 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_during_a_storm_fails_over_with_503s_and_replicated_sessions_carry_on() {
    let redis = RedisCluster::start(3, 1).await;
    let url = redis.url();
    let c = Cluster::start_on(redis, &url, None, 2, |_| {}).await;
    c.login(0).await;
    let kept = c.session_id();
    let primary = c.redis.primary_of(&record_key(&kept)).await;
    let replicas = c.redis.replicas_of(primary).await;
    assert_eq!(replicas.len(), 1, "one replica per primary");
    let replica = replicas[0];
    let kept_key = record_key(&kept);
    crate::redis_cluster::wait_until(Duration::from_secs(5), || replica_has(replica, &kept_key))
        .await;

    // A session written while the replica is paused and cut off (its
    // link closed by the primary: a paused process would still find the
    // stream in its socket buffer) lives on the primary only: the failover
    // will lose it.
    c.redis.signal(replica, "-STOP");
    c.redis.drop_replicas_of(primary).await;
    let mut tries = 0;
    let lost = loop {
        tries += 1;
        assert!(tries < 30, "no sign-in landed on the primary");
        let browser = Client::new(c.bffs[1].url());
        c.login_as(&browser, 1).await;
        let id = SessionId::from_cookie(&browser.session_cookie().unwrap()).unwrap();
        if c.redis.primary_of(&record_key(&id)).await == primary {
            break browser;
        }
    };

    // The storm; the primary is killed 300 ms into it and its replica
    // resumes (and takes over once the cluster agrees the primary failed).
    let c = Arc::new(c);
    let stop = Arc::new(AtomicBool::new(false));
    let storm = tokio::spawn(storm(c.clone(), stop.clone(), 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    c.redis.kill(primary);
    c.redis.signal(replica, "-CONT");
    // Over when the replica serves the slot and every live node agrees.
    crate::redis_cluster::wait_until(Duration::from_secs(20), || async {
        c.redis.try_primary_of(&kept_key).await == Some(replica)
    })
    .await;
    c.redis.wait_ok().await;
    let recovered = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let tally = storm.await.unwrap();
    let c = Arc::into_inner(c).unwrap();
    eprintln!(
        "failover: cluster ok again {recovered:?} after the kill; storm saw {} ok, {} 503 session_unavailable, {} other",
        tally.ok,
        tally.unavailable,
        tally.other.len()
    );
    assert!(tally.other.is_empty(), "{:?}", tally.other);
    assert!(tally.ok > 0);

    // The replicated session carries on, on both instances.
    settled(&c).await;
    for via in [0, 1] {
        assert!(c.session_via(via).await.authenticated, "instance {via}");
        let seen = c.api(via, &patients()).await;
        assert_eq!(seen.status, 200, "instance {via}: {}", seen.body);
    }
    // The lost one is asked to sign in again, cleanly; and can.
    let seen = lost
        .api(
            reqwest::Method::GET,
            &format!("{}/api/giponext/v2/{}", c.bffs[0].url(), patients()),
            None,
        )
        .await;
    assert_eq!(seen.status, 401, "{}", seen.body);
    assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
    assert!(!c.session_of(&lost, 1).await.authenticated);
    c.login_as(&lost, 1).await;
    assert!(c.session_of(&lost, 0).await.authenticated);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_sentinel_the_backends_follow_the_primary_through_a_failover_during_a_storm() {
    let redis = RedisSentinel::start().await;
    let url = redis.url();
    let c = Cluster::start_on(redis, &url, None, 2, |_| {}).await;
    c.login(0).await;
    let (primary, replica) = (c.redis.primary, c.redis.replica);
    let kept_key = format!("gx:{}", c.session_id().store_key());
    crate::redis_cluster::wait_until(Duration::from_secs(5), || replica_has(replica, &kept_key))
        .await;

    // A session the replica never gets (its link cut while it is paused).
    let pid = c.redis.pid(replica);
    let stop_replica = |signal: &str| {
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    stop_replica("-STOP");
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{primary}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query_async(&mut conn)
        .await
        .unwrap();
    let lost = Client::new(c.bffs[1].url());
    c.login_as(&lost, 1).await;

    let c = Arc::new(c);
    let stop = Arc::new(AtomicBool::new(false));
    let storm = tokio::spawn(storm(c.clone(), stop.clone(), 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    c.redis.kill(primary);
    stop_replica("-CONT");
    crate::redis_cluster::wait_until(Duration::from_secs(20), || async {
        c.redis.current_primary().await == Some(replica)
    })
    .await;
    let promoted = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let tally = storm.await.unwrap();
    let c = Arc::into_inner(c).unwrap();
    eprintln!(
        "sentinel failover: replica promoted {promoted:?} after the kill; storm saw {} ok, {} 503 session_unavailable, {} other",
        tally.ok,
        tally.unavailable,
        tally.other.len()
    );
    assert!(tally.other.is_empty(), "{:?}", tally.other);
    assert!(tally.ok > 0);

    settled(&c).await;
    for via in [0, 1] {
        assert!(c.session_via(via).await.authenticated, "instance {via}");
        let seen = c.api(via, &patients()).await;
        assert_eq!(seen.status, 200, "instance {via}: {}", seen.body);
    }
    let seen = lost
        .api(
            reqwest::Method::GET,
            &format!("{}/api/giponext/v2/{}", c.bffs[0].url(), patients()),
            None,
        )
        .await;
    assert_eq!(seen.status, 401, "{}", seen.body);
    assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
    c.login_as(&lost, 0).await;
    assert!(c.session_of(&lost, 1).await.authenticated);
    c.shutdown().await;
}

/// Pauses (`-STOP`) or resumes (`-CONT`) the process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Cuts the replication links of the primary on `port`.
async fn cut_replicas(port: u16) {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// The trade-off of asynchronous replication, shown deterministically: a
/// refresh whose rotated refresh token reached only the primary, which then
/// dies. The promoted replica holds the spent token; the session works
/// while its old access token lasts, then the refresh presents the spent
/// token, the provider sees it reused and revokes the grant, and the user
/// is asked (cleanly) to sign in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_only_the_lost_primary_held_costs_the_grant_and_a_clean_sign_in() {
    let redis = RedisSentinel::start().await;
    let url = redis.url();
    let c = Cluster::start_on(redis, &url, None, 2, |_| {}).await;
    c.login(0).await;
    let (primary, replica) = (c.redis.primary, c.redis.replica);
    let key = format!("gx:{}", c.session_id().store_key());
    crate::redis_cluster::wait_until(Duration::from_secs(5), || replica_has(replica, &key)).await;

    let pid = c.redis.pid(replica);
    signal(pid, "-STOP");
    cut_replicas(primary).await;
    let cookie = c.client.session_cookie().unwrap();
    assert!(c.bffs[1].expire_access_token(&cookie).await);
    assert_eq!(c.api(0, &patients()).await.status, 200);
    assert_eq!(c.refreshes(), 1, "rotated, on the primary only");
    c.redis.kill(primary);
    signal(pid, "-CONT");
    crate::redis_cluster::wait_until(Duration::from_secs(20), || async {
        c.redis.current_primary().await == Some(replica)
    })
    .await;

    // The record from before the refresh: its access token still works.
    let mut seen = c.api(0, &patients()).await;
    for _ in 0..40 {
        if seen.status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = c.api(0, &patients()).await;
    }
    assert_eq!(seen.status, 200, "{}", seen.body);
    // Its expiry: the spent refresh token is presented and the grant ends.
    assert!(c.bffs[1].expire_access_token(&cookie).await);
    let seen = c.api(1, &patients()).await;
    assert_eq!(seen.status, 401, "{}", seen.body);
    assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
    assert_eq!(seen.json()["login_url"], "/auth/login");
    c.login(1).await;
    assert_eq!(c.api(0, &patients()).await.status, 200);
    c.shutdown().await;
}

/// How often a failover in the middle of refreshes loses a grant: rounds of
/// 4 signed-in browsers calling over both instances with 1-second access
/// tokens (a refresh per grant every ~0.75 s), the primary killed at a
/// random moment. Every call must be 200, 503 `session_unavailable` or,
/// once a grant is lost, 401 `reauth_required` (never a 500); afterwards
/// each grant either works or asks to sign in again. `GX_FAILOVER_ROUNDS`
/// rounds (1 by default, to stay quick in CI); prints the tally.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn how_often_a_failover_during_refreshes_loses_a_grant() {
    use rand::Rng as _;
    let rounds: usize = std::env::var("GX_FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut grants, mut lost, mut unavailable, mut ok) = (0, 0, 0, 0);
    for round in 0..rounds {
        let redis = RedisSentinel::start().await;
        let url = redis.url();
        let c = Cluster::start_on(redis, &url, None, 2, |s| {
            s.access_token_ttl = Duration::from_secs(1);
        })
        .await;
        let mut browsers = Vec::new();
        for b in 0..4 {
            let browser = Client::new(c.bffs[b % 2].url());
            c.login_as(&browser, b % 2).await;
            browsers.push(Arc::new(browser));
        }
        let c = Arc::new(c);
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (b, browser) in browsers.iter().enumerate() {
            for t in 0..2 {
                let (c, stop, browser) = (c.clone(), stop.clone(), browser.clone());
                tasks.push(tokio::spawn(async move {
                    let mut seen_statuses = Vec::new();
                    let mut i = b + t;
                    while !stop.load(Ordering::Relaxed) {
                        let url = format!("{}/api/giponext/v2/{}", c.bffs[i % 2].url(), patients());
                        let seen = browser.api(reqwest::Method::GET, &url, None).await;
                        i += 1;
                        let kind = match seen.status.as_u16() {
                            200 => "ok".to_owned(),
                            503 if seen.json()["type"] == "session_unavailable"
                                && !seen.header("retry-after").is_empty() =>
                            {
                                "unavailable".to_owned()
                            }
                            401 if seen.json()["type"] == "reauth_required" => "reauth".to_owned(),
                            _ => format!("{} {}", seen.status, seen.body),
                        };
                        if kind != "ok" {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        seen_statuses.push(kind);
                    }
                    seen_statuses
                }));
            }
        }
        let wait = rand::thread_rng().gen_range(500..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        c.redis.kill(c.redis.primary);
        let replica = c.redis.replica;
        crate::redis_cluster::wait_until(Duration::from_secs(20), || async {
            c.redis.current_primary().await == Some(replica)
        })
        .await;
        // Long enough for every grant to refresh again at least once.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            for kind in task.await.unwrap() {
                match kind.as_str() {
                    "ok" => ok += 1,
                    "unavailable" => unavailable += 1,
                    "reauth" => {}
                    other => panic!("round {round}: {other}"),
                }
            }
        }
        for browser in &browsers {
            grants += 1;
            let url = format!("{}/api/giponext/v2/{}", c.bffs[0].url(), patients());
            let mut seen = browser.api(reqwest::Method::GET, &url, None).await;
            for _ in 0..100 {
                if seen.status != 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                seen = browser.api(reqwest::Method::GET, &url, None).await;
            }
            match seen.status.as_u16() {
                200 => {}
                401 if seen.json()["type"] == "reauth_required" => lost += 1,
                _ => panic!("round {round}: {} {}", seen.status, seen.body),
            }
        }
        Arc::into_inner(c).unwrap().shutdown().await;
    }
    eprintln!(
        "failover during refreshes: {rounds} round(s), {lost} of {grants} grants lost; calls: {ok} ok, {unavailable} 503"
    );
}
