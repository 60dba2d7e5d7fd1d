//! Shared clinic workstations (issue 14), against the sandbox: no grant is
//! left live at the provider when a session is replaced, fails half-way,
//! expires or is switched to another person; the per-user index shrinks;
//! a medical centre taken off the allow-list stops at its next request.

use std::time::Duration;

use giponext_bff::config::StoreLocation;
use giponext_bff::session::{SessionRecord, Sessions};
use giponext_bff::types::{Secret, SessionId};
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::clients::grants;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{ClientRegistration, RunningSandbox, users};
use giponext_shared::{Scope, ScopeSet};
use reqwest::Method;

use crate::support::{Client, Seen};

const TENANT: &str = "tenant-abc123";
const CLIENT_ID: &str = "giponext-connect-workstation";
const CLIENT_SECRET: &str = "workstation-secret";

fn sub(username: &str) -> &'static str {
    users::by_username(username).unwrap().sub
}

/// Signs the browser `client` in at the backend `base` as `user`, answering
/// the sandbox's pages with `consent`; returns the callback's answer.
async fn sign_in(client: &Client, base: &str, user: &str, consent: Consent, query: &str) -> Seen {
    let start = client.get(&format!("{base}/auth/login{query}")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let auth_url = url::Url::parse(start.location()).unwrap();
    let callback = Browser::with_client(client.http.clone())
        .authorize(&auth_url, user, "sandbox", consent)
        .await
        .unwrap();
    client.get(callback.as_str()).await
}

/// The session of `client`'s cookie, read from the store.
async fn stored(bff: &RunningBff, client: &Client) -> (SessionId, SessionRecord) {
    let id = SessionId::from_cookie(&client.session_cookie().unwrap()).unwrap();
    let record = bff.state().sessions.load(&id).await.unwrap().unwrap();
    (id, record)
}

/// A sandbox of its own, for backends that come and go (restarts) or whose
/// API root is not the sandbox.
async fn sandbox() -> RunningSandbox {
    giponext_sandbox::start(giponext_sandbox::SandboxConfig::for_tests())
        .await
        .unwrap()
}

/// A backend on `sandbox` (its API at `api_base`, by default the sandbox's).
async fn backend(
    sandbox: &RunningSandbox,
    api_base: Option<url::Url>,
    tune: impl FnOnce(&mut Config),
) -> RunningBff {
    let mut config = crate::support::config_on(sandbox, api_base, CLIENT_ID, CLIENT_SECRET);
    tune(&mut config);
    giponext_bff::serve(config).await.unwrap()
}

/// (Re)registers the client with the redirect URIs of `bffs`.
fn register(sandbox: &RunningSandbox, bffs: &[&RunningBff]) {
    sandbox.register_client(ClientRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        grant_types: vec![
            grants::AUTHORIZATION_CODE.into(),
            grants::REFRESH_TOKEN.into(),
        ],
        redirect_uris: bffs
            .iter()
            .map(|b| format!("{}/auth/callback", b.url()))
            .collect(),
        post_logout_redirect_uris: bffs.iter().map(|b| format!("{}/", b.url())).collect(),
        scopes: ScopeSet::all(),
        backchannel_logout_uri: None,
    });
}

#[tokio::test]
async fn replaced_sessions_and_earlier_grants_are_revoked_and_the_sign_in_time_is_kept() {
    let bff = giponext_bff::serve(Config::for_tests()).await.unwrap();
    let sandbox = bff.sandbox().unwrap();
    let cid = bff.state().config.client_id.clone();
    let client = Client::new(bff.url());
    let some = Consent::Grant(ScopeSet::of(&[Scope::OfflineAccess, Scope::Patients]));
    let done = sign_in(&client, bff.url(), users::MARIO, some, "").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(sandbox.live_grants(&cid, users::MARIO), 1);
    let (first_id, first) = stored(&bff, &client).await;

    // Incremental consent: a new grant; the earlier one must not live on.
    let done = sign_in(
        &client,
        bff.url(),
        users::MARIO,
        Consent::GrantAll,
        "?scope=giponext.invoices&return_to=/invoices",
    )
    .await;
    assert_eq!(done.location(), "/invoices", "{}", done.body);
    assert_eq!(
        sandbox.live_grants(&cid, users::MARIO),
        1,
        "the grant replaced by the incremental consent was revoked"
    );
    let (second_id, second) = stored(&bff, &client).await;
    assert_ne!(second_id.store_key(), first_id.store_key(), "rotated");
    assert!(second.granted.contains(Scope::Invoices));
    assert_eq!(
        second.created_at, first.created_at,
        "the absolute lifetime counts from the first sign-in"
    );
    let calls = client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/invoices?limit=1"),
            None,
        )
        .await;
    assert_eq!(calls.status, 200, "{}", calls.body);

    // Signing in again replaces the session (rotation): still one grant.
    let done = sign_in(&client, bff.url(), users::MARIO, Consent::GrantAll, "").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(sandbox.live_grants(&cid, users::MARIO), 1);
    // The index holds the one live session, not the three there were.
    let sessions = &bff.state().sessions;
    assert_eq!(sessions.index_len(sub(users::MARIO)).await.unwrap(), 1);

    // Logout: no grant, no index entry.
    assert_eq!(client.logout().await.status, 200);
    assert_eq!(sandbox.live_grants(&cid, users::MARIO), 0);
    assert_eq!(sessions.index_len(sub(users::MARIO)).await.unwrap(), 0);
    bff.shutdown().await;
}

