//! The attack groups. Each starts its own backend and records its cases.

mod callback;
pub(crate) mod harness;
mod limits;
mod paths;
mod redirects;
mod session;

use std::future::Future;
use std::pin::Pin;

use crate::Report;

/// A group of cases.
pub type Group = fn(Report) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every group, in the order the table lists them.
pub fn groups() -> Vec<(&'static str, Group)> {
    vec![
        ("callback", |r| Box::pin(callback::run(r))),
        ("redirects", |r| Box::pin(redirects::run(r))),
        ("session", |r| Box::pin(session::run(r))),
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
