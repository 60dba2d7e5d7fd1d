//! A per-client limit on starting sign-ins (`/auth/login`).
//!
//! Each client address ([`ClientAddr`]: the TCP peer, or the address a
//! trusted proxy forwarded) has its own token bucket of
//! `BFF_LOGIN_RATE_PER_MIN` sign-ins (30 by default), refilled continuously
//! at that rate; an empty bucket gives 429 with `Retry-After`. Buckets are
//! independent: one client hammering empties only its own, so a clinic
//! behind one reverse proxy (with `BFF_TRUSTED_PROXIES` set) is never locked
//! out by one of its machines.
//!
//! # Sizing
//! Every incremental grant is a sign-in too. A person who signs in and then
//! grants each of the console's optional features one at a time starts 10
//! sign-ins; 30 a minute leaves room for three such rounds, a few tabs and
//! retries, while a script is held to one sign-in every two seconds.
//!
//! # Bounded memory, no scan
//! Buckets live in two generations of at most [`MAX_TRACKED`] addresses
//! each. A bucket left alone for a minute is full again, which is the same
//! as having none, so every minute the current generation becomes the
//! previous one and the previous one is dropped whole: a lookup is at most
//! two hash probes, nothing is ever scanned, and at most
//! 2 × [`MAX_TRACKED`] addresses are held. An address seen again is moved
//! into the current generation with its bucket, so a limited client stays
//! limited across the change. Only if more than [`MAX_TRACKED`] addresses
//! sign in within one minute does the change come early, forgiving some
//! buckets early (logged): memory stays bounded whatever arrives.
//!
//! # Security
//! The key is the address [`ClientAddr`] resolved: forwarding headers count
//! only from `BFF_TRUSTED_PROXIES`, so a client cannot move itself into
//! another bucket by sending `X-Forwarded-For`. IPv6 addresses are keyed
//! whole, not by /64: the staff of a clinic share their LAN's /64.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::client_addr::ClientAddr;
use crate::error::AppError;

/// Addresses one generation holds (about 40 bytes each).
pub const MAX_TRACKED: usize = 10_000;

/// How long a generation lasts: the time an empty bucket takes to fill.
const GENERATION: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Generations {
    current: HashMap<IpAddr, Bucket>,
    previous: HashMap<IpAddr, Bucket>,
    started: Instant,
}

/// A token bucket per client address, in bounded memory.
pub struct LoginLimiter {
    per_minute: u32,
    capacity: usize,
    buckets: Mutex<Generations>,
}

impl LoginLimiter {
    /// `per_minute` sign-ins per address and minute (at least 1).
    pub fn new(per_minute: u32) -> Self {
        Self::with_capacity(per_minute, MAX_TRACKED)
    }

    /// As [`new`](Self::new), tracking at most `capacity` addresses per
    /// generation.
    pub fn with_capacity(per_minute: u32, capacity: usize) -> Self {
        LoginLimiter {
            per_minute: per_minute.max(1),
            capacity: capacity.max(1),
            buckets: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    /// Takes one sign-in for `ip`, or says how many seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.check_at(ip, Instant::now())
    }

    /// [`check`](Self::check) at the instant `now` (not earlier than any
    /// instant given before).
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let rate = capacity / GENERATION.as_secs_f64();
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let g = &mut *guard;
        let age = now.saturating_duration_since(g.started);
        if age >= GENERATION * 2 {
            // Both generations are older than a minute: all full again.
            g.current.clear();
            g.previous.clear();
            g.started = now;
        } else if age >= GENERATION || g.current.len() >= self.capacity {
            if age < GENERATION {
                tracing::warn!(
                    tracked = g.current.len(),
                    "more client addresses started sign-ins within a minute than the limiter \
                     tracks; the oldest buckets are forgotten early"
                );
            }
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        let bucket = match g.current.entry(ip) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(g.previous.remove(&ip).unwrap_or(Bucket {
                tokens: capacity,
                at: now,
            })),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / rate).ceil() as u64).max(1))
        }
    }

    /// How many addresses are tracked now (both generations).
    pub fn tracked(&self) -> usize {
        let g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        g.current.len() + g.previous.len()
    }
}

/// Middleware: refuses a sign-in over the client's limit with 429 and
/// `Retry-After`.
pub async fn limit_sign_ins(
    State(state): State<Arc<AppState>>,
    ClientAddr(ip): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    match state.login_limiter.check(ip) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::warn!(retry_after, "sign-in rate limit reached");
            AppError::TooManySignIns { retry_after }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addr(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    /// How many of `tries` sign-ins from `ip` at `at` pass.
    fn passed(limiter: &LoginLimiter, ip: IpAddr, at: Instant, tries: usize) -> usize {
        (0..tries)
            .filter(|_| limiter.check_at(ip, at).is_ok())
            .count()
    }

    #[test]
    fn one_address_hammering_leaves_every_other_untouched() {
        let limiter = LoginLimiter::new(30);
        let t0 = Instant::now();
        assert_eq!(passed(&limiter, addr(1), t0, 100), 30);
        let wait = limiter.check_at(addr(1), t0).unwrap_err();
        assert_eq!(wait, 2, "one sign-in comes back every 2 s at 30/min");
        // 200 colleagues, each with a full bucket of their own.
        for n in 2..202 {
            assert_eq!(passed(&limiter, addr(n), t0, 10), 10, "address {n}");
        }
        assert!(limiter.check_at(addr(1), t0).is_err(), "still limited");
    }

    #[test]
    fn a_bucket_refills_at_the_rate_and_no_further() {
        let limiter = LoginLimiter::new(30);
        let t0 = Instant::now();
        assert_eq!(passed(&limiter, addr(1), t0, 30), 30);
        let t = t0 + Duration::from_secs(2);
        assert_eq!(passed(&limiter, addr(1), t, 5), 1, "0.5 per second");
        let t = t + Duration::from_secs(600);
        assert_eq!(
            passed(&limiter, addr(1), t, 100),
            30,
            "capped at a minute's worth"
        );
    }

    #[test]
    fn a_new_generation_does_not_forgive_a_limited_address() {
        let limiter = LoginLimiter::new(30);
        let t0 = Instant::now();
        limiter.check_at(addr(9), t0).unwrap();
        let emptied = t0 + Duration::from_secs(50);
        assert_eq!(passed(&limiter, addr(1), emptied, 30), 30);
        // At 61 s another client's sign-in starts a new generation.
        limiter
            .check_at(addr(2), t0 + Duration::from_secs(61))
            .unwrap();
        // 12 s after it emptied, address 1 has 6 sign-ins back, not 30.
        let later = emptied + Duration::from_secs(12);
        assert_eq!(passed(&limiter, addr(1), later, 30), 6);
    }

    #[test]
    fn memory_is_bounded_whatever_arrives() {
        let limiter = LoginLimiter::with_capacity(30, 100);
        let t0 = Instant::now();
        for n in 0..10_000 {
            let at = t0 + Duration::from_millis(u64::from(n));
            assert!(limiter.check_at(addr(n), at).is_ok());
            assert!(limiter.tracked() <= 200, "{} after {n}", limiter.tracked());
        }
        // Idle for two minutes: everything is forgotten at the next sign-in.
        limiter
            .check_at(addr(1), t0 + Duration::from_secs(200))
            .unwrap();
        assert_eq!(limiter.tracked(), 1);
    }
}
