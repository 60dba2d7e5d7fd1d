//! Form helpers: the patient picker and a field's error message.
//!
//! A centre may have thousands of patients and the API pages at most 100:
//! the directory holds the first page, the picker searches the API for the
//! rest, and a name not in the directory is read on its own.

use giponext_shared::api::{Page, Patient};
use std::time::Duration;

use leptos::prelude::*;

use crate::api::{ApiResource, Failure, tenant_path};
use crate::session::use_session;
use crate::tr;

/// How the console names a patient: surname first, as Italian registers do.
pub fn display_name(p: &Patient) -> String {
    format!("{} {}", p.last_name, p.first_name)
}

/// The centre's first 100 patients, read once per sign-in and shared by
/// the pickers and the lists that show a patient's name. Parsed once per
/// read (a `Memo`), not once per name shown.
#[derive(Clone, Copy)]
pub struct PatientDirectory {
    resource: ApiResource,
    parsed: Memo<Option<Result<Page<Patient>, Failure>>>,
}

impl PatientDirectory {
    /// Provides the directory (in the signed-in shell).
    pub fn provide() {
        let tenant = use_session().tenant_id().unwrap_or_default();
        let resource =
            ApiResource::new(move || Some(tenant_path(&tenant, "patients?offset=0&limit=100")));
        let parsed = Memo::new(move |_| resource.read::<Page<Patient>>());
        provide_context(PatientDirectory { resource, parsed });
    }

    /// The directory in context (or a new one, outside the shell).
    pub fn get() -> PatientDirectory {
        use_context::<PatientDirectory>().unwrap_or_else(|| {
            PatientDirectory::provide();
            expect_context::<PatientDirectory>()
        })
    }

    /// The first page as read, with the centre's total (tracked).
    fn page(self) -> Option<Result<Page<Patient>, Failure>> {
        self.parsed.get()
    }

    /// `Some(name)` or `Some(None)` (not in the directory) once read and
    /// readable; `None` before, or if it could not be read (tracked).
    fn name_of(self, id: i64) -> Option<Option<String>> {
        self.parsed.with(|page| match page {
            Some(Ok(page)) => Some(page.items.iter().find(|p| p.id == id).map(display_name)),
            _ => None,
        })
    }

    /// Reads the patients again (after one was created).
    pub fn refresh(self) {
        self.resource.refetch();
    }
}

/// A patient's name: from the directory, or read on its own when the
/// patient is beyond its first page; `#id` until known.
#[component]
pub fn PatientName(
    /// The patient.
    id: i64,
) -> impl IntoView {
    let directory = PatientDirectory::get();
    let tenant = use_session().tenant_id().unwrap_or_default();
    // Read only once the directory is known not to hold the patient.
    let alone = ApiResource::new(move || {
        matches!(directory.name_of(id), Some(None))
            .then(|| tenant_path(&tenant, &format!("patients/{id}")))
    });
    move || {
        directory
            .name_of(id)
            .flatten()
            .or_else(|| {
                alone
                    .read::<Patient>()
                    .and_then(|r| r.ok())
                    .map(|p| display_name(&p))
            })
            .unwrap_or_else(|| format!("#{id}"))
    }
}

/// How long typing pauses before the picker searches.
const SEARCH_PAUSE: Duration = Duration::from_millis(300);

