//! Per-client sliding-window rate limiting, as the platform applies it to the
//! API and the token endpoint (shared by every user of a client).
//!
//! TODO(api engineer): implement.

use crate::config::RateLimit;

/// The limiter.
pub struct RateLimiter {
    #[allow(dead_code)]
    limit: RateLimit,
}

impl RateLimiter {
    /// A limiter enforcing `limit`.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter { limit }
    }
}
