//! Exit codes: the contract with scripts and batch jobs.
//!
//! Every failure that a script may want to tell apart carries an [`Exit`]
//! code inside its `anyhow` chain ([`Failure`]); anything else exits 1.

use std::fmt;

/// The documented exit codes of `giponext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: not logged in, session over, or any other failure.
    Generic = 1,
    /// 2: bad usage (clap's own code).
    Usage = 2,
    /// 3: the user denied the device authorization (`access_denied`).
    AccessDenied = 3,
    /// 4: the device code expired before it was approved (`expired_token`).
    ExpiredToken = 4,
    /// 5: the token lacks scopes the command needs and no login can be
    /// offered (non-interactive); the missing scopes are printed as JSON.
    MissingScopes = 5,
    /// 6: no OS keyring and no opt-in to file storage.
    KeyringUnavailable = 6,
    /// 7: the GipoNext API refused the request (permission, validation,
    /// not found, conflict, rate limit, server error).
    Api = 7,
}

impl Exit {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// The exit-code table as printed by `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  not logged in, session expired, or another error
  2  usage error
  3  device login denied by the user (access_denied)
  4  device code expired before approval (expired_token)
  5  missing scopes in non-interactive mode; stdout gets one JSON line:
     {\"error\":\"missing_scopes\",\"missing\":[...],\"granted\":[...],\"command\":\"...\"}
  6  no OS keyring and file storage not allowed (use --insecure-storage
     or GIPONEXT_INSECURE_STORAGE=1)
  7  the GipoNext API refused the request (see the message)";

/// A failure with a deliberate exit code and a message for the user.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What to tell the user.
    pub message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code an error chain carries (the outermost [`Failure`]), or 1.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(Exit::Generic, |f| f.exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_code_survives_context() {
        let err = Err::<(), _>(Failure::new(Exit::AccessDenied, "denied"))
            .context("logging in")
            .unwrap_err();
        assert_eq!(exit_of(&err), Exit::AccessDenied);
        assert_eq!(exit_of(&anyhow::anyhow!("x")), Exit::Generic);
        assert_eq!(Exit::KeyringUnavailable.code(), 6);
    }
}
