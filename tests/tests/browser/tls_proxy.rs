//! Behind nginx terminating TLS, as a clinic deploys it (issue 13): a test
//! CA and a `localhost` certificate made at test time (openssl CLI), nginx
//! (Debian) on https in front of the backend, the backend's public URL the
//! nginx origin, and `BFF_TRUSTED_PROXIES` naming nginx alone.
//!
//! nginx connects to the backend from 127.0.0.2 (`proxy_bind`), the one
//! trusted proxy. Each client connects to nginx from a loopback address of
//! its own (127.0.0.x, bound before connecting), which nginx appends to
//! `X-Forwarded-For`; a forger connecting to the backend directly has
//! another address. Chromium trusts the test CA through its profile
//! (`--ignore-certificate-errors-spki-list` with the CA's key, honoured
//! only with a `--user-data-dir`); the other clients trust it as a root.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use giponext_bff::client_addr::TrustedProxies;
use giponext_bff::config::{DEFAULT_LOGIN_RATE_PER_MINUTE, Upstream};
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::users;
use reqwest::StatusCode;
use tokio::process::{Child, Command};

use super::harness::{self, Setup, World};
use super::run_with;

/// Where nginx connects to the backend from: the only trusted proxy.
const NGINX_SOURCE: &str = "127.0.0.2";

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A test CA and a certificate for `localhost` and 127.0.0.1 signed by it,
/// in a directory removed on drop.
struct TestCerts {
    dir: PathBuf,
    ca_pem: Vec<u8>,
    /// base64 of the SHA-256 of the CA's SubjectPublicKeyInfo (what
    /// Chromium's SPKI list takes).
    ca_spki: String,
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command to completion; fails with its stderr.
fn run_tool(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<Vec<u8>> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {program} (is it installed?)"))?;
    ensure!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

impl TestCerts {
    fn generate(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=GipoNext Connect test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run_tool("openssl", &ca, &dir)?;
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run_tool("openssl", &csr, &dir)?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )?;
        run_tool(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "leaf.pem",
            ],
            &dir,
        )?;
        let ca_pem = std::fs::read(dir.join("ca.pem"))?;
        // nginx presents the chain (leaf, then the CA) so Chromium sees the
        // pinned CA key in it.
        let mut chain = std::fs::read(dir.join("leaf.pem"))?;
        chain.extend_from_slice(&ca_pem);
        std::fs::write(dir.join("server.pem"), chain)?;
        let spki = run_tool(
            "sh",
            &[
                "-c",
                "openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform der \
                 | openssl dgst -sha256 -binary | openssl base64 -A",
            ],
            &dir,
        )?;
        Ok(TestCerts {
            dir,
            ca_pem,
            ca_spki: String::from_utf8(spki)?.trim().to_owned(),
        })
    }
}

/// nginx terminating TLS on `127.0.0.1:{port}` in front of `backend`,
/// killed on drop (one process: `master_process off`, so nothing outlives
/// it).
struct Nginx {
    _child: Child,
}

/// The `location` the backend README recommends, plus `proxy_bind`.
fn nginx_conf(dir: &Path, port: u16, backend: SocketAddr) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://{backend};
            proxy_bind {NGINX_SOURCE};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"
    )
}

impl Nginx {
    async fn start(certs: &TestCerts, port: u16, backend: SocketAddr) -> anyhow::Result<Self> {
        let ensure = harness::root().join("scripts/ensure-tools.sh");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(ensure)
                .arg("nginx")
                .output()
        })
        .await??;
        ensure!(
            out.status.success(),
            "`scripts/ensure-tools.sh nginx` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = certs.dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(&certs.dir, port, backend))?;
        let nginx = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let mut child = Command::new(nginx)
            .arg("-p")
            .arg(&certs.dir)
            .arg("-e")
            .arg(certs.dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting nginx")?;
        if let Err(e) = harness::wait_for_port(port).await {
            let _ = child.kill().await;
            let log = std::fs::read_to_string(certs.dir.join("error.log")).unwrap_or_default();
            bail!("nginx did not start ({e}):\n{log}");
        }
        Ok(Nginx { _child: child })
    }
}

/// An https client of the nginx origin connecting from `source`, trusting
/// the test CA as a root, keeping cookies, following no redirect.
fn client_from(certs: &TestCerts, port: u16, source: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(source)
        .add_root_certificate(reqwest::Certificate::from_pem(&certs.ca_pem)?)
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?)
}

