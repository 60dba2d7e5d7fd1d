//! A crash between receiving and storing a rotated refresh token.
//!
//! The backend runs as a separate OS process (this crate's binary, `bff`
//! subcommand) with the SQLite store. A fault proxy in front of the fake
//! provider lets the refresh reach the provider (which rotates the refresh
//! token) and holds the answer back; the backend is then killed (SIGKILL)
//! while it waits, and restarted on the same store. The backend still holds
//! the refresh token the provider has rotated away, so its next refresh is
//! a reuse: the user must get a clear "sign in again", never a 500, and
//! signing in again must work.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use giponext_shared::ScopeSet;
use reqwest::Method;
use tokio::process::{Child, Command};

use super::{clear, is_problem, login, seen};
use crate::Report;
use crate::fake_provider::{self, TENANT};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::Client;

/// The backend as a child process, restartable on the same port and store.
struct Backend {
    exe: PathBuf,
    dir: PathBuf,
    port: u16,
    issuer: String,
    api_base: String,
    child: Option<Child>,
}

impl Backend {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join("bff.log"))?;
        let child = Command::new(&self.exe)
            .arg("bff")
            .env_remove("BFF_CONFIG")
            .env("GIPONEXT_ISSUER", &self.issuer)
            .env("GIPONEXT_API_BASE", &self.api_base)
            .env("GIPONEXT_CLIENT_ID", fake_provider::CLIENT_ID)
            .env("GIPONEXT_CLIENT_SECRET", fake_provider::CLIENT_SECRET)
            .env("GIPONEXT_REGISTERED_SCOPES", ScopeSet::all().to_wire())
            .env("BFF_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("BFF_PUBLIC_URL", self.url())
            .env("BFF_SESSION_STORE", self.dir.join("sessions.db"))
            .env("BFF_STATIC_DIR", &self.dir)
            .env("BFF_UPSTREAM_TIMEOUT_SECS", "30")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/healthz", self.url())).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the backend process did not come up (see its log)")
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("bff.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) async fn run(report: Report, exe: PathBuf) {
    let case = "crash between the provider rotating the refresh token and the backend storing it";
    let expected = "no 500: a clear 401 reauth_required (sign in again); signing in again works";
    if let Err(e) = run_inner(&report, &exe, case, expected).await {
        report.check(case, expected, format!("harness: {e:#}"), false);
    }
}

async fn run_inner(report: &Report, exe: &Path, case: &str, expected: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (fake, url, _task) = fake_provider::start().await;
    let proxy = FaultProxy::start(&url).await?;
    fake.with(|i| i.issuer = proxy.url().to_owned());
    let mut bff = Backend {
        exe: exe.to_owned(),
        dir: dir.path().to_owned(),
        port: free_port()?,
        issuer: proxy.url().to_owned(),
        api_base: url.clone(),
        child: None,
    };
    bff.start().await?;
    let client = Client::new(&bff.url());
    let done = login(&client).await;
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    let first = client.api(Method::GET, &patients, None).await;

    // A crash while idle: the session is on disk, nothing is lost.
    bff.kill().await;
    bff.start().await?;
    let survived = client.api(Method::GET, &patients, None).await;
    report.check(
        "backend killed (SIGKILL) mid-session while idle, SQLite store, restarted",
        "the session survives: 200",
        format!(
            "login {}, API {}; after the restart {}",
            done.status.as_u16(),
            first.status.as_u16(),
            seen(&survived)
        ),
        done.status == 302 && first.status == 200 && survived.status == 200,
    );

    // The access token dies; the next call refreshes. The provider rotates,
    // its answer is held, and the backend is killed while it waits.
    proxy.set("/token", Some(Fault::HoldAnswer));
    fake.expire_access_tokens();
    let refreshes = fake.with(|i| i.refreshes);
    let call = {
        let http = client.http.clone();
        let url = format!("{}{patients}", bff.url());
        tokio::spawn(async move { http.get(url).header("x-csrf", "1").send().await })
    };
    for _ in 0..100 {
        if proxy.held() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rotated = fake.with(|i| i.refreshes) - refreshes;
    let held = proxy.held();
    bff.kill().await;
    let during = match call.await {
        Ok(Ok(r)) => format!("{}", r.status().as_u16()),
        Ok(Err(_)) => "connection closed (the browser's network error)".to_owned(),
        Err(e) => format!("client task failed: {e}"),
    };
    proxy.set("/token", None);

    bff.start().await?;
    let after = client.api(Method::GET, &patients, None).await;
    let reuse = fake.with(|i| i.refresh_reuse_detected);
    let session = client.session().await.authenticated;
    let again = login(&client).await;
    let fine = client.api(Method::GET, &patients, None).await;
    report.check(
        case,
        expected,
        format!(
            "login {}, API {}; provider rotated {rotated}x, answer held {held}x; during the crash: {during}; \
             after restart: {}; signed in: {session}; old refresh token presented as reuse {reuse}x \
             (grant survived: {}); signed in again {}, API {}",
            done.status.as_u16(),
            first.status.as_u16(),
            seen(&after),
            after.status == 200,
            again.status.as_u16(),
            fine.status.as_u16(),
        ),
        done.status == 302
            && first.status == 200
            && rotated == 1
            && held == 1
            && after.status == 401
            && is_problem(&after, "reauth_required")
            && after.body.contains("login_url")
            && clear(&after)
            && reuse >= 1
            && again.status == 302
            && fine.status == 200,
    );
    if !report.rows().last().is_some_and(|r| r.pass) {
        report.check(
            "crash: backend log (for the failure above)",
            "-",
            bff.log_tail(),
            false,
        );
    }
    bff.kill().await;
    Ok(())
}
