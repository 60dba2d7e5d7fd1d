//! In-context consent: the prompt that asks for a missing scope where it is
//! needed, the support request for a scope outside the registration, the
//! gate that turns a section into its prompt, and the partial-consent notice.

use giponext_shared::features::{Feature, feature};
use giponext_shared::operations::Access;
use giponext_shared::session::{FeatureReason, FeatureState};
use giponext_shared::{FeatureId, Lang, Scope, ScopeSet};
use leptos::prelude::*;

use crate::api::login_url;
use crate::i18n::{join_labels, lang, t};
use crate::session::{current_path, use_session};
use crate::tr;

/// "To show invoices, GipoNext Connect needs access to Invoicing." A feature
/// that only reads is "shown"; one that writes is "done".
pub fn prompt_text(feature: &Feature, missing: ScopeSet, lang: Lang) -> String {
    let labels: Vec<&str> = missing.iter().map(|s| s.label().get(lang)).collect();
    let writes = feature.operations().any(|op| op.access == Access::Write);
    let purpose = feature.purpose.get(lang);
    let scopes = match lang {
        Lang::It => join_labels_in(&labels, " e "),
        Lang::En => join_labels_in(&labels, " and "),
    };
    match (lang, writes) {
        (Lang::It, false) => {
            format!("Per mostrare {purpose}, GipoNext Connect ha bisogno dell'accesso a {scopes}.")
        }
        (Lang::It, true) => {
            format!("Per {purpose}, GipoNext Connect ha bisogno dell'accesso a {scopes}.")
        }
        (Lang::En, false) => {
            format!("To show {purpose}, GipoNext Connect needs access to {scopes}.")
        }
        (Lang::En, true) => format!("To {purpose}, GipoNext Connect needs access to {scopes}."),
    }
}

fn join_labels_in(labels: &[&str], and: &str) -> String {
    match labels {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{}{and}{last}", init.join(", ")),
    }
}

/// The text an administrator sends to GipoNext support to add a scope to
/// the registration (scopes are not self-service on the platform).
pub fn support_request(client_id: &str, scopes: ScopeSet, lang: Lang) -> String {
    let names = scopes.to_wire();
    let uses: Vec<&str> = scopes.iter().map(|s| s.description().get(lang)).collect();
    match lang {
        Lang::It => format!(
            "Oggetto: richiesta di aggiunta scope\nclient_id: {client_id}\nScope da aggiungere: {names}\nMotivo: GipoNext Connect ne ha bisogno per {}",
            uses.join(" ")
        ),
        Lang::En => format!(
            "Subject: request to add scopes\nclient_id: {client_id}\nScopes to add: {names}\nReason: GipoNext Connect needs them to {}",
            uses.join(" ")
        ),
    }
}

/// Asks for the scopes a feature misses, with a button that goes to
/// `/auth/login?scope=...&return_to=<this page>`.
#[component]
pub fn GrantPrompt(
    /// The feature that needs the scopes.
    feature: FeatureId,
    /// The scopes it misses.
    missing: ScopeSet,
    /// Why they are missing.
    #[prop(default = FeatureReason::NotRequested)]
    reason: FeatureReason,
) -> impl IntoView {
    let session = use_session();
    let registered = session
        .info()
        .map(|i| i.scopes.registered)
        .unwrap_or_else(ScopeSet::all);
    let (askable, unregistered) = (
        missing.intersection(registered),
        missing.difference(registered),
    );
    let f = feature_entry(feature);
    let text = prompt_text(f, missing, lang());
    let href = login_url(&askable.iter().collect::<Vec<Scope>>(), &current_path());
    let declined = reason == FeatureReason::Declined;
    view! {
        <div class="prompt" role="region" aria-label=tr!("Accesso necessario", "Access needed")>
            <p class="prompt-text">{text}</p>
            <p class="muted">{t(f.explanation)}</p>
            {declined.then(|| view! {
                <p class="muted">{tr!(
                    "Avevi rifiutato questo accesso: non te lo chiederemo di nuovo finché non lo scegli tu.",
                    "You declined this access earlier: we will not ask again unless you choose to."
                )}</p>
            })}
            {(!askable.is_empty()).then(|| view! {
                <a class="button primary" rel="external" href=href data-grant=askable.to_wire()>
                    {tr!("Concedi accesso", "Grant access")}
                </a>
            })}
            {(!unregistered.is_empty()).then(|| view! { <SupportPanel scopes=unregistered/> })}
        </div>
    }
}

