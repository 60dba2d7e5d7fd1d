//! The one definition of what GipoNext Connect knows about the platform.
//!
//! Every other crate reads this one: the sandbox enforces it, the backend's
//! proxy allow-lists from it, the console gates its sections on it, the CLI
//! preflights with it. It does no I/O and builds for `wasm32` too.
//!
//! - [`scope`]: the OAuth scopes and the typed scope sets consent handling
//!   needs (requested, granted, declined, registered).
//! - [`operations`]: the API resource table (method, path, scope, access).
//! - [`features`]: the staff-facing features, their required scopes and texts.
//! - [`api`]: the JSON types of the GipoNext REST API.
//! - [`session`]: the JSON the backend gives the console about a session.
//! - [`fiscal_code`]: the Italian codice fiscale, validated.
//! - [`wire_time`]: dates and times read from JSON without chrono's parser.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod features;
pub mod fiscal_code;
pub mod i18n;
pub mod operations;
pub mod scope;
pub mod session;
pub mod wire_time;

pub use features::{FEATURES, Feature, FeatureId};
pub use i18n::{Lang, Text};
pub use operations::{Access, Method, OPERATIONS, Operation, OperationMatch, Resource};
pub use scope::{GrantedScopes, ParsedScopes, RegisteredScopes, RequestedScopes, Scope, ScopeSet};
