//! End-to-end tests across processes and in a real browser.

pub mod interop;
