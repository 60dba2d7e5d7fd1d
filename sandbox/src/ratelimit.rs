//! Per-client sliding-window rate limiting, as the platform applies it to the
//! API and the token endpoint (shared by every user of a client).
//!
//! The window is a true sliding log: a request is allowed when fewer than
//! `requests` were allowed in the `window` before it. Refused requests are not
//! counted, so a client that backs off for `Retry-After` gets through.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// How long a refused client should wait before its next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (RFC 9110 §10.2.3), rounded
    /// up and at least 1, so a client honouring it is let through.
    pub fn header_seconds(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// The limiter: one sliding log of request instants per client id.
pub struct RateLimiter {
    limit: RateLimit,
    log: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// A limiter enforcing `limit`.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            log: Mutex::new(HashMap::new()),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts a request of `client_id` now, or says how long to wait.
    pub fn check(&self, client_id: &str) -> Result<(), RetryAfter> {
        self.check_at(client_id, Instant::now())
    }

    /// [`RateLimiter::check`] at a given instant (for tests).
    pub fn check_at(&self, client_id: &str, now: Instant) -> Result<(), RetryAfter> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let entries = log.entry(client_id.to_owned()).or_default();
        while let Some(&oldest) = entries.front() {
            if now.saturating_duration_since(oldest) >= self.limit.window {
                entries.pop_front();
            } else {
                break;
            }
        }
        if entries.len() >= self.limit.requests as usize {
            // The oldest counted request leaves the window first.
            let wait = match entries.front() {
                Some(&oldest) => (oldest + self.limit.window).saturating_duration_since(now),
                None => self.limit.window, // a limit of 0 requests: always refused
            };
            return Err(RetryAfter(wait));
        }
        entries.push_back(now);
        Ok(())
    }

    /// Forgets every client's history (e.g. between test phases).
    pub fn reset(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limiter(requests: u32, secs: u64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            requests,
            window: Duration::from_secs(secs),
        })
    }

    #[test]
    fn allows_up_to_the_limit_then_refuses() {
        let rl = limiter(3, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check_at("a", t0), Ok(()));
        }
        let err = rl.check_at("a", t0 + Duration::from_secs(2)).unwrap_err();
        assert_eq!(err, RetryAfter(Duration::from_secs(8)));
        assert_eq!(err.header_seconds(), 8);
    }

    #[test]
    fn window_slides() {
        let rl = limiter(2, 10);
        let t0 = Instant::now();
        rl.check_at("a", t0).unwrap();
        rl.check_at("a", t0 + Duration::from_secs(5)).unwrap();
        assert!(rl.check_at("a", t0 + Duration::from_secs(9)).is_err());
        // The first request left the window; the second is still in it.
        rl.check_at("a", t0 + Duration::from_secs(10)).unwrap();
        let err = rl.check_at("a", t0 + Duration::from_secs(11)).unwrap_err();
        assert_eq!(err.0, Duration::from_secs(4));
    }

    #[test]
    fn refused_requests_are_not_counted() {
        let rl = limiter(1, 10);
        let t0 = Instant::now();
        rl.check_at("a", t0).unwrap();
        for s in 1..10 {
            assert!(rl.check_at("a", t0 + Duration::from_secs(s)).is_err());
        }
        rl.check_at("a", t0 + Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn clients_are_counted_separately() {
        let rl = limiter(1, 60);
        let t0 = Instant::now();
        rl.check_at("a", t0).unwrap();
        rl.check_at("b", t0).unwrap();
        assert!(rl.check_at("a", t0).is_err());
        rl.reset();
        rl.check_at("a", t0).unwrap();
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).header_seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(1500)).header_seconds(), 2);
        assert_eq!(RetryAfter(Duration::ZERO).header_seconds(), 1);
        assert!(limiter(0, 5).check("x").is_err());
    }
}