/// A stand-in for GipoNext's `/v2/userinfo` that fails (`503`) or answers
/// for another person (`other`).
async fn userinfo_stub(mode: &'static str) -> url::Url {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/v2/userinfo",
        get(move || async move {
            match mode {
                "503" => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}".to_owned()),
                _ => (
                    axum::http::StatusCode::OK,
                    serde_json::json!({
                        "sub": "user-someone-else",
                        "name": "Someone Else",
                        "tenants": [{"id": TENANT, "name": "Poliambulatorio San Marco"}],
                    })
                    .to_string(),
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url::Url::parse(&url).unwrap()
}

#[tokio::test]
async fn a_sign_in_that_fails_after_the_code_exchange_leaves_no_live_grant() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    for case in ["userinfo 503", "sub mismatch", "store write fails"] {
        let store = dir
            .path()
            .join(format!("{}.sqlite3", case.replace(' ', "-")));
        let api = match case {
            "userinfo 503" => Some(userinfo_stub("503").await),
            "sub mismatch" => Some(userinfo_stub("other").await),
            _ => None,
        };
        let bff = backend(&sandbox, api, |c| {
            c.session_store = StoreLocation::File(store.clone());
        })
        .await;
        register(&sandbox, &[&bff]);
        if case == "store write fails" {
            // The disk refuses new sessions (the sign-in's other records
            // are written as usual).
            let conn = rusqlite::Connection::open(&store).unwrap();
            conn.execute_batch(
                "CREATE TRIGGER refuse_sessions BEFORE INSERT ON records
                 WHEN NEW.key LIKE 'session:%'
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
        }
        let client = Client::new(bff.url());
        let done = sign_in(&client, bff.url(), users::MARIO, Consent::GrantAll, "").await;
        assert!(
            done.status.is_client_error() || done.status.is_server_error(),
            "{case}: {} {}",
            done.status,
            done.body
        );
        assert!(client.session_cookie().is_none(), "{case}");
        assert_eq!(
            sandbox.live_grants(CLIENT_ID, users::MARIO),
            0,
            "{case}: the grant of the failed sign-in was revoked"
        );
        bff.shutdown().await;
    }
    sandbox.shutdown().await;
}

/// Signs Mario in on a backend with `config` and a 2 s idle timeout, then
/// waits for the purge (every 1 s): his grant is revoked at the provider
/// and his session index is empty.
async fn expired_session_is_purged_with_its_grant(mut config: Config) {
    config.timings.session_idle = Duration::from_secs(2);
    let bff = giponext_bff::serve(config).await.unwrap();
    let sandbox = bff.sandbox().unwrap();
    let cid = bff.state().config.client_id.clone();
    let client = Client::new(bff.url());
    let done = sign_in(&client, bff.url(), users::MARIO, Consent::GrantAll, "").await;
    assert_eq!(done.status, 302, "{}", done.body);
    let sessions = &bff.state().sessions;
    assert_eq!(sandbox.live_grants(&cid, users::MARIO), 1);
    assert_eq!(sessions.index_len(sub(users::MARIO)).await.unwrap(), 1);
    // Idle for longer than the idle timeout, and a purge round (every 1 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while sandbox.live_grants(&cid, users::MARIO) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        sandbox.live_grants(&cid, users::MARIO),
        0,
        "the purged session's grant was revoked"
    );
    assert_eq!(sessions.index_len(sub(users::MARIO)).await.unwrap(), 0);
    assert!(!client.session().await.authenticated);
    bff.shutdown().await;
}

#[tokio::test]
async fn expired_sessions_are_purged_with_their_grants_and_index_entries() {
    expired_session_is_purged_with_its_grant(Config::for_tests()).await;
}

/// The same on Redis, where records expire by themselves (`PXAT`): the
/// store keeps each session's sealed record a while past its expiry, so
/// the purge can still revoke its grant.
#[tokio::test]
async fn expired_sessions_on_redis_are_purged_with_their_grants_and_index_entries() {
    let redis = crate::redis_server::RedisServer::start(false).await;
    let mut config = Config::for_tests();
    config.session_store =
        giponext_bff::config::StoreLocation::Redis(giponext_bff::config::RedisUrl(redis.url()));
    expired_session_is_purged_with_its_grant(config).await;
}

/// The sandbox's answer to the authorization request that `/auth/login{query}`
/// starts, followed as a browser would: its page's HTML.
async fn provider_page(client: &Client, query: &str) -> String {
    let start = client.get(&format!("/auth/login{query}")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    page_at(client, start.location()).await
}

/// The page a browser ends up on from `url`, following the provider's own
/// redirects (to its login or consent page).
async fn page_at(client: &Client, url: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    for _ in 0..5 {
        let seen = client.get(url.as_str()).await;
        if !seen.status.is_redirection() {
            assert_eq!(seen.status, 200, "{}", seen.body);
            return seen.body;
        }
        url = url.join(seen.location()).unwrap();
    }
    panic!("too many redirects from {url}");
}

fn is_login_form(html: &str) -> bool {
    html.contains("type=\"password\"")
}

#[tokio::test]
async fn switch_user_ends_everything_and_the_provider_asks_for_the_password() {
    let bff = giponext_bff::serve(Config::for_tests()).await.unwrap();
    let sandbox = bff.sandbox().unwrap();
    let cid = bff.state().config.client_id.clone();
    let client = Client::new(bff.url());

    // The whole round trip: backend, provider end-session, back to a
    // sign-in with prompt=login.
    sign_in(&client, bff.url(), users::MARIO, Consent::GrantAll, "").await;
    let out = client.switch_user().await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(!out.body.contains("id_token_hint"), "{}", out.body);
    let step = out.json()["end_session_url"].as_str().unwrap().to_owned();
    assert!(step.starts_with("/auth/end-session/"), "{step}");
    assert_eq!(
        sandbox.live_grants(&cid, users::MARIO),
        0,
        "its grant is revoked"
    );
    assert!(!client.session().await.authenticated);
    let to_provider = client.get(&step).await;
    assert_eq!(to_provider.status, 302);
    assert!(
        to_provider
            .location()
            .starts_with(sandbox.issuer().as_str())
    );
    let back = client.get(to_provider.location()).await;
    assert_eq!(back.status.as_u16() / 100, 3, "{}", back.body);
    assert!(
        back.location()
            .starts_with(&format!("{}/auth/login?prompt=login", bff.url())),
        "{}",
        back.location()
    );
    let authorize = client.get(back.location()).await;
    assert_eq!(authorize.status, 302, "{}", authorize.body);
    let at = url::Url::parse(authorize.location()).unwrap();
    assert!(at.query_pairs().any(|(k, v)| k == "prompt" && v == "login"));
    let page = page_at(&client, at.as_str()).await;
    assert!(is_login_form(&page), "{page}");
    // Giulia signs in at that form.
    let callback = Browser::with_client(client.http.clone())
        .authorize(&at, users::GIULIA, "sandbox", Consent::GrantAll)
        .await
        .unwrap();
    assert_eq!(client.get(callback.as_str()).await.status, 302);
    assert_eq!(client.session().await.user.unwrap().sub, sub(users::GIULIA));
    assert_eq!(sandbox.live_grants(&cid, users::GIULIA), 1);

    // The provider's session lingers (the end-session step was never
    // followed): a plain sign-in is silent, prompt=login asks for the
    // password.
    let out = client.switch_user().await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(sandbox.live_grants(&cid, users::GIULIA), 0);
    assert!(
        !is_login_form(&provider_page(&client, "").await),
        "the provider session lingers"
    );
    assert!(is_login_form(
        &provider_page(&client, "?prompt=login").await
    ));
    bff.shutdown().await;
}

#[tokio::test]
async fn a_centre_taken_off_the_allow_list_stops_at_its_next_request_after_a_restart() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("sessions.sqlite3");
    let key = giponext_bff::session::SessionKey::generate();
    let allow = |ids: &[&str]| {
        Some(
            ids.iter()
                .map(|t| giponext_bff::types::TenantId::try_from(t.to_string()).unwrap())
                .collect::<Vec<_>>(),
        )
    };
    let settings = |c: &mut Config, tenants| {
        c.session_store = StoreLocation::File(store.clone());
        c.session_key = Some(key.clone());
        c.allowed_tenants = tenants;
    };
    let before = backend(&sandbox, None, |c| {
        settings(c, allow(&["tenant-abc123", "tenant-def456"]))
    })
    .await;
    register(&sandbox, &[&before]);
    // Two browsers of San Marco.
    let proxy_user = Client::new(before.url());
    let session_user = Client::new(before.url());
    for client in [&proxy_user, &session_user] {
        let done = sign_in(client, before.url(), users::MARIO, Consent::GrantAll, "").await;
        assert_eq!(done.status, 302, "{}", done.body);
    }
    assert_eq!(sandbox.live_grants(CLIENT_ID, users::MARIO), 2);
    before.shutdown().await;

    // San Marco leaves the allow-list; the backend restarts on the same store.
    let after = backend(&sandbox, None, |c| settings(c, allow(&["tenant-def456"]))).await;
    let on_after = |c: &Client| Client {
        base: after.url().to_owned(),
        ..c.clone()
    };
    let (proxy_user, session_user) = (on_after(&proxy_user), on_after(&session_user));
    let call = proxy_user
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{TENANT}/patients?limit=1"),
            None,
        )
        .await;
    assert_eq!(call.status, 403, "{}", call.body);
    assert_eq!(call.json()["type"], "tenant_not_allowed", "{}", call.body);
    let info = session_user.get("/api/session").await;
    assert_eq!(info.status, 403, "{}", info.body);
    assert_eq!(info.json()["type"], "tenant_not_allowed", "{}", info.body);
    assert_eq!(
        sandbox.live_grants(CLIENT_ID, users::MARIO),
        0,
        "both sessions ended with their grants"
    );
    // Ended: the next request is simply signed out.
    assert!(!proxy_user.session().await.authenticated);
    assert_eq!(
        after
            .state()
            .sessions
            .index_len(sub(users::MARIO))
            .await
            .unwrap(),
        0
    );
    after.shutdown().await;
    sandbox.shutdown().await;
}

/// A session record for `sub`, for the index tests.
fn record_of(sub: &str) -> SessionRecord {
    let now = chrono::Utc::now();
    SessionRecord {
        user: giponext_shared::session::SessionUser {
            sub: sub.into(),
            name: "U".into(),
            email: None,
        },
        tenant: giponext_shared::api::TenantRef {
            id: TENANT.into(),
            name: "T".into(),
        },
        granted: ScopeSet::of(&[Scope::OpenId]),
        declined: vec![],
        tokens: giponext_bff::session::Tokens {
            access: Secret::new("access"),
            access_expires_at: now,
            access_issued_at: None,
            refresh: None,
            id_token: None,
        },
        reauth_required: false,
        created_at: now,
        last_seen_at: now,
    }
}

/// The index of a user's sessions shrinks as they end or expire, on `sessions`.
async fn index_shrinks(sessions: &Sessions, store: &str) {
    use giponext_bff::session::index::IndexEntry;
    let sub = "user-index";
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for lifetime_ms in [600, 600, 60_000] {
        let id = SessionId::generate();
        sessions
            .save(
                &id,
                &record_of(sub),
                now + chrono::Duration::milliseconds(lifetime_ms),
            )
            .await
            .unwrap();
        let entry = IndexEntry {
            key: id.store_key(),
            sid: None,
            user_agent: "test".into(),
            address: None,
        };
        sessions
            .index_add(sub, entry, now + chrono::Duration::hours(1))
            .await
            .unwrap();
        ids.push(id);
    }
    assert_eq!(sessions.index_len(sub).await.unwrap(), 3, "{store}");
    // Two sessions expire on their own; listing removes their entries.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sessions.index_list(sub).await.unwrap().len(), 1, "{store}");
    assert_eq!(
        sessions.index_len(sub).await.unwrap(),
        1,
        "{store}: removed, not filtered"
    );
    // The last one ends: the index is gone.
    sessions
        .index_remove(sub, &ids[2].store_key())
        .await
        .unwrap();
    assert_eq!(sessions.index_len(sub).await.unwrap(), 0, "{store}");
    // Adding prunes too: an expired entry does not survive the next sign-in.
    let add = |id: SessionId, lifetime: chrono::Duration| async move {
        let now = chrono::Utc::now();
        sessions
            .save(&id, &record_of(sub), now + lifetime)
            .await
            .unwrap();
        let entry = IndexEntry {
            key: id.store_key(),
            sid: None,
            user_agent: "test".into(),
            address: None,
        };
        sessions
            .index_add(sub, entry, now + chrono::Duration::hours(1))
            .await
            .unwrap();
    };
    add(SessionId::generate(), chrono::Duration::milliseconds(300)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    add(SessionId::generate(), chrono::Duration::hours(1)).await;
    assert_eq!(sessions.index_len(sub).await.unwrap(), 1, "{store}");
}

#[tokio::test]
async fn the_session_index_shrinks_on_sqlite_and_on_redis() {
    let key = giponext_bff::session::SessionKey::generate();
    let sqlite = giponext_bff::session::SqliteStore::in_memory().unwrap();
    index_shrinks(&Sessions::new(std::sync::Arc::new(sqlite), &key), "sqlite").await;
    let redis = crate::redis_server::RedisServer::start(false).await;
    let store = giponext_bff::session::RedisStore::connect(&redis.url())
        .await
        .unwrap();
    index_shrinks(&Sessions::clustered(store, &key), "redis").await;
}
