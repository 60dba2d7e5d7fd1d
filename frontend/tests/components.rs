//! Component tests, in headless Chromium (wasm-bindgen-test): the consent
//! prompts, the gates, the support panel, the partial-consent notice and the
//! drafts behave as staff should see them.
//!
//! Run: `cargo test -p giponext-console --target wasm32-unknown-unknown`
//! (with `CHROMEDRIVER=/usr/bin/chromedriver`).

#![allow(missing_docs)]
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use giponext_console::api::Failure;
use giponext_console::components::{
    FailureView, FeatureGate, GrantPrompt, Nav, PartialConsentBanner,
};
use giponext_console::i18n::provide_lang;
use giponext_console::pages::Reports;
use giponext_console::session::SessionCtx;
use giponext_shared::api::TenantRef;
use giponext_shared::session::{
    DeclinedScope, DraftKey, Problem, ProblemType, ScopesInfo, SessionInfo, SessionUser,
    feature_states,
};
use giponext_shared::{FeatureId, GrantedScopes, RegisteredScopes, Scope, ScopeSet};
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn session(granted: ScopeSet, declined: &[Scope], registered: ScopeSet) -> SessionInfo {
    let declined_set: ScopeSet = declined.iter().copied().collect();
    SessionInfo {
        authenticated: true,
        sandbox: true,
        client_id: "giponext-connect-web".into(),
        user: Some(SessionUser {
            sub: "u1".into(),
            name: "Mario Rossi".into(),
            email: None,
        }),
        tenant: Some(TenantRef {
            id: "tenant-abc123".into(),
            name: "Poliambulatorio San Marco".into(),
        }),
        scopes: ScopesInfo {
            granted,
            declined: declined
                .iter()
                .map(|s| DeclinedScope {
                    scope: *s,
                    at: Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap(),
                })
                .collect(),
            registered,
            not_registered: ScopeSet::all().difference(registered),
        },
        features: feature_states(
            GrantedScopes::new(granted),
            declined_set,
            RegisteredScopes::new(registered),
        ),
        token: None,
        expires_at: None,
        idle_seconds_left: None,
        absolute_seconds_left: None,
        draft_key: None,
        offline_access_withheld: false,
    }
}

fn essentials() -> ScopeSet {
    ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess, Scope::Patients])
}

/// A fresh container in the document, and the language chosen.
fn container(lang: &str) -> web_sys::HtmlElement {
    let window = web_sys::window().unwrap();
    window
        .local_storage()
        .unwrap()
        .unwrap()
        .set_item("gx.lang", lang)
        .unwrap();
    let document = window.document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

fn query(root: &web_sys::HtmlElement, selector: &str) -> Option<web_sys::Element> {
    root.query_selector(selector).unwrap()
}

fn all(root: &web_sys::HtmlElement, selector: &str) -> Vec<web_sys::Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into().ok())
        .collect()
}

#[wasm_bindgen_test]
fn grant_prompt_says_what_and_links_to_incremental_login() {
    let root = container("en");
    let info = session(essentials(), &[], ScopeSet::all());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <GrantPrompt feature=FeatureId::ViewInvoices missing=ScopeSet::of(&[Scope::Invoices])/> }
    });
    let text = root.text_content().unwrap();
    assert!(
        text.contains("To show invoices, GipoNext Connect needs access to Invoicing."),
        "{text}"
    );
    let link = query(&root, "a.button").expect("a grant button");
    let href = link.get_attribute("href").unwrap();
    assert!(
        href.starts_with("/auth/login?scope=giponext.invoices&return_to=%2F"),
        "{href}"
    );
    assert_eq!(link.text_content().unwrap().trim(), "Grant access");
    assert_eq!(link.get_attribute("rel").as_deref(), Some("external"));
}

#[wasm_bindgen_test]
fn italian_is_the_default_language() {
    let root = container("");
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .remove_item("gx.lang")
        .unwrap();
    let info = session(essentials(), &[], ScopeSet::all());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <GrantPrompt feature=FeatureId::ViewInvoices missing=ScopeSet::of(&[Scope::Invoices])/> }
    });
    let text = root.text_content().unwrap();
    assert!(
        text.contains(
            "Per mostrare le fatture, GipoNext Connect ha bisogno dell'accesso a Fatturazione."
        ),
        "{text}"
    );
    assert!(text.contains("Concedi accesso"));
}

