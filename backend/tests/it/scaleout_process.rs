//! Backend instances as separate OS processes (the `giponext-bff` binary)
//! on one Redis and one sandbox; one of them is killed with SIGKILL in the
//! middle of a refresh.
//!
//! What happens, and why: the instance holding the refresh lease has sent
//! the refresh; the provider rotated the refresh token and its answer is on
//! the way (held back by the sandbox's slow-answer hook) when the instance
//! dies. The new refresh token existed only in the dead process. The other
//! instance waits for the dead holder's lease to run out (no hang), refreshes
//! with the refresh token the store still holds, which the provider already
//! rotated out: reuse, so the provider revokes the grant (RFC 9700 §4.14.2).
//! The user gets a clear 401 `reauth_required` (never a 500), signs in again,
//! and carries on.
//!
//! An instance killed while its refresh request waits at the provider, not
//! yet processed, loses nothing: its connection closes, the provider drops
//! the request (nothing rotated), and the other instance refreshes after the
//! lease ran out: the session survives.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use giponext_bff::session::{RedisStore, SessionKey, Sessions};
use giponext_bff::types::SessionId;
use giponext_sandbox::ClientRegistration;
use giponext_sandbox::clients::grants;
use giponext_shared::ScopeSet;
use reqwest::Method;

use crate::redis_server::RedisServer;
use crate::support::Client;

const CLIENT_ID: &str = "giponext-connect-processes";
const CLIENT_SECRET: &str = "processes-secret";
const LEASE_MS: u64 = 600;
const PATIENTS: &str = "/api/giponext/v2/tenants/tenant-abc123/patients?limit=1";

