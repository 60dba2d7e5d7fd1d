//! The header and the navigation. Every section stays in the navigation;
//! one whose scope is missing says so, in its name for screen readers and
//! with a badge that tells "you can grant it" from "an administrator must
//! ask", and still opens (to show its prompt). It is never `aria-disabled`:
//! it is the way to the grant.

use crate::router::use_location;
use giponext_shared::features::feature;
use giponext_shared::{FeatureId, Lang, Text};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::consent::{unavailable_text, who_can_enable};
use crate::i18n::{LangCtx, t};
use crate::session::use_session;
use crate::tr;

/// A section of the console.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Route.
    pub path: &'static str,
    /// Title in the navigation.
    pub title: Text,
    /// The feature it is about, if any.
    pub feature: Option<FeatureId>,
}

/// The navigation, in order.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "/",
        title: Text {
            it: "Home",
            en: "Home",
        },
        feature: None,
    },
    Section {
        path: "/patients",
        title: Text {
            it: "Pazienti",
            en: "Patients",
        },
        feature: Some(FeatureId::BrowsePatients),
    },
    Section {
        path: "/agenda",
        title: Text {
            it: "Agenda",
            en: "Agenda",
        },
        feature: Some(FeatureId::ViewAgenda),
    },
    Section {
        path: "/treatments",
        title: Text {
            it: "Prestazioni e listini",
            en: "Treatments and prices",
        },
        feature: Some(FeatureId::Treatments),
    },
    Section {
        path: "/episodes",
        title: Text {
            it: "Episodi clinici",
            en: "Clinical episodes",
        },
        feature: Some(FeatureId::Episodes),
    },
    Section {
        path: "/reports",
        title: Text {
            it: "Referti",
            en: "Medical reports",
        },
        feature: Some(FeatureId::ReadMedicalReports),
    },
    Section {
        path: "/invoices",
        title: Text {
            it: "Fatture",
            en: "Invoices",
        },
        feature: Some(FeatureId::ViewInvoices),
    },
    Section {
        path: "/access",
        title: Text {
            it: "Accessi",
            en: "Access",
        },
        feature: None,
    },
];

/// The side navigation.
#[component]
pub fn Nav() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let items = SECTIONS
        .iter()
        .map(|s| {
            let s = *s;
            let state = Memo::new(move |_| s.feature.and_then(|f| session.feature(f)));
            let off = move || state.get().filter(|f| !f.enabled);
            let current = move || {
                let path = location.pathname.get();
                let here = if s.path == "/" {
                    path == "/"
                } else {
                    path == s.path || path.starts_with(&format!("{}/", s.path))
                };
                here.then_some("page")
            };
            let title = s.feature.map(|f| t(feature(f).explanation));
            view! {
                <li>
                    <a
                        href=s.path
                        class:off=move || off().is_some()
                        aria-current=current
                        title=title
                        data-section=s.path
                    >
                        <span class="nav-title">{t(s.title)}</span>
                        {move || off().map(|f| {
                            let admin = f.reason == giponext_shared::session::FeatureReason::NotRegistered;
                            view! {
                                <span class=if admin { "nav-state admin" } else { "nav-state" } aria-hidden="true">{who_can_enable(f.reason)}</span>
                                <span class="sr-only">{format!(" ({})", unavailable_text(&f))}</span>
                            }
                        })}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <nav class="sidebar" aria-label=tr!("Sezioni", "Sections")>
            <ul>{items}</ul>
        </nav>
    }
}

/// The top bar: product, centre, user, language, sign out.
#[component]
pub fn Header() -> impl IntoView {
    let session = use_session();
    let lang = expect_context::<LangCtx>();
    let info = move || session.info();
    let signing_out = RwSignal::new(false);
    // Sign out forgets every draft of the tab; "Cambia utente" keeps them,
    // sealed for their person (see `drafts`), for when they come back.
    let leave = move |switch_user: bool| {
        signing_out.set(true);
        spawn_local(async move {
            if !switch_user {
                crate::drafts::clear_all();
            }
            let target = match api::logout(switch_user).await {
                Ok(answer) => answer.end_session_url.unwrap_or_else(|| "/".into()),
                Err(_) => "/".into(),
            };
            crate::desk::announce(if switch_user {
                crate::desk::ENDED
            } else {
                crate::desk::SIGNED_OUT
            });
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign(&target);
            }
        });
    };
    let on_lang = move |ev| {
        let tag = event_target_value(&ev);
        if let Some(l) = Lang::from_tag(&tag) {
            lang.0.set(l);
        }
    };
    let current = lang.0.get_untracked();
    view! {
        <header class="topbar">
            <div class="brand">
                <span class="logo" aria-hidden="true">"G"</span>
                <span>"GipoNext Connect"</span>
            </div>
            <div class="who">
                {move || info().and_then(|i| i.tenant).map(|tn| view! {
                    <span class="tenant" data-test="tenant">{tn.name}</span>
                })}
                {move || info().and_then(|i| i.user).map(|u| view! {
                    <span class="user" data-test="user">{u.name}</span>
                })}
                <label class="lang">
                    <span class="sr-only">{tr!("Lingua", "Language")}</span>
                    <select on:change=on_lang aria-label=tr!("Lingua", "Language")>
                        <option value="it" selected=current == Lang::It>"Italiano"</option>
                        <option value="en" selected=current == Lang::En>"English"</option>
                    </select>
                </label>
                {move || info().filter(|i| i.authenticated).map(|_| view! {
                    <button type="button" class="button small" data-test="switch-user"
                        on:click=move |_| leave(true) disabled=move || signing_out.get()>
                        {tr!("Cambia utente", "Switch user")}
                    </button>
                    <button type="button" class="button small" data-test="sign-out"
                        on:click=move |_| leave(false) disabled=move || signing_out.get()>
                        {tr!("Esci", "Sign out")}
                    </button>
                })}
            </div>
        </header>
    }
}

/// Says loudly that the data is the sandbox's, not a real clinic's.
#[component]
pub fn SandboxBanner() -> impl IntoView {
    let session = use_session();
    move || {
        session.info().filter(|i| i.sandbox).map(|_| {
            view! {
                <div class="banner sandbox" role="note" data-test="sandbox-banner">
                    <strong>"Sandbox"</strong>
                    {tr!(
                        " — stai usando l'ambiente di prova locale: dati di esempio, nessun dato reale di GipoNext.",
                        " — you are on the local test environment: sample data, no real GipoNext data."
                    )}
                </div>
            }
        })
    }
}
