//! `cargo xtask dist`: the release archive, as deployed.
//!
//! `dist/giponext-connect-<version>-x86_64-unknown-linux-gnu.tar.gz` and
//! `dist/SHA256SUMS`. Everything sits under one top directory
//! `giponext-connect-<version>/`:
//!
//! ```text
//! bin/giponext-bff                      release, --no-default-features (no sandbox inside)
//! bin/giponext                          the CLI, release
//! etc/giponext-bff.toml.example         every setting, commented (packaging/)
//! lib/systemd/system/giponext-bff.service   the hardened unit (packaging/)
//! share/giponext-connect/console/       the release console, precompressed
//! share/doc/giponext-connect/           operators-guide.md, giponext-bff.md, giponext.md
//! ```
//!
//! # Reproducible
//! The same commit gives the same bytes: entries sorted by path, owner and
//! group 0 (`root`), modes normalised to 0755 (directories, executables) or
//! 0644, every mtime `SOURCE_DATE_EPOCH` (default: the commit's time), and a
//! gzip header without a name or time. The binaries are built with the
//! checkout's and `CARGO_HOME`'s paths remapped (rustc's
//! `--remap-path-prefix`, the C compiler's `-ffile-prefix-map`), without
//! debug info and with the C compiler's `__DATE__`/`__TIME__` fixed, so
//! they do not depend on where the tree was cloned or when it was built.
//! One input is not remapped: the console's wasm carries a hash of the
//! absolute path of a dependency's manifest in `CARGO_HOME` (leptos's
//! `wasm_split` marker, an export name), so byte-identical archives need
//! the same `CARGO_HOME` path as well; any checkout path will do.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The only target built for now.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// What the C compiler's `__DATE__` and `__TIME__` say in release
/// binaries: a constant (1980-01-01), so they never depend on when the C
/// code happened to be compiled.
const C_SOURCE_DATE_EPOCH: &str = "315532800";

/// Where the remapped paths point inside the binaries.
const REMAPPED_ROOT: &str = "/build/giponext-connect";
const REMAPPED_CARGO_HOME: &str = "/build/cargo";

/// One file of the archive: its path under the top directory, its bytes and
/// whether it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// Builds the binaries (and the console unless `console_built`), then writes
/// the archive and `SHA256SUMS` into `dist/`; returns the archive's path.
pub fn dist(root: &Path, console_built: bool) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let version = env!("CARGO_PKG_VERSION");
    let epoch = source_date_epoch(root)?;
    if !console_built {
        crate::ensure_tools(root, &["wasm_target", "trunk", "wasm_bindgen", "binaryen"])?;
        crate::build_console(root)?;
    }
    build_binaries(root)?;

    let release = root.join("target/release");
    let mut entries = vec![
        file_entry(&release.join("giponext-bff"), "bin/giponext-bff", true)?,
        file_entry(&release.join("giponext"), "bin/giponext", true)?,
        file_entry(
            &root.join("packaging/giponext-bff.toml.example"),
            "etc/giponext-bff.toml.example",
            false,
        )?,
        file_entry(
            &root.join("packaging/giponext-bff.service"),
            "lib/systemd/system/giponext-bff.service",
            false,
        )?,
        file_entry(
            &root.join("docs/operators-guide.md"),
            "share/doc/giponext-connect/operators-guide.md",
            false,
        )?,
        file_entry(
            &root.join("backend/README.md"),
            "share/doc/giponext-connect/giponext-bff.md",
            false,
        )?,
        file_entry(
            &root.join("cli/README.md"),
            "share/doc/giponext-connect/giponext.md",
            false,
        )?,
    ];
    let console = root.join("frontend/dist");
    if !console.join("index.html").is_file() {
        bail!(
            "{} has no index.html: the console was not built",
            console.display()
        );
    }
    for (path, rel) in walk(&console)? {
        entries.push(file_entry(
            &path,
            &format!("share/giponext-connect/console/{rel}"),
            false,
        )?);
    }

    let top = format!("giponext-connect-{version}");
    let bytes = archive(&top, epoch, entries)?;
    let out = root.join("dist");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let name = format!("{top}-{TARGET}.tar.gz");
    let archive_path = out.join(&name);
    fs::write(&archive_path, &bytes)
        .with_context(|| format!("writing {}", archive_path.display()))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    fs::write(out.join("SHA256SUMS"), format!("{sha256}  {name}\n"))
        .context("writing dist/SHA256SUMS")?;
    eprintln!(
        "xtask: {} ({} bytes, sha256 {sha256}, SOURCE_DATE_EPOCH={epoch}) in {:.0} s",
        archive_path.display(),
        bytes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(archive_path)
}

/// `SOURCE_DATE_EPOCH` if set, else the time of the commit checked out.
fn source_date_epoch(root: &Path) -> anyhow::Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH must be seconds since 1970 (got {v:?})"));
    }
    let out = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .context("running git log for SOURCE_DATE_EPOCH")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.trim().is_empty() {
        bail!("no git commit to date the archive by: set SOURCE_DATE_EPOCH (seconds since 1970)");
    }
    text.trim()
        .parse()
        .with_context(|| format!("git log -1 --format=%ct printed {text:?}"))
}

