//! Redis outages, fencing and scope-set separated refreshes, with a real
//! redis-server and two backend instances.

use std::time::{Duration, Instant};

use chrono::Utc;
use giponext_bff::refresh::{FreshError, fresh_record};
use giponext_bff::session::RedisStore;
use giponext_sandbox::users;
use giponext_shared::{Scope, ScopeSet};

use crate::redis_server::RedisServer;
use crate::scaleout::Cluster;

const TENANT: &str = "tenant-abc123";

fn patients() -> String {
    format!("tenants/{TENANT}/patients?limit=1")
}

/// What a browser sees during an outage: a 503 problem, never a 500.
async fn assert_unavailable(c: &Cluster, via: usize) {
    let started = Instant::now();
    let seen = c.api(via, &patients()).await;
    let took = started.elapsed();
    eprintln!(
        "redis down: instance {via} answered {} in {took:?}",
        seen.status
    );
    assert_eq!(seen.status, 503, "{}", seen.body);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(seen.header("content-type"), "application/problem+json");
    assert_eq!(seen.header("retry-after"), "2");
    let problem = seen.json();
    assert_eq!(problem["type"], "session_unavailable", "{}", seen.body);
    assert_eq!(problem["retry_after"], 2);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("temporarily unavailable"),
        "{}",
        seen.body
    );
    let session = c
        .client
        .get(&format!("{}/api/session", c.bffs[via].url()))
        .await;
    assert_eq!(session.status, 503, "{}", session.body);
    assert_eq!(session.json()["type"], "session_unavailable");
    let ready = c.client.get(&format!("{}/readyz", c.bffs[via].url())).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["store"], "unavailable");
    // Signing in is a browser navigation: a page that says why, not JSON.
    let login = c
        .client
        .get(&format!(
            "{}/auth/login?return_to=/patients",
            c.bffs[via].url()
        ))
        .await;
    assert_eq!(login.status, 503, "{}", login.body);
    assert!(
        login.header("content-type").starts_with("text/html"),
        "{}",
        login.header("content-type")
    );
    assert_eq!(login.header("retry-after"), "2");
    assert!(
        login
            .body
            .contains("Session service temporarily unavailable"),
        "{}",
        login.body
    );
}

#[tokio::test]
async fn redis_down_is_a_503_then_the_session_carries_on_with_persistence() {
    let mut c = Cluster::start(2, true).await;
    c.login(0).await;
    c.redis.stop();
    for via in [0, 1] {
        assert_unavailable(&c, via).await;
    }
    // A refresh due during the outage is a 503 as well, not a lost grant.
    c.redis.start_again().await;
    assert!(
        c.bffs[1]
            .expire_access_token(&c.client.session_cookie().unwrap())
            .await
    );
    c.redis.stop();
    assert_unavailable(&c, 1).await;
    assert_eq!(c.refreshes(), 0);

    c.redis.start_again().await;
    for via in [0, 1] {
        let seen = c.api(via, &patients()).await;
        assert_eq!(seen.status, 200, "instance {via}: {}", seen.body);
        let ready = c.client.get(&format!("{}/readyz", c.bffs[via].url())).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
    }
    assert_eq!(c.refreshes(), 1);
    c.shutdown().await;
}

#[tokio::test]
async fn redis_back_without_its_data_asks_to_sign_in_again() {
    let mut c = Cluster::start(2, false).await;
    c.login(0).await;
    c.redis.stop();
    assert_unavailable(&c, 0).await;
    c.redis.start_again().await;
    for via in [0, 1] {
        let seen = c.api(via, &patients()).await;
        assert_eq!(seen.status, 401, "{}", seen.body);
        assert_eq!(seen.json()["type"], "reauth_required", "{}", seen.body);
        assert_eq!(seen.json()["login_url"], "/auth/login");
        assert!(!c.session_via(via).await.authenticated);
    }
    // A visitor without a cookie is still just not signed in.
    let stranger = crate::support::Client::new(c.bffs[0].url());
    let seen = stranger
        .api(
            reqwest::Method::GET,
            &format!("{}/api/giponext/v2/{}", c.bffs[0].url(), patients()),
            None,
        )
        .await;
    assert_eq!(seen.json()["type"], "unauthenticated", "{}", seen.body);
    // Signing in again works.
    c.login(1).await;
    assert_eq!(c.api(0, &patients()).await.status, 200);
    c.shutdown().await;
}

