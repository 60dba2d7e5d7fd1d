//! The attack groups. Each starts its own backend and records its cases.

mod callback;
pub(crate) mod harness;
mod limits;
mod par;
mod paths;
mod redirects;
mod session;
mod workstations;

use std::future::Future;
use std::pin::Pin;

use reqwest::Method;

use crate::Report;
use crate::support::{Client, Seen};

/// A group of cases.
pub type Group = fn(Report) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every group, in the order the table lists them.
pub fn groups() -> Vec<(&'static str, Group)> {
    vec![
        ("callback", |r| Box::pin(callback::run(r))),
        ("redirects", |r| Box::pin(redirects::run(r))),
        ("session", |r| Box::pin(session::run(r))),
        ("workstations", |r| Box::pin(workstations::run(r))),
        ("par", |r| Box::pin(par::run(r))),
        ("paths", |r| Box::pin(paths::run(r))),
        ("limits", |r| Box::pin(limits::run(r))),
    ]
}

/// The first 80 characters of a body, on one line.
pub fn snippet(body: &str) -> String {
    body.chars()
        .take(80)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A signed-in API GET that presents `session` as the `gx_session` cookie
/// explicitly (an old or replayed id, or another backend instance).
pub(crate) async fn get_with_session(client: &Client, path: &str, session: &str) -> Seen {
    client
        .send(
            Method::GET,
            path,
            &[
                ("x-csrf", "1"),
                ("cookie", &format!("gx_session={session}")),
            ],
            None,
        )
        .await
}

/// Records a case whose verdict is the status alone: observed is the
/// status code, passes when it is `want`.
pub(crate) fn check_status(
    report: &Report,
    case: impl Into<String>,
    expected: impl Into<String>,
    r: &Seen,
    want: u16,
) {
    report.check(
        case,
        expected,
        format!("{}", r.status.as_u16()),
        r.status == want,
    );
}
