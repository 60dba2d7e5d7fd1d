//! Session control across instances: connected sessions, revoke one, sign
//! out everywhere, and OpenID back-channel logout from the sandbox.

use giponext_shared::session::ConnectedSession;
use reqwest::Method;

use crate::scaleout::Cluster;
use crate::support::Client;

async fn list<R>(c: &Cluster<R>, client: &Client, via: usize) -> Vec<ConnectedSession> {
    let seen = client
        .get(&format!("{}/api/sessions", c.bffs[via].url()))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    serde_json::from_str(&seen.body).unwrap()
}

#[tokio::test]
async fn connected_sessions_revoke_one_and_sign_out_everywhere_across_instances() {
    connected_sessions_revoke_one_and_sign_out_everywhere(Cluster::start(2, false).await).await;
}

/// The connected sessions on any deployment (one Redis server, a Cluster).
pub async fn connected_sessions_revoke_one_and_sign_out_everywhere<R>(c: Cluster<R>) {
    let laptop = &c.client;
    let tablet = Client::new(c.bffs[1].url());
    c.login_as(laptop, 0).await;
    c.login_as(&tablet, 1).await;

    // Each browser sees both sessions, from either instance, itself current.
    let seen_by_laptop = list(&c, laptop, 1).await;
    assert_eq!(seen_by_laptop.len(), 2, "{seen_by_laptop:?}");
    assert_eq!(seen_by_laptop.iter().filter(|s| s.current).count(), 1);
    assert!(
        seen_by_laptop
            .iter()
            .all(|s| s.user_agent == "Unknown browser")
    );
    let seen_by_tablet = list(&c, &tablet, 0).await;
    let tablet_id = seen_by_tablet
        .iter()
        .find(|s| s.current)
        .unwrap()
        .id
        .clone();
    assert!(
        seen_by_laptop
            .iter()
            .any(|s| s.id == tablet_id && !s.current)
    );
    assert!(!tablet_id.contains(&tablet.session_cookie().unwrap()));

    // Revoke needs the anti-CSRF header and an id of one's own sessions.
    let url = format!("{}/api/sessions/{tablet_id}", c.bffs[1].url());
    let no_csrf = laptop.send(Method::DELETE, &url, &[], None).await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let unknown = laptop
        .send(
            Method::DELETE,
            &format!("{}/api/sessions/0123abcd", c.bffs[1].url()),
            &[("x-csrf", "1")],
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // The laptop ends the tablet's session through instance 1: gone on 0,
    // and its refresh token revoked at the provider.
    let revocations = c.sandbox.stats().revocations();
    let gone = laptop
        .send(Method::DELETE, &url, &[("x-csrf", "1")], None)
        .await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert!(!c.session_of(&tablet, 0).await.authenticated);
    assert!(c.session_of(laptop, 0).await.authenticated);
    assert_eq!(c.sandbox.stats().revocations(), revocations + 1);
    assert_eq!(list(&c, laptop, 0).await.len(), 1);

    // Sign out everywhere from instance 0 ends both sessions on instance 1.
    c.login_as(&tablet, 1).await;
    assert_eq!(list(&c, laptop, 1).await.len(), 2);
    let out = laptop
        .send(
            Method::POST,
            &format!("{}/auth/logout-everywhere", c.bffs[0].url()),
            &[("x-csrf", "1")],
            None,
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.json()["ended"], 2);
    assert!(!c.session_of(&tablet, 1).await.authenticated);
    assert!(!c.session_of(laptop, 1).await.authenticated);
    assert_eq!(c.sandbox.stats().revocations(), revocations + 3);
    c.shutdown().await;
}

#[tokio::test]
async fn back_channel_logout_from_the_sandbox_ends_the_session_on_every_instance() {
    back_channel_logout_ends_the_session_on_every_instance(Cluster::start(2, false).await).await;
}

/// Back-channel logout on any deployment (one Redis server, a Cluster).
pub async fn back_channel_logout_ends_the_session_on_every_instance<R>(c: Cluster<R>) {
    c.register_client(Some(format!("{}/auth/backchannel-logout", c.bffs[1].url())));
    c.login(0).await;
    assert!(c.session_via(1).await.authenticated);

    // A forged or garbage token is refused with 400 invalid_request.
    let bad = c
        .client
        .send(
            Method::POST,
            &format!("{}/auth/backchannel-logout", c.bffs[0].url()),
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("logout_token=eyJhbGciOiJub25lIn0.e30."),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["error"], "invalid_request");
    assert!(c.session_via(0).await.authenticated);

    // The user signs out at the provider (same browser, its cookie).
    let issuer = c.sandbox.state().issuer.clone();
    let page = c.client.get(&format!("{issuer}/oauth2/logout")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for via in [0, 1] {
        assert!(!c.session_via(via).await.authenticated, "instance {via}");
    }
    c.shutdown().await;
}
