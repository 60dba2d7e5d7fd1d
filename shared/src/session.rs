//! What the backend tells the console: the session (`GET /api/session`) and
//! the problem documents (`application/problem+json`, RFC 9457) of its API.
//!
//! # Security
//! Nothing here holds a token: these types cross to the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::TenantRef;
use crate::features::{FEATURES, FeatureId};
use crate::scope::{GrantedScopes, RegisteredScopes, Scope, ScopeSet};

/// `GET /api/session`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Whether a user is signed in.
    pub authenticated: bool,
    /// Whether the backend runs against the embedded sandbox, not GipoNext.
    pub sandbox: bool,
    /// The OAuth client id, for the support request text.
    pub client_id: String,
    /// The signed-in user.
    #[serde(default)]
    pub user: Option<SessionUser>,
    /// The user's medical centre.
    #[serde(default)]
    pub tenant: Option<TenantRef>,
    /// The scopes and their states.
    pub scopes: ScopesInfo,
    /// Every catalogue feature and whether it is usable.
    pub features: Vec<FeatureState>,
    /// The state of the server-held token.
    #[serde(default)]
    pub token: Option<TokenState>,
    /// When the session ends unless used.
    #[serde(default, deserialize_with = "crate::wire_time::optional_instant")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Seconds until the session ends unless used (idle timeout), as the
    /// backend counts them: the console's countdown starts from this, not
    /// from the browser's clock.
    #[serde(default)]
    pub idle_seconds_left: Option<u64>,
    /// Seconds until the session ends however it is used (absolute
    /// lifetime).
    #[serde(default)]
    pub absolute_seconds_left: Option<u64>,
    /// The key that seals this person's form drafts in the browser.
    #[serde(default)]
    pub draft_key: Option<DraftKey>,
    /// The sign-in asked for `offline_access` and the provider issued no
    /// refresh token (a provider applying OpenID Connect Core §11 strictly
    /// does so without `prompt=consent`; or the person left it unticked):
    /// access ends with the access token, and the next sign-in from this
    /// session asks with `prompt=consent`.
    ///
    /// The console does not read it: in wasm32 it is skipped, so the
    /// bundle, at its size budget, carries no code for it.
    #[serde(default)]
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    pub offline_access_withheld: bool,
}

/// `POST /api/session/keepalive` and `GET /api/session/remaining`: how long
/// the session has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRemaining {
    /// Seconds until the idle timeout.
    pub idle_seconds_left: u64,
    /// Seconds until the absolute lifetime ends.
    pub absolute_seconds_left: u64,
}

/// The AES-256-GCM key of one person's drafts in one centre, derived by the
/// backend from its session key over `sub` and tenant: the same person in
/// the same centre gets the same key in every session, anyone else another.
///
/// # Security
/// Not a token and worth nothing at GipoNext: it only opens this person's
/// drafts kept in this browser. It is handed only to a signed-in session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftKey {
    /// A name for the key (16 hex digits), so drafts sealed under another
    /// person's key are left alone rather than tried.
    pub id: String,
    /// The 32 key bytes, 64 hex digits.
    pub key: String,
}

impl std::fmt::Debug for DraftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DraftKey({}, <redacted>)", self.id)
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// Subject.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// The scopes of a session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScopesInfo {
    /// Granted to the current token.
    pub granted: ScopeSet,
    /// Asked for and refused, with when (latest refusal).
    pub declined: Vec<DeclinedScope>,
    /// Declared at registration: the most the app may ask for.
    pub registered: ScopeSet,
    /// Platform scopes outside the registration.
    pub not_registered: ScopeSet,
}

/// A scope the user refused at a consent screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclinedScope {
    /// The scope.
    pub scope: Scope,
    /// When it was refused.
    #[serde(deserialize_with = "crate::wire_time::instant")]
    pub at: DateTime<Utc>,
}

/// The state of the server-held token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Usable.
    Ok,
    /// Being refreshed right now.
    Refreshing,
    /// The grant is gone: the user must sign in again.
    ReauthRequired,
}

/// Why a feature is on or off (the worst reason among its missing scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureReason {
    /// Every required scope is granted.
    Granted,
    /// A required scope was never asked for: a grant button asks for it.
    NotRequested,
    /// The user refused a required scope: a grant button asks again, but only
    /// when the user presses it.
    Declined,
    /// A required scope is outside the app's registration: only a support
    /// request to GipoNext can add it.
    NotRegistered,
}

/// One catalogue feature in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureState {
    /// The feature.
    pub id: FeatureId,
    /// Whether every required scope is granted.
    pub enabled: bool,
    /// The scopes it needs.
    pub required: ScopeSet,
    /// The required scopes not granted.
    pub missing: ScopeSet,
    /// Why it is on or off.
    pub reason: FeatureReason,
}

