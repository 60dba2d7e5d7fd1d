//! Prometheus metrics in the text exposition format, from atomics.
//!
//! Small on purpose: a few counters and one histogram need no registry crate.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the proxy latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How a sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in.
    Success,
    /// The provider returned an error (e.g. the user refused).
    ProviderError,
    /// The callback failed a check (state, iss, ID token, tenant...).
    Rejected,
}

/// What the user did at the consent screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// Everything asked was granted.
    Full,
    /// Some scopes were refused.
    Partial,
    /// The user refused the request.
    Denied,
}

/// The backend's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    logins: [AtomicU64; 3],
    consents: [AtomicU64; 3],
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    refresh_invalid_grant: AtomicU64,
    refresh_waits: [AtomicU64; 2],
    scope_missing: AtomicU64,
    proxy_requests: [AtomicU64; 5],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts a sign-in.
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a consent outcome.
    pub fn consent(&self, outcome: ConsentOutcome) {
        self.consents[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refresh; `Err(true)` for invalid_grant.
    pub fn refresh(&self, result: Result<(), bool>) {
        match result {
            Ok(()) => &self.refreshes,
            Err(false) => &self.refresh_failures,
            Err(true) => &self.refresh_invalid_grant,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that waited for a sibling's refresh of its session:
    /// `adopted` if it used the sibling's token, `false` if that token did
    /// not cover the scopes the request needs (it was not used).
    pub fn refresh_wait(&self, adopted: bool) {
        self.refresh_waits[usize::from(!adopted)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a `scope_missing` answer.
    pub fn scope_missing(&self) {
        self.scope_missing.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a proxied call's status and latency.
    pub fn proxy(&self, status: u16, elapsed: Duration) {
        let class = usize::from((status / 100).clamp(1, 5)) - 1;
        self.proxy_requests[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP bff_logins_total Sign-ins by outcome.\n# TYPE bff_logins_total counter"
        );
        for (i, name) in ["success", "provider_error", "rejected"].iter().enumerate() {
            let _ = writeln!(
                out,
                "bff_logins_total{{outcome=\"{name}\"}} {}",
                get(&self.logins[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP bff_consent_total Consent outcomes.\n# TYPE bff_consent_total counter"
        );
        for (i, name) in ["full", "partial", "denied"].iter().enumerate() {
            let _ = writeln!(
                out,
                "bff_consent_total{{outcome=\"{name}\"}} {}",
                get(&self.consents[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP bff_refresh_total Token refreshes by outcome.\n# TYPE bff_refresh_total counter"
        );
        let _ = writeln!(
            out,
            "bff_refresh_total{{outcome=\"ok\"}} {}",
            get(&self.refreshes)
        );
        let _ = writeln!(
            out,
            "bff_refresh_total{{outcome=\"error\"}} {}",
            get(&self.refresh_failures)
        );
        let _ = writeln!(
            out,
            "bff_refresh_total{{outcome=\"invalid_grant\"}} {}",
            get(&self.refresh_invalid_grant)
        );
        let _ = writeln!(
            out,
            "# HELP bff_refresh_waits_total Requests that waited for a sibling's refresh, by whether its token covered their scopes.\n# TYPE bff_refresh_waits_total counter"
        );
        for (i, name) in ["adopted", "not_adopted"].iter().enumerate() {
            let _ = writeln!(
                out,
                "bff_refresh_waits_total{{result=\"{name}\"}} {}",
                get(&self.refresh_waits[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP bff_scope_missing_total API calls refused for a missing scope.\n# TYPE bff_scope_missing_total counter"
        );
        let _ = writeln!(out, "bff_scope_missing_total {}", get(&self.scope_missing));
        let _ = writeln!(
            out,
            "# HELP bff_proxy_requests_total Proxied API calls by status class.\n# TYPE bff_proxy_requests_total counter"
        );
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(
                out,
                "bff_proxy_requests_total{{class=\"{class}\"}} {}",
                get(&self.proxy_requests[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP bff_proxy_duration_seconds Latency of proxied API calls.\n# TYPE bff_proxy_duration_seconds histogram"
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "bff_proxy_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(&self.latency_buckets[i])
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            out,
            "bff_proxy_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "bff_proxy_duration_seconds_sum {}",
            get(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "bff_proxy_duration_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts() {
        let m = Metrics::default();
        m.login(LoginOutcome::Success);
        m.consent(ConsentOutcome::Partial);
        m.refresh(Err(true));
        m.scope_missing();
        m.refresh_wait(false);
        m.proxy(200, Duration::from_millis(20));
        m.proxy(502, Duration::from_secs(10));
        let text = m.render();
        for line in [
            "bff_logins_total{outcome=\"success\"} 1",
            "bff_consent_total{outcome=\"partial\"} 1",
            "bff_refresh_total{outcome=\"invalid_grant\"} 1",
            "bff_scope_missing_total 1",
            "bff_refresh_waits_total{result=\"adopted\"} 0",
            "bff_refresh_waits_total{result=\"not_adopted\"} 1",
            "bff_proxy_requests_total{class=\"2xx\"} 1",
            "bff_proxy_requests_total{class=\"5xx\"} 1",
            "bff_proxy_duration_seconds_bucket{le=\"0.025\"} 1",
            "bff_proxy_duration_seconds_bucket{le=\"+Inf\"} 2",
            "bff_proxy_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
    }
}
