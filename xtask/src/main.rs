//! Developer tasks for the GipoNext Connect workspace, run as `cargo xtask ...`.
//!
//! - `cargo xtask run`: installs what is missing, builds the console and
//!   starts the backend on the embedded sandbox at <http://127.0.0.1:8080>.
//! - `cargo xtask test`: installs what is missing and runs every test: the
//!   workspace's unit and integration tests, the console's component tests
//!   in headless Chromium, the end-to-end browser tests, and each fuzz
//!   target briefly over the corpus kept in `fuzz/corpus/` (a crash fails).
//! - `cargo xtask fuzz [target...]`: only the fuzz targets (`FUZZ_SECONDS`
//!   each, default 20).
//! - `cargo xtask tools`: only installs what is missing.
//! - `cargo xtask bundle`: builds the release console and prints its size
//!   as served (precompressed gzip and brotli) and as `gzip -9`.
//! - `cargo xtask dist`: the release archive and its `SHA256SUMS` in
//!   `dist/` (see `dist`).
//!
//! Installing is delegated to `scripts/ensure-tools.sh`, which skips what is
//! present, so every command is cheap to repeat.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod dist;
mod precompress;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("entering {}", root.display()))?;
    match args.first().map(String::as_str) {
        Some("run") => run_product(&root, &args[1..]),
        Some("test") => test_everything(&root),
        Some("fuzz") => fuzz(&root, &args[1..]),
        Some("tools") => ensure_tools(
            &root,
            &[
                "wasm_target",
                "trunk",
                "wasm_bindgen",
                "binaryen",
                "chromium",
            ],
        ),
        Some("dist") => dist::dist(&root, false).map(|_| ()),
        Some("bundle") => {
            ensure_tools(&root, &["wasm_target", "trunk", "wasm_bindgen", "binaryen"])?;
            let sizes = build_console(&root)?;
            print_bundle_size(&sizes);
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <run|test|fuzz|tools|bundle|dist>");
            eprintln!(
                "  run     start the product (backend + console + embedded sandbox) on http://127.0.0.1:8080"
            );
            eprintln!("  test    run every test (installs what is missing)");
            eprintln!("  fuzz    run the fuzz targets briefly (FUZZ_SECONDS each, default 20)");
            eprintln!("  tools   install what is missing");
            eprintln!("  bundle  build the release console and print its gzipped size");
            eprintln!(
                "  dist    build the release archive into dist/ (see docs/operators-guide.md)"
            );
            bail!("unknown or missing task")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `scripts/ensure-tools.sh` for the named tools.
fn ensure_tools(root: &Path, tools: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("bash")
        .arg(root.join("scripts/ensure-tools.sh"))
        .args(tools)
        .status()
        .context("running scripts/ensure-tools.sh")?;
    if !status.success() {
        bail!("installing tools failed ({status})");
    }
    Ok(())
}

/// PATH with the project's tools (wasm-opt from npm, cargo-installed
/// binaries) first.
fn tools_path(root: &Path) -> anyhow::Result<String> {
    let out = Command::new("bash")
        .arg(root.join("scripts/ensure-tools.sh"))
        .arg("path")
        .output()?;
    let extra = String::from_utf8(out.stdout).context("tool path is not UTF-8")?;
    let current = std::env::var("PATH").unwrap_or_default();
    Ok(format!("{}:{current}", extra.trim()))
}

fn cmd(program: &str, root: &Path) -> anyhow::Result<Command> {
    let mut c = Command::new(program);
    c.env("PATH", tools_path(root)?)
        .env("TRUNK_SKIP_VERSION_CHECK", "true");
    Ok(c)
}

fn check(mut c: Command, what: &str) -> anyhow::Result<()> {
    eprintln!("xtask: {what}");
    let status = c.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// How the release console is compiled, on top of the `wasm-release`
/// profile (the bundle's size budget is 250 KB gzipped; see
/// `frontend/README.md`).
///
/// The standard library is rebuilt with the bundle (`build-std`, needs the
/// `rust-src` component) so that a panic aborts at once
/// (`panic=immediate-abort`) instead of formatting a message no one can
/// read: with `panic=abort` on wasm32-unknown-unknown the message goes
/// nowhere and the module traps either way, so behaviour is unchanged, but
/// every panic site stops carrying its formatting code and source location
/// (-23 KB gzipped); std's `optimize_for_size` and
/// `-Zlocation-detail=none` take 4 KB more, and `-Zfmt-debug=none` (no
/// `Debug` output: the console shows none, see `api::js_error_text`)
/// 3.6 KB. These are unstable options of the pinned stable
/// toolchain, enabled for this one build with `RUSTC_BOOTSTRAP`. Target
/// rustflags given here replace those of `.cargo/config.toml`, so
/// `erase_components` is repeated.
const CONSOLE_BUNDLE_ENV: [(&str, &str); 4] = [
    ("RUSTC_BOOTSTRAP", "1"),
    ("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort"),
    ("CARGO_UNSTABLE_BUILD_STD_FEATURES", "optimize_for_size"),
    (
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
        "--cfg erase_components -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none",
    ),
];

/// Builds the release console bundle into `frontend/dist`, each asset
/// beside its precompressed `.gz` and `.br` (see `precompress`).
fn build_console(root: &Path) -> anyhow::Result<Vec<precompress::AssetSizes>> {
    let mut c = cmd("trunk", root)?;
    // The size-optimised profile (opt-level z, fat LTO, panic=abort).
    c.args(["build", "--release", "--cargo-profile", "wasm-release"]);
    for (key, value) in CONSOLE_BUNDLE_ENV {
        c.env(key, value);
    }
    check(
        c,
        "building the console (trunk build --release --cargo-profile wasm-release)",
    )?;
    eprintln!("xtask: precompressing the console bundle (zopfli gzip, brotli)");
    precompress::precompress(&root.join("frontend/dist"))
}

fn run_product(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    ensure_tools(root, &["wasm_target", "trunk", "wasm_bindgen", "binaryen"])?;
    build_console(root)?;
    let mut c = cmd("cargo", root)?;
    c.args(["run", "--package", "giponext-bff", "--"])
        .args(extra);
    check(
        c,
        "starting the backend on http://127.0.0.1:8080 (Ctrl-C stops it)",
    )
}

fn test_everything(root: &Path) -> anyhow::Result<()> {
    ensure_tools(
        root,
        &[
            "wasm_target",
            "trunk",
            "wasm_bindgen",
            "binaryen",
            "chromium",
            // The backend's scale-out tests and the fault injection start
            // their own redis-server.
            "redis",
            // The systemd unit of the release archive is verified.
            "systemd_analyze",
        ],
    )?;
    let sizes = build_console(root)?;
    print_bundle_size(&sizes);
    let served: u64 = sizes.iter().map(|a| a.gzip_served).sum();
    if served > BUNDLE_BUDGET_BYTES {
        bail!(
            "the console bundle is {served} bytes gzipped as served, over its budget of {BUNDLE_BUDGET_BYTES}"
        );
    }
    // The release archive, which `tests/tests/dist.rs` unpacks and runs
    // against the sandbox's own binary.
    let started = std::time::Instant::now();
    let archive = dist::dist(root, true)?;
    eprintln!(
        "xtask: the release archive took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let mut sandbox = cmd("cargo", root)?;
    sandbox.args([
        "build",
        "--package",
        "giponext-sandbox",
        "--bin",
        "giponext-sandbox",
    ]);
    check(sandbox, "building giponext-sandbox for the archive's test")?;
    let mut unit = cmd("cargo", root)?;
    // Default members: everything but the WASM console, whose tests run in
    // the browser below.
    unit.args(["test", "--no-fail-fast"])
        .env("GIPONEXT_DIST_ARCHIVE", &archive)
        .env(
            "GIPONEXT_DIST_SANDBOX",
            root.join("target/debug/giponext-sandbox"),
        )
        // The browser tests skip without Chromium or the bundle when run on
        // their own; here both were just ensured, so a skip is a failure.
        .env("GIPONEXT_E2E_REQUIRED", "1");
    check(unit, "workspace tests (cargo test)")?;
    let mut wasm = cmd("cargo", root)?;
    wasm.args([
        "test",
        "--package",
        "giponext-console",
        "--target",
        "wasm32-unknown-unknown",
    ])
    .env("CHROMEDRIVER", "/usr/bin/chromedriver");
    check(
        wasm,
        "console component tests in headless Chromium (wasm-bindgen-test)",
    )?;
    fuzz(root, &[])?;
    eprintln!("xtask: every test passed");
    Ok(())
}

/// Runs `scripts/fuzz.sh`: installs cargo-fuzz when missing, builds the
/// targets (they depend only on the pure crates, so this is quick), replays
/// the corpus and fuzzes each target for `FUZZ_SECONDS`. A crash fails.
fn fuzz(root: &Path, targets: &[String]) -> anyhow::Result<()> {
    let mut c = cmd("bash", root)?;
    c.arg(root.join("scripts/fuzz.sh")).args(targets);
    check(
        c,
        "fuzzing each target briefly over fuzz/corpus (scripts/fuzz.sh)",
    )
}

/// The size budget of the console (issue 4): 250 KB gzipped for the wasm,
/// the JS and the CSS together.
const BUNDLE_BUDGET_BYTES: u64 = 256_000;

fn print_bundle_size(sizes: &[precompress::AssetSizes]) {
    println!(
        "{:<44} {:>9} {:>12} {:>9} {:>9}",
        "file", "raw", "gzip served", "gzip -9", "brotli"
    );
    let mut total = [0u64; 4];
    for a in sizes {
        println!(
            "{:<44} {:>9} {:>12} {:>9} {:>9}",
            a.name, a.raw, a.gzip_served, a.gzip_9, a.brotli
        );
        for (sum, size) in total
            .iter_mut()
            .zip([a.raw, a.gzip_served, a.gzip_9, a.brotli])
        {
            *sum += size;
        }
    }
    println!(
        "{:<44} {:>9} {:>12} {:>9} {:>9}",
        "total (wasm + js + css)", total[0], total[1], total[2], total[3]
    );
    let served = total[1];
    let verdict = if served <= BUNDLE_BUDGET_BYTES {
        "within"
    } else {
        "OVER"
    };
    println!(
        "served gzip {served} bytes: {verdict} the budget of {BUNDLE_BUDGET_BYTES} bytes (250 KB); gzip -9 {}, brotli {}",
        total[2], total[3]
    );
}
