//! Refresh storm: 1,000 concurrent API calls through the backend at the
//! moment the session's access token expires. Goals: no call fails and
//! exactly one refresh reaches the provider (single flight), on one
//! instance and on two instances sharing one Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stack::{Stack, sandbox_config};
use crate::stats::{ms, percentile, ratio};
use crate::tools::Redis;

/// The calls made at once.
pub const CALLS: usize = 1000;

/// What one storm measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Setting name.
    pub name: String,
    /// Calls that did not answer 200.
    pub failed: usize,
    /// Refreshes the sandbox saw.
    pub refreshes: u64,
    /// Time until all calls completed.
    pub storm: Duration,
    /// The same 1,000 calls with a fresh token (baseline).
    pub baseline: Duration,
    /// p99 of one call during the storm.
    pub p99: Duration,
}

/// Runs one instance, then two on Redis (when `redis-server` is there).
pub async fn run() -> anyhow::Result<Vec<Outcome>> {
    println!("== Refresh storm: {CALLS} concurrent calls at token expiry ==");
    let mut out = vec![storm("one instance, SQLite-in-memory sessions", 1, None).await?];
    match Redis::start().await {
        Ok(redis) => out.push(storm("two instances on one Redis", 2, Some(redis.url())).await?),
        Err(e) => println!("  two instances on Redis: SKIPPED ({e:#})"),
    }
    Ok(out)
}

async fn storm(name: &str, instances: usize, redis: Option<String>) -> anyhow::Result<Outcome> {
    let stack = Arc::new(Stack::start(sandbox_config(), instances, redis).await?);
    anyhow::ensure!(stack.patients_via(0).await? == 200, "warm-up call failed");
    // Baseline: the same burst with a valid token (no refresh).
    let (baseline, _, base_failed) = burst(&stack, instances).await;
    anyhow::ensure!(base_failed == 0, "{base_failed} baseline calls failed");
    let before = stack.sandbox.stats().refreshes();
    let cookie = stack.session_cookie().unwrap_or_default();
    anyhow::ensure!(
        stack.bffs[0].expire_access_token(&cookie).await,
        "no session to expire"
    );
    let (elapsed, mut latencies, failed) = burst(&stack, instances).await;
    let refreshes = stack.sandbox.stats().refreshes() - before;
    let outcome = Outcome {
        name: name.to_owned(),
        failed,
        refreshes,
        storm: elapsed,
        baseline,
        p99: percentile(&mut latencies, 99.0),
    };
    println!(
        "  {name}: failed {failed} (goal 0), refreshes {refreshes} (goal 1), all done in {} \
         (p99 {}), baseline burst without expiry {} -> ratio {:.2}  [{}]",
        ms(elapsed),
        ms(outcome.p99),
        ms(baseline),
        ratio(elapsed.as_secs_f64(), baseline.as_secs_f64()),
        if failed == 0 && refreshes == 1 {
            "MET"
        } else {
            "NOT MET"
        },
    );
    if let Ok(stack) = Arc::try_unwrap(stack) {
        stack.shutdown().await;
    }
    Ok(outcome)
}

/// `CALLS` concurrent calls spread over the instances: (wall time, per-call
/// latencies, calls that failed).
async fn burst(stack: &Arc<Stack>, instances: usize) -> (Duration, Vec<Duration>, usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLS)
        .map(|i| {
            let stack = stack.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let ok = matches!(stack.patients_via(i % instances).await, Ok(200));
                (t.elapsed(), ok)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(CALLS);
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok((d, ok)) => {
                latencies.push(d);
                failed += usize::from(!ok);
            }
            Err(_) => failed += 1,
        }
    }
    (start.elapsed(), latencies, failed)
}
