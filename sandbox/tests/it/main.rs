//! Integration tests of the sandbox: the account server driven as a real
//! client would, and the API against the shared resource table.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod account;
mod api;
mod support;
