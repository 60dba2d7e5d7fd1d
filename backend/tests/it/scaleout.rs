//! Several backend instances on one Redis and one sandbox: no sticky
//! sessions, one refresh per grant across the cluster, a dead lock holder,
//! Redis restarts.

use std::sync::Arc;
use std::time::Duration;

use giponext_bff::config::{RedisUrl, StoreLocation, Upstream};
use giponext_bff::session::SessionKey;
use giponext_bff::types::{Secret, SessionId};
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::clients::grants;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{ClientRegistration, RunningSandbox, users};
use giponext_shared::ScopeSet;
use reqwest::Method;

use crate::redis_server::RedisServer;
use crate::support::Client;

const TENANT: &str = "tenant-abc123";
const CLIENT_ID: &str = "giponext-connect-scaleout";
const CLIENT_SECRET: &str = "scaleout-secret";

/// Backend instances on one Redis deployment `R` (one server by default;
/// a Redis Cluster, a TLS server: [`crate::redis_cluster`]).
pub struct Cluster<R = RedisServer> {
    pub redis: R,
    pub sandbox: RunningSandbox,
    pub bffs: Vec<RunningBff>,
    /// One browser: the cookie jar is shared by every instance (same host).
    pub client: Client,
}

impl Cluster {
    pub async fn start(instances: usize, persist: bool) -> Self {
        Self::start_with(instances, persist, |_| {}).await
    }

    /// Like [`Cluster::start`], with the sandbox's settings tuned.
    pub async fn start_with(
        instances: usize,
        persist: bool,
        tune: impl FnOnce(&mut giponext_sandbox::SandboxConfig),
    ) -> Self {
        let redis = RedisServer::start(persist).await;
        let url = redis.url();
        Cluster::start_on(redis, &url, None, instances, tune).await
    }
}

impl<R> Cluster<R> {
    /// `instances` backends on the Redis at `url` (kept alive as `redis`),
    /// trusting `ca_file` for TLS if given.
    pub async fn start_on(
        redis: R,
        url: &str,
        ca_file: Option<std::path::PathBuf>,
        instances: usize,
        tune: impl FnOnce(&mut giponext_sandbox::SandboxConfig),
    ) -> Self {
        let mut sandbox_config = giponext_sandbox::SandboxConfig::for_tests();
        tune(&mut sandbox_config);
        let sandbox = giponext_sandbox::start(sandbox_config).await.unwrap();
        let key = SessionKey::generate();
        let mut bffs = Vec::new();
        for _ in 0..instances {
            let mut config = Config::for_tests();
            config.upstream = Upstream::External {
                issuer: sandbox.state().issuer.clone(),
                api_base: sandbox.api_base().clone(),
            };
            config.client_id = CLIENT_ID.to_owned();
            config.client_secret = Secret::new(CLIENT_SECRET);
            config.session_store = StoreLocation::Redis(RedisUrl(url.to_owned()));
            config.redis_ca_file = ca_file.clone();
            config.session_key = Some(key.clone());
            bffs.push(giponext_bff::serve(config).await.unwrap());
        }
        let client = Client::new(bffs[0].url());
        let cluster = Cluster {
            redis,
            sandbox,
            bffs,
            client,
        };
        cluster.register_client(None);
        cluster
    }

