//! End-to-end tests: the built `giponext` binary against an in-process
//! sandbox, with device codes approved through the sandbox's own pages over
//! HTTP, as a person on another device would.
//!
//! Every run uses file storage in a fresh temp dir with the OS keyring
//! forced off (`GIPONEXT_KEYRING=off`), so no test touches a real keyring.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{RunningSandbox, SandboxConfig, clients, users};
use giponext_shared::{Scope, ScopeSet};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_giponext");

/// What a run of the binary left behind.
#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Env {
    sandbox: RunningSandbox,
    dir: tempfile::TempDir,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    vars: Vec<(String, String)>,
}

impl Env {
    async fn start(config: SandboxConfig) -> Env {
        let sandbox = giponext_sandbox::start(config)
            .await
            .expect("sandbox starts");
        let issuer = sandbox.issuer().as_str().trim_end_matches('/').to_owned();
        Env {
            sandbox,
            dir: tempfile::tempdir().expect("temp dir"),
            issuer,
            client_id: clients::CLI_CLIENT_ID.to_owned(),
            client_secret: Some(clients::CLI_CLIENT_SECRET.to_owned()),
            vars: vec![("GIPONEXT_INSECURE_STORAGE".into(), "1".into())],
        }
    }

    async fn tests() -> Env {
        Env::start(SandboxConfig::for_tests()).await
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("config")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.command(BIN, args)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIPONEXT_ISSUER", &self.issuer)
            .env("GIPONEXT_CLIENT_ID", &self.client_id)
            .env(
                "GIPONEXT_CLIENT_SECRET",
                self.client_secret.as_deref().unwrap_or(""),
            )
            .env("GIPONEXT_CONFIG_DIR", self.config_dir())
            .env("GIPONEXT_KEYRING", "off")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(Duration::from_secs(120), self.cmd(args).output())
            .await
            .expect("the command finishes")
            .expect("the binary runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts a device login and hands its prompt to `approve` once the
    /// verification URI and user code are on stderr.
    async fn device_flow<F, Fut>(&self, args: &[&str], approve: F) -> Output
    where
        F: FnOnce(Prompt, mpsc::UnboundedReceiver<String>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut child = self.cmd(args).spawn().expect("the binary runs");
        let stderr = child.stderr.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut all = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let stdout_task = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s).await;
            s
        });
        let prompt = tokio::time::timeout(Duration::from_secs(30), Prompt::read(&mut rx))
            .await
            .expect("the prompt appears");
        approve(prompt, rx).await;
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("login finishes")
            .expect("wait");
        Output {
            code: status.code().unwrap_or(-1),
            stdout: stdout_task.await.expect("stdout"),
            stderr: reader.await.expect("stderr"),
        }
    }

    /// A device login approved by `user` with `consent`.
    async fn login(&self, args: &[&str], user: &str, consent: Consent) -> Output {
        self.device_flow(args, |prompt, _rx| async move {
            approve(&prompt, user, consent).await;
        })
        .await
    }

    /// The stored login, read from the opt-in token file.
    fn stored(&self) -> Option<Value> {
        let path = self.config_dir().join("credentials.json");
        let text = std::fs::read_to_string(path).ok()?;
        let all: HashMap<String, Value> = serde_json::from_str(&text).expect("token file is JSON");
        all.get(&format!("{}@{}", self.client_id, self.issuer))
            .cloned()
    }

    fn stored_token(&self, field: &str) -> String {
        self.stored().expect("a stored login")[field]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.sandbox.api_base().as_str().trim_end_matches('/')
        )
    }
}

/// The verification URI and user code as the binary printed them.
#[derive(Debug, Clone)]
struct Prompt {
    uri: String,
    user_code: String,
}

impl Prompt {
    async fn read(rx: &mut mpsc::UnboundedReceiver<String>) -> Prompt {
        let mut uri = None;
        let mut code_next = false;
        while let Some(line) = rx.recv().await {
            let t = line.trim();
            if uri.is_none() && t.starts_with("http") {
                uri = Some(t.to_owned());
            } else if t == "and enter the code:" {
                code_next = true;
            } else if code_next && !t.is_empty() {
                return Prompt {
                    uri: uri.expect("the URI comes before the code"),
                    user_code: t.to_owned(),
                };
            }
        }
        panic!("the binary ended before printing the user code");
    }
}

