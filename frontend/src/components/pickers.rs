//! Form helpers: the patient picker and a field's error message.

use giponext_shared::api::{Page, Patient};
use leptos::prelude::*;

use crate::api::{self, Failure, tenant_path};
use crate::session::use_session;
use crate::tr;

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
    let session = use_session();
    let tenant = session.tenant_id().unwrap_or_default();
    let patients = LocalResource::new(move || {
        let path = tenant_path(&tenant, "patients?offset=0&limit=100");
        async move { api::get::<Page<Patient>>(&path).await }
    });
    let options = move || match patients.get() {
        Some(Ok(page)) => page
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
                        {format!("{} {} — {}", p.last_name, p.first_name, p.fiscal_code)}
                    </option>
                }
            })
            .collect_view()
            .into_any(),
        _ => ().into_any(),
    };
    let failed = move || match patients.get() {
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
