//! The release archive as an operator installs it: unpacked into an empty
//! directory, the backend started from the unpacked tree alone (its own
//! binary, the example config adjusted, the console from
//! `share/giponext-connect/console`), against a separately started
//! `giponext-sandbox` process. A person signs in through the sandbox's
//! forms, an API call goes through the proxy and the console loads
//! precompressed.
//!
//! Needs the archive (`cargo xtask dist`) and the sandbox's binary:
//! `GIPONEXT_DIST_ARCHIVE` and `GIPONEXT_DIST_SANDBOX`, which `cargo xtask
//! test` sets after building both. Without them the test is skipped with a
//! note, unless `GIPONEXT_E2E_REQUIRED=1`, which makes it a failure.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use giponext_sandbox::testing::{Browser, Consent};
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, LOCATION};

const CLIENT_ID: &str = "giponext-connect-dist";
const CLIENT_SECRET: &str = "dist-secret";
/// base64 of 32 bytes, as `openssl rand -base64 32` prints.
const SESSION_KEY: &str = "q6wWZ0yQ8p0Jm2m4lR1c5w3G4nqkI7a1b2c3d4e5f6g=";

/// A child process killed on drop, its output kept for a failure message.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn inputs() -> Option<(PathBuf, PathBuf)> {
    let archive = std::env::var_os("GIPONEXT_DIST_ARCHIVE").map(PathBuf::from);
    let sandbox = std::env::var_os("GIPONEXT_DIST_SANDBOX").map(PathBuf::from);
    let reason = match (&archive, &sandbox) {
        (None, _) => "GIPONEXT_DIST_ARCHIVE is not set (cargo xtask dist builds the archive)",
        (_, None) => "GIPONEXT_DIST_SANDBOX is not set (the giponext-sandbox binary)",
        (Some(a), _) if !a.is_file() => "GIPONEXT_DIST_ARCHIVE names no file",
        (_, Some(s)) if !s.is_file() => "GIPONEXT_DIST_SANDBOX names no file",
        (Some(a), Some(s)) => return Some((a.clone(), s.clone())),
    };
    assert!(
        std::env::var("GIPONEXT_E2E_REQUIRED").as_deref() != Ok("1"),
        "the release archive test cannot run: {reason}"
    );
    eprintln!("SKIPPED the release archive test: {reason}");
    None
}

/// Spawns `program` with only `env` (no inherited environment: nothing of
/// cargo's or the workspace's reaches it), in `cwd`, output to `log`.
fn spawn(program: &Path, args: &[&str], env: &[(&str, String)], cwd: &Path, log: PathBuf) -> Proc {
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    Proc { child, log }
}

