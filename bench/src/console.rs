//! Console: the gzipped size of the release bundle as served (goal <= 250
//! KB), and the time to first useful render (the sign-in page's "Accedi"
//! button) in headless Chromium, against the same page served as static
//! HTML by nginx (the rendered markup saved, scripts removed: no
//! WebAssembly to run).
//!
//! The bundle is the shipped one: `cargo xtask bundle` builds
//! `frontend/dist` with the release options and writes each asset's
//! precompressed `.gz` and `.br`, which the backend serves.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::stats::{ms, percentile, ratio};
use crate::tools::{ChildGuard, free_port, repo_root};

/// The budget, bytes (wasm + js + css, gzipped as served).
pub const BUDGET: u64 = 250 * 1024;
/// Page loads timed per variant.
pub const LOADS: usize = 15;
/// What "useful" means: the sign-in button is on the page.
const USEFUL: &str = "[data-test=sign-in]";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The figures.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Bundle bytes as served to a browser asking for gzip (the `.gz`
    /// files).
    pub gzipped: u64,
    /// The same files through `gzip -9`, for comparison.
    pub gzip_9: u64,
    /// As served to a browser asking for brotli (the `.br` files).
    pub brotli: u64,
    /// Render p50 of the console.
    pub console_p50: Duration,
    /// Render p50 of the static copy.
    pub static_p50: Duration,
}

/// Builds the release bundle into `frontend/dist` with `cargo xtask
/// bundle`, then measures.
pub async fn run() -> anyhow::Result<Outcome> {
    println!("== Console ==");
    let dist = build().await?;
    let gzipped = precompressed_size(&dist, "gz")?;
    let brotli = precompressed_size(&dist, "br")?;
    let gzip_9 = gzip_9_size(&dist).await?;
    println!(
        "  release bundle: {gzipped} bytes gzipped as served (wasm + js + css), budget {BUDGET} -> ratio {:.2} [{}]; gzip -9 {gzip_9}, brotli {brotli}",
        ratio(gzipped as f64, BUDGET as f64),
        if gzipped <= BUDGET { "MET" } else { "NOT MET" }
    );
    let (console_p50, static_p50) = render_times(&dist).await?;
    println!(
        "  first useful render ({USEFUL}), p50 of {LOADS} loads: console {} vs static HTML {} -> ratio {:.2}",
        ms(console_p50),
        ms(static_p50),
        ratio(console_p50.as_secs_f64(), static_p50.as_secs_f64()),
    );
    Ok(Outcome {
        gzipped,
        gzip_9,
        brotli,
        console_p50,
        static_p50,
    })
}

async fn build() -> anyhow::Result<PathBuf> {
    let root = repo_root();
    let status = Command::new("cargo")
        .args(["xtask", "bundle"])
        .current_dir(&root)
        .stdout(Stdio::null())
        .status()
        .await
        .context("running cargo xtask bundle")?;
    anyhow::ensure!(status.success(), "cargo xtask bundle failed");
    Ok(root.join("frontend/dist"))
}

/// The wasm, js and css assets of `dist`.
fn assets(dist: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dist)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "wasm" | "js" | "css") {
            found.push(path);
        }
    }
    Ok(found)
}

/// The total size of each asset's precompressed `name.{suffix}`.
fn precompressed_size(dist: &Path, suffix: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    for asset in assets(dist)? {
        let file = PathBuf::from(format!("{}.{suffix}", asset.display()));
        total += std::fs::metadata(&file)
            .with_context(|| format!("{} is missing", file.display()))?
            .len();
    }
    Ok(total)
}

async fn gzip_9_size(dist: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for asset in assets(dist)? {
        let out = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&asset)
            .output()
            .await?;
        total += out.stdout.len() as u64;
    }
    Ok(total)
}

async fn render_times(dist: &Path) -> anyhow::Result<(Duration, Duration)> {
    let mut config = giponext_bff::Config::for_tests();
    config.static_dir = dist.to_path_buf();
    let bff = giponext_bff::serve(config).await?;
    let port = free_port()?;
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver")?;
    let _driver = KillOnDrop(driver);
    wait_for(port).await?;
    let profile = tempfile::tempdir()?;
    let browser = browser(port, profile.path()).await?;
    let result = async {
        let console_url = format!("{}/", bff.url());
        let console = loads(&browser, &console_url).await?;
        // The static copy: the rendered page with its scripts removed.
        let html: String = browser
            .execute("return document.documentElement.outerHTML;", vec![])
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let stat_dir = tempfile::tempdir()?;
        let page = strip_scripts(&html);
        std::fs::write(
            stat_dir.path().join("index.html"),
            format!("<!DOCTYPE html>{page}"),
        )?;
        std::fs::copy(dist.join("style.css"), stat_dir.path().join("style.css"))?;
        let nginx = static_nginx(stat_dir.path()).await?;
        let stat = loads(&browser, &format!("http://127.0.0.1:{}/", nginx.1)).await?;
        drop(nginx);
        anyhow::Ok((console, stat))
    }
    .await;
    let _ = browser.close().await;
    bff.shutdown().await;
    result
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn browser(port: u16, profile: &Path) -> anyhow::Result<Client> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .context("opening a Chromium session")
}

/// Loads `url` `LOADS` times; p50 of navigation start to the first moment
/// `USEFUL` is in the DOM, measured in the page (performance.now()).
async fn loads(browser: &Client, url: &str) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(LOADS);
    let script = format!(
        "const done = arguments[arguments.length - 1];
         const check = () => document.querySelector('{USEFUL}')
             ? done(performance.now()) : requestAnimationFrame(check);
         check();"
    );
    for _ in 0..LOADS + 1 {
        browser.goto("about:blank").await?;
        browser.goto(url).await?;
        let value = browser.execute_async(&script, vec![]).await?;
        let Some(millis) = value.as_f64() else {
            bail!("no render time from {url}: {value}")
        };
        samples.push(Duration::from_secs_f64(millis / 1000.0));
    }
    // The first load warms caches; the rest are timed.
    samples.remove(0);
    Ok(percentile(&mut samples, 50.0))
}

fn strip_scripts(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</script>") {
            Some(end) => rest = &rest[start + end + "</script>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("rel=\"modulepreload\"", "rel=\"x-none\"")
        .replace("rel=\"preload\"", "rel=\"x-none\"")
}

/// nginx serving `dir` as static files: (process, port).
async fn static_nginx(dir: &Path) -> anyhow::Result<(ChildGuard, u16)> {
    let port = free_port()?;
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log warn;
         events {{ worker_connections 64; }}
         http {{ access_log off; include /etc/nginx/mime.types;
           client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc;
           uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;
           server {{ listen 127.0.0.1:{port}; root {d}; }} }}",
        d = dir.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = std::process::Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .spawn()
        .context("starting nginx (scripts/ensure-tools.sh nginx)")?;
    let guard = ChildGuard::new(child);
    wait_for(port).await?;
    Ok((guard, port))
}

async fn wait_for(port: u16) -> anyhow::Result<()> {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("nothing listens on port {port}")
}
