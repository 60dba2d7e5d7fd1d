//! CLI: start-up time of `giponext --version` against spawning `/bin/true`
//! (the cost of any process), and the export of 10,000 paged invoices to
//! CSV against fetching the same pages with a plain HTTP loop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use giponext_sandbox::clients::{CLI_CLIENT_ID, CLI_CLIENT_SECRET};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{RunningSandbox, users};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::stack::{TENANT, bearer_token, sandbox_config};
use crate::stats::{ms, percentile, ratio};
use crate::tools::release_binary;

/// Spawns timed per program.
pub const SPAWNS: usize = 100;
/// Invoices exported.
pub const INVOICES: u32 = 10_000;

/// The figures.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// `giponext --version` p50.
    pub version_p50: Duration,
    /// `/bin/true` p50.
    pub true_p50: Duration,
    /// The CLI export, wall time (process start to exit).
    pub export: Duration,
    /// The plain HTTP loop over the same pages.
    pub plain: Duration,
}

/// Builds the release CLI if needed, then measures.
pub async fn run() -> anyhow::Result<Outcome> {
    println!("== CLI ==");
    let bin = build_cli().await?;
    let version_p50 = spawn_p50(&bin, &["--version"]).await?;
    let true_p50 = spawn_p50(Path::new("/bin/true"), &[]).await?;
    println!(
        "  start-up: giponext --version p50 {} vs /bin/true p50 {} -> ratio {:.2} ({SPAWNS} spawns each)",
        ms(version_p50),
        ms(true_p50),
        ratio(version_p50.as_secs_f64(), true_p50.as_secs_f64()),
    );

    let mut config = sandbox_config();
    config.seed_invoices = INVOICES;
    let sandbox = giponext_sandbox::start(config).await?;
    let home = tempfile::tempdir()?;
    login(&bin, &sandbox, home.path()).await?;
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Duration::days(400)).to_string();
    let to = (today + chrono::Duration::days(1)).to_string();
    let csv = home.path().join("invoices.csv");

    let t = Instant::now();
    let out = cli(&bin, &sandbox, home.path())
        .args(["invoices", "export", "--from", &from, "--to", &to, "-o"])
        .arg(&csv)
        .output()
        .await?;
    let export = t.elapsed();
    if !out.status.success() {
        bail!(
            "giponext invoices export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = std::fs::read_to_string(&csv)?
        .lines()
        .count()
        .saturating_sub(1);
    anyhow::ensure!(
        rows == INVOICES as usize,
        "the CSV has {rows} invoices, expected {INVOICES}"
    );

    let token = bearer_token(sandbox.issuer().as_str(), "openid giponext.invoices").await?;
    let t = Instant::now();
    let fetched = plain_loop(&sandbox, &token, &from, &to).await?;
    let plain = t.elapsed();
    anyhow::ensure!(
        fetched == INVOICES as usize,
        "the plain loop read {fetched} invoices"
    );
    println!(
        "  export of {INVOICES} invoices to CSV: {} (process start to exit) vs plain HTTP loop \
         over the same pages {} -> ratio {:.2}",
        ms(export),
        ms(plain),
        ratio(export.as_secs_f64(), plain.as_secs_f64()),
    );
    sandbox.shutdown().await;
    Ok(Outcome {
        version_p50,
        true_p50,
        export,
        plain,
    })
}

async fn build_cli() -> anyhow::Result<PathBuf> {
    release_binary("giponext-cli", "giponext", &[]).await
}

async fn spawn_p50(program: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(SPAWNS);
    for _ in 0..SPAWNS {
        let t = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .with_context(|| format!("running {}", program.display()))?;
        samples.push(t.elapsed());
        anyhow::ensure!(status.success(), "{} failed", program.display());
    }
    Ok(percentile(&mut samples, 50.0))
}

fn cli(bin: &Path, sandbox: &RunningSandbox, home: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env(
            "GIPONEXT_ISSUER",
            sandbox.issuer().as_str().trim_end_matches('/'),
        )
        // The seeded confidential device client: the CLI only defaults its
        // secret for the standalone sandbox's own address.
        .env("GIPONEXT_CLIENT_ID", CLI_CLIENT_ID)
        .env("GIPONEXT_CLIENT_SECRET", CLI_CLIENT_SECRET)
        .env("GIPONEXT_CONFIG_DIR", home.join("config"))
        .env("GIPONEXT_KEYRING", "off")
        .env("GIPONEXT_INSECURE_STORAGE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `giponext login` (device flow), approved by Mario in the sandbox's forms.
async fn login(bin: &Path, sandbox: &RunningSandbox, home: &Path) -> anyhow::Result<()> {
    let mut child = cli(bin, sandbox, home).arg("login").spawn()?;
    let stderr = child.stderr.take().context("piped stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let (mut uri, mut code, mut code_next) = (None, None, false);
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await? {
            seen.push(line.clone());
            let t = line.trim();
            if uri.is_none() && t.starts_with("http") {
                uri = Some(t.to_owned());
            } else if t == "and enter the code:" {
                code_next = true;
            } else if code_next && !t.is_empty() {
                code = Some(t.to_owned());
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .context("no device prompt")??;
    let (Some(uri), Some(code)) = (uri, code) else {
        bail!("giponext login printed no code:\n{}", seen.join("\n"))
    };
    Browser::new()
        .approve_device(
            &url::Url::parse(&uri)?,
            &code,
            users::MARIO,
            users::PASSWORD,
            Consent::GrantAll,
        )
        .await?;
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .context("login hung")??;
    drain.abort();
    anyhow::ensure!(status.success(), "giponext login failed");
    Ok(())
}

/// The same pages the CLI reads (offset paging, 100 per page), with a
/// bearer token and no processing; the number of invoices read.
async fn plain_loop(
    sandbox: &RunningSandbox,
    token: &str,
    from: &str,
    to: &str,
) -> anyhow::Result<usize> {
    let http = reqwest::Client::new();
    let base = sandbox.api_base().as_str().trim_end_matches('/').to_owned();
    let (mut offset, mut count) = (0u64, 0usize);
    for _ in 0..1_000 {
        let page: serde_json::Value = http
            .get(format!("{base}/v2/tenants/{TENANT}/invoices"))
            .query(&[
                ("from", from),
                ("to", to),
                ("offset", &offset.to_string()),
                ("limit", "100"),
            ])
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let got = page["items"].as_array().map_or(0, Vec::len);
        count += got;
        if !page["hasMore"].as_bool().unwrap_or(false) || got == 0 {
            return Ok(count);
        }
        offset = page["offset"].as_u64().unwrap_or(offset) + got as u64;
    }
    bail!("more than 1,000 pages")
}
