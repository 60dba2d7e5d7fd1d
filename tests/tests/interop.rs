//! Interop against an independent OpenID provider (panva's `oidc-provider`
//! from npm, started by `giponext_e2e::interop::Harness`).
//!
//! - `provider`: the harness itself, driven by the plain `openidconnect`
//!   crate: discovery, code flow with per-scope consent, refresh rotation
//!   and reuse detection, revocation, RP-initiated logout (`provider`), and
//!   the device flow for confidential and public clients (`device`).
//! - `bff`: the product's backend in-process against the provider: partial,
//!   incremental and refused consent, refresh with rotation, logout, and
//!   every sign-in pushed (RFC 9126) to the provider configured to require
//!   PAR; against a provider applying OIDC Core §11 strictly, the missing
//!   refresh token told and the next sign-in asking with `prompt=consent`.
//!
//! These tests need `node` and `npm`; `scripts/ensure-tools.sh interop`
//! (called by the harness) installs them and the provider, and a failure
//! fails the test: nothing is skipped.

mod interop {
    pub mod bff;
    pub mod common;
    pub mod device;
    pub mod provider;
}
