//! End-to-end tests: the built `giponext` binary against an in-process
//! sandbox, with device codes approved through the sandbox's own pages over
//! HTTP, as a person on another device would.
//!
//! Every run uses file storage in a fresh temp dir with the OS keyring
//! forced off (`GIPONEXT_KEYRING=off`), so no test touches a real keyring.

mod data;
mod harness;
mod login;
mod resilience;
