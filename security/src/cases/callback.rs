//! Callback attacks (RFC 9700) against the fake provider: tampered and
//! replayed state, login CSRF, wrong or missing `iss`, bad ID tokens.

use reqwest::Method;
use url::Url;

use super::snippet;
use crate::Report;
use crate::fake_provider::IdTokenMode;
use crate::support::{Client, FakeSetup, Seen, with_param};

/// No session cookie and `/api/session` says signed out.
async fn no_session(s: &FakeSetup, client: &Client) -> bool {
    client.session_cookie().is_none() && !s.client.session().await.authenticated
}

/// A fresh backend on the fake provider and a sign-in started there: the
/// provider's redirect back to the callback and the pre-login cookie.
async fn started() -> (FakeSetup, Url, String) {
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("").await;
    let login_cookie = s
        .client
        .cookie("/auth/callback", "gx_login")
        .unwrap_or_default();
    (s, callback, login_cookie)
}

/// `client` follows `callback` presenting `login_cookie` as its `gx_login`.
async fn callback_with_login_cookie(client: &Client, callback: &Url, login_cookie: &str) -> Seen {
    client
        .send(
            Method::GET,
            callback.as_str(),
            &[("cookie", &format!("gx_login={login_cookie}"))],
            None,
        )
        .await
}

pub async fn run(report: Report) {
    // Tampered state; then the genuine answer is spent too.
    let (s, callback, login_cookie) = started().await;
    let r = s
        .client
        .get(with_param(&callback, "state", "attacker-state").as_str())
        .await;
    let ok = r.status == 400 && no_session(&s, &s.client).await;
    report.check(
        "tampered state in callback",
        "400, no session",
        format!("{} {}", r.status.as_u16(), snippet(&r.body)),
        ok,
    );
    let r = callback_with_login_cookie(&s.client, &callback, &login_cookie).await;
    report.check(
        "genuine callback after a tampered one",
        "400 (login attempt spent)",
        format!("{}", r.status.as_u16()),
        r.status == 400 && no_session(&s, &s.client).await,
    );

    // Replay.
    let (s, callback, login_cookie) = started().await;
    let first = s.client.get(callback.as_str()).await;
    let session = s.client.session_cookie();
    let replay = s.client.get(callback.as_str()).await;
    report.check(
        "replayed callback, same browser",
        "400, real session untouched",
        format!(
            "first {} replay {}",
            first.status.as_u16(),
            replay.status.as_u16()
        ),
        first.status == 302 && replay.status == 400 && s.client.session_cookie() == session,
    );
    let attacker = Client::new(s.bff.url());
    let replay = callback_with_login_cookie(&attacker, &callback, &login_cookie).await;
    report.check(
        "replayed callback with a stolen pre-login cookie",
        "400, no session for the attacker",
        format!("{} {}", replay.status.as_u16(), snippet(&replay.body)),
        replay.status == 400 && attacker.session_cookie().is_none(),
    );

    // Login CSRF: a callback the victim's browser did not start.
    let s = FakeSetup::start().await;
    let callback = s.provider_redirect("").await;
    let victim = Client::new(s.bff.url());
    let r = victim.get(callback.as_str()).await;
    report.check(
        "login CSRF: callback the browser did not start",
        "400, victim not signed in",
        format!("{} {}", r.status.as_u16(), snippet(&r.body)),
        r.status == 400 && victim.session_cookie().is_none(),
    );

    // RFC 9207 iss.
    let s = FakeSetup::start().await;
    s.fake
        .with(|i| i.iss_override = Some("https://evil.example".into()));
    let r = s.login("").await;
    report.check(
        "callback with a wrong iss (mix-up)",
        "400, no session",
        format!("{} {}", r.status.as_u16(), snippet(&r.body)),
        r.status == 400 && no_session(&s, &s.client).await,
    );
    s.fake.with(|i| {
        i.iss_override = None;
        i.omit_iss = true;
    });
    let r = s.login("").await;
    report.check(
        "callback without iss (provider promises it)",
        "400, no session",
        format!("{}", r.status.as_u16()),
        r.status == 400 && no_session(&s, &s.client).await,
    );

    // ID tokens.
    let s = FakeSetup::start().await;
    for (mode, name) in [
        (IdTokenMode::WrongAud, "ID token with a wrong aud"),
        (IdTokenMode::WrongNonce, "ID token with a wrong nonce"),
        (IdTokenMode::Expired, "expired ID token"),
        (IdTokenMode::AlgNone, "ID token with alg none"),
        (IdTokenMode::UnknownKey, "ID token signed by an unknown key"),
        (
            IdTokenMode::ForgedKid,
            "ID token: other key under the real kid",
        ),
        (IdTokenMode::WrongIss, "ID token with a wrong iss"),
    ] {
        s.fake.with(|i| i.id_token_mode = Some(mode));
        let r = s.login("").await;
        report.check(
            name,
            "400 not verified, no session",
            format!("{} {}", r.status.as_u16(), snippet(&r.body)),
            r.status == 400
                && r.body.contains("could not be verified")
                && no_session(&s, &s.client).await,
        );
    }
    s.fake.with(|i| {
        i.id_token_mode = Some(IdTokenMode::Valid);
        i.userinfo_sub = Some("user-someone-else".into());
    });
    let revoked = s.fake.with(|i| i.revocations);
    let r = s.login("").await;
    let revoked = s.fake.with(|i| i.revocations) - revoked;
    report.check(
        "userinfo of another subject",
        "400, no session, the new grant revoked",
        format!(
            "{} {} revoked={revoked}",
            r.status.as_u16(),
            snippet(&r.body)
        ),
        r.status == 400 && no_session(&s, &s.client).await && revoked == 1,
    );
    s.fake.with(|i| i.userinfo_sub = None);
    let r = s.login("").await;
    report.check(
        "control: a valid sign-in still works",
        "302 and a session",
        format!(
            "{} session={}",
            r.status.as_u16(),
            s.client.session_cookie().is_some()
        ),
        r.status == 302 && s.client.session().await.authenticated,
    );
}
