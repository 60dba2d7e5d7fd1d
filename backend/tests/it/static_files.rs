//! The console bundle as served: precompressed encodings chosen from the
//! browser's Accept-Encoding, with the right type and cache key.

use crate::support::FakeSetup;

/// A bundle directory with a wasm file, its two precompressed forms (their
/// bytes are markers: the backend must send the file, not recompress), and
/// a CSS file without any.
fn bundle_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    put("index.html", b"<!doctype html><title>console</title>");
    put("app_bg.wasm", b"\0asm raw module");
    put("app_bg.wasm.gz", b"gzip form of the module");
    put("app_bg.wasm.br", b"brotli form of the module");
    put("style.css", b"body{}");
    dir
}

async fn fetch(base: &str, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    // No automatic decompression in this client: the bytes are checked as sent.
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(encodings) = accept_encoding {
        request = request.header("accept-encoding", encodings);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn bundle_is_served_in_the_best_encoding_the_browser_accepts() {
    let dir = bundle_dir();
    let static_dir = dir.path().to_owned();
    let s = FakeSetup::start_with(move |c| c.static_dir = static_dir).await;
    let base = s.client.base.clone();

    // What Chromium sends: brotli preferred.
    let br = fetch(&base, "/app_bg.wasm", Some("gzip, deflate, br, zstd")).await;
    assert_eq!(br.status(), 200);
    assert_eq!(header(&br, "content-encoding"), "br");
    assert_eq!(header(&br, "content-type"), "application/wasm");
    assert_eq!(header(&br, "vary"), "accept-encoding");
    assert_eq!(header(&br, "x-content-type-options"), "nosniff");
    assert_eq!(br.bytes().await.unwrap(), &b"brotli form of the module"[..]);

    let gz = fetch(&base, "/app_bg.wasm", Some("gzip")).await;
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(header(&gz, "content-type"), "application/wasm");
    assert_eq!(gz.bytes().await.unwrap(), &b"gzip form of the module"[..]);

    // A client that accepts no encoding, or refuses brotli, still gets a
    // form it can read.
    let plain = fetch(&base, "/app_bg.wasm", None).await;
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(plain.bytes().await.unwrap(), &b"\0asm raw module"[..]);
    let no_br = fetch(&base, "/app_bg.wasm", Some("br;q=0, gzip")).await;
    assert_eq!(header(&no_br, "content-encoding"), "gzip");

    // Without a precompressed form the file is sent as is.
    let css = fetch(&base, "/style.css", Some("gzip, br")).await;
    assert_eq!(header(&css, "content-encoding"), "");
    assert_eq!(css.bytes().await.unwrap(), &b"body{}"[..]);

    // The compressed files are not pages of their own to the SPA fallback.
    let deep = fetch(&base, "/patients/7", Some("gzip, br")).await;
    assert_eq!(deep.status(), 200);
    assert!(deep.text().await.unwrap().contains("console"));
}
