//! Form helpers: the patient picker and a field's error message.

use giponext_shared::api::{Page, Patient};
use leptos::prelude::*;

use crate::api::{ApiResource, Failure, tenant_path};
use crate::session::use_session;
use crate::tr;

/// The centre's patients (first 100), read once per sign-in and shared by
/// the pickers and the lists that show a patient's name.
#[derive(Clone, Copy)]
pub struct PatientDirectory(pub ApiResource);

impl PatientDirectory {
    /// Provides the directory (in the signed-in shell).
    pub fn provide() {
        let tenant = use_session().tenant_id().unwrap_or_default();
        let resource =
            ApiResource::new(move || Some(tenant_path(&tenant, "patients?offset=0&limit=100")));
        provide_context(PatientDirectory(resource));
    }

    /// The directory in context (or a new one, outside the shell).
    pub fn get() -> PatientDirectory {
        use_context::<PatientDirectory>().unwrap_or_else(|| {
            PatientDirectory::provide();
            expect_context::<PatientDirectory>()
        })
    }

    /// The patients, once read (tracked).
    pub fn patients(self) -> Option<Result<Vec<Patient>, Failure>> {
        self.0.read::<Page<Patient>>().map(|r| r.map(|p| p.items))
    }

    /// Reads the patients again (after one was created).
    pub fn refresh(self) {
        self.0.refetch();
    }
}

/// A patient's name, or `#id` when it is not known.
#[component]
pub fn PatientName(
    /// The patient.
    id: i64,
) -> impl IntoView {
    let directory = PatientDirectory::get();
    move || {
        directory
            .patients()
            .and_then(|r| r.ok())
            .and_then(|list| {
                list.iter()
                    .find(|p| p.id == id)
                    .map(|p| format!("{} {}", p.last_name, p.first_name))
            })
            .unwrap_or_else(|| format!("#{id}"))
    }
}

/// A `<select>` of the centre's patients, bound to `value` (the patient id
/// as text, empty for none).
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
    let options = move || match directory.patients() {
        Some(Ok(items)) => items
            .into_iter()
            .map(|p| {
                let id = p.id.to_string();
                let selected = {
                    let id = id.clone();
                    move || value.get() == id
                };
                view! {
                    <option value=id selected=selected>
                        {format!("{} {} — {}", p.last_name, p.first_name, p.fiscal_code)}
                    </option>
                }
            })
            .collect_view()
            .into_any(),
        _ => ().into_any(),
    };
    let failed = move || match directory.patients() {
        Some(Err(e)) => Some(failure_note(&e)),
        _ => None,
    };
    view! {
        <select id=id required on:change=move |ev| on_change.run(event_target_value(&ev))
            prop:value=move || value.get()>
            <option value="">{tr!("— scegli un paziente —", "— choose a patient —")}</option>
            {options}
        </select>
        {failed}
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
