//! The backend's pure input handling, split out of `giponext-bff` so that it
//! can be fuzzed (`fuzz/`) without building the backend's network stack.
//!
//! Everything here is a pure function of its input: no I/O, no async, no
//! clock. The backend calls this code; it has no second copy.
//!
//! - [`return_to`]: [`ReturnTo`], the validated local path to go back to
//!   after sign-in (open redirect protection).
//! - [`callback`]: [`CallbackParams`], the query of the provider's redirect
//!   back.
//! - [`upstream`]: what an error answer of GipoNext means to the console
//!   ([`upstream_problem`]), and the grant URL of a missing scope.
//! - [`problem`]: the problem+json documents (RFC 9457) of those answers and
//!   the headers every problem response carries.

pub mod callback;
pub mod problem;
pub mod return_to;
pub mod upstream;

pub use callback::CallbackParams;
pub use return_to::{BadReturnTo, ReturnTo};
pub use upstream::{UpstreamProblem, grant_url, upstream_problem};