/// A whole sign-in as Mario from `source` through nginx: `/auth/login`,
/// the sandbox's login and consent, the callback. Returns the client (with
/// its session cookie) and the callback's answer.
async fn sign_in_from(
    certs: &TestCerts,
    port: u16,
    source: IpAddr,
) -> anyhow::Result<(reqwest::Client, reqwest::Response)> {
    let origin = format!("https://localhost:{port}");
    let client = client_from(certs, port, source)?;
    let login = client.get(format!("{origin}/auth/login")).send().await?;
    ensure!(
        login.status() == StatusCode::FOUND,
        "/auth/login from {source} answered {}",
        login.status()
    );
    let to_provider = url::Url::parse(
        login
            .headers()
            .get("location")
            .context("a Location")?
            .to_str()?,
    )?;
    let callback = Browser::with_client(client.clone())
        .authorize(
            &to_provider,
            users::MARIO,
            users::PASSWORD,
            Consent::GrantAll,
        )
        .await?;
    ensure!(
        callback
            .as_str()
            .starts_with(&format!("{origin}/auth/callback")),
        "{callback}"
    );
    let done = client.get(callback).send().await?;
    ensure!(
        done.status() == StatusCode::FOUND,
        "the callback from {source} answered {}",
        done.status()
    );
    Ok((client, done))
}

