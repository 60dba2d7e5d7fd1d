//! Loading, empty and error states, and the notice of a restored draft.

use giponext_shared::features::FEATURES;
use giponext_shared::session::{FeatureReason, ProblemType};
use giponext_shared::{FeatureId, Scope, ScopeSet};
use leptos::prelude::*;

use crate::api::{Failure, login_url};
use crate::components::{GrantPrompt, SupportPanel};
use crate::session::{current_path, use_session};
use crate::tr;

/// A loading indicator, announced to screen readers.
#[component]
pub fn Loading() -> impl IntoView {
    view! {
        <div class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {tr!("Caricamento…", "Loading…")}
        </div>
    }
}

/// An empty list.
#[component]
pub fn Empty(
    /// What is empty.
    text: &'static str,
) -> impl IntoView {
    view! { <p class="empty">{text}</p> }
}

/// What a failed call means for the user, with the way forward: a grant
/// prompt for a missing scope, a sign-in for a lost session, a retry for a
/// transient error.
#[component]
pub fn FailureView(
    /// The failure.
    failure: Failure,
    /// Tries again.
    #[prop(optional, into)]
    retry: Option<Callback<()>>,
) -> impl IntoView {
    let session = use_session();
    match &failure {
        Failure::Problem(p) if p.kind == ProblemType::ScopeMissing => {
            // The session's features are stale (a later consent or a refresh
            // shrank the grant): read them again so the navigation follows.
            session.reload();
            let missing = p.scope.map(|s| ScopeSet::of(&[s])).unwrap_or_default();
            let feature = p
                .feature
                .or_else(|| {
                    let scope = p.scope?;
                    FEATURES
                        .iter()
                        .find(|f| f.requires.contains(scope))
                        .map(|f| f.id)
                })
                .unwrap_or(FeatureId::BrowsePatients);
            return view! {
                <GrantPrompt feature=feature missing=missing reason=FeatureReason::NotRequested/>
            }
            .into_any();
        }
        Failure::Problem(p) if p.kind == ProblemType::ScopeNotRegistered => {
            let scopes = p.scope.map(|s| ScopeSet::of(&[s])).unwrap_or_default();
            return view! { <SupportPanel scopes=scopes/> }.into_any();
        }
        _ => {}
    }
    // Signing in again asks for what was granted: a session the backend
    // lost entirely would otherwise come back with the essentials only.
    let granted: Vec<Scope> = session
        .info()
        .map(|i| {
            i.scopes
                .granted
                .iter()
                .filter(|s| !s.is_protocol())
                .collect()
        })
        .unwrap_or_default();
    let (message, action) = describe(&failure, &granted);
    let retry = retry.filter(|_| failure.is_transient() || action.is_none());
    view! {
        <div class="error" role="alert">
            <p>{message}</p>
            {action.map(|(href, label)| view! {
                <a class="button primary" rel="external" href=href>{label}</a>
            })}
            {retry.map(|cb| view! {
                <button type="button" class="button" on:click=move |_| cb.run(())>
                    {tr!("Riprova", "Try again")}
                </button>
            })}
        </div>
    }
    .into_any()
}

fn describe(failure: &Failure, granted: &[Scope]) -> (String, Option<(String, &'static str)>) {
    let sign_in = || {
        Some((
            login_url(granted, &current_path()),
            tr!("Accedi di nuovo", "Sign in again"),
        ))
    };
    match failure {
        Failure::Problem(p) => match p.kind {
            ProblemType::PermissionDenied => (
                tr!(
                    "Il tuo ruolo in GipoNext non ti consente questa operazione. Chiedi all'amministratore del centro.",
                    "Your own GipoNext role does not allow this. Ask your centre's administrator."
                )
                .into(),
                None,
            ),
            ProblemType::ReauthRequired | ProblemType::Unauthenticated => (
                tr!(
                    "La sessione con GipoNext è scaduta. Accedi di nuovo: quello che stavi scrivendo resta salvato.",
                    "Your GipoNext session has expired. Sign in again: what you were typing is kept."
                )
                .into(),
                // Not the backend's bare `login_url`: back to this page,
                // where the draft waits.
                sign_in(),
            ),
            ProblemType::RateLimited => (
                format!(
                    "{} {}s.",
                    tr!("Troppe richieste: riprova tra", "Too many requests: try again in"),
                    p.retry_after.unwrap_or(5)
                ),
                None,
            ),
            ProblemType::SessionUnavailable => (
                format!(
                    "{} {}s.",
                    tr!(
                        "Il servizio delle sessioni è momentaneamente non disponibile; sei ancora collegato. Riprova tra",
                        "The session service is temporarily unavailable; you are still signed in. Try again in"
                    ),
                    p.retry_after.unwrap_or(2)
                ),
                None,
            ),
            ProblemType::UpstreamUnavailable | ProblemType::UpstreamTimeout => (
                tr!(
                    "GipoNext non risponde in questo momento.",
                    "GipoNext is not answering right now."
                )
                .into(),
                None,
            ),
            ProblemType::TenantNotAllowed => (
                tr!(
                    "Il tuo centro medico non è abilitato qui: chiedi all'amministratore.",
                    "Your medical centre is not enabled here: ask your administrator."
                )
                .into(),
                None,
            ),
            _ => (p.detail.clone().unwrap_or_else(|| p.title.clone()), None),
        },
        Failure::Api { status: 404, .. } => (
            tr!("Non trovato.", "Not found.").into(),
            None,
        ),
        Failure::Api { status: 409, .. } => (
            tr!(
                "Qualcun altro ha modificato questi dati nel frattempo. Ricarica e riprova.",
                "Someone else changed this meanwhile. Reload and try again."
            )
            .into(),
            None,
        ),
        Failure::Api { status: 422, error } => {
            // Each field's reason in the console's language when the API
            // gives its code; the API's own text otherwise.
            let detail = if error.fields.is_empty() {
                error.message.clone()
            } else {
                error
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, crate::i18n::field_message(f)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            (format!("{} {detail}", tr!("Dati non validi:", "Invalid data:")), None)
        }
        Failure::Api { error, .. } => (error.message.clone(), None),
        Failure::Network(_) | Failure::Http(_) | Failure::Decode(_) => (
            tr!(
                "Impossibile contattare il server.",
                "Could not reach the server."
            )
            .into(),
            None,
        ),
    }
}

/// Says that a form was restored from a draft, with a way to discard it.
#[component]
pub fn RestoredNotice(
    /// Whether the form was restored.
    restored: RwSignal<bool>,
    /// Discards the draft.
    #[prop(into)]
    discard: Callback<()>,
) -> impl IntoView {
    move || {
        restored.get().then(|| {
            view! {
                <div class="banner notice" role="status" data-test="draft-restored">
                    <p>{tr!(
                        "Abbiamo ripristinato la bozza che stavi compilando.",
                        "We restored the draft you were filling in."
                    )}</p>
                    <button type="button" class="button small" on:click=move |_| restored.set(false)>
                        {tr!("Ok", "OK")}
                    </button>
                    <button type="button" class="button small" on:click=move |_| discard.run(())>
                        {tr!("Scarta la bozza", "Discard draft")}
                    </button>
                </div>
            }
        })
    }
}