/// `cargo build --release` of the backend without the sandbox and of the
/// CLI, with the build machine's paths remapped.
fn build_binaries(root: &Path) -> anyhow::Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let root_s = root.to_str().context("the checkout path is not UTF-8")?;
    let home_s = cargo_home.to_str().context("CARGO_HOME is not UTF-8")?;
    let remaps = [(root_s, REMAPPED_ROOT), (home_s, REMAPPED_CARGO_HOME)];
    let rustflags: Vec<String> = remaps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={from}={to}"))
        .collect();
    let cflags: Vec<String> = remaps
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={from}={to}"))
        .collect();
    let mut c = crate::cmd("cargo", root)?;
    c.args([
        "build",
        "--release",
        "--locked",
        "--package",
        "giponext-bff",
        "--package",
        "giponext-cli",
        "--no-default-features",
    ])
    // One separator-joined list, so paths with spaces survive.
    .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
    .env_remove("RUSTFLAGS")
    // The archive's entries are dated by the commit (SOURCE_DATE_EPOCH, see
    // `source_date_epoch`); the C compiler gets a constant one instead.
    // Without any, mimalloc's `__DATE__ __TIME__` put the compile time in
    // the backend (seen: two checkouts of 3b6da0e differed in
    // "04:08:51" / "04:39:31"); with the commit's, every commit would
    // recompile sqlite, ring and mimalloc for nothing.
    .env("SOURCE_DATE_EPOCH", C_SOURCE_DATE_EPOCH)
    .env("CFLAGS", cflags.join(" "))
    // No debug info (it would carry build paths); symbols stay for
    // backtraces.
    .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    crate::check(
        c,
        "building giponext-bff (--no-default-features) and giponext for release",
    )
}

fn file_entry(path: &Path, archive_path: &str, executable: bool) -> anyhow::Result<Entry> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Entry {
        path: archive_path.to_owned(),
        bytes,
        executable,
    })
}

/// Every file under `dir` with its `/`-separated path relative to `dir`.
fn walk(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("walked paths are under their root")
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", path.display()))?
                    .replace('\\', "/");
                out.push((path, rel));
            }
        }
    }
    Ok(out)
}

