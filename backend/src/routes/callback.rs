//! `GET /auth/callback`: the provider's redirect back.
//!
//! # Security
//! The order of checks follows RFC 9700 §2.1 and §4.7: the one-time login
//! state (bound to this browser by the `gx_login` cookie) is taken first,
//! then `state` is compared, then RFC 9207 `iss`, and only then is the code
//! exchanged (with the PKCE verifier) and the ID token validated. Nothing is
//! stored before every check passed; the session id is rotated.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chrono::Utc;
use giponext_shared::api::{TenantRef, UserInfo};
use giponext_shared::session::SessionUser;
use giponext_shared::{Scope, ScopeSet};

use crate::AppState;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::metrics::{ConsentOutcome, LoginOutcome};
use crate::oidc::OidcError;
use crate::routes::auth::refuse;
use crate::routes::pending::PendingSignIns;
use crate::routes::{current_session, found, no_store};
use crate::session::{LoginState, SessionRecord, Tokens, to_chrono};
use crate::types::{Secret, SessionId};
use crate::upstream::ApiRequest;

/// The query of the provider's redirect back (parsed in `giponext-bff-core`,
/// where it is fuzzed).
pub use giponext_bff_core::callback::CallbackParams;

/// `GET /auth/callback`: the provider's redirect back.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // The sign-in this callback belongs to is spent, whatever happens; the
    // browser's other pending sign-ins (other tabs) stay unless the callback
    // matches none of them.
    let mut pending = PendingSignIns::parse(jar.get(state.cookies.login).map(|c| c.value()));
    let outcome = callback_inner(
        &state,
        &jar,
        &headers,
        client,
        query.as_deref(),
        &mut pending,
    )
    .await;
    let login_cookie = match pending.cookie_value() {
        Some(value) => state
            .cookies
            .login_cookie(&value, state.config.timings.login_ttl.as_secs() as i64),
        None => state.cookies.clear_login(),
    };
    let response = match outcome {
        Ok((jar, response)) => (jar.add(login_cookie), response).into_response(),
        Err(response) => {
            state.metrics.login(LoginOutcome::Rejected);
            (jar.add(login_cookie), response).into_response()
        }
    };
    no_store(response)
}

/// Spends every pending sign-in of this browser (a callback that belongs to
/// none of them).
async fn spend_all(state: &AppState, pending: &mut PendingSignIns) {
    for id in pending.drain() {
        if let Err(e) = state.sessions.take_login(&id).await {
            tracing::warn!(error = %e, "spending a pending sign-in failed");
        }
    }
}

/// A callback the user cannot go on from: 400, as a page or problem+json.
fn bad_request(headers: &HeaderMap, title: &str, detail: &str) -> Response {
    refuse(
        headers,
        AppError::BadRequest(detail.to_owned()),
        title,
        detail,
    )
}

