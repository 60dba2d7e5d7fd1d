//! The API with a token obtained the way a real client gets one: discovery,
//! the browser through login and per-scope consent, the code exchange.

use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::users::MARIO;
use giponext_shared::Scope;
use openidconnect::{AuthType, OAuth2TokenResponse};
use reqwest::StatusCode;

use super::{Api, MAIN};
use crate::account::{log_in, web_client, with_base};

#[tokio::test]
async fn a_browser_flow_token_opens_exactly_the_granted_scopes() {
    let api = Api::start().await;
    let client = web_client(&api.sandbox, AuthType::BasicAuth).await;
    let asked = with_base(&[Scope::Patients, Scope::Invoices]);
    // Mario refuses invoicing on the consent page.
    let granted = asked.difference(giponext_shared::ScopeSet::of(&[Scope::Invoices]));
    let token = log_in(
        &api.sandbox,
        &client,
        &Browser::new(),
        MARIO,
        asked,
        Consent::Grant(granted),
    )
    .await;
    let access = token.access_token().secret().clone();

    let patients = api.get(&access, &format!("{MAIN}/patients")).await;
    assert_eq!(patients.status, StatusCode::OK, "{}", patients.body);
    let invoices = api.get(&access, &format!("{MAIN}/invoices")).await;
    assert_eq!(invoices.status, StatusCode::FORBIDDEN);
    assert_eq!(invoices.body["scope"], "giponext.invoices");
    let agenda = api.get(&access, &format!("{MAIN}/agendas")).await;
    assert_eq!(
        agenda.body["scope"], "giponext.agenda",
        "never asked, never granted"
    );

    // Discovery's userinfo_endpoint is the API's /v2/userinfo.
    let discovery: serde_json::Value = reqwest::get(format!(
        "{}.well-known/openid-configuration",
        api.sandbox.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let endpoint = discovery["userinfo_endpoint"]
        .as_str()
        .expect("userinfo_endpoint");
    assert_eq!(
        endpoint,
        super::super::support::api_url(&api.sandbox, "/v2/userinfo")
    );
    let info = api.get_ok(&access, "/v2/userinfo").await;
    assert_eq!(info["name"], "Mario Rossi");
    assert_eq!(info["tenants"][0]["id"], "tenant-abc123");
}
