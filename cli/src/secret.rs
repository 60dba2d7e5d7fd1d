//! A string that must never reach a log or a terminal by accident.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (token, client secret). `Debug` prints `[redacted]`; the
/// value is only reachable through [`Secret::expose`].
///
/// # Security
/// It is `Serialize` only because the token store must write it (to the OS
/// keyring, or to the opt-in 0600 file); nothing else serialises it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "tok-123");
    }
}
