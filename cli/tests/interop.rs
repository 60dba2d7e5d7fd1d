//! The built `giponext` binary against an independent OpenID provider
//! (panva's `oidc-provider`, started by `giponext_e2e::interop::Harness`):
//! device login with partial consent, status, a data command through the
//! provider's API, incremental consent, refresh with rotation and logout
//! with revocation. Needs node and npm (installed by
//! `scripts/ensure-tools.sh interop`); it fails, never skips, without them.

use std::process::Stdio;
use std::time::Duration;

use giponext_e2e::interop::{
    Consent, Harness, HarnessBrowser, HarnessOptions, device_client, public_device_client, users,
};
use giponext_shared::{Scope, ScopeSet};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_giponext");
const CLIENT_ID: &str = "interop-cli";
const CLIENT_SECRET: &str = "interop-cli-secret";
const PUBLIC_ID: &str = "interop-cli-public";

#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

struct Env {
    harness: Harness,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let options = HarnessOptions {
            clients: vec![
                device_client(CLIENT_ID, CLIENT_SECRET),
                public_device_client(PUBLIC_ID),
            ],
            ..HarnessOptions::default()
        };
        Env {
            harness: Harness::start(options)
                .await
                .expect("the interop provider starts"),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn cmd(&self, client: (&str, Option<&str>), args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIPONEXT_ISSUER", self.harness.issuer())
            .env("GIPONEXT_API_BASE", self.harness.issuer())
            .env("GIPONEXT_CLIENT_ID", client.0)
            .env("GIPONEXT_CLIENT_SECRET", client.1.unwrap_or(""))
            .env("GIPONEXT_CONFIG_DIR", self.dir.path().join("config"))
            .env("GIPONEXT_KEYRING", "off")
            .env("GIPONEXT_INSECURE_STORAGE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            self.cmd((CLIENT_ID, Some(CLIENT_SECRET)), args).output(),
        )
        .await
        .expect("the command finishes")
        .expect("the binary runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a device login command and approves the code it prints at the
    /// provider's pages as `consent` says.
    async fn device_login(
        &self,
        client: (&str, Option<&str>),
        args: &[&str],
        consent: Consent,
    ) -> Output {
        let mut child = self.cmd(client, args).spawn().expect("the binary runs");
        let stderr = child.stderr.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let stdout_task = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s).await;
            s
        });
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        let (mut uri, mut code, mut code_next) = (None, None, false);
        while code.is_none() {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the prompt appears")
                .expect("stderr")
                .unwrap_or_else(|| panic!("the binary ended before the user code: {seen}"));
            seen.push_str(&line);
            seen.push('\n');
            let t = line.trim();
            if uri.is_none() && t.starts_with("http") {
                uri = Some(t.to_owned());
            } else if t == "and enter the code:" {
                code_next = true;
            } else if code_next && !t.is_empty() {
                code = Some(t.to_owned());
            }
        }
        let uri = url::Url::parse(&uri.expect("the URI comes before the code")).expect("URI");
        assert!(
            uri.as_str().starts_with(self.harness.issuer()),
            "the provider's verification URI: {uri}"
        );
        let page = HarnessBrowser::new(&self.harness.url())
            .approve_device(
                &uri,
                &code.expect("code"),
                users::MARIO,
                users::PASSWORD,
                consent,
            )
            .await
            .expect("the approval pages");
        let rest = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("the login finishes")
            .expect("wait");
        let out = Output {
            code: status.code().unwrap_or(-1),
            stdout: stdout_task.await.expect("stdout"),
            stderr: rest.await.expect("stderr"),
        };
        assert!(
            page.contains("Device signed in") || page.contains("access_denied"),
            "{page}"
        );
        out
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn device_login_partial_then_incremental_consent_refresh_and_logout() {
    let env = Env::start().await;
    let confidential = (CLIENT_ID, Some(CLIENT_SECRET));

    // Partial consent: invoices refused.
    let out = env
        .device_login(
            confidential,
            &["login", "--scope", "patients,invoices"],
            Consent::Grant(ScopeSet::of(&[Scope::OfflineAccess, Scope::Patients])),
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = env.run(&["auth", "status", "--json"]).await.json();
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["tenant"]["id"], users::TENANT_MAIN);
    assert_eq!(
        names(&v["granted"]),
        ["openid", "offline_access", "giponext.patients"]
    );
    assert_eq!(names(&v["declined"]), ["giponext.invoices"]);

    // A data command through the provider's API.
    let out = env
        .run(&["patients", "list", "--json", "--non-interactive"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json().as_array().map(Vec::len), Some(2), "{out:?}");

    // Refresh rotates at the provider.
    let out = env.run(&["auth", "refresh"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let stats = env.harness.stats().await.expect("stats");
    assert_eq!(stats.grants("refresh_token"), 1);
    assert_eq!(stats.event("refresh_token.consumed"), 1);

    // Incremental consent: the union of what is held and invoices.
    let out = env
        .device_login(
            confidential,
            &["auth", "refresh", "--scopes", "invoices"],
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = env.run(&["auth", "status", "--json"]).await.json();
    assert_eq!(
        names(&v["granted"]),
        [
            "openid",
            "offline_access",
            "giponext.patients",
            "giponext.invoices"
        ]
    );

    // Logout revokes at the provider (the CLI also revoked the previous
    // grant when the incremental login replaced it).
    let before = env.harness.stats().await.expect("stats");
    let out = env.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = env.harness.stats().await.expect("stats");
    assert_eq!(
        after.event("refresh_token.destroyed"),
        before.event("refresh_token.destroyed") + 1,
        "RFC 7009 revocation of the refresh token"
    );
    assert_eq!(
        after.event("grant.revoked"),
        before.event("grant.revoked") + 1
    );
    assert_eq!(env.run(&["auth", "status"]).await.code, 1);
    env.harness.shutdown().await;
}

#[tokio::test]
async fn public_client_login_and_denial() {
    let env = Env::start().await;
    let public = (PUBLIC_ID, None);
    let denied = env
        .device_login(public, &["login", "--scope", "patients"], Consent::Deny)
        .await;
    assert_ne!(denied.code, 0, "{denied:?}");
    assert!(
        denied.stderr.to_lowercase().contains("denied"),
        "{}",
        denied.stderr
    );
    let out = env
        .device_login(public, &["login", "--scope", "patients"], Consent::GrantAll)
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("Client: interop-cli-public"),
        "{}",
        out.stderr
    );
    env.harness.shutdown().await;
}
