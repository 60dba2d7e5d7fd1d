//! Device login, consent, status, refresh and logout.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use giponext_sandbox::testing::Consent;
use giponext_sandbox::{SandboxConfig, clients, users};
use giponext_shared::Scope;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::harness::*;

/// What `auth status` grants after an invoices login extended by patients.
const HELD_PLUS_PATIENTS: [&str; 4] = [
    "openid",
    "offline_access",
    "giponext.patients",
    "giponext.invoices",
];

#[tokio::test]
async fn partial_consent_login_status_in_both_formats_and_private_file() {
    let env = Env::tests().await;
    let out = env
        .logged_in(
            &["login", "--scope", "invoices,patients"],
            users::MARIO,
            Consent::Grant(scopes(&[
                Scope::OpenId,
                Scope::OfflineAccess,
                Scope::Invoices,
            ])),
        )
        .await;
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
    env.logged_in_mario("invoices").await;
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
        .logged_in(
            &["auth", "refresh", "--scopes", "patients"],
            users::MARIO,
            Consent::GrantAll,
        )
        .await;
    assert!(
        out.stderr
            .contains("Scopes asked: openid offline_access giponext.patients giponext.invoices"),
        "the union of held and new: {}",
        out.stderr
    );
    env.assert_granted(&HELD_PLUS_PATIENTS).await;
    let out = env
        .run(&["patients", "list", "--json", "--non-interactive"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!json(&out).as_array().expect("a list").is_empty());
}

#[tokio::test]
async fn logout_revokes_at_the_provider_and_forgets_locally() {
    let env = Env::tests().await;
    env.logged_in_mario("invoices").await;
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
        .logged_in(
            &["login", "--scope", "treatments"],
            users::GIULIA,
            Consent::GrantAll,
        )
        .await;
    assert!(out.stderr.contains("Client: giponext-cli-public"));

    // Spoil the stored access token: the API answers 401, the CLI refreshes
    // (persisting the rotated refresh token) and retries.
    let old_refresh = env.stored_token("refresh_token");
    let path = env.spoil_access_token();
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
async fn interactive_preflight_offers_a_login_for_the_missing_scope() {
    use tokio::io::AsyncWriteExt;
    let env = Env::tests().await;
    env.logged_in_mario("invoices").await;

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
    env.assert_granted(&HELD_PLUS_PATIENTS).await;
}
