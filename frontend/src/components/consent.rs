//! In-context consent: the prompt that asks for a missing scope where it is
//! needed, the support request for a scope outside the registration, the
//! gate that turns a section into its prompt, the partial-consent notice,
//! and the announcement of what a grant turned on.
//!
//! A section that is off is *described*, never `aria-disabled`: that state
//! inherits, so it would also disable the grant button inside, the one
//! control the user needs (issue 15).

use giponext_shared::features::{Feature, feature};
use giponext_shared::operations::Access;
use giponext_shared::session::{FeatureReason, FeatureState};
use giponext_shared::{FeatureId, Lang, Scope, ScopeSet};
use leptos::prelude::*;

use crate::api::login_url;
use crate::i18n::{access_to, join_list, lang, t};
use crate::session::{SessionCtx, current_path, use_session};
use crate::tr;

/// "To show invoices, GipoNext Connect needs access to Invoicing." A feature
/// that only reads is "shown"; one that writes is "done".
pub fn prompt_text(feature: &Feature, missing: ScopeSet, lang: Lang) -> String {
    let labels: Vec<&str> = missing.iter().map(|s| s.label().get(lang)).collect();
    let writes = feature.operations().any(|op| op.access == Access::Write);
    let purpose = feature.purpose.get(lang);
    let scopes = access_to(&labels, lang);
    match (lang, writes) {
        (Lang::It, false) => {
            format!("Per mostrare {purpose}, GipoNext Connect ha bisogno dell'accesso {scopes}.")
        }
        (Lang::It, true) => {
            format!("Per {purpose}, GipoNext Connect ha bisogno dell'accesso {scopes}.")
        }
        (Lang::En, false) => {
            format!("To show {purpose}, GipoNext Connect needs access {scopes}.")
        }
        (Lang::En, true) => format!("To {purpose}, GipoNext Connect needs access {scopes}."),
    }
}

/// The text an administrator sends to GipoNext support to add a scope to
/// the registration (scopes are not self-service on the platform). The
/// reason is one sentence: each scope's description, lowercased after its
/// preposition and without its full stop.
pub fn support_request(client_id: &str, scopes: ScopeSet, lang: Lang) -> String {
    let names = scopes.to_wire();
    let uses: Vec<String> = scopes
        .iter()
        .map(|s| {
            let d = s.description().get(lang);
            let d = d.strip_suffix('.').unwrap_or(d);
            // The descriptions start with an ASCII capital (checked by a
            // test); Unicode's case tables would cost kilobytes of bundle.
            let (first, rest) = d.split_at(d.chars().next().map_or(0, char::len_utf8));
            let to = if lang == Lang::It { "per" } else { "to" };
            format!("{to} {}{rest}", first.to_ascii_lowercase())
        })
        .collect();
    let reason = join_list(&uses, lang);
    let one = uses.len() == 1;
    match lang {
        Lang::It => format!(
            "Oggetto: richiesta di aggiunta di scope alla registrazione\nclient_id: {client_id}\nScope da aggiungere: {names}\nMotivo: GipoNext Connect ne ha bisogno {reason}."
        ),
        Lang::En => format!(
            "Subject: request to add {} to the registration\nclient_id: {client_id}\nScopes to add: {names}\nReason: GipoNext Connect needs {} {reason}.",
            if one { "a scope" } else { "scopes" },
            if one { "it" } else { "them" },
        ),
    }
}

/// Whether the user can turn a feature on themself: "puoi concederlo", or
/// only an administrator through GipoNext support.
pub fn who_can_enable(reason: FeatureReason) -> &'static str {
    match reason {
        FeatureReason::Granted => tr!("attiva", "on"),
        FeatureReason::NotRegistered => tr!("serve l'amministratore", "needs an administrator"),
        _ => tr!("puoi concederlo", "you can grant it"),
    }
}

