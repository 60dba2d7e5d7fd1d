//! Small building blocks shared by the pages.

mod consent;
mod idle;
/// Consent state helpers for the access page.
pub mod consent_helpers {
    pub use super::consent::{reason_label, scope_reason, who_can_enable};
}
mod nav;
mod pager;
mod pickers;
mod sessions;
mod status;

pub use consent::{
    FeatureGate, GrantAnnouncer, GrantPrompt, PartialConsentBanner, SupportPanel, prompt_text,
    support_request,
};
pub use idle::{heard as heard_left, watch_idle};
pub use nav::{Header, Nav, SECTIONS, SandboxBanner, Section};
pub use pager::Pager;
pub use pickers::{FieldError, PatientDirectory, PatientName, PatientSelect, display_name};
pub use sessions::{ConnectedSessions, SessionList};
pub use status::{Empty, FailureView, Loading, RestoredNotice};