/// The `.tar.gz` of `entries` under `top/`, a pure function of its inputs:
/// sorted, every directory listed, root-owned, modes 0755/0644, mtime
/// `epoch`, gzip header without name or time.
pub fn archive(top: &str, epoch: u64, mut entries: Vec<Entry>) -> anyhow::Result<Vec<u8>> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = entries.windows(2).find(|w| w[0].path == w[1].path) {
        bail!("{} is in the archive twice", w[0].path);
    }
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(String::new());
    for e in &entries {
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            dirs.insert(parent.to_owned());
            p = parent;
        }
    }
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch);
        // Names are informational; ids 0 are what tar uses.
        let _ = h.set_username("root");
        let _ = h.set_groupname("root");
        h
    };
    // Directories first in path order, then files in path order: tar needs
    // a directory before its contents only, and this order is fixed.
    let mut items: Vec<(String, Option<&Entry>)> = dirs
        .iter()
        .map(|d| {
            let path = if d.is_empty() {
                format!("{top}/")
            } else {
                format!("{top}/{d}/")
            };
            (path, None)
        })
        .collect();
    items.extend(
        entries
            .iter()
            .map(|e| (format!("{top}/{}", e.path), Some(e))),
    );
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, entry) in items {
        match entry {
            None => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, &path, std::io::empty())?;
            }
            Some(e) => {
                let mode = if e.executable { 0o755 } else { 0o644 };
                let mut h = header(tar::EntryType::Regular, mode, e.bytes.len() as u64);
                tar.append_data(&mut h, &path, e.bytes.as_slice())?;
            }
        }
    }
    let gz = tar.into_inner().context("finishing the tar stream")?;
    let mut bytes = gz.finish().context("finishing the gzip stream")?;
    bytes.flush()?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str, executable: bool) -> Entry {
        Entry {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
            executable,
        }
    }

    fn listing(bytes: &[u8]) -> Vec<(String, u32, u64, u64, u64)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_inputs_in_any_order_give_the_same_bytes() {
        let a = vec![
            entry("bin/b", "#!/bin/sh\n", true),
            entry("share/x/console/index.html", "<html>", false),
            entry("etc/c.toml", "k = 1\n", false),
        ];
        let mut b = a.clone();
        b.reverse();
        let first = archive("top-1", 1_700_000_000, a).unwrap();
        let second = archive("top-1", 1_700_000_000, b).unwrap();
        assert_eq!(first, second);
        // The gzip header carries no time (bytes 4..8) and no file name (FLG).
        assert_eq!(&first[4..8], &[0, 0, 0, 0]);
        assert_eq!(first[3] & 0x08, 0, "FNAME set in the gzip header");
        // Another epoch is another archive.
        let later = archive("top-1", 1_700_000_001, vec![entry("a", "x", false)]).unwrap();
        let earlier = archive("top-1", 1_700_000_000, vec![entry("a", "x", false)]).unwrap();
        assert_ne!(later, earlier);
    }

    #[test]
    fn entries_are_sorted_root_owned_with_normal_modes_and_the_epoch() {
        let bytes = archive(
            "top-1",
            1_234_567_890,
            vec![
                entry("share/doc/g.md", "# g", false),
                entry("bin/giponext-bff", "\x7fELF", true),
            ],
        )
        .unwrap();
        let seen = listing(&bytes);
        let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "top-1/",
                "top-1/bin/",
                "top-1/bin/giponext-bff",
                "top-1/share/",
                "top-1/share/doc/",
                "top-1/share/doc/g.md"
            ]
        );
        for (path, mode, uid, gid, mtime) in &seen {
            let want = if path.ends_with('/') || path.ends_with("bff") {
                0o755
            } else {
                0o644
            };
            assert_eq!(
                (*mode, *uid, *gid, *mtime),
                (want, 0, 0, 1_234_567_890),
                "{path}"
            );
        }
    }

    #[test]
    fn a_path_given_twice_is_refused() {
        let err = archive("t", 0, vec![entry("a", "1", false), entry("a", "2", false)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a is in the archive twice"), "{err}");
    }

    /// `systemd-analyze verify` on the unit as shipped, where the tool
    /// exists (Debian's systemd). Any warning fails, not only the exit
    /// status: a misspelt key (`ProtectSystm=strict`) is only a warning to
    /// systemd, which then runs the service without that protection.
    #[test]
    fn the_systemd_unit_passes_systemd_analyze_verify() {
        let root = crate::workspace_root();
        let unit = fs::read_to_string(root.join("packaging/giponext-bff.service")).unwrap();
        match verify_unit(&unit) {
            None => {
                // `cargo xtask test` installs it; a skip there is a failure.
                assert!(
                    std::env::var("GIPONEXT_E2E_REQUIRED").as_deref() != Ok("1"),
                    "systemd-analyze is not installed (scripts/ensure-tools.sh systemd_analyze)"
                );
                eprintln!("SKIPPED: systemd-analyze not installed, unit not verified");
            }
            Some(Err(warnings)) => panic!("systemd-analyze verify:\n{warnings}"),
            Some(Ok(())) => {
                // The check sees a typo (so it can fail).
                let typo = unit.replace("ProtectSystem=strict", "ProtectSystm=strict");
                let warnings = verify_unit(&typo).unwrap().unwrap_err();
                assert!(warnings.contains("ProtectSystm"), "{warnings}");
            }
        }
    }

    /// `None` without systemd-analyze; else its verdict on `unit`, with the
    /// installed `ExecStart` path pointed at a stand-in executable.
    fn verify_unit(unit: &str) -> Option<Result<(), String>> {
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .ok()?;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::copy("/bin/true", bin.join("giponext-bff")).unwrap();
        let text = unit.replace("/opt/giponext-connect/bin/", &format!("{}/", bin.display()));
        let path = dir.path().join("giponext-bff.service");
        fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(if out.status.success() && said.trim().is_empty() {
            Ok(())
        } else {
            Err(format!("({}) {said}", out.status))
        })
    }

    /// Every setting the backend reads appears in the example config, so a
    /// new one cannot ship undocumented.
    #[test]
    fn the_example_config_names_every_setting_the_backend_reads() {
        let root = crate::workspace_root();
        let example = fs::read_to_string(root.join("packaging/giponext-bff.toml.example")).unwrap();
        let mut missing = Vec::new();
        for file in ["backend/src/config.rs", "backend/src/start.rs"] {
            let text = fs::read_to_string(root.join(file)).unwrap();
            // The code, not its tests.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for name in quoted_setting_names(code) {
                if !has_entry(&example, &name) && !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
        assert!(missing.is_empty(), "not in the example config: {missing:?}");
        // And the check reads what it should.
        let names = quoted_setting_names(r#"lookup("BFF_LISTEN") x "GIPONEXT_ISSUER" "BFFX""#);
        assert_eq!(names, ["BFF_LISTEN", "GIPONEXT_ISSUER"]);
        assert!(has_entry("# BFF_X = 1\n", "BFF_X"));
        assert!(!has_entry("# see BFF_X\nBFF_XY = 1\n", "BFF_X"));
    }

    /// Whether `example` has a line for `name`, set (`NAME = ...`) or
    /// commented out (`# NAME = ...`, `# NAME  what it is`), not merely a
    /// mention inside another setting's comment.
    fn has_entry(example: &str, name: &str) -> bool {
        example.lines().any(|line| {
            let line = line.strip_prefix('#').unwrap_or(line).trim_start();
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '=']))
        })
    }

    /// Every `"BFF_..."` / `"GIPONEXT_..."` string literal, in order.
    fn quoted_setting_names(code: &str) -> Vec<String> {
        let mut names = Vec::new();
        for prefix in ["\"BFF_", "\"GIPONEXT_"] {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + 1..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .unwrap_or(rest.len());
                if rest[len..].starts_with('"') {
                    names.push((at, rest[..len].to_owned()));
                }
            }
        }
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }
}