async fn wait_until_up(http: &reqwest::Client, url: &str, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Some(status) = proc.child.try_wait().unwrap() {
            panic!("{url}: the process exited ({status}):\n{}", proc.log());
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered:\n{}",
            proc.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unpacked_archive_serves_a_sign_in_a_proxied_call_and_the_console() {
    let Some((archive, sandbox_bin)) = inputs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Unpack with the system's tar, as an operator would.
    let unpack = root.join("opt");
    std::fs::create_dir(&unpack).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpack)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf failed: {status}");
    let tops: Vec<_> = std::fs::read_dir(&unpack)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tops.len(), 1, "one top directory: {tops:?}");
    let install = tops[0].clone();
    let top_name = install.file_name().unwrap().to_str().unwrap();
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("{top_name}-x86_64-unknown-linux-gnu")),
        "{top_name} vs {}",
        archive.display()
    );
    for file in [
        "bin/giponext-bff",
        "bin/giponext",
        "etc/giponext-bff.toml.example",
        "lib/systemd/system/giponext-bff.service",
        "share/doc/giponext-connect/operators-guide.md",
        "share/giponext-connect/console/index.html",
    ] {
        assert!(install.join(file).is_file(), "{file} is not in the archive");
    }

    // The CLI runs from the tree.
    let version = Command::new(install.join("bin/giponext"))
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    assert!(version.status.success(), "giponext --version: {version:?}");

    // The sandbox, its own process, with a client registered for the
    // backend's redirect URI.
    let bff_port = free_port();
    let bff_url = format!("http://127.0.0.1:{bff_port}");
    let clients = root.join("clients.toml");
    std::fs::write(
        &clients,
        format!(
            r#"[[client]]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{bff_url}/auth/callback"]
post_logout_redirect_uris = ["{bff_url}/"]
scopes = ["openid", "offline_access", "giponext.patients", "giponext.agenda", "giponext.treatments", "giponext.episodes", "giponext.medicalreports", "giponext.invoices"]
"#
        ),
    )
    .unwrap();
    let sandbox_port = free_port();
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let mut sandbox = spawn(
        &sandbox_bin,
        &[],
        &[
            ("SANDBOX_LISTEN", format!("127.0.0.1:{sandbox_port}")),
            ("SANDBOX_DATA", ":memory:".into()),
            ("SANDBOX_CLIENTS", clients.display().to_string()),
            ("SANDBOX_SEED_INVOICES", "20".into()),
            ("RUST_LOG", "warn".into()),
        ],
        root,
        root.join("sandbox.log"),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let discovery_url = format!("{sandbox_url}/.well-known/openid-configuration");
    wait_until_up(&http, &discovery_url, &mut sandbox).await;
    let discovery: serde_json::Value = http
        .get(&discovery_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = discovery["issuer"].as_str().unwrap().to_owned();

    // The example config, with what an operator changes: the provider, the
    // client, the origin, the tenant, and the paths of this install.
    let example = std::fs::read_to_string(install.join("etc/giponext-bff.toml.example")).unwrap();
    let mut config: toml::Table = example.parse().expect("the example config is valid TOML");
    let state = root.join("var/lib/giponext-bff");
    std::fs::create_dir_all(&state).unwrap();
    let static_dir = config["BFF_STATIC_DIR"]
        .as_str()
        .unwrap()
        .replace("/opt/giponext-connect", install.to_str().unwrap());
    let store = config["BFF_SESSION_STORE"]
        .as_str()
        .unwrap()
        .replace("/var/lib/giponext-bff", state.to_str().unwrap());
    for (key, value) in [
        ("GIPONEXT_ISSUER", toml::Value::from(issuer.as_str())),
        ("GIPONEXT_API_BASE", toml::Value::from(sandbox_url.as_str())),
        ("GIPONEXT_CLIENT_ID", CLIENT_ID.into()),
        (
            "GIPONEXT_ALLOWED_TENANTS",
            toml::Value::Array(vec!["tenant-abc123".into()]),
        ),
        ("BFF_PUBLIC_URL", bff_url.as_str().into()),
        ("BFF_LISTEN", format!("127.0.0.1:{bff_port}").into()),
        ("BFF_STATIC_DIR", static_dir.as_str().into()),
        ("BFF_SESSION_STORE", store.as_str().into()),
    ] {
        let old = config.insert(key.into(), value);
        assert!(old.is_some(), "{key} is not set in the example config");
    }
    assert!(
        std::path::Path::new(&static_dir)
            .join("index.html")
            .is_file(),
        "BFF_STATIC_DIR of the example does not point into the archive: {static_dir}"
    );
    let config_path = root.join("giponext-bff.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    // The secrets as systemd passes them from secrets.env: environment only.
    let env = [
        ("BFF_CONFIG", config_path.display().to_string()),
        ("GIPONEXT_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("BFF_SESSION_KEY", SESSION_KEY.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];

    let check = Command::new(install.join("bin/giponext-bff"))
        .arg("check-config")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "check-config on the adjusted example: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let mut bff = spawn(
        &install.join("bin/giponext-bff"),
        &[],
        &env,
        root,
        root.join("bff.log"),
    );
    wait_until_up(&http, &format!("{bff_url}/readyz"), &mut bff).await;

    // A real sign-in through the sandbox's login and consent forms.
    let start = http
        .get(format!("{bff_url}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "{}", bff.log());
    let auth_url = url::Url::parse(start.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(auth_url.as_str().starts_with(&sandbox_url), "{auth_url}");
    let callback = Browser::with_client(http.clone())
        .authorize(&auth_url, "mario.rossi", "sandbox", Consent::GrantAll)
        .await
        .unwrap();
    let done = http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(done.status(), 302, "callback: {}", bff.log());
    let session: serde_json::Value = http
        .get(format!("{bff_url}/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["authenticated"], true, "{session}");
    assert_eq!(session["tenant"]["id"], "tenant-abc123", "{session}");
    assert_eq!(session["sandbox"], false, "{session}");

    // A proxied API call, the token attached by the backend.
    let patients = http
        .get(format!(
            "{bff_url}/api/giponext/v2/tenants/tenant-abc123/patients?limit=2"
        ))
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(patients.status(), 200, "{}", bff.log());
    let page: serde_json::Value = patients.json().await.unwrap();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");

    // The session is in the store of this install's state directory.
    assert!(
        std::path::Path::new(&store).is_file(),
        "no session store at {store}"
    );

    // The console: the page (also for a deep link) and its assets, sent
    // precompressed from the unpacked tree.
    let console = Path::new(&static_dir);
    let index = std::fs::read_to_string(console.join("index.html")).unwrap();
    for page in ["/", "/patients"] {
        let r = http.get(format!("{bff_url}{page}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{page}"
        );
        assert_eq!(r.text().await.unwrap(), index, "{page}");
    }
    let wasm = std::fs::read_dir(console)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".wasm"))
        .expect("a .wasm in the console");
    for (accept, encoding, suffix) in [("br, gzip", "br", "br"), ("gzip", "gzip", "gz")] {
        let r = http
            .get(format!("{bff_url}/{wasm}"))
            .header(ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{wasm} with {accept}");
        assert_eq!(
            r.headers()[CONTENT_ENCODING],
            encoding,
            "{wasm} with {accept}"
        );
        assert_eq!(r.headers()[CONTENT_TYPE], "application/wasm");
        let body = r.bytes().await.unwrap();
        let file = std::fs::read(console.join(format!("{wasm}.{suffix}"))).unwrap();
        assert!(body == file, "{wasm}.{suffix} is not what was served");
    }

    // Nothing of the sign-in leaked into the log.
    let log = bff.log();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(!log.contains(&code), "the authorization code is in the log");
    drop(bff);
    drop(sandbox);

    // The binaries carry neither the checkout's path nor CARGO_HOME's.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    for bin in ["bin/giponext-bff", "bin/giponext"] {
        for path in [workspace, cargo_home.as_path()] {
            // grep -F: a byte search through tens of megabytes, at once.
            let found = Command::new("grep")
                .args(["-q", "-a", "-F", "-e"])
                .arg(path)
                .arg(install.join(bin))
                .status()
                .unwrap();
            assert!(
                found.code() == Some(1),
                "{bin} contains the build path {} (grep: {found})",
                path.display()
            );
        }
    }
}
