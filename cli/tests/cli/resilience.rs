//! 429, 5xx, revoked grants, parallel jobs.

use std::time::Duration;

use giponext_sandbox::{SandboxConfig, users};

use crate::harness::*;

#[tokio::test]
async fn rate_limited_export_waits_for_retry_after_and_completes() {
    let mut config = SandboxConfig::for_tests();
    config.rate_limit = giponext_sandbox::config::RateLimit {
        requests: 8,
        window: Duration::from_secs(2),
    };
    let env = Env::start(config).await;
    env.logged_in_mario("invoices").await;
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
    env.logged_in_mario("invoices").await;
    assert_eq!(env.sandbox.revoke_grants(users::MARIO), 1);
    // The access token gets 401, the refresh gets invalid_grant: log in again.
    let out = env.run(&["invoices", "list", "--json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("giponext login"), "{}", out.stderr);
    assert!(env.stored().is_none(), "the dead login is forgotten");
    let out = env.run(&["auth", "status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_but_never_for_writes() {
    let mut env = Env::tests().await;
    env.logged_in_mario("patients").await;
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
async fn parallel_jobs_share_one_refresh_instead_of_replaying_a_rotated_token() {
    let env = Env::tests().await;
    env.logged_in_mario("invoices").await;
    // Every job starts with a dead access token and so wants to refresh.
    env.spoil_access_token();
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
