//! The commands: login and session handling, and the data commands.

mod auth;
mod data;

use anyhow::Result;
use giponext_shared::operations::by_id;
use giponext_shared::{Scope, ScopeSet};

use crate::auth::{DeviceOptions, Session};
use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::{Exit, Failure};
use crate::output::Format;
use crate::ui::Ui;

/// What every command gets.
pub struct Context {
    /// The configuration.
    pub config: Config,
    /// The terminal.
    pub ui: Ui,
    /// The output format.
    pub format: Format,
    /// Device flow knobs.
    pub device: DeviceOptions,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, ctx: Context) -> Result<()> {
    match cli.command {
        Command::Completions { .. } => unreachable!("handled before the runtime starts"),
        Command::Login(args) => auth::login(&ctx, args).await,
        Command::Logout => auth::logout(&ctx).await,
        Command::Auth(cmd) => auth::auth(&ctx, cmd).await,
        data_command => data::run(&ctx, data_command).await,
    }
}

/// The scopes the given operations need, from the shared table.
pub fn required_scopes(operation_ids: &[&str]) -> ScopeSet {
    operation_ids
        .iter()
        .filter_map(|id| by_id(id))
        .filter_map(|op| op.scope)
        .collect()
}

/// Checks, before anything else happens, that the token carries `required`.
/// Interactively, offers a device login for what is missing; otherwise
/// prints `{"error":"missing_scopes",...}` on stdout and fails with exit 5.
pub async fn preflight(
    session: &mut Session,
    ctx: &Context,
    command: &str,
    required: ScopeSet,
) -> Result<()> {
    session.require_login()?;
    let granted = session.granted();
    let missing = required.difference(granted);
    if missing.is_empty() {
        return Ok(());
    }
    let names = missing.to_wire();
    if ctx.ui.interactive {
        let labels: Vec<_> = missing.iter().map(|s: Scope| s.label().en).collect();
        eprintln!(
            "`{command}` needs {names} ({}), which this login does not have.",
            labels.join(", ")
        );
        if ctx.ui.confirm("Sign in again now to grant it?") {
            session
                .device_login(granted.union(missing), &ctx.ui, &ctx.device)
                .await?;
            let still = required.difference(session.granted());
            if still.is_empty() {
                return Ok(());
            }
            eprintln!("Still not granted: {}", still.to_wire());
        }
    }
    println!(
        "{}",
        crate::api::missing_scopes_json(command, missing, granted)
    );
    Err(Failure::new(
        Exit::MissingScopes,
        format!(
            "`{command}` needs {names}; run `giponext auth refresh --scopes {}`",
            names.replace(' ', ",")
        ),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_scopes_come_from_the_shared_table() {
        assert_eq!(
            required_scopes(&["invoices.list"]),
            ScopeSet::of(&[Scope::Invoices])
        );
        assert_eq!(
            required_scopes(&["appointments.create", "patients.get", "userinfo.get"]),
            ScopeSet::of(&[Scope::Agenda, Scope::Patients])
        );
    }
}
