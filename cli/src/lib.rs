//! The `giponext` command line: GipoNext from a terminal, a batch job or a
//! server without a browser.
//!
//! A person logs in with the OAuth 2.0 Device Authorization Grant (RFC 8628)
//! from any browser, grants the scopes they choose, and every command then
//! works within those scopes: each one checks the scopes it needs (from the
//! shared resource table, [`giponext_shared::OPERATIONS`]) before doing
//! anything.
//!
//! Modules: [`cli`] (the clap definition), [`config`] (environment),
//! [`auth`] (device login, refresh with rotation, revocation), [`store`]
//! (OS keyring, or the opt-in 0600 file), [`api`] (the typed REST client:
//! paging, 429 and 5xx policy), [`output`] (tables, JSON, CSV).
//!
//! # Exit codes
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | not logged in, session expired, or another error |
//! | 2 | usage error |
//! | 3 | device login denied (`access_denied`) |
//! | 4 | device code expired (`expired_token`) |
//! | 5 | missing scopes, non-interactive: stdout gets `{"error":"missing_scopes","command":...,"missing":[...],"granted":[...]}` |
//! | 6 | no OS keyring and no `--insecure-storage` / `GIPONEXT_INSECURE_STORAGE=1` |
//! | 7 | the GipoNext API refused the request |
//!
//! # Security
//! The device code, tokens and the client secret are never printed or
//! logged ([`secret::Secret`] redacts itself). Tokens are stored in the OS
//! keyring; a plain file only on explicit opt-in. Logs go to stderr, results
//! to stdout.

// Unit tests may unwrap: a panic is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod output;
pub mod qr;
pub mod retry;
pub mod secret;
pub mod store;
pub mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

pub use exit::{Exit, Failure};

/// Parses the command line, runs it, prints an error once, and returns the
/// documented exit code.
pub fn main_entry() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_logging(cli.global.verbose);
    if let cli::Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli::Cli::command(), "giponext", &mut script);
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let exit = exit::exit_of(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(exit.code())
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        std::env::var("GIPONEXT_LOG").unwrap_or_else(|_| format!("giponext_cli={default},warn"));
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let mut config = config::Config::from_env()?;
    config.insecure_storage |= cli.global.insecure_storage;
    let ui = ui::Ui::detect(cli.global.non_interactive || env_flag("GIPONEXT_NON_INTERACTIVE"));
    let initial_interval_override = match std::env::var("GIPONEXT_TEST_POLL_INTERVAL_MS") {
        Ok(ms) => Some(Duration::from_millis(ms.parse().map_err(|_| {
            anyhow::anyhow!("GIPONEXT_TEST_POLL_INTERVAL_MS must be a number of milliseconds")
        })?)),
        Err(_) => None,
    };
    let ctx = commands::Context {
        config,
        ui,
        format: output::Format::from_flags(cli.global.json, cli.global.csv),
        device: auth::DeviceOptions {
            no_qr: false,
            initial_interval_override,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(cli, ctx))
}
