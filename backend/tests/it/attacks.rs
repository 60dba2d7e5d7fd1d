//! The callback and redirect attacks of RFC 9700, table-driven.

use giponext_shared::Scope;
use reqwest::Method;

use crate::fake_provider::IdTokenMode;
use crate::support::{FakeSetup, with_param};

async fn assert_no_session(s: &FakeSetup) {
    assert!(s.client.session_cookie().is_none(), "no session cookie");
    assert!(!s.client.session().await.authenticated);
}

#[tokio::test]
async fn tampered_state_is_refused_and_the_attempt_is_spent() {
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("").await;
    let login_cookie = s
        .client
        .cookie("/auth/callback", "gx_login")
        .expect("pre-login cookie");
    let tampered = with_param(&callback, "state", "attacker-state");
    let r = s.client.get(tampered.as_str()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("state mismatch"));
    assert_no_session(&s).await;
    // The genuine answer no longer works either: the login state was one-time.
    let r = s
        .client
        .send(
            Method::GET,
            callback.as_str(),
            &[("cookie", &format!("gx_login={login_cookie}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("already been completed or has expired"),
        "{}",
        r.body
    );
    assert_no_session(&s).await;
}

#[tokio::test]
async fn replayed_callback_is_refused() {
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("").await;
    let login_cookie = s
        .client
        .cookie("/auth/callback", "gx_login")
        .expect("pre-login cookie");
    assert_eq!(s.client.get(callback.as_str()).await.status, 302);
    let cookie = s.client.session_cookie();

    // The same browser: its pre-login cookie is gone.
    let replay = s.client.get(callback.as_str()).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    // An attacker holding the old pre-login cookie too: the state is spent.
    let attacker = crate::support::Client::new(s.bff.url());
    let replay = attacker
        .send(
            Method::GET,
            callback.as_str(),
            &[("cookie", &format!("gx_login={login_cookie}"))],
            None,
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(
        replay
            .body
            .contains("already been completed or has expired"),
        "{}",
        replay.body
    );
    assert_eq!(
        s.client.session_cookie(),
        cookie,
        "the real session is untouched"
    );
    assert!(s.client.session().await.authenticated);
}

#[tokio::test]
async fn callback_without_the_login_cookie_is_refused() {
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("").await;
    let other_browser = crate::support::Client::new(s.bff.url());
    let r = other_browser.get(callback.as_str()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not started in this browser"));
}

#[tokio::test]
async fn wrong_or_missing_iss_is_refused() {
    let s = FakeSetup::start().await;
    s.fake
        .with(|i| i.iss_override = Some("https://evil.example".into()));
    let r = s.login("").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("RFC 9207"));
    assert_no_session(&s).await;

    // The provider promises iss (discovery), so its absence is refused too.
    s.fake.with(|i| {
        i.iss_override = None;
        i.omit_iss = true;
    });
    let r = s.login("").await;
    assert_eq!(r.status, 400);
    assert_no_session(&s).await;
}

#[tokio::test]
async fn bad_id_tokens_are_refused() {
    let s = FakeSetup::start().await;
    for mode in [
        IdTokenMode::WrongAud,
        IdTokenMode::WrongNonce,
        IdTokenMode::Expired,
        IdTokenMode::AlgNone,
        IdTokenMode::UnknownKey,
        IdTokenMode::ForgedKid,
        IdTokenMode::WrongIss,
    ] {
        s.fake.with(|i| i.id_token_mode = Some(mode));
        let r = s.login("").await;
        assert_eq!(r.status, 400, "{mode:?}: {}", r.body);
        assert!(r.body.contains("could not be verified"), "{mode:?}");
        assert_no_session(&s).await;
    }
    s.fake.with(|i| i.id_token_mode = Some(IdTokenMode::Valid));
    assert_eq!(s.login("").await.status, 302, "a valid one still works");
    let m = s.client.get("/metrics").await.body;
    assert!(
        m.contains("bff_logins_total{outcome=\"rejected\"} 7"),
        "{m}"
    );
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let s = FakeSetup::start().await;
    for evil in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/%252F%252Fevil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/..//evil.example",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", evil)
            .finish();
        for accept in ["text/html", "application/json"] {
            let r = s
                .client
                .send(
                    Method::GET,
                    &format!("/auth/login?{query}"),
                    &[("accept", accept)],
                    None,
                )
                .await;
            assert_eq!(r.status, 400, "{evil:?} ({accept}): {}", r.body);
            assert!(
                r.headers.get("location").is_none(),
                "{evil:?} must not redirect"
            );
        }
    }
    assert!(
        s.fake.with(|i| i.last_scope_param.is_none()),
        "no sign-in started"
    );
    // A local path goes through and is where the callback lands.
    let r = s.login("?return_to=%2Fpatients%3Fq%3Drossi").await;
    assert_eq!(r.location(), "/patients?q=rossi");
    assert!(
        s.fake
            .with(|i| i.last_scope_param.clone())
            .unwrap()
            .contains(Scope::Patients.as_str())
    );
}

#[tokio::test]
async fn userinfo_of_another_subject_is_refused() {
    let s = FakeSetup::start().await;
    s.fake
        .with(|i| i.userinfo_sub = Some("user-someone-else".into()));
    let r = s.login("").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("does not belong to the signed-in user"));
    assert_no_session(&s).await;
}

#[tokio::test]
async fn rotated_provider_keys_are_fetched_again() {
    let s = FakeSetup::start().await;
    s.fake.with(|i| i.rotated = true);
    let r = s.login("").await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(s.client.session().await.authenticated);
}