#[tokio::test]
async fn a_late_lock_holder_cannot_overwrite_a_newer_write() {
    let redis = RedisServer::start(false).await;
    let store = RedisStore::connect(&redis.url())
        .await
        .unwrap()
        .with_lease(Duration::from_millis(300));
    let key = "session:fencing-test";
    let later = Utc::now() + chrono::Duration::minutes(5);

    let old = store.lock(key).await.unwrap();
    assert!(
        old.put_fenced(key, b"tokens-1".to_vec(), later)
            .await
            .unwrap()
    );
    // The holder pauses (no renewal); its lease runs out; a newer holder
    // takes the lock with a larger fencing value and writes.
    old.stop_renewing();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let new = store.lock(key).await.unwrap();
    assert!(new.fence() > old.fence());
    // Even before the newer holder writes, the late one is refused.
    assert!(
        !old.put_fenced(key, b"tokens-stale".to_vec(), later)
            .await
            .unwrap()
    );
    assert!(
        new.put_fenced(key, b"tokens-2".to_vec(), later)
            .await
            .unwrap()
    );
    assert!(
        !old.put_fenced(key, b"tokens-stale".to_vec(), later)
            .await
            .unwrap()
    );
    use giponext_bff::session::SessionStore as _;
    assert_eq!(store.get(key).await.unwrap().unwrap(), b"tokens-2");
    let metrics = giponext_bff::session::redis::render_lock_stats(store.stats());
    assert!(
        metrics.contains("bff_refresh_lock_fenced_total 2"),
        "{metrics}"
    );
    drop(new);
    drop(old);

    // The fencing counter lost (e.g. evicted) while the value stays: the
    // next holder still gets a larger number than the stored one.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let () = redis::cmd("DEL")
        .arg(format!("gx:fence:{key}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let next = store.lock(key).await.unwrap();
    assert!(
        next.put_fenced(key, b"tokens-3".to_vec(), later)
            .await
            .unwrap()
    );
    assert_eq!(store.get(key).await.unwrap().unwrap(), b"tokens-3");
}

#[tokio::test]
async fn a_waiter_never_adopts_a_refresh_that_lacks_its_scopes() {
    let c = Cluster::start(2, false).await;
    c.login(0).await;
    let id = c.session_id();
    let state = c.bffs[1].state();
    // What an in-flight patients call read before the token expired.
    assert!(
        c.bffs[0]
            .expire_access_token(&c.client.session_cookie().unwrap())
            .await
    );
    let seen = state.sessions.load(&id).await.unwrap().unwrap();
    assert!(seen.granted.contains(Scope::Patients), "{}", seen.granted);

    // Meanwhile patients is withdrawn at the provider and a userinfo call
    // refreshes (on the other instance): the new token lacks patients.
    let patients_only = ScopeSet::of(&[Scope::Patients]);
    assert_eq!(c.sandbox.shrink_grants(users::MARIO, patients_only), 1);
    let userinfo = c.api(0, "userinfo").await;
    assert_eq!(userinfo.status, 200, "{}", userinfo.body);
    assert_eq!(c.refreshes(), 1);

    // The patients call now gets the lock: the sibling's token does not
    // cover its scope, so it is refused (never sent), with no second refresh.
    match fresh_record(state, &id, seen.clone(), false, patients_only).await {
        Err(FreshError::NotCovered(Scope::Patients)) => {}
        other => panic!("adopted a token without patients: {other:?}"),
    }
    // A call needing only openid in the same position adopts it.
    let openid = ScopeSet::of(&[Scope::OpenId]);
    let adopted = fresh_record(state, &id, seen, false, openid).await.unwrap();
    assert!(!adopted.granted.contains(Scope::Patients));
    assert_eq!(c.refreshes(), 1);
    let metrics = c.metrics(1).await;
    for line in [
        "bff_refresh_waits_total{result=\"adopted\"} 1",
        "bff_refresh_waits_total{result=\"not_adopted\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }

    // Through the proxy, the patients call is a grant prompt.
    let list = c.api(1, &patients()).await;
    assert_eq!(list.status, 403, "{}", list.body);
    assert_eq!(list.json()["type"], "scope_missing");
    assert_eq!(list.json()["scope"], "giponext.patients");
    c.shutdown().await;
}

#[tokio::test]
async fn an_ended_session_is_not_written_back_by_a_late_holder() {
    use giponext_bff::session::{SessionError, SessionKey, Sessions};
    let redis = RedisServer::start(false).await;
    let key = SessionKey::generate();
    let instance = || async {
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        Sessions::clustered(store.with_lease(Duration::from_millis(300)), &key)
    };
    let (a, b) = (instance().await, instance().await);
    let now = Utc::now();
    let record = giponext_bff::session::SessionRecord {
        user: giponext_shared::session::SessionUser {
            sub: "u".into(),
            name: "U".into(),
            email: None,
        },
        tenant: giponext_shared::api::TenantRef {
            id: TENANT.into(),
            name: "T".into(),
        },
        granted: ScopeSet::of(&[Scope::OpenId, Scope::Patients]),
        declined: vec![],
        tokens: giponext_bff::session::Tokens {
            access: giponext_bff::types::Secret::new("access"),
            access_expires_at: now,
            access_issued_at: None,
            refresh: Some(giponext_bff::types::Secret::new("refresh")),
            id_token: None,
        },
        reauth_required: false,
        created_at: now,
        last_seen_at: now,
    };
    let id = giponext_bff::types::SessionId::generate();
    let until = Utc::now() + chrono::Duration::minutes(5);
    a.save(&id, &record, until).await.unwrap();

    // Instance A takes the lock for a refresh and stalls past its lease;
    // meanwhile the user signs out on instance B.
    let late = a.lock(&id).await.unwrap();
    late.lease().unwrap().stop_renewing();
    tokio::time::sleep(Duration::from_millis(450)).await;
    b.delete(&id).await.unwrap();
    // A's write (say, its refreshed tokens) is refused: the session stays
    // ended.
    assert!(matches!(
        a.save_locked(&id, &record, until, &late).await,
        Err(SessionError::LeaseLost)
    ));
    assert!(b.load(&id).await.unwrap().is_none());
}