/// A `<select>` of the centre's patients, bound to `value` (the patient id
/// as text, empty for none), with a search box above it: the list starts
/// as the directory's first page and becomes the API's matches for what is
/// typed, so every patient can be chosen however many the centre has.
#[component]
pub fn PatientSelect(
    /// The selected patient id.
    value: Signal<String>,
    /// Called with the new id.
    #[prop(into)]
    on_change: Callback<String>,
    /// The element id, for its label.
    id: &'static str,
) -> impl IntoView {
    let directory = PatientDirectory::get();
    let tenant = use_session().tenant_id().unwrap_or_default();
    // What is in the box, and what is searched: the search waits for a
    // pause in typing (each search is a call against the API's rate limit).
    let typed = RwSignal::new(String::new());
    let searched = RwSignal::new(String::new());
    let found = ApiResource::new(move || {
        let q = searched.get();
        let q = q.trim();
        (!q.is_empty()).then(|| {
            tenant_path(
                &tenant,
                &format!("patients?search={}&limit=100", urlencoding::encode(q)),
            )
        })
    });
    // One read per change of the list, shared by the options and the note.
    let page = Memo::new(move |_| {
        if searched.with(|q| q.trim().is_empty()) {
            directory.page()
        } else {
            found.read::<Page<Patient>>()
        }
    });
    let options = move || match page.get() {
        Some(Ok(page)) => {
            // The chosen patient stays choosable when the list does not hold it.
            let kept = value
                .get()
                .parse::<i64>()
                .ok()
                .filter(|chosen| !page.items.iter().any(|p| p.id == *chosen))
                .map(|kept| view! { <option value=kept.to_string() selected=true><PatientName id=kept/></option> });
            let items = page
                .items
                .into_iter()
                .map(|p| {
                    let id = p.id.to_string();
                    let selected = {
                        let id = id.clone();
                        move || value.get() == id
                    };
                    view! {
                        <option value=id selected=selected>
                            {format!("{} — {}", display_name(&p), p.fiscal_code)}
                        </option>
                    }
                })
                .collect_view();
            view! { {kept}{items} }.into_any()
        }
        _ => ().into_any(),
    };
    let note = move || {
        match page.get() {
        Some(Err(e)) => Some(failure_note(&e).into_any()),
        Some(Ok(page)) if page.total_count > page.items.len() as u64 => {
            let text = format!(
                "{} {} {} {}.",
                tr!("Mostrati", "Showing"),
                page.items.len(),
                tr!("di", "of"),
                page.total_count
            );
            Some(view! { <p class="muted small">{text}" "{tr!("Cerca per trovare gli altri.", "Search to find the others.")}</p> }.into_any())
        }
        Some(Ok(page)) if page.items.is_empty() => Some(
            view! { <p class="muted small">{tr!("Nessun paziente trovato.", "No patient found.")}</p> }
                .into_any(),
        ),
        _ => None,
    }
    };
    let search_id = format!("{id}-search");
    view! {
        <input type="search" id=search_id class="picker-search"
            aria-label=tr!("Cerca il paziente per nome o codice fiscale", "Search the patient by name or fiscal code")
            placeholder=tr!("Cerca per nome o codice fiscale", "Search by name or fiscal code")
            prop:value=move || typed.get()
            on:input=move |ev| {
                let text = event_target_value(&ev);
                typed.set(text.clone());
                set_timeout(
                    move || {
                        // `try_`: the picker may be gone by then.
                        if typed.try_get_untracked().as_ref() == Some(&text) {
                            searched.try_set(text);
                        }
                    },
                    SEARCH_PAUSE,
                );
            }/>
        <select id=id required on:change=move |ev| on_change.run(event_target_value(&ev))
            prop:value=move || value.get()>
            <option value="">{tr!("— scegli un paziente —", "— choose a patient —")}</option>
            {options}
        </select>
        {note}
    }
}

fn failure_note(e: &Failure) -> impl IntoView + use<> {
    let text = format!(
        "{} ({e})",
        tr!(
            "Elenco pazienti non disponibile",
            "Patient list unavailable"
        )
    );
    view! { <p class="field-error">{text}</p> }
}

/// The error of one field, from a 422 answer.
#[component]
pub fn FieldError(
    /// The failure of the last submit.
    failure: RwSignal<Option<Failure>>,
    /// The field's JSON name.
    field: &'static str,
) -> impl IntoView {
    move || {
        failure
            .with(|f| f.as_ref().and_then(|f| f.field_error(field)))
            .map(|msg| {
                view! { <p class="field-error" id=format!("err-{field}") role="alert">{msg}</p> }
            })
    }
}
