//! `giponext-bench`: see the crate docs (`bench/src/lib.rs`).

use clap::{Parser, Subcommand};

/// Benchmarks of GipoNext Connect; each prints its figures and the ratio
/// against a baseline measured in the same run.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Which,
    /// Seconds per wrk run in the proxy-hop benchmark.
    #[arg(long, global = true, default_value_t = 5)]
    seconds: u32,
    /// Concurrencies of the proxy-hop benchmark (repeatable; default 1, 16
    /// and 64), e.g. `--connections 16` while profiling one of them.
    #[arg(long, global = true)]
    connections: Vec<u32>,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Every benchmark, one after the other.
    All,
    /// Backend proxy hop vs direct vs nginx (wrk; concurrency 1, 16, 64).
    Proxy,
    /// 1,000 concurrent calls at token expiry (one instance; two on Redis).
    Storm,
    /// 100,000 sessions in SQLite and Redis.
    Sessions,
    /// Release bundle size and first render in headless Chromium.
    Console,
    /// `giponext --version` start-up and a 10,000-invoice CSV export.
    Cli,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    use giponext_bench as b;
    println!(
        "giponext-bench on {} CPU cores (loopback only; absolute figures vary, the ratios less so)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let all = args.command == Which::All;
    let mut failures = Vec::new();
    let mut record = |name: &str, r: anyhow::Result<()>| {
        if let Err(e) = r {
            println!("  {name}: FAILED TO RUN: {e:#}");
            failures.push(name.to_owned());
        }
    };
    if all || args.command == Which::Proxy {
        record(
            "proxy",
            b::proxy::run(args.seconds, &args.connections)
                .await
                .map(drop),
        );
    }
    if all || args.command == Which::Storm {
        record("storm", b::storm::run().await.map(drop));
    }
    if all || args.command == Which::Sessions {
        record("sessions", b::sessions::run().await.map(drop));
    }
    if all || args.command == Which::Console {
        record("console", b::console::run().await.map(drop));
    }
    if all || args.command == Which::Cli {
        record("cli", b::cli::run().await.map(drop));
    }
    anyhow::ensure!(
        failures.is_empty(),
        "benchmarks that could not run: {}",
        failures.join(", ")
    );
    Ok(())
}
