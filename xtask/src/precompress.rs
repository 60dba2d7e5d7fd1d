//! The console bundle as it travels: each asset compressed once, at build
//! time, as hard as the format allows, next to the original.
//!
//! The backend serves `name.br` or `name.gz` to a browser that accepts the
//! encoding (`tower_http::services::ServeDir::precompressed_*`), so the bytes
//! on the wire are these files, not an on-the-fly compression at a fast
//! level. gzip is written by zopfli, an exhaustive deflate encoder whose
//! output any gzip decoder reads; brotli at its highest quality and largest
//! window is what every current browser asks for first.

use std::fs;
use std::io::Write;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The assets the size budget counts and the backend serves precompressed.
const COMPRESSED_EXTENSIONS: [&str; 3] = ["wasm", "js", "css"];

/// One asset's sizes in bytes.
pub struct AssetSizes {
    /// Path within `dist`.
    pub name: String,
    /// Uncompressed.
    pub raw: u64,
    /// The `.gz` written (zopfli), as served.
    pub gzip_served: u64,
    /// `gzip -9` of the same file, the reference of earlier measurements.
    pub gzip_9: u64,
    /// The `.br` written, as served.
    pub brotli: u64,
}

/// Writes `name.gz` and `name.br` beside every asset of `dist` and returns
/// the sizes, in name order.
pub fn precompress(dist: &Path) -> anyhow::Result<Vec<AssetSizes>> {
    let mut sizes = Vec::new();
    for path in assets(dist)? {
        let name = path
            .strip_prefix(dist)
            .map_or_else(|_| file_name(&path), |p| p.display().to_string());
        let raw = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let gz = zopfli_gzip(&raw).with_context(|| format!("gzip of {}", path.display()))?;
        let br = brotli_max(&raw).with_context(|| format!("brotli of {}", path.display()))?;
        write_beside(&path, "gz", &gz)?;
        write_beside(&path, "br", &br)?;
        sizes.push(AssetSizes {
            name,
            raw: raw.len() as u64,
            gzip_served: gz.len() as u64,
            gzip_9: gzip_9(&path)?,
            brotli: br.len() as u64,
        });
    }
    Ok(sizes)
}

/// Every wasm, js and css file under `dist`, subfolders included: the
/// bindings' own JavaScript modules (`snippets/`) are served and counted too.
fn assets(dist: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![dist.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let path = entry?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_dir() {
                folders.push(path);
            } else if COMPRESSED_EXTENSIONS.contains(&ext) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn zopfli_gzip(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = zopfli::Options {
        // zopfli's default; more iterations gain under 0.1 % here.
        iteration_count: NonZeroU64::new(15).expect("non-zero"),
        ..zopfli::Options::default()
    };
    let mut out = Vec::new();
    zopfli::compress(options, zopfli::Format::Gzip, raw, &mut out)?;
    Ok(out)
}

fn brotli_max(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        // Quality 11, window 2^24: the format's maximum, which browsers accept.
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 24);
        writer.write_all(raw)?;
        writer.flush()?;
    }
    Ok(out)
}

/// `gzip -9 -c`, only to compare with the figures measured before the
/// bundle was precompressed.
fn gzip_9(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    Ok(out.stdout.len() as u64)
}

/// Writes through a temporary name and renames, so a backend serving `dist`
/// never sends a half-written `.gz` or `.br`.
fn write_beside(path: &Path, suffix: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let target = PathBuf::from(format!("{}.{suffix}", path.display()));
    let partial = PathBuf::from(format!("{}.{suffix}.partial", path.display()));
    fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, &target).with_context(|| format!("renaming to {}", target.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_both_encodings_that_decode_to_the_original() {
        let dir = std::env::temp_dir().join(format!("xtask-precompress-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let js = "export function f() { return 'GipoNext'; }\n".repeat(200);
        fs::write(dir.join("app.js"), &js).unwrap();
        fs::write(dir.join("index.html"), "<html></html>").unwrap();

        let sizes = precompress(&dir).unwrap();

        assert_eq!(sizes.len(), 1, "only wasm, js and css are compressed");
        assert!(!dir.join("index.html.gz").exists());
        let gz = fs::read(dir.join("app.js.gz")).unwrap();
        let mut decoded = String::new();
        gunzip_with_system_gzip(&gz, &mut decoded);
        assert_eq!(decoded, js);
        let br = fs::read(dir.join("app.js.br")).unwrap();
        let mut decoded = String::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, js);
        assert!(sizes[0].gzip_served < sizes[0].raw);
        assert!(sizes[0].gzip_served <= sizes[0].gzip_9);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_bindings_snippets_in_subfolders_are_compressed_and_counted() {
        let dir = std::env::temp_dir().join(format!("xtask-snippets-{}", std::process::id()));
        let snippets = dir.join("snippets/giponext-console-0123/");
        fs::create_dir_all(&snippets).unwrap();
        fs::write(dir.join("app.js"), "export const a = 1;\n").unwrap();
        fs::write(snippets.join("desk.js"), "export const b = 2;\n").unwrap();

        let sizes = precompress(&dir).unwrap();

        let names: Vec<&str> = sizes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["app.js", "snippets/giponext-console-0123/desk.js"]);
        assert!(snippets.join("desk.js.gz").exists());
        assert!(snippets.join("desk.js.br").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Decodes with the system's `gzip -d`, an independent decoder.
    fn gunzip_with_system_gzip(gz: &[u8], out: &mut String) {
        let mut child = Command::new("gzip")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(gz).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        out.push_str(std::str::from_utf8(&output.stdout).unwrap());
    }
}