fn feature_entry(id: FeatureId) -> &'static Feature {
    feature(id)
}

/// Explains that a scope outside the registration needs GipoNext support,
/// with the request ready to copy. No grant button: consent cannot add it.
#[component]
pub fn SupportPanel(
    /// The scopes outside the registration.
    scopes: ScopeSet,
) -> impl IntoView {
    let session = use_session();
    let client_id = session.info().map(|i| i.client_id).unwrap_or_default();
    let request = support_request(&client_id, scopes, lang());
    let labels: Vec<&str> = scopes.iter().map(|s| t(s.label())).collect();
    let copied = RwSignal::new(false);
    let to_copy = request.clone();
    let copy = move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&to_copy);
            copied.set(true);
        }
    };
    let id = format!("support-{}", scopes.to_wire().replace([' ', '.'], "-"));
    view! {
        <div class="support" role="note">
            <p>
                {tr!("Questa applicazione non è registrata per: ", "This application is not registered for: ")}
                <strong>{join_labels(&labels)}</strong>
                {tr!(
                    ". Gli scope sono fissati alla registrazione: un amministratore deve chiederne l'aggiunta al supporto GipoNext.",
                    ". Scopes are fixed at registration: an administrator must ask GipoNext support to add them."
                )}
            </p>
            <label for=id.clone()>{tr!("Richiesta al supporto", "Support request")}</label>
            <textarea id=id readonly rows="5" class="support-request">{request}</textarea>
            <button type="button" class="button" on:click=copy>
                {move || if copied.get() { tr!("Copiata", "Copied") } else { tr!("Copia la richiesta", "Copy the request") }}
            </button>
        </div>
    }
}

/// Shows `children` when the feature is usable; otherwise a visibly disabled
/// section with the reason and the prompt.
#[component]
pub fn FeatureGate(
    /// The feature the content needs.
    feature: FeatureId,
    /// The content.
    children: ChildrenFn,
) -> impl IntoView {
    let session = use_session();
    let state = Memo::new(move |_| session.feature(feature));
    let enabled = Memo::new(move |_| state.get().map(|s| s.enabled));
    move || match enabled.get() {
        Some(true) => children().into_any(),
        Some(false) => match state.get_untracked() {
            Some(s) => view! { <DisabledSection state=s/> }.into_any(),
            None => ().into_any(),
        },
        None => view! { <crate::components::Loading/> }.into_any(),
    }
}

#[component]
fn DisabledSection(state: FeatureState) -> impl IntoView {
    let f = feature(state.id);
    let desc = format!("disabled-{}", f.name);
    let described_by = desc.clone();
    view! {
        <section class="section-disabled" aria-disabled="true" aria-describedby=described_by>
            <h3>
                {t(f.title)}
                <span class="badge off">{tr!("non disponibile", "unavailable")}</span>
            </h3>
            <div id=desc>
                <GrantPrompt feature=state.id missing=state.missing reason=state.reason/>
            </div>
        </section>
    }
}

const DISMISS_KEY: &str = "gx.consent_notice_dismissed";

