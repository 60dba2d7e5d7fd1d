//! Pushed Authorization Requests (RFC 9126) against the sandbox with
//! `SANDBOX_PAR` on or required: every sign-in (first, incremental,
//! "Cambia utente") is pushed and the browser sees only `client_id` and
//! `request_uri`; `BFF_PAR=off` stops pushing, and is refused at start
//! against a provider that requires PAR.

use giponext_bff::config::ParSetting;
use giponext_bff::{Config, RunningBff};
use giponext_sandbox::clients::grants;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{ClientRegistration, ParMode, RunningSandbox, users};
use giponext_shared::{Scope, ScopeSet};
use url::Url;

use crate::support::Client;

const CLIENT_ID: &str = "par-bff";
const CLIENT_SECRET: &str = "par-bff-secret";

struct Setup {
    sandbox: RunningSandbox,
    _bff: RunningBff,
    client: Client,
}

async fn sandbox(par: ParMode) -> RunningSandbox {
    let mut config = giponext_sandbox::SandboxConfig::for_tests();
    config.seed_invoices = 50;
    config.par = par;
    giponext_sandbox::start(config).await.unwrap()
}

fn bff_config(sandbox: &RunningSandbox, par: ParSetting) -> Config {
    let mut config = crate::support::config_on(sandbox, None, CLIENT_ID, CLIENT_SECRET);
    config.par = par;
    config
}

impl Setup {
    async fn start(par: ParMode, setting: ParSetting) -> Setup {
        let sandbox = sandbox(par).await;
        let bff = giponext_bff::serve(bff_config(&sandbox, setting))
            .await
            .unwrap();
        sandbox.register_client(ClientRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            grant_types: vec![
                grants::AUTHORIZATION_CODE.into(),
                grants::REFRESH_TOKEN.into(),
            ],
            redirect_uris: vec![format!("{}/auth/callback", bff.url())],
            post_logout_redirect_uris: vec![
                format!("{}/", bff.url()),
                format!("{}/auth/login?prompt=login", bff.url()),
            ],
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        });
        let client = Client::new(bff.url());
        Setup {
            sandbox,
            _bff: bff,
            client,
        }
    }

    /// Starts a sign-in with `query`; returns the provider URL it redirects to.
    async fn start_login(&self, query: &str) -> Url {
        let start = self.client.get(&format!("/auth/login{query}")).await;
        assert_eq!(start.status, 302, "{}", start.body);
        Url::parse(start.location()).unwrap()
    }

    /// Finishes a sign-in at `auth_url` as `user`; returns where the
    /// backend sends the browser afterwards.
    async fn finish_login(&self, auth_url: &Url, user: &str) -> String {
        let callback = Browser::with_client(self.client.http.clone())
            .authorize(auth_url, user, "sandbox", Consent::GrantAll)
            .await
            .unwrap();
        let done = self.client.get(callback.as_str()).await;
        assert_eq!(done.status, 302, "{}", done.body);
        done.location().to_owned()
    }
}

/// Asserts `url` is a by-reference authorization request: only `client_id`
/// and `request_uri`, nothing of the scopes, return path, state or PKCE.
fn assert_only_reference(url: &Url) {
    let mut names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    let text = url.as_str();
    for absent in [
        "scope",
        "giponext",
        "return_to",
        "invoices",
        "code_challenge",
        "state",
        "prompt",
    ] {
        assert!(!text.contains(absent), "{absent} in {url}");
    }
}

#[tokio::test]
async fn every_sign_in_is_pushed_when_the_provider_offers_par() {
    let s = Setup::start(ParMode::On, ParSetting::Auto).await;
    let stats = &s.sandbox.state().stats;

    let auth_url = s.start_login("?return_to=/invoices").await;
    assert_only_reference(&auth_url);
    assert_eq!(stats.pushed_requests(), 1);
    assert_eq!(s.finish_login(&auth_url, users::MARIO).await, "/invoices");
    let info = s.client.session().await;
    assert!(info.authenticated);

    // Incremental consent: pushed too.
    let auth_url = s
        .start_login("?scope=giponext.invoices&return_to=/invoices")
        .await;
    assert_only_reference(&auth_url);
    assert_eq!(stats.pushed_requests(), 2);
    assert_eq!(s.finish_login(&auth_url, users::MARIO).await, "/invoices");
    assert!(
        s.client
            .session()
            .await
            .scopes
            .granted
            .contains(Scope::Invoices)
    );

    // "Cambia utente": prompt=login travels in the pushed request, and the
    // provider asks for the password (Giulia signs in over Mario's session).
    let auth_url = s.start_login("?prompt=login").await;
    assert_only_reference(&auth_url);
    assert_eq!(stats.pushed_requests(), 3);
    s.finish_login(&auth_url, users::GIULIA).await;
    assert_eq!(
        s.client.session().await.user.unwrap().name,
        "Giulia Bianchi"
    );
}

#[tokio::test]
async fn a_provider_requiring_par_signs_in_and_a_reference_serves_once() {
    let s = Setup::start(ParMode::Required, ParSetting::Auto).await;
    let auth_url = s.start_login("?return_to=/invoices").await;
    assert_only_reference(&auth_url);
    assert_eq!(s.finish_login(&auth_url, users::MARIO).await, "/invoices");
    assert!(s.client.session().await.authenticated);
    // The same request_uri again: refused by the provider, not a second sign-in.
    let res = s.client.http.get(auth_url).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("invalid_request_uri"));
}

#[tokio::test]
async fn bff_par_off_sends_plain_requests_and_is_refused_where_par_is_required() {
    let s = Setup::start(ParMode::On, ParSetting::Off).await;
    let auth_url = s.start_login("?return_to=/invoices").await;
    assert!(
        auth_url.query_pairs().any(|(k, _)| k == "scope"),
        "{auth_url}"
    );
    assert_eq!(s.sandbox.state().stats.pushed_requests(), 0);
    s.finish_login(&auth_url, users::MARIO).await;
    assert!(s.client.session().await.authenticated);

    let required = sandbox(ParMode::Required).await;
    let error = giponext_bff::serve(bff_config(&required, ParSetting::Off))
        .await
        .err()
        .expect("BFF_PAR=off against a provider requiring PAR does not start");
    let message = format!("{error:#}");
    assert!(
        message.contains("BFF_PAR=off")
            && message.contains("require_pushed_authorization_requests"),
        "{message}"
    );
}