async fn approve(prompt: &Prompt, user: &str, consent: Consent) {
    let uri = url::Url::parse(&prompt.uri).expect("verification URI");
    Browser::new()
        .approve_device(&uri, &prompt.user_code, user, users::PASSWORD, consent)
        .await
        .expect("the device code is approved in the browser");
}

fn scopes(list: &[Scope]) -> ScopeSet {
    ScopeSet::of(list)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:?}"))
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn partial_consent_login_status_in_both_formats_and_private_file() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices,patients"],
            users::MARIO,
            Consent::Grant(scopes(&[
                Scope::OpenId,
                Scope::OfflineAccess,
                Scope::Invoices,
            ])),
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("Client: giponext-cli"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Scopes asked: openid offline_access giponext.patients giponext.invoices"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("expires in"),
        "a countdown/expiry is shown"
    );

    // Nothing secret reached the terminal.
    let access = env.stored_token("access_token");
    let refresh = env.stored_token("refresh_token");
    for secret in [&access, &refresh, &clients::CLI_CLIENT_SECRET.to_owned()] {
        assert!(!out.stderr.contains(secret.as_str()) && !out.stdout.contains(secret.as_str()));
    }

    // File storage: 0600 file in a 0700 directory.
    let mode =
        |p: std::path::PathBuf| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(env.config_dir()), 0o700);
    assert_eq!(mode(env.config_dir().join("credentials.json")), 0o600);

    let table = env.run(&["auth", "status"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let line = |name: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line: {}", table.stdout))
            .to_owned()
    };
    assert!(line("User").contains("Mario Rossi"), "{}", table.stdout);
    assert!(line("Centre").contains("tenant-abc123"), "{}", table.stdout);
    assert!(line("Granted").contains("giponext.invoices"));
    assert!(!line("Granted").contains("giponext.patients"));
    assert!(line("Declined").contains("giponext.patients"));
    assert!(line("Token expires").contains("UTC"));

    let status = env.run(&["auth", "status", "--json"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let v = json(&status);
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["user"]["name"], "Mario Rossi");
    assert_eq!(v["tenant"]["id"], "tenant-abc123");
    assert_eq!(
        names(&v["granted"]),
        ["openid", "offline_access", "giponext.invoices"]
    );
    assert_eq!(names(&v["declined"]), ["giponext.patients"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().expect("expiry")).is_ok()
    );
}

#[tokio::test]
async fn status_exits_1_when_not_logged_in_in_both_formats() {
    let env = Env::tests().await;
    let out = env.run(&["auth", "status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not logged in"));
    let out = env.run(&["auth", "status", "--json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(json(&out)["logged_in"], false);
}

#[tokio::test]
async fn keyring_unavailable_refuses_without_opt_in() {
    let mut env = Env::tests().await;
    env.vars.clear();
    for args in [&["login"][..], &["auth", "status"], &["invoices", "list"]] {
        let out = env.run(args).await;
        assert_eq!(out.code, 6, "{args:?}: {out:?}");
        assert!(out.stderr.contains("--insecure-storage"), "{}", out.stderr);
    }
    assert!(!env.config_dir().exists(), "nothing was written");
    assert_eq!(
        env.sandbox
            .stats()
            .token_requests(clients::grants::DEVICE_CODE),
        0,
        "refused before any login started"
    );
    // The flag is the opt-in too.
    let out = env.run(&["--insecure-storage", "auth", "status"]).await;
    assert_eq!(out.code, 1, "opted in, just not logged in: {out:?}");
}

#[tokio::test]
async fn denial_exits_3() {
    let env = Env::tests().await;
    let out = env.login(&["login"], users::MARIO, Consent::Deny).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("access_denied"), "{}", out.stderr);
    assert!(env.stored().is_none());
}

#[tokio::test]
async fn expiry_exits_4() {
    let mut config = SandboxConfig::for_tests();
    config.device_code_ttl = Duration::from_secs(3);
    let env = Env::start(config).await;
    let started = Instant::now();
    let out = env.device_flow(&["login"], |_prompt, _rx| async {}).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(env.stored().is_none());
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_the_measured_interval() {
    let mut env = Env::tests().await;
    // Poll every 100 ms although the sandbox asks for 1 s: it answers slow_down.
    env.vars
        .push(("GIPONEXT_TEST_POLL_INTERVAL_MS".into(), "100".into()));
    env.vars
        .push(("GIPONEXT_LOG".into(), "giponext_cli=debug".into()));
    let out = env
        .device_flow(
            &["login", "--scope", "invoices"],
            |prompt, mut rx| async move {
                // Let it be told to slow down, and poll at least once after that.
                let mut slowed = false;
                let mut polls_after = 0;
                while let Some(line) = rx.recv().await {
                    if line.contains("slow down") {
                        slowed = true;
                    } else if slowed && line.contains("device poll #") {
                        polls_after += 1;
                        if polls_after == 1 {
                            break;
                        }
                    }
                }
                assert!(slowed, "the sandbox answered slow_down");
                approve(&prompt, users::MARIO, Consent::GrantAll).await;
            },
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    // "device poll #N at T s (interval I s)"
    let polls: Vec<(f64, f64)> = out
        .stderr
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("device poll #")?..];
            let at: f64 = rest.split(" at ").nth(1)?.split('s').next()?.parse().ok()?;
            let interval: f64 = rest
                .split("(interval ")
                .nth(1)?
                .split('s')
                .next()?
                .parse()
                .ok()?;
            Some((at, interval))
        })
        .collect();
    let slow_at = out
        .stderr
        .lines()
        .position(|l| l.contains("slow down"))
        .expect("slow_down seen");
    let polls_before = out
        .stderr
        .lines()
        .take(slow_at)
        .filter(|l| l.contains("device poll #"))
        .count();
    assert!(polls.len() > polls_before, "{polls:?}");
    let (before, after) = polls.split_at(polls_before);
    assert!(before.iter().all(|(_, i)| *i < 1.0), "{before:?}");
    // Measured: after slow_down the gaps are the server's interval (1 s in
    // the test config) plus 5 s, never less.
    let mut last = before.last().expect("a poll before slow_down").0;
    for (at, interval) in after {
        assert!(*interval >= 6.0 - 1e-9, "interval grew by 5 s: {after:?}");
        assert!(
            at - last >= 6.0,
            "measured gap {:.2}s: {polls:?}",
            at - last
        );
        last = *at;
    }
}

#[tokio::test]
async fn incremental_refresh_asks_for_the_union() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let first_refresh = env.stored_token("refresh_token");

    // A plain refresh renews the token and rotates the refresh token.
    let before = env.sandbox.stats().refreshes();
    let out = env.run(&["auth", "refresh"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.sandbox.stats().refreshes(), before + 1);
    assert_ne!(
        env.stored_token("refresh_token"),
        first_refresh,
        "rotated and persisted"
    );

    let out = env
        .device_flow(
            &["auth", "refresh", "--scopes", "patients"],
            |prompt, _rx| async move {
                approve(&prompt, users::MARIO, Consent::GrantAll).await;
            },
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("Scopes asked: openid offline_access giponext.patients giponext.invoices"),
        "the union of held and new: {}",
        out.stderr
    );
    let v = json(&env.run(&["auth", "status", "--json"]).await);
    assert_eq!(
        names(&v["granted"]),
        [
            "openid",
            "offline_access",
            "giponext.patients",
            "giponext.invoices"
        ]
    );
    let out = env
        .run(&["patients", "list", "--json", "--non-interactive"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!json(&out).as_array().expect("a list").is_empty());
}

#[tokio::test]
async fn preflight_exits_5_with_the_missing_scopes_and_calls_nothing() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let refreshes = env.sandbox.stats().refreshes();
    let out = env
        .run(&[
            "appointments",
            "book",
            "--agenda",
            "ag-1",
            "--patient",
            "1",
            "--start",
            "2026-12-01T09:00:00",
            "--end",
            "2026-12-01T09:30:00",
            "--non-interactive",
        ])
        .await;
    assert_eq!(out.code, 5, "{out:?}");
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(v["error"], "missing_scopes");
    assert_eq!(v["command"], "appointments book");
    assert_eq!(names(&v["missing"]), ["giponext.agenda"]);
    assert!(names(&v["granted"]).contains(&"giponext.invoices".to_owned()));
    assert_eq!(env.sandbox.stats().refreshes(), refreshes);
    // No terminal counts as non-interactive too.
    let out = env.run(&["patients", "list"]).await;
    assert_eq!(out.code, 5, "{out:?}");
    assert_eq!(
        names(&serde_json::from_str::<Value>(out.stdout.trim()).expect("JSON")["missing"]),
        ["giponext.patients"]
    );
}

#[tokio::test]
async fn export_pages_over_a_thousand_invoices_into_matching_csv() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let file = env.dir.path().join("invoices.csv");
    let out = env
        .run(&[
            "invoices",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-12-31",
            "--output",
            file.to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stderr.contains('\r'),
        "no progress bar when stderr is not a terminal"
    );

    // What the API says, read directly page by page.
    let http = reqwest::Client::new();
    let token = env.stored_token("access_token");
    let mut expected = Vec::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .get(env.api(&format!("/v2/tenants/{}/invoices", users::TENANT_MAIN)))
            .query(&[
                ("from", "2000-01-01"),
                ("to", "2100-12-31"),
                ("offset", &offset.to_string()),
                ("limit", "100"),
            ])
            .bearer_auth(&token)
            .send()
            .await
            .expect("API")
            .json()
            .await
            .expect("JSON");
        let items = page["items"].as_array().expect("items").clone();
        offset += items.len();
        expected.extend(items);
        if page["hasMore"] != true {
            break;
        }
    }
    assert!(
        expected.len() >= 1000,
        "the sandbox seeds at least 1000 invoices: {}",
        expected.len()
    );

    let mut reader = csv::Reader::from_path(&file).expect("CSV");
    let headers = reader.headers().expect("header").clone();
    assert_eq!(
        &headers,
        vec![
            "id",
            "number",
            "patientId",
            "date",
            "netCents",
            "vatCents",
            "totalCents",
            "lines"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, inv) in rows.iter().zip(&expected) {
        let want = [
            inv["id"].to_string(),
            inv["number"].as_str().expect("number").to_owned(),
            inv["patientId"].to_string(),
            inv["date"].as_str().expect("date").to_owned(),
            inv["netCents"].to_string(),
            inv["vatCents"].to_string(),
            inv["totalCents"].to_string(),
            inv["lines"].as_array().expect("lines").len().to_string(),
        ];
        assert_eq!(
            row.iter().collect::<Vec<_>>(),
            want.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn logout_revokes_at_the_provider_and_forgets_locally() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let access = env.stored_token("access_token");
    let refresh = env.stored_token("refresh_token");
    let http = reqwest::Client::new();
    let url = env.api(&format!("/v2/tenants/{}/invoices", users::TENANT_MAIN));
    let before = http
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .expect("API");
    assert_eq!(before.status(), 200);

    let out = env.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);
    assert!(env.stored().is_none(), "the local copy is gone");
    assert!(env.sandbox.stats().revocations() >= 1);

    // The refresh token is dead at the provider ...
    let token_endpoint = format!("{}/oauth/token", env.issuer);
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", env.issuer))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .map_or(token_endpoint, str::to_owned);
    let res = http
        .post(token_endpoint)
        .basic_auth(clients::CLI_CLIENT_ID, Some(clients::CLI_CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("token endpoint");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_grant");
    // ... and so is the access token.
    let after = http
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .expect("API");
    assert_eq!(after.status(), 401);

    let out = env.run(&["auth", "status"]).await;
    assert_eq!(out.code, 1);
}

#[tokio::test]
async fn public_client_logs_in_and_a_401_is_refreshed_once() {
    let mut env = Env::tests().await;
    env.client_id = clients::CLI_PUBLIC_CLIENT_ID.to_owned();
    env.client_secret = None;
    let out = env
        .login(
            &["login", "--scope", "treatments"],
            users::GIULIA,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("Client: giponext-cli-public"));

    // Spoil the stored access token: the API answers 401, the CLI refreshes
    // (persisting the rotated refresh token) and retries.
    let path = env.config_dir().join("credentials.json");
    let text = std::fs::read_to_string(&path).expect("token file");
    let access = env.stored_token("access_token");
    let old_refresh = env.stored_token("refresh_token");
    std::fs::write(&path, text.replace(&access, "spoiled")).expect("write");
    let before = env.sandbox.stats().refreshes();
    let out = env.run(&["treatments", "--csv"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("id,code,name,durationMinutes,category\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.lines().count() > 1);
    assert_eq!(env.sandbox.stats().refreshes(), before + 1);
    assert_ne!(env.stored_token("refresh_token"), old_refresh);
    assert_eq!(
        std::fs::metadata(&path).expect("file").permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn patients_create_get_and_usage_errors() {
    let env = Env::tests().await;
    let bad = env
        .run(&[
            "patients",
            "create",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--fiscal-code",
            "NOTACODE",
        ])
        .await;
    assert_eq!(bad.code, 2, "checked before anything: {bad:?}");
    let bad = env
        .run(&[
            "invoices",
            "export",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    let bad = env.run(&["login", "--scope", "bogus"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");

    let out = env
        .login(
            &["login", "--scope", "patients"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let birth = chrono::NaiveDate::from_ymd_opt(1991, 4, 7).expect("date");
    let code = giponext_shared::fiscal_code::FiscalCode::compute(
        "Esposito", "Chiara", birth, true, "F839",
    )
    .expect("a code")
    .as_str()
    .to_owned();
    let created = env
        .run(&[
            "patients",
            "create",
            "--first-name",
            "Chiara",
            "--last-name",
            "Esposito",
            "--fiscal-code",
            &code,
            "--birth-date",
            "1991-04-07",
            "--json",
        ])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let id = json(&created)["id"].as_i64().expect("an id").to_string();
    let got = env.run(&["patients", "get", &id, "--json"]).await;
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(json(&got)["fiscalCode"], code.as_str());
    let missing = env.run(&["patients", "get", "999999999"]).await;
    assert_eq!(missing.code, 7, "{missing:?}");
}

#[tokio::test]
async fn rate_limited_export_waits_for_retry_after_and_completes() {
    let mut config = SandboxConfig::for_tests();
    config.rate_limit = giponext_sandbox::config::RateLimit {
        requests: 8,
        window: Duration::from_secs(2),
    };
    let env = Env::start(config).await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = env
        .run(&[
            "invoices",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-12-31",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("Rate limited by GipoNext; waiting"),
        "{}",
        out.stderr
    );
    let rows = out.stdout.lines().count() - 1;
    assert!(rows >= 1000, "every page arrived despite 429s: {rows}");
}

#[tokio::test]
async fn a_grant_revoked_on_the_platform_ends_the_session_cleanly() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.sandbox.revoke_grants(users::MARIO), 1);
    // The access token gets 401, the refresh gets invalid_grant: log in again.
    let out = env.run(&["invoices", "list", "--json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("giponext login"), "{}", out.stderr);
    assert!(env.stored().is_none(), "the dead login is forgotten");
    let out = env.run(&["auth", "status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
}

/// A proxy in front of the sandbox's API that answers 503 to the first
/// `fail_first` requests of each method, and counts what it saw.
struct FlakyProxy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
}

impl FlakyProxy {
    async fn start(upstream: String, fail_first: usize) -> FlakyProxy {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, u16)>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (http, log, upstream) = (http.clone(), log.clone(), upstream.clone());
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_owned());
                    }
                    let Some(request_line) = head.first() else {
                        return;
                    };
                    let mut parts = request_line.split(' ');
                    let (method, target) = (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    );
                    let header = |name: &str| {
                        head.iter().skip(1).find_map(|h| {
                            let (k, v) = h.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body).await;
                    let earlier = log
                        .lock()
                        .expect("log")
                        .iter()
                        .filter(|(m, _)| *m == method)
                        .count();
                    let (status, bytes) = if earlier < fail_first {
                        (
                            503u16,
                            b"{\"error\":\"unavailable\",\"message\":\"try later\"}".to_vec(),
                        )
                    } else {
                        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                        let mut req = http.request(m, format!("{upstream}{target}")).body(body);
                        for name in ["authorization", "content-type", "accept"] {
                            if let Some(v) = header(name) {
                                req = req.header(name, v);
                            }
                        }
                        let res = req.send().await.expect("upstream");
                        (
                            res.status().as_u16(),
                            res.bytes().await.expect("body").to_vec(),
                        )
                    };
                    log.lock().expect("log").push((method, status));
                    let mut stream = reader.into_inner();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&bytes).await;
                });
            }
        });
        FlakyProxy { url, seen }
    }

    fn seen(&self, method: &str) -> Vec<u16> {
        self.seen
            .lock()
            .expect("log")
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, s)| *s)
            .collect()
    }
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_but_never_for_writes() {
    let mut env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "patients"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let upstream = env
        .sandbox
        .api_base()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let proxy = FlakyProxy::start(upstream, 2).await;
    env.vars
        .push(("GIPONEXT_API_BASE".into(), proxy.url.clone()));

    let out = env.run(&["patients", "list", "--json"]).await;
    assert_eq!(out.code, 0, "two 503s, then success: {out:?}");
    assert_eq!(&proxy.seen("GET")[..3], [503, 503, 200]);
    assert!(!json(&out).as_array().expect("list").is_empty());

    let birth = chrono::NaiveDate::from_ymd_opt(1980, 1, 2).expect("date");
    let code =
        giponext_shared::fiscal_code::FiscalCode::compute("Neri", "Paolo", birth, false, "H501")
            .expect("a code")
            .as_str()
            .to_owned();
    let out = env
        .run(&[
            "patients",
            "create",
            "--first-name",
            "Paolo",
            "--last-name",
            "Neri",
            "--fiscal-code",
            &code,
        ])
        .await;
    assert_eq!(out.code, 7, "{out:?}");
    assert_eq!(
        proxy.seen("POST"),
        [503],
        "a write is sent once, never retried"
    );
}

#[tokio::test]
async fn interactive_preflight_offers_a_login_for_the_missing_scope() {
    use tokio::io::AsyncWriteExt;
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");

    // `script` gives the binary a terminal (stdin and stderr are ttys), as a
    // person at a shell would have.
    let line = format!("{BIN} patients list --json");
    let mut child = env
        .command("script", &["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs");
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let mut read_until = async |needle: &str, seen: &mut String| {
        while !seen.contains(needle) {
            let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("waiting for {needle:?} in {seen}"))
                .expect("read");
            assert!(n > 0, "ended before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until("[Y/n]", &mut seen).await;
    assert!(seen.contains("needs giponext.patients"), "{seen}");
    stdin.write_all(b"y\n").await.expect("answer");
    // The line after the scopes: everything before it has arrived whole.
    read_until("The code expires in", &mut seen).await;
    let lines: Vec<&str> = seen.split('\n').map(str::trim).collect();
    let uri = lines
        .iter()
        .find(|l| l.starts_with("http"))
        .expect("URI")
        .to_string();
    let at = lines
        .iter()
        .position(|l| *l == "and enter the code:")
        .expect("code label");
    let user_code = lines[at + 1..]
        .iter()
        .find(|l| !l.is_empty())
        .expect("code")
        .to_string();
    assert!(
        seen.contains("Scopes asked: openid offline_access giponext.patients giponext.invoices"),
        "the held scopes plus exactly the missing one: {seen}"
    );
    approve(&Prompt { uri, user_code }, users::MARIO, Consent::GrantAll).await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("finishes")
        .expect("wait");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest).await;
    seen.push_str(&rest);
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(
        seen.contains("\"fiscalCode\""),
        "the list ran after the login: {seen}"
    );
    assert!(
        seen.contains("left"),
        "a countdown is drawn on a terminal: {seen}"
    );
    drop(stdin);
    let v = json(&env.run(&["auth", "status", "--json"]).await);
    assert_eq!(
        names(&v["granted"]),
        [
            "openid",
            "offline_access",
            "giponext.patients",
            "giponext.invoices"
        ]
    );
}

#[tokio::test]
async fn parallel_jobs_share_one_refresh_instead_of_replaying_a_rotated_token() {
    let env = Env::tests().await;
    let out = env
        .login(
            &["login", "--scope", "invoices"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    // Every job starts with a dead access token and so wants to refresh.
    let path = env.config_dir().join("credentials.json");
    let text = std::fs::read_to_string(&path).expect("token file");
    std::fs::write(
        &path,
        text.replace(&env.stored_token("access_token"), "spoiled"),
    )
    .expect("write");
    let before = env.sandbox.stats().refreshes();
    let args = [
        "invoices",
        "list",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--json",
    ];
    let (a, b, c, d) = tokio::join!(
        env.run(&args),
        env.run(&args),
        env.run(&args),
        env.run(&args)
    );
    for out in [a, b, c, d] {
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(
        env.sandbox.stats().refreshes(),
        before + 1,
        "one refresh served all jobs"
    );
    let out = env.run(&["auth", "refresh"]).await;
    assert_eq!(out.code, 0, "the grant survived: {out:?}");
}