/// A `giponext-bff` process, killed on drop.
struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn(
    redis: &RedisServer,
    sandbox: &giponext_sandbox::RunningSandbox,
    key: &str,
) -> Instance {
    let port = crate::redis_server::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_giponext-bff"))
        .env("GIPONEXT_ISSUER", &sandbox.state().issuer)
        .env("GIPONEXT_API_BASE", sandbox.api_base().as_str())
        .env("GIPONEXT_CLIENT_ID", CLIENT_ID)
        .env("GIPONEXT_CLIENT_SECRET", CLIENT_SECRET)
        .env("GIPONEXT_REGISTERED_SCOPES", ScopeSet::all().to_wire())
        .env_remove("GIPONEXT_ALLOWED_TENANTS")
        .env_remove("BFF_CONFIG")
        .env("BFF_PUBLIC_URL", &url)
        .env("BFF_LISTEN", format!("127.0.0.1:{port}"))
        .env("BFF_SESSION_STORE", redis.url())
        .env("BFF_SESSION_KEY", key)
        .env("BFF_REFRESH_LEASE_MS", LEASE_MS.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the giponext-bff binary");
    let instance = Instance { child, url };
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{}/healthz", instance.url)).send().await
            && r.status() == 200
        {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("giponext-bff did not start on {}", instance.url);
}

async fn login(client: &Client, via: &Instance) {
    crate::scaleout::sign_in_granting_all(client, &via.url).await;
}

/// Redis, the sandbox, two `giponext-bff` processes, a signed-in browser
/// whose access token has just expired.
struct Setup {
    _redis: RedisServer,
    sandbox: giponext_sandbox::RunningSandbox,
    a: Instance,
    b: Instance,
    client: Client,
}

impl Setup {
    async fn start() -> Self {
        let redis = RedisServer::start(false).await;
        let sandbox = giponext_sandbox::start(giponext_sandbox::SandboxConfig::for_tests())
            .await
            .unwrap();
        let key_bytes: [u8; 32] = rand::random();
        let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
        let (a, b) = (
            spawn(&redis, &sandbox, &key).await,
            spawn(&redis, &sandbox, &key).await,
        );
        sandbox.register_client(ClientRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            grant_types: vec![
                grants::AUTHORIZATION_CODE.into(),
                grants::REFRESH_TOKEN.into(),
            ],
            redirect_uris: [&a, &b]
                .iter()
                .map(|i| format!("{}/auth/callback", i.url))
                .collect(),
            post_logout_redirect_uris: vec![],
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        });
        let client = Client::new(&a.url);
        login(&client, &a).await;
        let setup = Setup {
            _redis: redis,
            sandbox,
            a,
            b,
            client,
        };
        assert_eq!(setup.patients(&setup.b).await.status, 200);

        // The access token expires (written as any instance would).
        let sessions = Sessions::clustered(
            RedisStore::connect(&setup._redis.url()).await.unwrap(),
            &SessionKey::from_base64(&key).unwrap(),
        );
        let id = SessionId::from_cookie(&setup.client.session_cookie().unwrap()).unwrap();
        let guard = sessions.lock(&id).await.unwrap();
        let mut record = sessions.load(&id).await.unwrap().unwrap();
        record.tokens.access_expires_at = Utc::now();
        let until = Utc::now() + chrono::Duration::hours(1);
        sessions
            .save_locked(&id, &record, until, &guard)
            .await
            .unwrap();
        setup
    }

    async fn patients(&self, via: &Instance) -> crate::support::Seen {
        self.client
            .api(Method::GET, &format!("{}{PATIENTS}", via.url), None)
            .await
    }

    /// Sends a call to A, waits until `reached` says the sandbox has it,
    /// and kills A with SIGKILL (no clean-up: its lease stays behind).
    async fn kill_a_when(&mut self, reached: impl Fn(&giponext_sandbox::RunningSandbox) -> bool) {
        let http = self.client.http.clone();
        let doomed = tokio::spawn({
            let url = format!("{}{PATIENTS}", self.a.url);
            async move { http.get(url).header("x-csrf", "1").send().await }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !reached(&self.sandbox) {
            assert!(Instant::now() < deadline, "A never reached the provider");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.a.child.kill();
        let _ = self.a.child.wait();
        assert!(doomed.await.unwrap().is_err(), "A answered after SIGKILL");
    }

    async fn shutdown(self) {
        drop(self.a);
        drop(self.b);
        self.sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_after_the_provider_rotated_leaves_a_clear_sign_in_again() {
    let mut s = Setup::start().await;
    // Instance A refreshes; the provider rotates at once but its answer is
    // slow; A is killed while it waits.
    s.sandbox.delay_refresh_answers(Duration::from_secs(5));
    s.kill_a_when(|sandbox| sandbox.stats().refreshes() == 1)
        .await;
    s.sandbox.delay_refresh_answers(Duration::ZERO);

    // Instance B carries on at once (after the lease ran out): a clear
    // sign-in-again, never a 500 nor a hang.
    let started = Instant::now();
    let seen = s.patients(&s.b).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.status, 401, "{}", seen.body);
    assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
    assert_eq!(seen.json()["login_url"], "/auth/login");
    let metrics = s.client.get(&format!("{}/metrics", s.b.url)).await.body;
    assert!(
        metrics.contains("bff_refresh_total{outcome=\"invalid_grant\"} 1"),
        "{metrics}"
    );
    let info = s.client.get(&format!("{}/api/session", s.b.url)).await;
    assert_eq!(info.json()["token"], "reauth_required", "{}", info.body);

    // Signing in again (through B) works.
    login(&s.client, &s.b).await;
    assert_eq!(s.patients(&s.b).await.status, 200);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_before_the_provider_processed_loses_nothing() {
    let mut s = Setup::start().await;
    // A's refresh request waits at the provider, unprocessed, when A dies.
    let hold = Duration::from_millis(1500);
    s.sandbox.delay_refresh_requests(hold);
    s.kill_a_when(|sandbox| sandbox.stats().token_requests("refresh_token") == 1)
        .await;
    let killed = Instant::now();
    s.sandbox.delay_refresh_requests(Duration::ZERO);

    // B waits out A's lease, refreshes with the stored token: the session
    // survives, with exactly one refresh.
    let seen = s.patients(&s.b).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(s.sandbox.stats().refreshes(), 1);
    // Past the time A's request was held: it was never processed (nothing
    // rotated behind B's back), and the grant lives on.
    if let Some(rest) = (hold + Duration::from_millis(300)).checked_sub(killed.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    assert_eq!(s.sandbox.stats().refreshes(), 1);
    assert_eq!(s.sandbox.stats().token_requests("refresh_token"), 2);
    let metrics = s.client.get(&format!("{}/metrics", s.b.url)).await.body;
    assert!(
        metrics.contains("bff_refresh_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert_eq!(s.patients(&s.b).await.status, 200);
    assert!(
        s.client
            .get(&format!("{}/api/session", s.b.url))
            .await
            .json()["authenticated"]
            .as_bool()
            .unwrap()
    );
    s.shutdown().await;
}
