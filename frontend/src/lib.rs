//! The staff web console of GipoNext Connect (Leptos, client-side rendered).
//!
//! It never sees a token. It reads the session from the backend
//! (`GET /api/session`), calls GipoNext through the backend's proxy
//! (`/api/giponext/v2/...`, with `X-CSRF: 1` and same-origin cookies), and
//! signs in and asks for more access by navigating to `/auth/login`.
//!
//! Its point is partial consent: every section stays in the navigation and
//! follows the granted scopes from the shared feature catalogue; a missing
//! scope turns a view into a prompt that asks for it in context; nothing
//! typed is lost to the round trip (see [`drafts`]).
//!
//! - [`api`]: every HTTP call, with typed failures.
//! - [`session`]: the session context.
//! - [`i18n`]: Italian (default) and English.
//! - [`drafts`]: form drafts in `sessionStorage`, sealed per person.
//! - [`desk`]: the tabs of a shared workstation follow each other.
//! - [`components`]: prompts, gates, navigation, states.
//! - [`pages`]: one file per page.
//! - [`router`]: client-side navigation.

pub mod api;
pub mod components;
pub mod desk;
pub mod drafts;
pub mod i18n;
pub mod pages;
pub mod router;
pub mod session;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use components::{Header, Nav, PartialConsentBanner, SandboxBanner};
use router::{Router, use_location};
use session::{SessionCtx, SessionState, use_session};

/// The whole console.
#[component]
pub fn App() -> impl IntoView {
    let lang = i18n::provide_lang();
    SessionCtx::provide();
    view! {
        <Router>
            // Re-render on a language change: texts are plain strings.
            {move || {
                let _ = lang.0.get();
                view! { <Shell/> }
            }}
        </Router>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    Failed,
    SignedOut,
    SignedIn,
}

/// The frame around the pages: signed in, the header, navigation and
/// routes; signed out, the sign-in page.
#[component]
fn Shell() -> impl IntoView {
    let session = use_session();
    let phase = Memo::new(move |_| {
        session.state.with(|s| match s {
            SessionState::Loading => Phase::Loading,
            SessionState::Failed(_) => Phase::Failed,
            SessionState::Ready(i) if i.authenticated => Phase::SignedIn,
            SessionState::Ready(_) => Phase::SignedOut,
        })
    });
    move || match phase.get() {
        Phase::Loading => view! { <components::Loading/> }.into_any(),
        Phase::Failed => {
            let failure = session.state.with_untracked(|s| match s {
                SessionState::Failed(f) => Some(f.clone()),
                _ => None,
            });
            view! {
                <main class="centered">
                    {failure.map(|f| view! {
                        <components::FailureView failure=f retry=Callback::new(move |_| session.reload())/>
                    })}
                </main>
            }
            .into_any()
        }
        Phase::SignedOut => view! {
            <Header/>
            <pages::SignIn/>
        }
        .into_any(),
        Phase::SignedIn => view! { <SignedIn/> }.into_any(),
    }
}

#[component]
fn SignedIn() -> impl IntoView {
    components::PatientDirectory::provide();
    components::watch_idle(crate::session::use_session());
    let location = use_location();
    // Focus management: after a client-side navigation, move focus to the
    // page's main region so screen readers announce the new page.
    Effect::new(move |prev: Option<String>| {
        let path = location.pathname.get();
        if prev.is_some_and(|p| p != path) {
            focus_main();
        }
        path
    });
    view! {
        <a class="skip-link" href="#main">{tr!("Vai al contenuto", "Skip to content")}</a>
        <Header/>
        <SandboxBanner/>
        <div class="layout">
            <Nav/>
            <main id="main" tabindex="-1">
                <PartialConsentBanner/>
                <components::GrantAnnouncer/>
                {move || route(location.pathname.get())}
            </main>
        </div>
    }
}

/// The page for `path`; a route is rendered again only when it changes.
fn route(path: String) -> impl IntoView {
    // Trailing slashes match as in `leptos_router` (`/patients/` = `/patients`).
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let page: fn() -> AnyView = match path {
        "/" => || pages::Home().into_any(),
        "/signin" => || pages::SignIn().into_any(),
        "/patients" => || pages::Patients().into_any(),
        "/patients/new" => || pages::PatientNew().into_any(),
        "/agenda" => || pages::Agenda().into_any(),
        "/treatments" => || pages::Treatments().into_any(),
        "/episodes" => || pages::Episodes().into_any(),
        "/reports" => || pages::Reports().into_any(),
        "/invoices" => || pages::Invoices().into_any(),
        "/access" => || pages::Access().into_any(),
        p if p
            .strip_prefix("/patients/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            || pages::PatientDetail().into_any()
        }
        _ => || pages::NotFound().into_any(),
    };
    // Like the `view!` macro: a page's body does not subscribe the route.
    untrack(page)
}

/// Moves focus to the page's main region.
pub(crate) fn focus_main() {
    if let Some(main) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("main"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = main.focus();
    }
}

/// Mounts the console on `<body>`.
pub fn start() {
    leptos::mount::mount_to_body(App);
}

// Unit tests that touch browser storage run in the browser, like the rest.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
