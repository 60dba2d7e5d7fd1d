//! A faithful local stand-in for GipoNext: the account server
//! (account.gipo.it: OpenID Connect discovery, authorization with a login and a
//! per-scope consent page, tokens, device flow, JWKS, userinfo, revocation,
//! end-session) and the REST API (api.giponext.it: `/v2/...`), on one listener.
//!
//! The real services cannot be reached from our machines, so this is what a
//! developer runs by default and what most tests run against. It is for
//! development and tests only: the product never depends on it except for the
//! backend's embedded default.
//!
//! Start it in-process with [`start`] (tests use [`SandboxConfig::for_tests`]
//! on a free port), or run the `giponext-sandbox` binary.

pub mod account;
pub mod api;
pub mod cli;
pub mod clients;
pub mod config;
pub mod db;
pub mod ratelimit;
mod server;
pub mod testing;
pub mod users;

pub use config::{ClientRegistration, ParMode, SandboxConfig};
pub use server::{RunningSandbox, SandboxState, Stats, start};