/// After a sign-in where some scopes were refused: one dismissible message
/// saying what is off and how to turn it on. Dismissing it remembers the
/// refusal it was about, so a new refusal shows it again.
#[component]
pub fn PartialConsentBanner() -> impl IntoView {
    let session = use_session();
    let dismissed = RwSignal::new(stored_dismissal());
    let declined = Memo::new(move |_| {
        session.info().map(|i| {
            let mut list: Vec<_> = i
                .scopes
                .declined
                .iter()
                .filter(|d| !i.scopes.granted.contains(d.scope))
                .cloned()
                .collect();
            list.sort_by_key(|d| d.scope);
            let latest = list.iter().map(|d| d.at.to_rfc3339()).max();
            (list, latest)
        })
    });
    move || {
        let (list, latest) = declined.get()?;
        let latest = latest?;
        if dismissed.get().as_deref() == Some(latest.as_str()) {
            return None;
        }
        let labels: Vec<&str> = list.iter().map(|d| t(d.scope.label())).collect();
        let dismiss = move |_| {
            if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
                let _ = s.set_item(DISMISS_KEY, &latest);
            }
            dismissed.set(Some(latest.clone()));
        };
        Some(view! {
            <div class="banner info" role="status" data-test="partial-consent">
                <p>
                    {tr!("Hai scelto di non concedere l'accesso a: ", "You chose not to grant access to: ")}
                    <strong>{join_labels(&labels)}</strong>
                    {tr!(
                        ". Le sezioni che ne hanno bisogno restano visibili ma disattivate; puoi attivarle quando servono, dalla sezione stessa o dalla pagina ",
                        ". The sections that need it stay visible but switched off; you can turn them on when you need them, from the section itself or from the "
                    )}
                    <a href="/access">{tr!("Accessi", "Access page")}</a>"."
                </p>
                <button type="button" class="button small" on:click=dismiss>
                    {tr!("Ho capito", "Dismiss")}
                </button>
            </div>
        })
    }
}

fn stored_dismissal() -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(DISMISS_KEY)
        .ok()?
}

/// Which consent state a scope is in, for the access page.
pub fn scope_reason(info: &giponext_shared::session::SessionInfo, scope: Scope) -> FeatureReason {
    if info.scopes.granted.contains(scope) {
        FeatureReason::Granted
    } else if !info.scopes.registered.contains(scope) {
        FeatureReason::NotRegistered
    } else if info.scopes.declined.iter().any(|d| d.scope == scope) {
        FeatureReason::Declined
    } else {
        FeatureReason::NotRequested
    }
}

/// The label of a reason.
pub fn reason_label(reason: FeatureReason) -> &'static str {
    match reason {
        FeatureReason::Granted => tr!("concesso", "granted"),
        FeatureReason::Declined => tr!("rifiutato da te", "declined by you"),
        FeatureReason::NotRequested => tr!("non ancora richiesto", "not yet asked"),
        FeatureReason::NotRegistered => tr!(
            "non disponibile per questa app",
            "not available to this app"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn prompt_reads_naturally_for_reads_and_writes() {
        let view = feature(FeatureId::ViewInvoices);
        assert_eq!(
            prompt_text(view, ScopeSet::of(&[Scope::Invoices]), Lang::En),
            "To show invoices, GipoNext Connect needs access to Invoicing."
        );
        assert_eq!(
            prompt_text(view, ScopeSet::of(&[Scope::Invoices]), Lang::It),
            "Per mostrare le fatture, GipoNext Connect ha bisogno dell'accesso a Fatturazione."
        );
        let issue = feature(FeatureId::IssueInvoices);
        assert_eq!(
            prompt_text(
                issue,
                ScopeSet::of(&[Scope::Treatments, Scope::Invoices]),
                Lang::En
            ),
            "To issue invoices, GipoNext Connect needs access to Treatments and price lists and Invoicing."
        );
    }

    #[test]
    fn support_request_names_client_and_scope() {
        let text = support_request("my-app", ScopeSet::of(&[Scope::Invoices]), Lang::En);
        assert!(text.contains("client_id: my-app"));
        assert!(text.contains("Scopes to add: giponext.invoices"));
        assert!(text.contains("Reason: "));
    }
}
