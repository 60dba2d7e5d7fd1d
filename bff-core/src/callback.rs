//! The query of the provider's redirect back to `/auth/callback`.

use serde::Deserialize;

/// The query of the provider's redirect back (RFC 6749 §4.1.2, RFC 9207).
///
/// # Security
/// Only parsed here; the backend's callback handler checks `state`, then
/// `iss`, then exchanges `code` (RFC 9700 §2.1, §4.7).
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state the backend sent.
    pub state: Option<String>,
    /// The issuer (RFC 9207).
    pub iss: Option<String>,
    /// The provider's error code (e.g. `access_denied`).
    pub error: Option<String>,
}

impl CallbackParams {
    /// Parses a raw (still percent-encoded) query; `None` is an empty one.
    pub fn parse(query: Option<&str>) -> Result<Self, serde_urlencoded::de::Error> {
        serde_urlencoded::from_str(query.unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_code_state_and_iss() {
        let p = CallbackParams::parse(Some("code=a%2Bb&state=s&iss=http%3A%2F%2Fx"))
            .expect("a well-formed query");
        assert_eq!(p.code.as_deref(), Some("a+b"));
        assert_eq!(p.state.as_deref(), Some("s"));
        assert_eq!(p.iss.as_deref(), Some("http://x"));
        assert!(p.error.is_none());
        let empty = CallbackParams::parse(None).expect("an empty query");
        assert!(empty.code.is_none() && empty.state.is_none());
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert!(CallbackParams::parse(Some("code=a&code=b")).is_err());
    }
}
