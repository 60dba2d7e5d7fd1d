//! A per-address limit on starting sign-ins (`/auth/login`).
//!
//! # Security
//! Each client address has a bucket of `BFF_LOGIN_RATE_PER_MIN` sign-ins,
//! refilled continuously; an empty bucket gives 429 with `Retry-After`.
//! Behind a reverse proxy every client shares the proxy's address: set the
//! limit for the whole site then, or limit at the proxy.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;

/// Addresses kept before idle buckets are dropped.
const MAX_TRACKED: usize = 10_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per client address.
pub struct LoginLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl LoginLimiter {
    /// `per_minute` sign-ins per address and minute (at least 1).
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::default(),
        }
    }

    /// Takes one sign-in for `ip`, or says how many seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / rate).ceil() as u64).max(1))
        }
    }
}

/// Middleware: refuses a sign-in over the limit with 429 and `Retry-After`.
pub async fn limit_sign_ins(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
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

    #[test]
    fn a_bucket_empties_refills_and_is_per_address() {
        let limiter = LoginLimiter::new(3);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(
            limiter.check(b),
            Ok(()),
            "another address has its own bucket"
        );
        // Twenty seconds later one sign-in (3/min) is back.
        limiter.buckets.lock().unwrap().get_mut(&a).unwrap().at -= Duration::from_secs(21);
        assert_eq!(limiter.check(a), Ok(()));
        assert!(limiter.check(a).is_err());
    }
}
