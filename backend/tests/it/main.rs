//! Integration tests of the backend: against a controllable fake provider
//! (attacks, drift, failures) and against the sandbox (the real flows with
//! its login and consent forms).

#![allow(clippy::unwrap_used)]

mod fake_provider;
mod support;

mod attacks;
mod flows;
mod gaps;
mod idle_and_drafts;
#[cfg(feature = "embedded-sandbox")]
mod par;
mod proxy;
#[cfg(feature = "embedded-sandbox")]
mod redis_cluster;
#[cfg(feature = "embedded-sandbox")]
mod redis_server;
mod refresh;
#[cfg(feature = "embedded-sandbox")]
mod sandbox;
#[cfg(feature = "embedded-sandbox")]
mod scaleout;
#[cfg(feature = "embedded-sandbox")]
mod scaleout_cluster;
#[cfg(feature = "embedded-sandbox")]
mod scaleout_faults;
#[cfg(feature = "embedded-sandbox")]
mod scaleout_process;
#[cfg(feature = "embedded-sandbox")]
mod scaleout_sessions;
#[cfg(feature = "embedded-sandbox")]
mod scaleout_tls;
mod static_files;
mod store_lock;
#[cfg(feature = "embedded-sandbox")]
mod workstations;