/// The statuses of `n` quick `/auth/login` starts by `client`, each with
/// the extra headers `forge(i)` gives; the first 429's `Retry-After`.
async fn hammer(
    client: &reqwest::Client,
    url: &str,
    n: usize,
    forge: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<(Vec<u16>, Option<String>)> {
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..n {
        let mut request = client.get(url);
        if let Some(forged) = forge(i) {
            request = request.header("x-forwarded-for", forged);
        }
        let r = request.send().await?;
        if r.status() == StatusCode::TOO_MANY_REQUESTS && retry_after.is_none() {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        statuses.push(r.status().as_u16());
    }
    Ok((statuses, retry_after))
}

/// Checks a hammering run: the budget passed (a refill during the run may
/// add one or two), then only 429s, with `Retry-After`.
fn limited(who: &str, (statuses, retry_after): &(Vec<u16>, Option<String>)) -> anyhow::Result<()> {
    let budget = DEFAULT_LOGIN_RATE_PER_MINUTE as usize;
    let passed = statuses.iter().take_while(|s| **s == 302).count();
    ensure!(
        (budget..budget + 3).contains(&passed)
            && passed < statuses.len()
            && statuses[passed..].iter().all(|s| *s == 429),
        "{who}: expected {budget} sign-ins then 429, got {statuses:?}"
    );
    ensure!(retry_after.is_some(), "{who}: a 429 says when to retry");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_tls_each_client_is_limited_on_its_own_address() {
    let port = harness::free_port().expect("a free port for nginx");
    let origin = format!("https://localhost:{port}");
    let certs = TestCerts::generate(
        std::env::temp_dir().join(format!("gx-tls-proxy-{}-{port}", std::process::id())),
    )
    .expect("a test CA and certificate (openssl)");
    // The provider runs on its own, as in production, at a loopback http
    // URL (allowed there only).
    let sandbox = giponext_sandbox::start(giponext_sandbox::SandboxConfig::for_tests())
        .await
        .expect("start the sandbox");
    let client_id = "giponext-connect-tls-proxy-test";
    sandbox.register_client(giponext_sandbox::ClientRegistration {
        client_id: client_id.into(),
        client_secret: Some("tls-proxy-test-secret".into()),
        grant_types: vec![
            giponext_sandbox::clients::grants::AUTHORIZATION_CODE.into(),
            giponext_sandbox::clients::grants::REFRESH_TOKEN.into(),
        ],
        redirect_uris: vec![format!("{origin}/auth/callback")],
        post_logout_redirect_uris: vec![format!("{origin}/")],
        scopes: giponext_shared::ScopeSet::all(),
        backchannel_logout_uri: None,
    });
    let issuer = sandbox.state().issuer.clone();
    let api_base = sandbox.api_base().clone();
    let public_url = url::Url::parse(&origin).expect("the nginx origin");
    let setup = Setup {
        config: Some(Box::new(move |c| {
            c.upstream = Upstream::External { issuer, api_base };
            c.client_id = client_id.into();
            c.client_secret = giponext_bff::types::Secret::new("tls-proxy-test-secret");
            c.public_url = Some(public_url);
            c.trusted_proxies = TrustedProxies::parse(NGINX_SOURCE).expect("one address");
            c.login_rate_per_minute = DEFAULT_LOGIN_RATE_PER_MINUTE;
        })),
        browser_args: vec![format!(
            "--ignore-certificate-errors-spki-list={}",
            certs.ca_spki
        )],
    };
    let certs = &certs;
    run_with("tls_proxy", setup, async |w: &World| {
        ensure!(
            w.base == origin,
            "the console's origin is nginx's: {}",
            w.base
        );
        let _nginx = Nginx::start(certs, port, w.bff().addr()).await?;

        // Chromium signs in over https through nginx.
        w.sign_in(users::MARIO).await?;
        let cookies = w.browser.get_all_cookies().await?;
        let session = cookies
            .iter()
            .find(|c| c.name() == "__Host-gx_session")
            .with_context(|| format!("no __Host-gx_session among {cookies:?}"))?;
        ensure!(
            session.secure() == Some(true)
                && session.http_only() == Some(true)
                && session.path() == Some("/")
                && !session.domain().is_some_and(|d| d.starts_with('.')),
            "the session cookie is Secure, HttpOnly, Path=/, host-only: {session:?}"
        );
        let mine = w
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/sessions', {credentials: 'same-origin'})\
                   .then(r => r.json()).then(done, e => done({error: String(e)}));",
                vec![],
            )
            .await?;
        let current = mine
            .as_array()
            .and_then(|list| list.iter().find(|s| s["current"] == true))
            .with_context(|| format!("the current session in {mine}"))?;
        ensure!(
            current["address"] == "127.0.0.1",
            "Chromium's session is from 127.0.0.1 (forwarded by nginx, whose own \
             address is {NGINX_SOURCE}): {current}"
        );
        w.open("/access").await?;
        w.wait_text("[data-test=sessions]", "127.0.0.1").await?;

        // The raw answers: __Host- cookie attributes and HSTS.
        let (client, callback) = sign_in_from(certs, port, loopback(10)).await?;
        let set_cookie: Vec<String> = callback
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let cookie = set_cookie
            .iter()
            .find(|c| c.starts_with("__Host-gx_session="))
            .with_context(|| format!("no __Host-gx_session in {set_cookie:?}"))?;
        let attributes: Vec<String> = cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        for want in ["secure", "httponly", "path=/", "samesite=lax"] {
            ensure!(attributes.iter().any(|a| a == want), "{want} in {cookie}");
        }
        ensure!(
            !attributes.iter().any(|a| a.starts_with("domain")),
            "no Domain: {cookie}"
        );
        let page = client.get(format!("{origin}/")).send().await?;
        let hsts = page
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        ensure!(
            hsts.starts_with("max-age=31536000"),
            "HSTS over https: {hsts:?}"
        );

        // 40 colleagues, each from their own address, sign in through the
        // one proxy: none is limited (the limit is 30 per address).
        for n in 10..50 {
            let source = loopback(n);
            let (client, _) = sign_in_from(certs, port, source)
                .await
                .with_context(|| format!("sign-in #{} (from {source})", n - 9))?;
            if n == 49 {
                let list: serde_json::Value = client
                    .get(format!("{origin}/api/sessions"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let list = list.as_array().context("a list")?;
                let current = list.iter().find(|s| s["current"] == true);
                ensure!(
                    current.is_some_and(|s| s["address"] == "127.0.0.49"),
                    "the connected sessions show each one's address: {list:?}"
                );
                for m in 10..50 {
                    let address = format!("127.0.0.{m}");
                    ensure!(
                        list.iter().any(|s| s["address"] == address.as_str()),
                        "{address} among the connected sessions"
                    );
                }
            }
        }

        // One client alone hammering through the proxy is limited...
        let login = format!("{origin}/auth/login");
        let hammering = client_from(certs, port, loopback(200))?;
        limited(
            "one address through nginx",
            &hammer(&hammering, &login, 35, |_| None).await?,
        )?;
        // ...and nobody else is.
        let colleague = client_from(certs, port, loopback(201))?;
        let r = colleague.get(&login).send().await?;
        ensure!(
            r.status() == 302,
            "a colleague still signs in: {}",
            r.status()
        );

        // What a client writes into X-Forwarded-For itself (nginx appends
        // the real address) does not move it to another bucket.
        let prepending = client_from(certs, port, loopback(210))?;
        limited(
            "a client prepending X-Forwarded-For through nginx",
            &hammer(&prepending, &login, 35, |i| Some(format!("198.51.100.{i}"))).await?,
        )?;

        // Straight to the backend, not through the proxy: a forged
        // X-Forwarded-For is ignored, the forger is limited on its own
        // address.
        let direct = format!("http://{}/auth/login", w.bff().addr());
        let forger = reqwest::Client::builder()
            .local_address(loopback(220))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        limited(
            "a forged X-Forwarded-For sent to the backend directly",
            &hammer(&forger, &direct, 35, |i| {
                Some(format!("203.0.113.{i}, 127.0.0.{}", 100 + i))
            })
            .await?,
        )?;
        Ok(())
    })
    .await;
    sandbox.shutdown().await;
}