/// Computes the state of every catalogue feature.
pub fn feature_states(
    granted: GrantedScopes,
    declined: ScopeSet,
    registered: RegisteredScopes,
) -> Vec<FeatureState> {
    FEATURES
        .iter()
        .map(|f| {
            let missing = granted.missing(f.requires);
            let reason = missing
                .iter()
                .map(|s| {
                    if !registered.contains(s) {
                        FeatureReason::NotRegistered
                    } else if declined.contains(s) {
                        FeatureReason::Declined
                    } else {
                        FeatureReason::NotRequested
                    }
                })
                .max()
                .unwrap_or(FeatureReason::Granted);
            FeatureState {
                id: f.id,
                enabled: missing.is_empty(),
                required: f.requires,
                missing,
                reason,
            }
        })
        .collect()
}

/// The `type` of a backend problem document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemType {
    /// No session: sign in.
    Unauthenticated,
    /// The grant is gone: sign in again (`login_url`).
    ReauthRequired,
    /// The token lacks a scope: ask for it (`grant_url`).
    ScopeMissing,
    /// The scope is outside the registration: a support request is needed.
    ScopeNotRegistered,
    /// The user's own GipoNext role does not allow it.
    PermissionDenied,
    /// The anti-CSRF header is missing.
    CsrfHeaderMissing,
    /// The path names another tenant than the session's.
    TenantMismatch,
    /// The tenant is not on this installation's allow-list.
    TenantNotAllowed,
    /// No such API operation (not in the resource table).
    NotFound,
    /// The request is malformed.
    BadRequest,
    /// Too many requests; see `retry_after`.
    RateLimited,
    /// GipoNext answered with an error or could not be reached.
    UpstreamUnavailable,
    /// GipoNext did not answer in time.
    UpstreamTimeout,
    /// The backend's session store (e.g. Redis) is unreachable for now:
    /// retry after `retry_after` seconds; the session is not lost.
    SessionUnavailable,
    /// Something failed inside the backend.
    Internal,
}

/// An `application/problem+json` body (RFC 9457) with our extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind of problem.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation for this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The missing scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The feature that needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<FeatureId>,
    /// Where to send the user to grant the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_url: Option<String>,
    /// Where to send the user to sign in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
    /// Seconds to wait, for `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with a title and detail and none of the extensions.
    pub fn new(kind: ProblemType, status: u16, title: &str, detail: String) -> Self {
        Problem {
            kind,
            title: title.to_owned(),
            status,
            detail: Some(detail),
            scope: None,
            feature: None,
            grant_url: None,
            login_url: None,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureId as F;

    fn state(states: &[FeatureState], id: F) -> &FeatureState {
        states.iter().find(|s| s.id == id).unwrap()
    }

    #[test]
    fn reasons_distinguish_declined_unrequested_and_unregistered() {
        let granted = GrantedScopes::new(ScopeSet::of(&[Scope::OpenId, Scope::Patients]));
        let declined = ScopeSet::of(&[Scope::Invoices]);
        let registered = RegisteredScopes::new(
            ScopeSet::all().difference(ScopeSet::of(&[Scope::MedicalReports])),
        );
        let states = feature_states(granted, declined, registered);
        assert_eq!(states.len(), FEATURES.len());
        assert_eq!(
            state(&states, F::BrowsePatients).reason,
            FeatureReason::Granted
        );
        assert!(state(&states, F::BrowsePatients).enabled);
        assert_eq!(
            state(&states, F::ViewInvoices).reason,
            FeatureReason::Declined
        );
        assert_eq!(
            state(&states, F::ViewAgenda).reason,
            FeatureReason::NotRequested
        );
        assert_eq!(
            state(&states, F::ReadMedicalReports).reason,
            FeatureReason::NotRegistered
        );
        // Worst reason wins: invoices declined, treatments never asked.
        let issue = state(&states, F::IssueInvoices);
        assert_eq!(
            issue.missing,
            ScopeSet::of(&[Scope::Treatments, Scope::Invoices])
        );
        assert_eq!(issue.reason, FeatureReason::Declined);
    }

    #[test]
    fn problem_serialises_type_field() {
        let p = Problem {
            kind: ProblemType::ScopeMissing,
            title: "t".into(),
            status: 403,
            detail: None,
            scope: Some(Scope::Invoices),
            feature: Some(F::ViewInvoices),
            grant_url: Some("/auth/login?scope=giponext.invoices".into()),
            login_url: None,
            retry_after: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "scope_missing");
        assert_eq!(v["scope"], "giponext.invoices");
        assert_eq!(v["feature"], "view_invoices");
        assert!(v.get("login_url").is_none());
    }
}

/// One of the signed-in user's sessions at the backend ("connected
/// sessions", `GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedSession {
    /// An opaque id for `DELETE /api/sessions/{id}` (a hash, never the
    /// session cookie).
    pub id: String,
    /// A short description of the browser, e.g. "Firefox on Linux".
    pub user_agent: String,
    /// The address it signed in from, as the backend saw it (through
    /// trusted proxies), e.g. "192.0.2.7"; absent for sessions from before
    /// it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Sign-in time.
    #[serde(deserialize_with = "crate::wire_time::instant")]
    pub started: DateTime<Utc>,
    /// Last use.
    #[serde(deserialize_with = "crate::wire_time::instant")]
    pub last_seen: DateTime<Utc>,
    /// The scopes the session's token carries.
    pub scopes: ScopeSet,
    /// Whether this is the session of the request.
    pub current: bool,
}