async fn callback_inner(
    state: &Arc<AppState>,
    jar: &CookieJar,
    headers: &HeaderMap,
    client: ClientAddr,
    query: Option<&str>,
    pending: &mut PendingSignIns,
) -> Result<(CookieJar, Response), Response> {
    let bad = |title: &str, detail: &str| bad_request(headers, title, detail);
    let restart = "Start again from GipoNext Connect's sign-in.";
    if pending.is_empty() {
        return Err(bad(
            "Sign-in expired",
            &format!(
                "This sign-in was not started in this browser or took longer than 10 minutes. {restart}"
            ),
        ));
    }
    let mismatch = format!(
        "The answer does not belong to the sign-in started here (state mismatch). {restart}"
    );
    let Ok(params) = CallbackParams::parse(query) else {
        spend_all(state, pending).await;
        return Err(bad(
            "Sign-in failed",
            "The answer from the sign-in service is malformed.",
        ));
    };
    let sent_state = params.state.as_deref().unwrap_or("");
    let Some(login_id) = pending.remove_matching(sent_state) else {
        spend_all(state, pending).await;
        return Err(bad("Sign-in failed", &mismatch));
    };
    let login = state
        .sessions
        .take_login(&login_id)
        .await
        .map_err(|e| AppError::from(e).into_response())?
        .ok_or_else(|| {
            bad(
                "Sign-in expired",
                &format!("This sign-in has already been completed or has expired. {restart}"),
            )
        })?;
    if !login.state.matches(sent_state) {
        spend_all(state, pending).await;
        return Err(bad("Sign-in failed", &mismatch));
    }
    let provider = state.provider().map_err(|e| {
        refuse(
            headers,
            e,
            "Sign-in service unavailable",
            "The sign-in service could not be reached. Try again in a few seconds.",
        )
    })?;
    provider
        .check_response_issuer(params.iss.as_deref())
        .map_err(|detail| bad("Sign-in failed", &format!("{detail}. {restart}")))?;
    let existing = match current_session(state, jar).await {
        Err(AppError::TenantNotAllowed) => None,
        other => other.map_err(IntoResponse::into_response)?,
    };

    if let Some(error) = params.error {
        return provider_error(state, jar, &login, existing, &error).await;
    }
    let Some(code) = params.code else {
        return Err(bad(
            "Sign-in failed",
            "The answer has neither a code nor an error.",
        ));
    };

    let grant = match provider
        .exchange_code(&code, &login.pkce_verifier, &login.nonce)
        .await
    {
        Ok(g) => g,
        Err(OidcError::Timeout) => {
            return Err(refuse(
                headers,
                AppError::UpstreamTimeout,
                "Sign-in service did not answer in time",
                "The sign-in service did not answer in time. Try again in a few seconds.",
            ));
        }
        Err(OidcError::Unreachable(e)) => {
            return Err(refuse(
                headers,
                AppError::UpstreamUnavailable(e),
                "Sign-in service unavailable",
                "The sign-in service could not be reached. Try again in a few seconds.",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "code exchange or ID token validation failed");
            return Err(bad(
                "Sign-in failed",
                &format!("The sign-in could not be verified. {restart}"),
            ));
        }
    };
    // From here on a grant exists at the provider: if this sign-in fails
    // (profile unreadable, wrong subject, medical centre not allowed, store
    // write failed), its refresh token is revoked (RFC 7009), so no grant
    // is left behind by a sign-in nobody can use.
    let refresh = grant.refresh.clone();
    let outcome = establish(state, jar, headers, client, login, existing, grant).await;
    if outcome.is_err()
        && let Some(refresh) = &refresh
    {
        state
            .revoke_bounded(refresh, "after a sign-in that failed")
            .await;
    }
    outcome
}

/// Reads the profile, stores the new session and ends the one it replaces.
async fn establish(
    state: &Arc<AppState>,
    jar: &CookieJar,
    headers: &HeaderMap,
    client: ClientAddr,
    login: LoginState,
    existing: Option<(SessionId, SessionRecord)>,
    grant: crate::oidc::Grant,
) -> Result<(CookieJar, Response), Response> {
    let restart = "Start again from GipoNext Connect's sign-in.";
    let bad = |title: &str, detail: &str| bad_request(headers, title, detail);
    let granted = grant
        .scope
        .as_ref()
        .map(|s| s.known)
        .unwrap_or(login.requested)
        .union(ScopeSet::of(&[Scope::OpenId]));

    let userinfo = fetch_userinfo(state, &grant.access).await.map_err(|e| {
        refuse(
            headers,
            e,
            "GipoNext unavailable",
            "Your GipoNext profile could not be read. Try again in a few seconds.",
        )
    })?;
    let Some(tenant) = choose_tenant(state, &userinfo.tenants) else {
        return Err(refuse(
            headers,
            AppError::TenantNotAllowed,
            "Medical centre not enabled",
            "Your medical centre is not enabled on this installation of GipoNext Connect. Ask your administrator.",
        ));
    };

    let now = Utc::now();
    let sub = grant
        .subject
        .clone()
        .unwrap_or_else(|| userinfo.sub.clone());
    // OpenID Connect Core §5.3.2: the profile must be the ID token's subject.
    if userinfo.sub != sub {
        return Err(bad(
            "Sign-in failed",
            &format!("The GipoNext profile does not belong to the signed-in user. {restart}"),
        ));
    }
    // The same person's session goes on (incremental consent, or signing in
    // again): what they declined, and when the session started, carry over.
    // The absolute lifetime counts from the first sign-in (ASVS V3.3.2).
    let same_person = existing.as_ref().filter(|(_, r)| r.user.sub == sub);
    let carried = same_person
        .map(|(_, r)| r.declined.clone())
        .unwrap_or_default();
    let created_at = same_person.map_or(now, |(_, r)| r.created_at.min(now));
    let mut record = SessionRecord {
        user: SessionUser {
            sub,
            name: userinfo.name.clone(),
            email: userinfo.email.clone(),
        },
        tenant,
        granted,
        declined: carried,
        tokens: Tokens {
            access: grant.access,
            access_expires_at: now
                + to_chrono(grant.expires_in.unwrap_or(state.config.timings.session_max)),
            access_issued_at: Some(now),
            refresh: grant.refresh,
            id_token: grant.id_token,
        },
        reauth_required: false,
        created_at,
        last_seen_at: now,
    };
    let refused = login.requested.difference(granted);
    record.record_consent(refused, now);
    state.metrics.consent(if refused.is_empty() {
        ConsentOutcome::Full
    } else {
        ConsentOutcome::Partial
    });

    // Rotate: a new id for the signed-in session (no fixation). It is
    // stored first, so a failed write leaves the browser's session as it
    // was; then the replaced session ends with its grant revoked (RFC 7009):
    // an incremental consent's earlier grant, or the previous person's.
    let id = SessionId::generate();
    let expires_at = record.expires_at(&state.config.timings);
    state
        .sessions
        .save(&id, &record, expires_at)
        .await
        .map_err(|e| AppError::from(e).into_response())?;
    crate::routes::sessions::register(state, &id, &record, headers, client).await;
    if let Some((old, old_record)) = existing {
        let kept = record.tokens.refresh.as_ref().map(Secret::expose);
        crate::routes::sessions::end_replaced(state, &old, &old_record, kept).await;
    }
    state.metrics.login(LoginOutcome::Success);
    tracing::info!(granted = %record.granted, refused = %refused, "signed in");
    let jar = jar
        .clone()
        .add(state.cookies.session_cookie(id.cookie_value()));
    Ok((jar, found(login.return_to.as_str())))
}

/// The provider answered with an error (e.g. the user refused consent):
/// nothing changes but the record of what was declined; the user lands on
/// the app.
async fn provider_error(
    state: &AppState,
    jar: &CookieJar,
    login: &LoginState,
    existing: Option<(SessionId, SessionRecord)>,
    error: &str,
) -> Result<(CookieJar, Response), Response> {
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .take(40)
        .collect();
    state.metrics.login(LoginOutcome::ProviderError);
    if code == "access_denied" {
        state.metrics.consent(ConsentOutcome::Denied);
    }
    tracing::info!(error = %code, "the provider returned an error");
    match existing {
        Some((id, record)) if !record.reauth_required => {
            if code == "access_denied" && !login.incremental.is_empty() {
                let refused = login.incremental;
                crate::refresh::update_session(state, &id, |r| {
                    r.record_consent(refused, Utc::now())
                })
                .await
                .map_err(IntoResponse::into_response)?;
            }
            Ok((jar.clone(), found(login.return_to.as_str())))
        }
        _ => Ok((jar.clone(), found(&format!("/signin?error={code}")))),
    }
}

async fn fetch_userinfo(state: &AppState, access: &Secret) -> Result<UserInfo, AppError> {
    let uri = state
        .api_url("/v2/userinfo", None)
        .map_err(AppError::internal)?;
    let response = state.api.call(ApiRequest::get(uri, access)).await?;
    if !response.status.is_success() {
        return Err(AppError::UpstreamUnavailable(format!(
            "userinfo answered {}",
            response.status
        )));
    }
    serde_json::from_slice::<UserInfo>(&response.body)
        .map_err(|e| AppError::UpstreamUnavailable(format!("userinfo is malformed: {e}")))
}

/// The tenant to work in: the first of the user's tenants that the
/// allow-list permits (any, without an allow-list).
fn choose_tenant(state: &AppState, tenants: &[TenantRef]) -> Option<TenantRef> {
    tenants
        .iter()
        .filter(|t| giponext_shared::operations::is_valid_param(&t.id))
        .find(|t| crate::routes::tenant_allowed(state, &t.id))
        .cloned()
}
