//! The security attack matrix of GipoNext Connect (issue 7).
//!
//! [`run_matrix`] starts the backend in-process on free ports, against the
//! embedded sandbox (real login and consent forms) and against the
//! controllable fake provider of the backend's integration tests (for ID
//! tokens and callbacks no honest provider produces), runs every attack and
//! returns a [`Report`]: one row per case with what was expected, what was
//! observed and the verdict.
//!
//! [`run_faults`] injects failures (GipoNext errors and timeouts, the
//! provider down or slow, Redis down and back, backend restarts and a crash
//! mid-refresh) and records what the user saw; [`Report::blocks`] prints
//! each case in full.
//!
//! The fake provider, the browser-like test client and the Redis helper are
//! the backend's own (`backend/tests/it/{fake_provider,support,
//! redis_server}.rs`), compiled in here rather than copied.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

pub(crate) mod cases;
pub mod fault_proxy;
mod faults;

pub use faults::run_faults;

#[allow(dead_code, clippy::unwrap_used, missing_docs)]
#[path = "../../backend/tests/it/fake_provider.rs"]
mod fake_provider;
#[allow(dead_code, clippy::unwrap_used, missing_docs)]
#[path = "../../backend/tests/it/redis_server.rs"]
mod redis_server;
#[allow(dead_code, clippy::unwrap_used, missing_docs)]
#[path = "../../backend/tests/it/support.rs"]
mod support;

/// One attack and its verdict.
#[derive(Debug, Clone)]
pub struct Row {
    /// The attack.
    pub case: String,
    /// What must happen.
    pub expected: String,
    /// What happened.
    pub observed: String,
    /// Whether it held.
    pub pass: bool,
}

/// The rows of a run (shared by the concurrently built groups).
#[derive(Debug, Clone, Default)]
pub struct Report(Arc<Mutex<Vec<Row>>>);

impl Report {
    /// Records a case.
    pub fn check(
        &self,
        case: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
        pass: bool,
    ) {
        let row = Row {
            case: case.into(),
            expected: expected.into(),
            observed: observed.into(),
            pass,
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(row);
    }

    /// Every row so far.
    pub fn rows(&self) -> Vec<Row> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether every case held (and there is at least one).
    pub fn all_pass(&self) -> bool {
        let rows = self.rows();
        !rows.is_empty() && rows.iter().all(|r| r.pass)
    }

    /// The table `case | expected | observed | verdict` and a summary line.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let width = |f: fn(&Row) -> &str, min: usize| {
            rows.iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(0)
                .clamp(min, 60)
        };
        let (wc, we, wo) = (
            width(|r| &r.case, 4),
            width(|r| &r.expected, 8),
            width(|r| &r.observed, 8),
        );
        let cut = |s: &str, w: usize| -> String {
            if s.chars().count() <= w {
                s.to_owned()
            } else {
                let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
                t.push('…');
                t
            }
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:wc$} | {:we$} | {:wo$} | verdict",
            "case", "expected", "observed"
        );
        let _ = writeln!(out, "{}", "-".repeat(wc + we + wo + 16));
        for r in &rows {
            let _ = writeln!(
                out,
                "{:wc$} | {:we$} | {:wo$} | {}",
                cut(&r.case, wc),
                cut(&r.expected, we),
                cut(&r.observed, wo),
                if r.pass { "PASS" } else { "FAIL" }
            );
        }
        let failed: Vec<&Row> = rows.iter().filter(|r| !r.pass).collect();
        let _ = writeln!(
            out,
            "\n{} cases, {} passed, {} failed",
            rows.len(),
            rows.len() - failed.len(),
            failed.len()
        );
        for r in failed {
            let _ = writeln!(
                out,
                "FAILED: {}\n  expected: {}\n  observed: {}",
                r.case, r.expected, r.observed
            );
        }
        out
    }

    /// Every case in full, one block each: what was injected, what was
    /// expected, what the user saw, the verdict; then the summary line.
    pub fn blocks(&self) -> String {
        let rows = self.rows();
        let mut out = String::new();
        for r in &rows {
            let verdict = if r.pass { "PASS" } else { "FAIL" };
            let _ = writeln!(
                out,
                "[{verdict}] injected: {}\n       expected: {}\n       user saw: {}",
                r.case, r.expected, r.observed
            );
        }
        let failed = rows.iter().filter(|r| !r.pass).count();
        let _ = writeln!(
            out,
            "\n{} cases, {} passed, {} failed",
            rows.len(),
            rows.len() - failed,
            failed
        );
        out
    }
}

/// Runs every group of attacks, one after the other, each against its own
/// freshly started backend. A group that panics is recorded as a failure.
pub async fn run_matrix() -> Report {
    let report = Report::default();
    for (group, run) in cases::groups() {
        let task = tokio::spawn(run(report.clone()));
        if let Err(e) = task.await {
            report.check(
                format!("{group}: harness"),
                "the group runs",
                panic_message(e),
                false,
            );
        }
    }
    report
}

/// The first line of a group task's panic message.
pub(crate) fn panic_message(e: tokio::task::JoinError) -> String {
    let why = match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panic".into()),
        Err(e) => e.to_string(),
    };
    why.lines().next().unwrap_or_default().to_owned()
}
