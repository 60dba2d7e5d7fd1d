//! `giponext-bff`: serve the backend, or check its configuration.

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: allocation and freeing were about a
/// tenth of the CPU of a proxied call (README, Performance → Proxy hop).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The GipoNext Connect backend-for-frontend.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Validate the configuration and the provider, naming each problem.
    CheckConfig,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    giponext_bff::init_tracing();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            let problems = giponext_bff::check_config().await;
            if problems.is_empty() {
                println!("configuration OK");
                std::process::ExitCode::SUCCESS
            } else {
                for p in &problems {
                    eprintln!("problem: {p}");
                }
                std::process::ExitCode::from(2)
            }
        }
        Command::Serve => giponext_bff::serve_from_env().await,
    }
}
