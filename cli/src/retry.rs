//! Waiting policy: `Retry-After` (RFC 9110 §10.2.3) with jitter, and
//! exponential backoff for server errors.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many 429s in a row one request waits out before giving up.
pub const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// How many times a GET is retried after a 5xx or a transport error.
pub const MAX_SERVER_RETRIES: u32 = 3;
/// The longest single wait: a server asking for more is not waited for.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// The `Retry-After` delay: delta-seconds or an HTTP-date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT))
}

/// `wait` plus up to a quarter of it (at least up to 250 ms) at random, so
/// that many clients told the same `Retry-After` do not return in a herd.
pub fn with_jitter(wait: Duration) -> Duration {
    let spread = (wait / 4).max(Duration::from_millis(250));
    let extra = rand::thread_rng().gen_range(0..=spread.as_millis() as u64);
    wait + Duration::from_millis(extra)
}

/// The backoff before retry number `attempt` (0-based): 0.5 s, 1 s, 2 s, ...
/// with jitter.
pub fn backoff(attempt: u32) -> Duration {
    with_jitter(Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "99999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_WAIT));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn jitter_and_backoff_stay_in_bounds() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(4));
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(5),
                "{d:?}"
            );
        }
        assert!(backoff(0) >= Duration::from_millis(500));
        assert!(backoff(2) >= Duration::from_secs(2));
        assert!(backoff(2) < Duration::from_secs(3));
    }
}
