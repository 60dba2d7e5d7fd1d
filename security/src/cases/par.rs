//! Pushed Authorization Requests (RFC 9126), against the sandbox with
//! `SANDBOX_PAR=required`: what the browser sees of a sign-in, a
//! `request_uri` used twice, one used by another client, and an
//! authorization request that was not pushed.

use giponext_bff::Config;
use giponext_bff::config::Upstream;
use giponext_bff::types::Secret;
use giponext_sandbox::clients::grants;
use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{ClientRegistration, ParMode, users};
use giponext_shared::ScopeSet;
use url::Url;

use super::snippet;
use crate::Report;
use crate::support::Client;

const CLIENT_ID: &str = "par-security-bff";
const CLIENT_SECRET: &str = "par-security-secret";

/// The query parameter names of `url`, sorted.
fn names(url: &Url) -> Vec<String> {
    let mut names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.sort();
    names
}

/// A GET of `url` by `client` without following redirects: status,
/// whether it carried a code back, and the error the page names (or the
/// body's start).
async fn open(client: &Client, url: &Url) -> (u16, bool, String) {
    let seen = client.get(url.as_str()).await;
    let location = seen
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let code = location.contains("code=");
    let shown = if seen.body.contains("data-error=\"invalid_request_uri\"") {
        "invalid_request_uri".to_owned()
    } else {
        snippet(&seen.body)
    };
    (seen.status.as_u16(), code, shown)
}

pub async fn run(report: Report) {
    let mut sandbox_config = giponext_sandbox::SandboxConfig::for_tests();
    sandbox_config.seed_invoices = 20;
    sandbox_config.par = ParMode::Required;
    let sandbox = giponext_sandbox::start(sandbox_config)
        .await
        .expect("sandbox starts");
    let mut config = Config::for_tests();
    config.upstream = Upstream::External {
        issuer: sandbox.state().issuer.clone(),
        api_base: sandbox.api_base().clone(),
    };
    config.client_id = CLIENT_ID.to_owned();
    config.client_secret = Secret::new(CLIENT_SECRET);
    let bff = giponext_bff::serve(config).await.expect("backend starts");
    let callback_uri = format!("{}/auth/callback", bff.url());
    sandbox.register_client(ClientRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        grant_types: vec![
            grants::AUTHORIZATION_CODE.into(),
            grants::REFRESH_TOKEN.into(),
        ],
        redirect_uris: vec![callback_uri.clone()],
        post_logout_redirect_uris: vec![format!("{}/", bff.url())],
        scopes: ScopeSet::all(),
        backchannel_logout_uri: None,
    });
    let client = Client::new(bff.url());

    let start = client
        .get("/auth/login?scope=giponext.invoices&return_to=/invoices")
        .await;
    let Ok(auth_url) = Url::parse(start.location()) else {
        report.check(
            "sign-in with PAR required (RFC 9126)",
            "302 to the provider",
            format!("{} {}", start.status.as_u16(), snippet(&start.body)),
            false,
        );
        return;
    };
    report.check(
        "scopes, state and PKCE in the browser's authorization URL (PAR)",
        "only client_id and request_uri",
        names(&auth_url).join(", "),
        names(&auth_url) == ["client_id", "request_uri"],
    );
    let signed_in = match Browser::with_client(client.http.clone())
        .authorize(&auth_url, users::MARIO, "sandbox", Consent::GrantAll)
        .await
    {
        Ok(callback) => client.get(callback.as_str()).await.status.as_u16() == 302,
        Err(_) => false,
    };
    report.check(
        "sign-in through a pushed request",
        "signed in",
        if signed_in { "signed in" } else { "failed" },
        signed_in,
    );

    let (status, code, body) = open(&client, &auth_url).await;
    report.check(
        "request_uri used twice",
        "400 invalid_request_uri, no code",
        format!("{status} {body}"),
        status == 400 && !code && body == "invalid_request_uri",
    );

    // A fresh pushed request presented under another client's id: refused,
    // and not spent for its own client.
    let start = client.get("/auth/login").await;
    let fresh = Url::parse(start.location()).expect("authorization URL");
    let mut stolen = fresh.clone();
    let pairs: Vec<(String, String)> = fresh
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "client_id" {
                giponext_sandbox::clients::WEB_CLIENT_ID.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    stolen.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, code, body) = open(&client, &stolen).await;
    report.check(
        "request_uri presented by another client",
        "400 invalid_request_uri, no code",
        format!("{status} {body}"),
        status == 400 && !code && body == "invalid_request_uri",
    );

    // A classic authorization request, as an attacker would craft it.
    let mut plain = auth_url.clone();
    plain
        .query_pairs_mut()
        .clear()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &callback_uri)
        .append_pair("scope", "openid giponext.invoices")
        .append_pair("state", "attacker-state")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let seen = client.get(plain.as_str()).await;
    let location = seen
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    report.check(
        "authorization request not pushed, PAR required",
        "redirect with error=invalid_request, no code",
        format!("{} {}", seen.status.as_u16(), snippet(&location)),
        seen.status.is_redirection()
            && location.contains("error=invalid_request")
            && !location.contains("code="),
    );
    drop(bff);
    drop(sandbox);
}
