//! The backend's half of the console's shared-workstation features (issue
//! 14): the time left in `/api/session`, the keep-alive and the read that
//! does not count as use, and the per-person draft key.

use std::time::Duration;

use reqwest::Method;

use crate::support::FakeSetup;

fn secs(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

#[tokio::test]
async fn time_left_keepalive_and_draft_key() {
    let s = FakeSetup::start_with(|c| {
        c.timings.session_idle = Duration::from_secs(30);
        c.timings.session_max = Duration::from_secs(3600);
    })
    .await;
    // Signed out: no figures, no key, and both calls are a 401.
    let out = s.client.get("/api/session").await.json();
    assert!(
        out["idle_seconds_left"].is_null() && out["draft_key"].is_null(),
        "{out}"
    );
    assert_eq!(s.client.get("/api/session/remaining").await.status, 401);
    let alive = s
        .client
        .send(
            Method::POST,
            "/api/session/keepalive",
            &[("x-csrf", "1")],
            None,
        )
        .await;
    assert_eq!(alive.status, 401, "{}", alive.body);

    s.login("").await;
    let info = s.client.get("/api/session").await.json();
    assert!(
        (29..=30).contains(&secs(&info, "idle_seconds_left")),
        "{info}"
    );
    assert!(
        (3599..=3600).contains(&secs(&info, "absolute_seconds_left")),
        "{info}"
    );
    let key = info["draft_key"]["key"].as_str().unwrap().to_owned();
    let id = info["draft_key"]["id"].as_str().unwrap().to_owned();
    assert_eq!((key.len(), id.len()), (64, 16), "{info}");
    assert!(!key.contains(&id), "the id says nothing of the key");

    // Reading the time left does not count as use; it goes down.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let left = s.client.get("/api/session/remaining").await;
    assert_eq!(left.status, 200, "{}", left.body);
    assert_eq!(left.header("cache-control"), "no-store");
    assert!(
        secs(&left.json(), "idle_seconds_left") <= 28,
        "{}",
        left.body
    );
    let again = s.client.get("/api/session/remaining").await.json();
    assert!(secs(&again, "idle_seconds_left") <= 28, "{again}");

    // The keep-alive needs the anti-CSRF header, and restarts the idle timer
    // (not the absolute lifetime).
    let refused = s
        .client
        .send(Method::POST, "/api/session/keepalive", &[], None)
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["type"], "csrf_header_missing");
    let kept = s
        .client
        .send(
            Method::POST,
            "/api/session/keepalive",
            &[("x-csrf", "1")],
            None,
        )
        .await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    let kept = kept.json();
    assert!(secs(&kept, "idle_seconds_left") >= 29, "{kept}");
    assert!(secs(&kept, "absolute_seconds_left") <= 3598, "{kept}");
    let after = s.client.get("/api/session/remaining").await.json();
    assert!(secs(&after, "idle_seconds_left") >= 29, "{after}");

    // The same person signing in again gets the same key; signed out, the
    // keep-alive cannot revive anything.
    s.client.logout().await;
    s.login("").await;
    let info = s.client.get("/api/session").await.json();
    assert_eq!(info["draft_key"]["key"], key.as_str());
    s.client.logout().await;
    let alive = s
        .client
        .send(
            Method::POST,
            "/api/session/keepalive",
            &[("x-csrf", "1")],
            None,
        )
        .await;
    assert_eq!(alive.status, 401, "{}", alive.body);
}

#[tokio::test]
async fn the_idle_figure_never_outlasts_the_absolute_lifetime() {
    let s = FakeSetup::start_with(|c| {
        c.timings.session_idle = Duration::from_secs(600);
        c.timings.session_max = Duration::from_secs(40);
    })
    .await;
    s.login("").await;
    let info = s.client.get("/api/session").await.json();
    assert!(secs(&info, "idle_seconds_left") <= 40, "{info}");
    let kept = s
        .client
        .send(
            Method::POST,
            "/api/session/keepalive",
            &[("x-csrf", "1")],
            None,
        )
        .await
        .json();
    assert!(secs(&kept, "idle_seconds_left") <= 40, "{kept}");
}