#[wasm_bindgen_test]
fn a_missing_scope_disables_the_section_with_its_prompt() {
    let root = container("en");
    let info = session(essentials(), &[Scope::Invoices], ScopeSet::all());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! {
            <FeatureGate feature=FeatureId::ViewInvoices><p id="secret">"invoice list"</p></FeatureGate>
            <FeatureGate feature=FeatureId::BrowsePatients><p id="patients">"patient list"</p></FeatureGate>
        }
    });
    assert!(
        query(&root, "#secret").is_none(),
        "gated content is not rendered"
    );
    assert!(
        query(&root, "#patients").is_some(),
        "granted content is rendered"
    );
    let section = query(&root, "section.section-disabled").expect("a section that is off");
    // Described, not aria-disabled: that would disable the grant button.
    assert_eq!(section.get_attribute("aria-disabled"), None);
    let title = section.get_attribute("aria-labelledby").unwrap();
    let heading = query(&root, &format!("#{title}")).expect("the section's heading");
    assert_eq!(
        heading.text_content().unwrap(),
        "Invoices unavailable: you can grant it"
    );
    let described = section.get_attribute("aria-describedby").unwrap();
    assert!(
        query(&root, &format!("#{described}")).is_some(),
        "the reason is linked for screen readers"
    );
    let text = section.text_content().unwrap();
    assert!(text.contains("You declined this access earlier"), "{text}");
    assert!(query(&root, "a[data-grant='giponext.invoices']").is_some());
}

#[wasm_bindgen_test]
fn an_unregistered_scope_gets_a_support_request_not_a_button() {
    let root = container("en");
    let registered = ScopeSet::all().difference(ScopeSet::of(&[Scope::Invoices]));
    let info = session(essentials(), &[], registered);
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <FeatureGate feature=FeatureId::ViewInvoices><p>"never"</p></FeatureGate> }
    });
    assert!(query(&root, "a[data-grant]").is_none(), "no grant button");
    let request = query(&root, "textarea.support-request").expect("the support request");
    let text: String = request
        .unchecked_into::<web_sys::HtmlTextAreaElement>()
        .value();
    assert!(text.contains("client_id: giponext-connect-web"), "{text}");
    assert!(text.contains("Scopes to add: giponext.invoices"), "{text}");
    assert!(
        root.text_content()
            .unwrap()
            .contains("administrator must ask GipoNext support")
    );
}

#[wasm_bindgen_test]
async fn scope_missing_from_a_call_turns_the_view_into_the_prompt() {
    let root = container("en");
    let info = session(essentials(), &[], ScopeSet::all());
    let problem = |kind| {
        Failure::Problem(Problem {
            kind,
            title: "t".into(),
            status: 403,
            detail: None,
            scope: Some(Scope::MedicalReports),
            feature: Some(FeatureId::ReadMedicalReports),
            grant_url: None,
            login_url: None,
            retry_after: None,
        })
    };
    let (missing, denied) = (
        problem(ProblemType::ScopeMissing),
        problem(ProblemType::PermissionDenied),
    );
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! {
            <div id="a"><FailureView failure=missing.clone()/></div>
            <div id="b"><FailureView failure=denied.clone()/></div>
        }
    });
    let a = query(&root, "#a").unwrap().text_content().unwrap();
    assert!(
        a.contains("To show medical reports, GipoNext Connect needs access to Medical reports."),
        "{a}"
    );
    assert!(query(&root, "#a a[data-grant='giponext.medicalreports']").is_some());
    let b = query(&root, "#b").unwrap().text_content().unwrap();
    assert!(
        b.contains("Your own GipoNext role does not allow this"),
        "{b}"
    );
    assert!(query(&root, "#b a[data-grant]").is_none());
}

#[wasm_bindgen_test]
async fn partial_consent_notice_is_shown_once_and_dismissed() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.remove_item("gx.consent_notice_dismissed").unwrap();
    let root = container("en");
    let info = session(
        essentials(),
        &[Scope::Invoices, Scope::MedicalReports],
        ScopeSet::all(),
    );
    let i2 = info.clone();
    let h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(i2.clone());
        view! { <PartialConsentBanner/> }
    });
    let banner = query(&root, "[data-test='partial-consent']").expect("the notice");
    let text = banner.text_content().unwrap();
    assert!(
        text.contains("not to grant access to Medical reports and to Invoicing."),
        "{text}"
    );
    let button: web_sys::HtmlElement = query(&root, "[data-test='partial-consent'] button")
        .unwrap()
        .unchecked_into();
    button.click();
    leptos::task::tick().await;
    assert!(
        query(&root, "[data-test='partial-consent']").is_none(),
        "dismissed"
    );
    drop(h);
    // Mounted again (a reload): the same refusal stays dismissed.
    let root2 = container("en");
    let _h2 = mount_to(root2.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <PartialConsentBanner/> }
    });
    assert!(query(&root2, "[data-test='partial-consent']").is_none());
}

