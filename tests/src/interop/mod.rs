//! Interop against an independent OpenID provider: panva's `oidc-provider`
//! (installed from npm into `tests/interop/node_modules`, pinned by its lock
//! file), configured like GipoNext by `tests/interop/provider.mjs`.
//!
//! [`Harness::start`] installs it if needed (`scripts/ensure-tools.sh
//! interop`), starts it on a free port and returns its issuer;
//! [`HarnessBrowser`] walks its sign-in, consent, device and logout pages
//! over HTTP like a person would. A missing `node`/`npm` is an error, never
//! a silent skip.

mod browser;
mod harness;

pub use browser::{Consent, HarnessBrowser};
pub use harness::{
    Harness, HarnessOptions, HarnessPar, HarnessStats, device_client, public_device_client,
    web_client,
};

/// The users of the harness (as in the sandbox), and their password.
pub mod users {
    /// Everyone's password.
    pub const PASSWORD: &str = "sandbox";
    /// Tenant `tenant-abc123`.
    pub const MARIO: &str = "mario.rossi";
    /// Subject of [`MARIO`] at the harness.
    pub const MARIO_SUB: &str = "interop-mario";
    /// Tenant `tenant-abc123`.
    pub const GIULIA: &str = "giulia.bianchi";
    /// Tenant `tenant-def456`.
    pub const LUCA: &str = "luca.verdi";
    /// Mario's and Giulia's medical centre.
    pub const TENANT_MAIN: &str = "tenant-abc123";
}
