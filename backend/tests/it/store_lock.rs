//! A SQLite session store is used by one `giponext-bff` process only: its
//! write-through cache would be wrong with two.

use giponext_bff::config::StoreLocation;

use crate::support::FakeSetup;

/// A second backend on the same SQLite file fails fast with a clear message;
/// once the first one has stopped, it starts.
#[tokio::test]
async fn a_second_backend_on_the_same_sqlite_file_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sessions.sqlite3");
    let store = file.clone();
    let first = FakeSetup::start_with(|c| c.session_store = StoreLocation::File(store)).await;

    let mut config = first.bff.state().config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.public_url = None;
    let error = match giponext_bff::serve(config.clone()).await {
        Ok(_) => panic!("a second backend started on a SQLite file in use"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("in use by another giponext-bff")
            && error.contains("use Redis for several instances"),
        "{error}"
    );
    assert!(error.contains("sessions.sqlite3"), "{error}");

    first.bff.shutdown().await;
    let second = giponext_bff::serve(config)
        .await
        .expect("starts once the first stopped");
    second.shutdown().await;
}

/// The same with real processes: a second `giponext-bff` process on the
/// SQLite file of a running one exits at once with the message; the lock
/// dies with the first process (here SIGKILL), so a restart works.
#[tokio::test]
async fn a_second_giponext_bff_process_on_the_same_sqlite_file_exits() {
    use std::process::{Command, Stdio};
    let (_fake, issuer, _task) = crate::fake_provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("sessions.sqlite3");
    let command = |port: u16| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_giponext-bff"));
        c.env("GIPONEXT_ISSUER", &issuer)
            .env("GIPONEXT_API_BASE", &issuer)
            .env("GIPONEXT_CLIENT_ID", crate::fake_provider::CLIENT_ID)
            .env(
                "GIPONEXT_CLIENT_SECRET",
                crate::fake_provider::CLIENT_SECRET,
            )
            .env("GIPONEXT_REGISTERED_SCOPES", "openid offline_access")
            .env_remove("GIPONEXT_ALLOWED_TENANTS")
            .env_remove("BFF_CONFIG")
            .env("BFF_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("BFF_LISTEN", format!("127.0.0.1:{port}"))
            .env("BFF_SESSION_STORE", &store)
            .env("RUST_LOG", "error");
        c
    };
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    /// Kills the process even when an assertion fails.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let port = free_port();
    let first = Killed(
        command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = async || {
        for _ in 0..400 {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    };
    assert!(ready().await, "the first giponext-bff did not start");

    let second = command(free_port()).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("in use by another giponext-bff")
            && stderr.contains("use Redis for several instances"),
        "{stderr}"
    );

    drop(first); // SIGKILL
    let _again = Killed(
        command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(ready().await, "restart after the first process died");
}
