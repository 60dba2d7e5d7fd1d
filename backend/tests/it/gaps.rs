//! The closed gaps of issue 3: a SQLite store used by one process only, a
//! provider that comes up after the backend, several tabs signing in,
//! timeouts told apart from outages, refreshed ID tokens validated.

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
