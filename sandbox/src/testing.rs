//! Drives the sandbox's login, consent and device pages as a person would,
//! for tests of every crate.
//!
//! TODO(account engineer): implement `Browser`.
