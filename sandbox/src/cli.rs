//! The `giponext-sandbox` command line.

use clap::Parser;

use crate::config::SandboxConfig;

/// Runs the local GipoNext stand-in (account server and API) until Ctrl-C.
///
/// Configuration comes from `SANDBOX_*` variables (see
/// [`SandboxConfig::from_env`]); flags override them.
#[derive(Debug, Parser)]
#[command(name = "giponext-sandbox", version, about)]
pub struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8090.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Delete the data file first, so the seed data is fresh.
    #[arg(long)]
    pub reseed: bool,
}

/// Entry point of the binary.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = SandboxConfig::from_env()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.reseed
        && let Some(path) = &config.data_path
    {
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting {file}"))),
            }
        }
    }
    let sandbox = crate::start(config).await?;
    eprintln!(
        "GipoNext sandbox (NOT the real GipoNext) at {}",
        sandbox.issuer()
    );
    eprintln!(
        "Users: mario.rossi, giulia.bianchi, luca.verdi; password: {}",
        crate::users::PASSWORD
    );
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