#[wasm_bindgen_test]
async fn navigation_keeps_every_section_and_marks_the_disabled_ones() {
    let root = container("en");
    let info = session(essentials(), &[Scope::Invoices], ScopeSet::all());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <giponext_console::router::Router><Nav/></giponext_console::router::Router> }
    });
    let links = all(&root, "nav a");
    assert_eq!(links.len(), 8, "every section stays in the navigation");
    let invoices = query(&root, "nav a[data-section='/invoices']").unwrap();
    // Unavailable, in words, but still a working link: not aria-disabled.
    assert_eq!(invoices.get_attribute("aria-disabled"), None);
    assert!(
        invoices
            .text_content()
            .unwrap()
            .contains("(unavailable: needs access to Invoicing; you can grant it)")
    );
    let patients = query(&root, "nav a[data-section='/patients']").unwrap();
    assert_eq!(patients.get_attribute("aria-disabled"), None);
    assert_eq!(patients.text_content().unwrap(), "Patients");
}

/// Waits for the background sealing of a draft (WebCrypto) to finish.
async fn settle() {
    let promise = js_sys::Promise::new(&mut |done, _| {
        let _ = web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&done, 50);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[wasm_bindgen_test]
async fn a_report_draft_survives_and_is_restored_with_a_notice() {
    use giponext_console::drafts;
    let storage = web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap();
    // Chiara's draft from an earlier visit, sealed under her key.
    let chiara = DraftKey {
        id: "00000000000000c1".into(),
        key: "c1".repeat(32),
    };
    let stored_name = "gx.draft.00000000000000c1.medical-report";
    drafts::clear_all();
    drafts::unlock(&chiara).await;
    drafts::save(
        "medical-report",
        &serde_json::json!({"patient_id": "", "title": "Visita cardiologica", "body": "Paziente in buone condizioni."}),
    );
    settle().await;
    let sealed = storage
        .get_item(stored_name)
        .unwrap()
        .expect("sealed draft stored");
    assert!(
        !sealed.contains("Visita"),
        "sealed, not plain text: {sealed}"
    );
    // A new page of the same person: her drafts open before the form renders.
    drafts::unlock(&chiara).await;
    let root = container("en");
    let info = session(essentials(), &[], ScopeSet::all());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <giponext_console::router::Router><Reports/></giponext_console::router::Router> }
    });
    leptos::task::tick().await;
    assert!(
        query(&root, "[data-test='draft-restored']").is_some(),
        "restored notice"
    );
    let title: web_sys::HtmlInputElement = query(&root, "#report-title").unwrap().unchecked_into();
    assert_eq!(title.value(), "Visita cardiologica");
    // The write feature is off: the form says so in context, with the prompt.
    let text = root.text_content().unwrap();
    assert!(
        text.contains(
            "To write a medical report, GipoNext Connect needs access to Medical reports."
        ),
        "{text}"
    );
    // Typing keeps the draft up to date, sealed.
    title.set_value("Visita di controllo");
    let event = web_sys::Event::new("input").unwrap();
    title.dispatch_event(&event).unwrap();
    leptos::task::tick().await;
    settle().await;
    let stored = storage.get_item(stored_name).unwrap().unwrap();
    assert_ne!(stored, sealed, "sealed again after the change");
    assert!(!stored.contains("controllo"), "{stored}");
    drafts::unlock(&chiara).await;
    let reopened = drafts::load::<serde_json::Value>("medical-report").expect("opens for Chiara");
    assert_eq!(reopened["title"], "Visita di controllo");
    // Another person at the same browser: nothing opens.
    drafts::unlock(&DraftKey {
        id: "00000000000000d2".into(),
        key: "d2".repeat(32),
    })
    .await;
    assert_eq!(drafts::load::<serde_json::Value>("medical-report"), None);
    // Discarding (as Chiara) clears it.
    drafts::unlock(&chiara).await;
    let discard: web_sys::HtmlElement = all(&root, "[data-test='draft-restored'] button")
        .pop()
        .unwrap()
        .unchecked_into();
    discard.click();
    leptos::task::tick().await;
    assert_eq!(storage.get_item(stored_name).unwrap(), None);
    assert_eq!(title.value(), "");
}

#[component]
fn WhereAmI() -> impl IntoView {
    let here = giponext_console::router::use_location();
    view! {
        <p id="where">{move || format!("{}|{}", here.pathname.get(), here.query("error").unwrap_or_default())}</p>
    }
}

