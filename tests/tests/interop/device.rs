//! The harness provider's device flow (RFC 8628) with a standard client.

use giponext_e2e::interop::{Consent, HarnessOptions};
use giponext_shared::Scope;
use openidconnect::OAuth2TokenResponse;

use super::common::*;

#[tokio::test]
async fn device_flow_with_partial_consent_for_confidential_and_public_clients() {
    let setup = setup(HarnessOptions::default()).await;
    let asked = scopes(&[
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
        Scope::Invoices,
    ]);
    let ticked = scopes(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients]);

    let confidential = setup.device("interop-cli", Some("interop-cli-secret"));
    let tokens = device_login(&setup, &confidential, asked, Consent::Grant(ticked))
        .await
        .expect("tokens");
    assert_eq!(granted(&tokens), ticked);
    let rt = tokens
        .refresh_token()
        .expect("offline_access in the device flow gives a refresh token");
    let refreshed = confidential
        .exchange_refresh_token(rt)
        .expect("token endpoint")
        .request_async(&setup.http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().expect("rotated").secret(),
        rt.secret()
    );

    let public = setup.device("interop-cli-public", None);
    let tokens = device_login(&setup, &public, asked, Consent::GrantAll)
        .await
        .expect("tokens");
    assert_eq!(granted(&tokens), asked);
    let (status, info) = setup.api("/v2/userinfo", tokens.access_token()).await;
    assert_eq!(status, 200, "{info}");

    let denied = device_login(&setup, &public, asked, Consent::Deny).await;
    assert_eq!(
        denied.err().as_deref(),
        Some("access_denied"),
        "polling ends with access_denied"
    );
    setup.harness.shutdown().await;
}
