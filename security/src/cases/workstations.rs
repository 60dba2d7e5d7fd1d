//! Shared clinic workstations (sandbox): no grant left live when a session
//! is replaced, no ID token readable by script at logout, the one-time
//! end-session step, and "Cambia utente" asking for the password again.

use giponext_sandbox::testing::Consent;
use giponext_sandbox::users;
use reqwest::Method;

use super::harness::SignedIn;
use super::snippet;
use crate::Report;
use crate::support::Client;

/// The sandbox page that `/auth/login{query}` leads to (followed by hand).
async fn provider_page(client: &Client, query: &str) -> String {
    let start = client.get(&format!("/auth/login{query}")).await;
    let Ok(mut url) = url::Url::parse(start.location()) else {
        return start.body;
    };
    for _ in 0..5 {
        let seen = client.get(url.as_str()).await;
        if !seen.status.is_redirection() {
            return seen.body;
        }
        match url.join(seen.location()) {
            Ok(next) => url = next,
            Err(_) => break,
        }
    }
    String::new()
}

fn asks_password(html: &str) -> bool {
    html.contains("type=\"password\"")
}

pub async fn run(report: Report) {
    let mut s = SignedIn::start().await;
    let live = |s: &SignedIn, user: &str| {
        s.bff
            .sandbox()
            .expect("embedded sandbox")
            .live_grants(&s.bff.state().config.client_id, user)
    };

    s.login(users::MARIO, "giponext.patients").await;
    s.login(users::MARIO, "giponext.patients").await;
    report.check(
        "grant left behind by a replaced session (re-login)",
        "1 live grant",
        format!("{} live", live(&s, users::MARIO)),
        live(&s, users::MARIO) == 1,
    );
    s.login(users::MARIO, "giponext.invoices").await;
    report.check(
        "earlier grant left behind by an incremental consent",
        "1 live grant",
        format!("{} live", live(&s, users::MARIO)),
        live(&s, users::MARIO) == 1,
    );

    // Logout: script gets a same-origin one-time step, never the ID token.
    let out = s
        .client
        .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], None)
        .await;
    let step = serde_json::from_str::<serde_json::Value>(&out.body)
        .ok()
        .and_then(|v| v["end_session_url"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let holds_id_token = s.id_tokens.iter().any(|t| out.body.contains(t.as_str()));
    report.check(
        "ID token in the logout answer (readable by script)",
        "absent; end_session_url = /auth/end-session/{id}",
        format!("{} {}", out.status.as_u16(), snippet(&out.body)),
        out.status == 200
            && !holds_id_token
            && !out.body.contains("id_token_hint")
            && step.starts_with("/auth/end-session/"),
    );
    report.check(
        "grant left behind at logout",
        "0 live grants",
        format!("{} live", live(&s, users::MARIO)),
        live(&s, users::MARIO) == 0,
    );
    let hop = s.client.get(&step).await;
    let issuer = s
        .bff
        .sandbox()
        .expect("embedded sandbox")
        .issuer()
        .to_string();
    let to_provider =
        hop.location().starts_with(&issuer) && hop.location().contains("id_token_hint=");
    report.check(
        "end-session step: first use",
        "302 to the provider with id_token_hint (a Location, not a body)",
        format!("{} to provider: {to_provider}", hop.status.as_u16()),
        hop.status == 302 && to_provider && !s.id_tokens.iter().any(|t| hop.body.contains(t)),
    );
    let again = s.client.get(&step).await;
    report.check(
        "end-session step replayed",
        "302 to / (signed-out home), no error page",
        format!("{} {}", again.status.as_u16(), again.location()),
        again.status == 302 && again.location() == "/",
    );
    let forged = s
        .client
        .get("/auth/end-session/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    report.check(
        "end-session step forged",
        "302 to /",
        format!("{} {}", forged.status.as_u16(), forged.location()),
        forged.status == 302 && forged.location() == "/",
    );

    // "Cambia utente" while the provider's session lingers (its end-session
    // step not followed): the provider must still ask for the password.
    s.login(users::MARIO, "giponext.patients").await;
    let out = s
        .client
        .send(
            Method::POST,
            "/auth/logout",
            &[("x-csrf", "1")],
            Some(r#"{"switch_user": true}"#),
        )
        .await;
    let silent = !asks_password(&provider_page(&s.client, "").await);
    let asks = asks_password(&provider_page(&s.client, "?prompt=login").await);
    report.check(
        "switch user with a lingering provider session",
        "grant revoked; prompt=login shows the password form",
        format!(
            "{} live={} lingering={silent} password asked={asks}",
            out.status.as_u16(),
            live(&s, users::MARIO)
        ),
        out.status == 200 && live(&s, users::MARIO) == 0 && silent && asks,
    );

    // Another person signs in on the same browser over a live session.
    s.login(users::MARIO, "giponext.patients").await;
    let start = s.client.get("/auth/login?prompt=login").await;
    let auth = url::Url::parse(start.location()).expect("authorization URL");
    let callback = s
        .browser
        .authorize(&auth, users::GIULIA, "sandbox", Consent::GrantAll)
        .await
        .expect("sandbox login");
    let done = s.client.get(callback.as_str()).await;
    report.check(
        "previous person's grant left behind when another signs in",
        "Mario 0 live, Giulia 1",
        format!(
            "{} Mario={} Giulia={}",
            done.status.as_u16(),
            live(&s, users::MARIO),
            live(&s, users::GIULIA)
        ),
        done.status == 302 && live(&s, users::MARIO) == 0 && live(&s, users::GIULIA) == 1,
    );
    s.bff.shutdown().await;
}