#[wasm_bindgen_test]
async fn the_router_follows_an_internal_link_in_page() {
    let window = web_sys::window().unwrap();
    let before = window.location().href().unwrap();
    let root = container("en");
    let _h = mount_to(root.clone(), move || {
        view! {
            <giponext_console::router::Router>
                <a id="inner" href="/treatments?error=a%20b">"in"</a>
                <WhereAmI/>
            </giponext_console::router::Router>
        }
    });
    let link: web_sys::HtmlElement = query(&root, "#inner").unwrap().unchecked_into();
    link.click();
    leptos::task::tick().await;
    let where_text = query(&root, "#where").unwrap().text_content().unwrap();
    let path = window.location().pathname().unwrap();
    // Put the test page's address back before asserting.
    window
        .history()
        .unwrap()
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&before))
        .unwrap();
    assert_eq!(path, "/treatments", "pushState, no reload");
    assert_eq!(where_text, "/treatments|a b");
}

#[wasm_bindgen_test]
async fn connected_sessions_mark_this_one_and_revoke_the_others() {
    use giponext_console::components::SessionList;
    use giponext_shared::session::ConnectedSession;
    let root = container("en");
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
    let row = |id: &str, ua: &str, current: bool| ConnectedSession {
        id: id.into(),
        user_agent: ua.into(),
        address: Some("192.0.2.7".into()),
        started: at,
        last_seen: at,
        scopes: essentials(),
        current,
    };
    let sessions = vec![
        row("aaa1", "Firefox on Linux", true),
        row("bbb2", "Chrome on Windows", false),
    ];
    let revoked = RwSignal::new(String::new());
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        view! { <SessionList sessions=sessions.clone() revoke=move |id| revoked.set(id)/> }
    });
    assert_eq!(all(&root, "tr[data-session]").len(), 2);
    let mine = query(&root, "tr[data-session='aaa1']").unwrap();
    let text = mine.text_content().unwrap();
    assert!(text.contains("Firefox on Linux"), "{text}");
    assert!(
        text.contains("192.0.2.7"),
        "the address it signed in from: {text}"
    );
    assert!(text.contains("This session"), "{text}");
    assert!(text.contains("2026"), "{text}");
    assert!(text.contains("giponext.patients"), "{text}");
    assert!(
        query(&root, "[data-revoke='aaa1']").is_none(),
        "no revoking oneself here"
    );
    let button: web_sys::HtmlElement = query(&root, "[data-revoke='bbb2']")
        .unwrap()
        .unchecked_into();
    assert_eq!(button.text_content().unwrap().trim(), "Revoke");
    button.click();
    assert_eq!(revoked.get_untracked(), "bbb2");

    // Italian.
    let root = container("it");
    let one = vec![row("ccc3", "Safari on macOS", true)];
    let _h2 = mount_to(root.clone(), move || {
        provide_lang();
        view! { <SessionList sessions=one.clone() revoke=|_| {}/> }
    });
    assert!(root.text_content().unwrap().contains("Questa sessione"));
}

#[wasm_bindgen_test]
async fn a_session_store_outage_is_a_retryable_message() {
    let root = container("en");
    let info = session(essentials(), &[], ScopeSet::all());
    let failure = Failure::Problem(Problem {
        kind: ProblemType::SessionUnavailable,
        title: "Session service temporarily unavailable".into(),
        status: 503,
        detail: None,
        scope: None,
        feature: None,
        grant_url: None,
        login_url: None,
        retry_after: Some(2),
    });
    assert!(failure.is_transient());
    let retried = RwSignal::new(false);
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <FailureView failure=failure.clone() retry=Callback::new(move |_| retried.set(true))/> }
    });
    let text = root.text_content().unwrap();
    assert!(
        text.contains("The session service is temporarily unavailable; you are still signed in. Try again in 2s."),
        "{text}"
    );
    assert!(
        query(&root, "a[href^='/auth/login']").is_none(),
        "not a sign-in"
    );
    let retry: web_sys::HtmlElement = query(&root, "[role='alert'] button")
        .unwrap()
        .unchecked_into();
    retry.click();
    assert!(retried.get_untracked());
}

#[wasm_bindgen_test]
async fn a_centre_no_longer_allowed_is_told_in_the_consoles_language() {
    // The backend's own title is English; the console says it in Italian.
    let root = container("it");
    let info = session(essentials(), &[], ScopeSet::all());
    let failure = Failure::Problem(Problem {
        kind: ProblemType::TenantNotAllowed,
        title: "Medical centre not enabled".into(),
        status: 403,
        detail: Some("Your medical centre is not enabled on this installation of GipoNext Connect; ask your administrator.".into()),
        scope: None,
        feature: None,
        grant_url: None,
        login_url: None,
        retry_after: None,
    });
    let _h = mount_to(root.clone(), move || {
        provide_lang();
        SessionCtx::provide_fixed(info.clone());
        view! { <FailureView failure=failure.clone()/> }
    });
    let text = root.text_content().unwrap();
    assert!(
        text.contains("Il tuo centro medico non è abilitato qui: chiedi all'amministratore."),
        "{text}"
    );
    assert!(!text.contains("Medical centre"), "{text}");
}