    /// (Re)registers the backends' client at the sandbox, with every
    /// instance's redirect URI.
    pub fn register_client(&self, backchannel_logout_uri: Option<String>) {
        self.sandbox.register_client(ClientRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            grant_types: vec![
                grants::AUTHORIZATION_CODE.into(),
                grants::REFRESH_TOKEN.into(),
            ],
            redirect_uris: self
                .bffs
                .iter()
                .map(|b| format!("{}/auth/callback", b.url()))
                .collect(),
            post_logout_redirect_uris: self
                .bffs
                .iter()
                .flat_map(|b| {
                    [
                        format!("{}/", b.url()),
                        format!("{}/auth/login?prompt=login", b.url()),
                    ]
                })
                .collect(),
            scopes: ScopeSet::all(),
            backchannel_logout_uri,
        });
    }

    /// Signs in through instance `via` as Mario, granting everything.
    pub async fn login(&self, via: usize) {
        self.login_as(&self.client, via).await;
    }

    /// Signs in the browser `client` through instance `via` as Mario.
    pub async fn login_as(&self, client: &Client, via: usize) {
        sign_in_granting_all(client, self.bffs[via].url()).await;
        assert!(client.session_cookie().is_some());
    }

    /// `GET /api/giponext/v2/{path}` through instance `via`.
    pub async fn api(&self, via: usize, path: &str) -> crate::support::Seen {
        let url = format!("{}/api/giponext/v2/{path}", self.bffs[via].url());
        self.client.api(Method::GET, &url, None).await
    }

    pub async fn session_via(&self, via: usize) -> giponext_shared::session::SessionInfo {
        self.session_of(&self.client, via).await
    }

    pub async fn session_of(
        &self,
        client: &Client,
        via: usize,
    ) -> giponext_shared::session::SessionInfo {
        let seen = client
            .get(&format!("{}/api/session", self.bffs[via].url()))
            .await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        serde_json::from_str(&seen.body).unwrap()
    }

    pub fn session_id(&self) -> SessionId {
        SessionId::from_cookie(&self.client.session_cookie().unwrap()).unwrap()
    }

    pub fn refreshes(&self) -> u64 {
        self.sandbox.stats().refreshes()
    }

    pub async fn metrics(&self, via: usize) -> String {
        self.client
            .get(&format!("{}/metrics", self.bffs[via].url()))
            .await
            .body
    }

    pub async fn shutdown(self) {
        for bff in self.bffs {
            bff.shutdown().await;
        }
        self.sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_session_across_instances_and_one_refresh_for_500_concurrent_calls() {
    let c = Cluster::start(2, false).await;
    one_refresh_for_500_concurrent_calls(c).await;
}

/// The refresh storm on any deployment: one session seen by both
/// instances, then 500 concurrent calls over both after the token expired,
/// which must all succeed with exactly one refresh. Returns how long the
/// 500 calls took.
pub async fn one_refresh_for_500_concurrent_calls<R: Send + Sync + 'static>(
    c: Cluster<R>,
) -> Duration {
    c.login(0).await;

    // No stickiness: every instance sees the same session.
    for i in 0..6 {
        let info = c.session_via(i % 2).await;
        assert!(info.authenticated, "instance {}", i % 2);
        assert_eq!(
            info.user.as_ref().unwrap().sub,
            c.session_via(0).await.user.unwrap().sub
        );
        let seen = c
            .api(i % 2, &format!("tenants/{TENANT}/patients?limit=1"))
            .await;
        assert_eq!(seen.status, 200, "instance {}: {}", i % 2, seen.body);
    }
    assert_eq!(c.refreshes(), 0);

    // Token expiry; 500 concurrent calls over both instances.
    assert!(
        c.bffs[1]
            .expire_access_token(&c.client.session_cookie().unwrap())
            .await
    );
    let c = Arc::new(c);
    let started = std::time::Instant::now();
    let calls = (0..500).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            c.api(i % 2, &format!("tenants/{TENANT}/patients?limit=1"))
                .await
        })
    });
    let calls = futures_join(calls).await;
    let took = started.elapsed();
    let failed = calls.iter().filter(|c| c.status != 200).count();
    eprintln!(
        "refresh storm: 500 calls over 2 instances in {took:?}, {failed} failed, {} refresh(es)",
        c.refreshes()
    );
    for call in calls {
        assert_eq!(call.status, 200, "{}", call.body);
    }
    let by_grant = c.sandbox.stats().refreshes_by_grant();
    assert_eq!(by_grant.len(), 1, "{by_grant:?}");
    assert_eq!(by_grant.values().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(c.refreshes(), 1);
    // Both instances use the rotated token afterwards, without refreshing.
    for i in 0..4 {
        let seen = c
            .api(i % 2, &format!("tenants/{TENANT}/patients?limit=2"))
            .await;
        assert_eq!(seen.status, 200, "{}", seen.body);
    }
    assert_eq!(c.refreshes(), 1);
    let metrics = format!("{}{}", c.metrics(0).await, c.metrics(1).await);
    assert!(
        metrics.contains("bff_refresh_lock_waits_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bff_refresh_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    // The calls that waited for the refresh adopted its token.
    let adopted: u64 = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("bff_refresh_waits_total{result=\"adopted\"} "))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(adopted >= 1, "{metrics}");
    assert!(
        metrics.contains("bff_refresh_waits_total{result=\"not_adopted\"} 0"),
        "{metrics}"
    );
    Arc::into_inner(c).unwrap().shutdown().await;
    took
}

/// A provider issuing access tokens shorter than the refresh leeway (6 s
/// against 30 s): every new token used to look about to expire, so a burst
/// of calls over two instances refreshed again right after the refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_second_tokens_are_refreshed_once_by_a_burst_across_two_instances() {
    let c = Cluster::start_with(2, false, |s| {
        s.access_token_ttl = Duration::from_secs(6);
    })
    .await;
    c.login(0).await;
    // A fresh 6-second token is not "about to expire" (leeway 1.5 s, a
    // quarter of its lifetime, not 30 s).
    let seen = c
        .api(1, &format!("tenants/{TENANT}/patients?limit=1"))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(c.refreshes(), 0, "a fresh token is used as is");
    // Within its last 1.5 s: a burst of 4 waves of 20 calls over both
    // instances, 150 ms apart, refreshes once.
    tokio::time::sleep(Duration::from_millis(4700)).await;
    let c = Arc::new(c);
    for wave in 0..4 {
        let calls = (0..20).map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.api(i % 2, &format!("tenants/{TENANT}/patients?limit=1"))
                    .await
            })
        });
        for call in futures_join(calls).await {
            assert_eq!(call.status, 200, "wave {wave}: {}", call.body);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let by_grant = c.sandbox.stats().refreshes_by_grant();
    assert_eq!(
        by_grant.values().copied().collect::<Vec<_>>(),
        vec![1],
        "exactly one refresh: {by_grant:?}"
    );
    Arc::into_inner(c).unwrap().shutdown().await;
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_dead_lock_holder_does_not_block_the_session() {
    let c = Cluster::start(2, false).await;
    c.login(0).await;
    let id = c.session_id();
    assert!(
        c.bffs[1]
            .expire_access_token(&c.client.session_cookie().unwrap())
            .await
    );
    // Instance 0 "dies" holding the session's refresh lock: no renewal, no
    // release; its lease runs out and instance 1 carries on.
    let redis = c.bffs[0].state().sessions.cluster().unwrap().clone();
    redis
        .leave_dead_lock(&id.store_key(), Duration::from_millis(1500))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let seen = c
        .api(1, &format!("tenants/{TENANT}/patients?limit=1"))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(c.refreshes(), 1);
    assert!(
        c.metrics(1)
            .await
            .contains("bff_refresh_lock_waits_total 1")
    );
    assert!(c.session_via(0).await.authenticated);
    c.shutdown().await;
}

#[tokio::test]
async fn redis_restart_with_persistence_keeps_sessions() {
    let mut c = Cluster::start(2, true).await;
    c.login(0).await;
    c.redis.restart().await;
    assert!(c.session_via(1).await.authenticated);
    let seen = c
        .api(0, &format!("tenants/{TENANT}/patients?limit=1"))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    c.shutdown().await;
}

#[tokio::test]
async fn redis_restart_without_persistence_asks_to_sign_in_again() {
    let mut c = Cluster::start(2, false).await;
    c.login(0).await;
    c.redis.restart().await;
    assert!(!c.session_via(1).await.authenticated);
    let seen = c
        .api(0, &format!("tenants/{TENANT}/patients?limit=1"))
        .await;
    assert_eq!(seen.status, 401, "{}", seen.body);
    assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
    c.shutdown().await;
}

/// Signs the browser `client` in as Mario through the backend at `base`,
/// granting everything at the sandbox's consent screen.
pub async fn sign_in_granting_all(client: &Client, base: &str) {
    let start = client.get(&format!("{base}/auth/login")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let auth_url = url::Url::parse(start.location()).unwrap();
    let callback = Browser::with_client(client.http.clone())
        .authorize(&auth_url, users::MARIO, "sandbox", Consent::GrantAll)
        .await
        .unwrap();
    let done = client.get(callback.as_str()).await;
    assert_eq!(done.status, 302, "{}", done.body);
}
