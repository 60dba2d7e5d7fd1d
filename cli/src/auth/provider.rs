//! The OpenID provider's endpoints, from its discovery document.

use anyhow::{Context, Result};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

/// Discovery fields beyond OpenID Connect Discovery 1.0 that the CLI needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeviceMetadata {
    /// RFC 8628 §4.
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
    /// RFC 7009 / RFC 8414.
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
}

impl AdditionalProviderMetadata for DeviceMetadata {}

type Metadata = ProviderMetadata<
    DeviceMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The endpoints the CLI talks to.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The issuer, as the discovery document states it (checked equal to
    /// the configured one by `openidconnect`, OpenID Discovery §4.3).
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The device authorization endpoint.
    pub device_authorization_endpoint: Option<Url>,
    /// The revocation endpoint.
    pub revocation_endpoint: Option<Url>,
}

/// Fetches and checks `{issuer}/.well-known/openid-configuration`.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Provider> {
    let issuer_url = IssuerUrl::new(issuer.to_owned()).context("the issuer is not a URL")?;
    let metadata = Metadata::discover_async(issuer_url, http)
        .await
        .with_context(|| format!("reading the OpenID discovery document of {issuer}"))?;
    let token_endpoint = metadata
        .token_endpoint()
        .context("the provider publishes no token endpoint")?
        .url()
        .clone();
    let extra = metadata.additional_metadata();
    Ok(Provider {
        issuer: metadata.issuer().as_str().to_owned(),
        token_endpoint,
        device_authorization_endpoint: extra.device_authorization_endpoint.clone(),
        revocation_endpoint: extra.revocation_endpoint.clone(),
    })
}
