//! The clients the sandbox knows out of the box.

use giponext_shared::ScopeSet;

use crate::config::ClientRegistration;

/// The web console's backend: a confidential Authorization Code client.
pub const WEB_CLIENT_ID: &str = "giponext-connect-web";
/// Its secret (sandbox only).
pub const WEB_CLIENT_SECRET: &str = "sandbox-web-secret";
/// The CLI as a confidential Device Code client.
pub const CLI_CLIENT_ID: &str = "giponext-cli";
/// Its secret (sandbox only).
pub const CLI_CLIENT_SECRET: &str = "sandbox-cli-secret";
/// The CLI as a public Device Code client (no secret).
pub const CLI_PUBLIC_CLIENT_ID: &str = "giponext-cli-public";

/// Grant type names.
pub mod grants {
    /// RFC 6749 §4.1.
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// RFC 6749 §6.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 8628.
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
}

/// The seeded clients; the web client accepts exactly `web_redirect_uris`.
pub fn seeded(web_redirect_uris: &[&str]) -> Vec<ClientRegistration> {
    // After a logout, the console's home page; after "Cambia utente", the
    // backend's sign-in asking for the password again.
    let post_logout = web_redirect_uris
        .iter()
        .filter_map(|u| u.strip_suffix("/auth/callback"))
        .flat_map(|base| {
            [
                format!("{base}/"),
                format!("{base}/auth/login?prompt=login"),
            ]
        })
        .collect();
    vec![
        ClientRegistration {
            client_id: WEB_CLIENT_ID.into(),
            client_secret: Some(WEB_CLIENT_SECRET.into()),
            grant_types: vec![
                grants::AUTHORIZATION_CODE.into(),
                grants::REFRESH_TOKEN.into(),
            ],
            redirect_uris: web_redirect_uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: post_logout,
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        },
        ClientRegistration {
            client_id: CLI_CLIENT_ID.into(),
            client_secret: Some(CLI_CLIENT_SECRET.into()),
            grant_types: vec![grants::DEVICE_CODE.into(), grants::REFRESH_TOKEN.into()],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        },
        ClientRegistration {
            client_id: CLI_PUBLIC_CLIENT_ID.into(),
            client_secret: None,
            grant_types: vec![grants::DEVICE_CODE.into(), grants::REFRESH_TOKEN.into()],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            scopes: ScopeSet::all(),
            backchannel_logout_uri: None,
        },
    ]
}
