//! Redis over TLS with an ACL user, as managed services run it: a real
//! `redis-server` listening only with TLS (certificate of a CA made at test
//! time), the `default` user off.

use giponext_bff::Config;
use giponext_bff::config::{RedisUrl, StoreLocation};
use giponext_bff::session::{RedisSettings, RedisStore, RedisTarget};

use crate::redis_cluster::{ACL_PASSWORD, RedisCluster, TestCa, TlsRedis};
use crate::redis_server::free_port;
use crate::scaleout::Cluster;

const TENANT: &str = "tenant-abc123";

async fn connect(url: &str, ca: Option<std::path::PathBuf>) -> Result<RedisStore, String> {
    RedisStore::connect_with(&RedisSettings {
        target: RedisTarget::parse(url).unwrap(),
        ca_file: ca,
    })
    .await
    .map_err(|e| e.to_string())
}

/// Starting the backend on `url`: its error, in full (the anyhow chain).
async fn start_error(url: &str, ca: Option<std::path::PathBuf>) -> String {
    let mut config = Config::for_tests();
    config.session_store = StoreLocation::Redis(RedisUrl(url.to_owned()));
    config.redis_ca_file = ca;
    match giponext_bff::serve(config).await {
        Ok(bff) => {
            bff.shutdown().await;
            panic!("started on a store it should refuse")
        }
        Err(e) => format!("{e:#}"),
    }
}

fn assert_clear(error: &str, says: &str, secret: &str) {
    assert!(error.contains(says), "{error}");
    assert!(!error.contains(secret), "the password leaked: {error}");
}

#[tokio::test]
async fn rediss_with_an_acl_user_works_and_bad_credentials_or_certificates_say_so() {
    let redis = TlsRedis::start().await;
    let ca = Some(redis.ca.ca_file());

    // The ACL user and its password, the private CA trusted: two instances
    // share the session over TLS.
    let url = redis.url();
    let c = Cluster::start_on(redis, &url, ca.clone(), 2, |_| {}).await;
    c.login(0).await;
    for via in [0, 1] {
        assert!(c.session_via(via).await.authenticated, "instance {via}");
        let seen = c
            .api(via, &format!("tenants/{TENANT}/patients?limit=1"))
            .await;
        assert_eq!(seen.status, 200, "instance {via}: {}", seen.body);
    }

    // A wrong password: refused, named, and never printed.
    let wrong = "Wrong-pw-d41d8c";
    let error = connect(&c.redis.url_with(wrong), ca.clone())
        .await
        .unwrap_err();
    assert_clear(&error, "user name or password", wrong);
    let error = start_error(&c.redis.url_with(wrong), ca.clone()).await;
    eprintln!("wrong password: {error}");
    assert_clear(&error, "BFF_SESSION_STORE", wrong);
    assert_clear(&error, "user name or password", wrong);

    // The right password but the server's CA not trusted (system roots
    // only): the certificate is refused before the password is sent.
    let error = connect(&c.redis.url(), None).await.unwrap_err();
    assert_clear(&error, "certificate", ACL_PASSWORD);
    assert_clear(&error, "BFF_REDIS_CA_FILE", ACL_PASSWORD);
    let error = start_error(&c.redis.url(), None).await;
    eprintln!("untrusted certificate: {error}");
    assert_clear(&error, "BFF_SESSION_STORE", ACL_PASSWORD);
    assert_clear(&error, "certificate", ACL_PASSWORD);

    // Plain redis:// to the TLS port, and a port nobody listens on.
    let plain = c.redis.url().replacen("rediss://", "redis://", 1);
    let error = start_error(&plain, None).await;
    eprintln!("plain to a TLS port: {error}");
    assert_clear(&error, "BFF_SESSION_STORE", ACL_PASSWORD);
    let nobody = format!("rediss://gx-bff:{ACL_PASSWORD}@127.0.0.1:{}/0", free_port());
    let error = start_error(&nobody, ca.clone()).await;
    assert_clear(&error, "BFF_SESSION_STORE", ACL_PASSWORD);
    assert_clear(&error, "cannot reach Redis", ACL_PASSWORD);
    eprintln!("unreachable store: {error}");
    c.shutdown().await;
}

/// A Cluster over TLS (clients and the cluster bus) with an ACL user, as
/// managed services offer it: `rediss+cluster://` with the private CA.
#[tokio::test]
async fn rediss_cluster_with_an_acl_user_and_a_private_ca() {
    let ca = TestCa::generate();
    let redis = RedisCluster::start_tls(3, &ca).await;
    let url = redis.tls_url_with(ACL_PASSWORD);
    let c = Cluster::start_on(redis, &url, Some(ca.ca_file()), 2, |_| {}).await;
    c.login(0).await;
    for via in [0, 1] {
        let seen = c
            .api(via, &format!("tenants/{TENANT}/patients?limit=1"))
            .await;
        assert_eq!(seen.status, 200, "instance {via}: {}", seen.body);
    }
    let wrong = "Wrong-cluster-pw-9b1";
    let error = connect(&c.redis.tls_url_with(wrong), Some(ca.ca_file()))
        .await
        .unwrap_err();
    eprintln!("cluster, wrong password: {error}");
    assert_clear(&error, "user name or password", wrong);
    let error = connect(&url, None).await.unwrap_err();
    eprintln!("cluster, untrusted certificate: {error}");
    assert_clear(&error, "certificate", ACL_PASSWORD);
    c.shutdown().await;
}
