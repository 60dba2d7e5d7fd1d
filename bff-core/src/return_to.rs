//! [`ReturnTo`]: where to send the browser after sign-in, checked.

/// Where to send the browser after sign-in: a path on this site, checked.
///
/// # Security
/// Open redirect protection (RFC 9700 §4.11): only a path-absolute local
/// reference passes. It must start with exactly one `/`; it may not contain a
/// backslash (browsers read `/\host` as `//host`), `//`, a control or space
/// character, or a `..` segment; and the same holds for the value
/// percent-decoded once and twice, so `/%2F%2Fevil.example` and
/// `/%5Cevil.example` fail too. As a last line, the value resolved against a
/// base URL must keep that base's origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

/// Why a `return_to` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("return_to must be a path on this site starting with a single '/' (got a value that {0})")]
pub struct BadReturnTo(&'static str);

impl ReturnTo {
    /// The console's home.
    pub fn root() -> Self {
        ReturnTo("/".to_owned())
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Validates a value (as received, already decoded once by the query
    /// parser).
    pub fn parse(value: &str) -> Result<Self, BadReturnTo> {
        if value.len() > 2048 {
            return Err(BadReturnTo("is too long"));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(BadReturnTo("contains a space character"));
        }
        check_local(value)?;
        let once = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        check_local(&once)?;
        let twice = percent_encoding::percent_decode_str(&once).decode_utf8_lossy();
        check_local(&twice)?;
        let base = url::Url::parse("http://bff.invalid/").expect("constant base URL parses");
        match base.join(value) {
            Ok(joined) if joined.origin() == base.origin() => Ok(ReturnTo(value.to_owned())),
            _ => Err(BadReturnTo("leaves this site")),
        }
    }
}

fn check_local(value: &str) -> Result<(), BadReturnTo> {
    if !value.starts_with('/') {
        return Err(BadReturnTo("does not start with '/'"));
    }
    if value.contains('\\') {
        return Err(BadReturnTo("contains a backslash"));
    }
    if value.contains("//") {
        return Err(BadReturnTo("contains '//'"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(BadReturnTo("contains a control character"));
    }
    let path = value.split(['?', '#']).next().unwrap_or(value);
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(BadReturnTo("contains a dot segment"));
    }
    Ok(())
}

impl TryFrom<String> for ReturnTo {
    type Error = BadReturnTo;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ReturnTo::parse(&value)
    }
}

impl From<ReturnTo> for String {
    fn from(value: ReturnTo) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_local_paths() {
        for ok in [
            "/",
            "/patients",
            "/patients/42?tab=episodes",
            "/invoices#new",
            "/a%20b",
        ] {
            assert_eq!(ReturnTo::parse(ok).map(|r| r.0), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn return_to_refuses_open_redirects() {
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%255Cevil.example",
            "/%252F%252Fevil.example",
            "%2F%2Fevil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/x/../..//evil.example",
            "/%2e%2e/x",
            "/a\u{0}b",
            "",
            "evil.example",
            "/ /evil.example",
        ] {
            assert!(ReturnTo::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