/// "non disponibile: serve l'accesso a Fatturazione; puoi concederlo", for
/// a feature that is off.
pub fn unavailable_text(state: &FeatureState) -> String {
    let labels: Vec<&str> = state.missing.iter().map(|s| t(s.label())).collect();
    format!(
        "{} {}; {}",
        tr!(
            "non disponibile: serve l'accesso",
            "unavailable: needs access"
        ),
        access_to(&labels, lang()),
        who_can_enable(state.reason)
    )
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
    /// The id of the prompt's sentence (the grant button's description).
    #[prop(optional, into)]
    text_id: Option<String>,
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
    let text_id = text_id.unwrap_or_else(|| format!("prompt-{}", f.name));
    let described = text_id.clone();
    view! {
        <div class="prompt" role="region" aria-label=tr!("Accesso necessario", "Access needed")>
            <p class="prompt-text" id=text_id>{text}</p>
            <p class="muted">{t(f.explanation)}</p>
            {declined.then(|| view! {
                <p class="muted">{tr!(
                    "Avevi rifiutato questo accesso: non te lo chiederemo di nuovo finché non lo scegli tu.",
                    "You declined this access earlier: we will not ask again unless you choose to."
                )}</p>
            })}
            {(!askable.is_empty()).then(|| view! {
                <a class="button primary" rel="external" href=href data-grant=askable.to_wire()
                    aria-describedby=described on:click=move |_| note_leaving(session)>
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
                {tr!("Questa applicazione non è registrata per l'accesso ", "This application is not registered for access ")}
                <strong>{access_to(&labels, lang())}</strong>
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

/// Shows `children` when the feature is usable; otherwise a section that
/// says it is off, why, who can turn it on, and the prompt.
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
    let title = format!("off-{}", f.name);
    let why = format!("{title}-why");
    let admin = state.reason == FeatureReason::NotRegistered;
    let (labelled, described) = (title.clone(), why.clone());
    // Named by its heading (which carries the state), described by the
    // prompt's sentence; nothing in it is disabled.
    view! {
        <section class="section-disabled" aria-labelledby=labelled aria-describedby=described>
            <h3 id=title>
                {t(f.title)}" "
                <span class=if admin { "badge admin" } else { "badge grant" }>
                    {format!("{}: {}", tr!("non disponibile", "unavailable"), who_can_enable(state.reason))}
                </span>
            </h3>
            <GrantPrompt feature=state.id missing=state.missing reason=state.reason text_id=why/>
        </section>
    }
}

const GRANTING_KEY: &str = "gx.granting";

/// As the user leaves for the consent screen: the page and the features on
/// now, so the page can say what the grant turned on when they are back.
fn note_leaving(session: SessionCtx) {
    let on = session.state.with_untracked(|s| match s {
        crate::session::SessionState::Ready(i) => i
            .features
            .iter()
            .filter(|f| f.enabled)
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    });
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = s.set_item(GRANTING_KEY, &format!("{}\n{on}", current_path()));
    }
}

/// Moves focus to the page's heading (made focusable by script only).
pub fn focus_heading() {
    use wasm_bindgen::JsCast;
    if let Some(h) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("main h1").ok().flatten())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = h.set_attribute("tabindex", "-1");
        let _ = h.focus();
    }
}

/// Back from a consent screen on the page it was asked from: focus on the
/// page's heading and, in a polite live region, what is now on (or that
/// nothing changed).
#[component]
pub fn GrantAnnouncer() -> impl IntoView {
    let session = use_session();
    let said = RwSignal::new(String::new());
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let Some(info) = session.info() else {
            return false;
        };
        let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) else {
            return true;
        };
        let Some(noted) = s.get_item(GRANTING_KEY).ok().flatten() else {
            return true;
        };
        let _ = s.remove_item(GRANTING_KEY);
        let (path, before) = noted.split_once('\n').unwrap_or((&noted, ""));
        if path != current_path() {
            return true;
        }
        let was_on: Vec<&str> = before.split(',').collect();
        let now_on: Vec<String> = info
            .features
            .iter()
            .filter(|f| f.enabled && !was_on.contains(&f.id.as_str()))
            .map(|f| t(feature(f.id).title).to_owned())
            .collect();
        let text = if now_on.is_empty() {
            tr!(
                "Nessun nuovo accesso concesso.",
                "No new access was granted."
            )
            .to_owned()
        } else {
            format!(
                "{} {}.",
                tr!(
                    "Accesso concesso: ora puoi usare",
                    "Access granted: you can now use"
                ),
                join_list(&now_on, lang())
            )
        };
        // After the page has rendered: the heading first, then the news
        // into a region that already exists (so it is announced).
        set_timeout(
            move || {
                focus_heading();
                said.set(text);
            },
            std::time::Duration::from_millis(200),
        );
        true
    });
    // Always in the page, empty until there is news (`.live:empty` takes
    // no room), so the change is announced.
    view! {
        <p role="status" aria-live="polite" class="live" data-test="grant-announcement">
            {move || said.get()}
        </p>
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
        // The button (or Escape inside the notice) removes it: focus goes
        // to the page's heading rather than to nowhere.
        let dismiss = Callback::new(move |()| {
            if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
                let _ = s.set_item(DISMISS_KEY, &latest);
            }
            dismissed.set(Some(latest.clone()));
            focus_heading();
        });
        Some(view! {
            <div class="banner info" role="status" data-test="partial-consent"
                on:keydown=move |ev| if ev.key() == "Escape" { dismiss.run(()) }>
                <p>
                    {tr!("Hai scelto di non concedere l'accesso ", "You chose not to grant access ")}
                    <strong>{access_to(&labels, lang())}</strong>
                    {tr!(
                        ". Le sezioni che ne hanno bisogno restano visibili, non disponibili finché non lo concedi: puoi farlo quando serve, dalla sezione stessa o dalla pagina ",
                        ". The sections that need it stay visible, unavailable until you grant it: you can do so when you need them, from the section itself or from the "
                    )}
                    <a href="/access">{tr!("Accessi", "Access page")}</a>"."
                </p>
                <button type="button" class="button small" on:click=move |_| dismiss.run(())>
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
            "To issue invoices, GipoNext Connect needs access to Treatments and price lists and to Invoicing."
        );
        assert_eq!(
            prompt_text(
                issue,
                ScopeSet::of(&[Scope::Treatments, Scope::Invoices]),
                Lang::It
            ),
            "Per emettere fatture, GipoNext Connect ha bisogno dell'accesso a Prestazioni e listini e a Fatturazione."
        );
        let agenda = feature(FeatureId::ViewAgenda);
        assert_eq!(
            prompt_text(agenda, ScopeSet::of(&[Scope::Agenda]), Lang::It),
            "Per mostrare l'agenda, GipoNext Connect ha bisogno dell'accesso ad Agenda."
        );
    }

    #[test]
    fn support_request_names_client_and_scope() {
        let text = support_request("my-app", ScopeSet::of(&[Scope::Invoices]), Lang::En);
        assert!(text.contains("client_id: my-app"));
        assert!(text.contains("Scopes to add: giponext.invoices"));
        assert!(text.contains("Reason: "));
    }

    #[test]
    fn scope_descriptions_start_with_an_ascii_capital() {
        for scope in Scope::ALL {
            for lang in [Lang::It, Lang::En] {
                let d = scope.description().get(lang);
                assert!(d.starts_with(|c: char| c.is_ascii_uppercase()), "{d}");
            }
        }
    }

    #[test]
    fn support_request_reads_as_sentences() {
        let both = ScopeSet::of(&[Scope::Treatments, Scope::Invoices]);
        let it = support_request("app", both, Lang::It);
        assert!(
            it.ends_with(
                "Motivo: GipoNext Connect ne ha bisogno per leggere il catalogo delle prestazioni e i listini prezzi e per leggere ed emettere documenti di vendita (fatture)."
            ),
            "{it}"
        );
        assert!(it.starts_with("Oggetto: richiesta di aggiunta di scope alla registrazione\n"));
        let en = support_request("app", both, Lang::En);
        assert!(
            en.ends_with(
                "Reason: GipoNext Connect needs them to read the treatment catalogue and price lists and to read and issue sales documents (invoices)."
            ),
            "{en}"
        );
        let one = support_request("app", ScopeSet::of(&[Scope::Invoices]), Lang::En);
        assert!(
            one.starts_with("Subject: request to add a scope to the registration\n"),
            "{one}"
        );
        assert!(
            one.ends_with("needs it to read and issue sales documents (invoices)."),
            "{one}"
        );
    }
}
