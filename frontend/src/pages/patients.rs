//! Patients: search, paged list, detail, create and edit, with the API's
//! validation errors on the right fields.

use crate::router::{use_location, use_navigate};
use giponext_shared::FeatureId;
use giponext_shared::api::{Page, Patient, PatientInput, Sex};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiResource, Failure, tenant_path};
use crate::components::{
    Empty, FailureView, FeatureGate, FieldError, Loading, Pager, RestoredNotice,
};
use crate::drafts::Draft;
use crate::i18n;
use crate::session::use_session;
use crate::tr;

const LIMIT: u64 = 20;

/// `/patients`.
#[component]
pub fn Patients() -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>{tr!("Pazienti", "Patients")}</h1>
            <a class="button primary" href="/patients/new" data-test="new-patient">{tr!("+ Nuovo paziente", "+ New patient")}</a>
        </div>
        <section class="card">
            <FeatureGate feature=FeatureId::BrowsePatients>
                <PatientList/>
            </FeatureGate>
        </section>
    }
}

#[component]
fn PatientList() -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let query = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let offset = RwSignal::new(0u64);
    let list = ApiResource::new(move || {
        let q = query.get();
        let mut rest = format!("patients?offset={}&limit={LIMIT}", offset.get());
        if !q.is_empty() {
            rest.push_str("&search=");
            rest.push_str(&urlencoding::encode(&q));
        }
        Some(tenant_path(&tenant, &rest))
    });
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        offset.set(0);
        query.set(typed.get_untracked().trim().to_owned());
    };
    let body = move || match list.read::<Page<Patient>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| list.refetch())/> }
                .into_any()
        }
        Some(Ok(page)) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessun paziente trovato.", "No patients found.")/> }.into_any()
        }
        Some(Ok(page)) => {
            let total = page.total_count;
            let rows = page
                .items
                .into_iter()
                .map(|p| {
                    view! {
                        <tr>
                            <td><a href=format!("/patients/{}", p.id)>{crate::components::display_name(&p)}</a></td>
                            <td class="mono">{p.fiscal_code}</td>
                            <td>{p.birth_date.map(i18n::date)}</td>
                            <td>{p.phone}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap">
                    <table class="table" data-test="patient-list">
                        <thead><tr>
                            <th scope="col">{tr!("Nome", "Name")}</th>
                            <th scope="col">{tr!("Codice fiscale", "Fiscal code")}</th>
                            <th scope="col">{tr!("Nascita", "Born")}</th>
                            <th scope="col">{tr!("Telefono", "Phone")}</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                <Pager offset=offset limit=LIMIT total=total/>
            }
            .into_any()
        }
    };
    view! {
        <form class="search" role="search" on:submit=search>
            <label for="patient-search">{tr!("Cerca per nome o codice fiscale", "Search by name or fiscal code")}</label>
            <input id="patient-search" type="search" prop:value=move || typed.get()
                on:input=move |ev| typed.set(event_target_value(&ev))/>
            <button type="submit" class="button">{tr!("Cerca", "Search")}</button>
        </form>
        {body}
    }
}

/// The patient form's values, kept as a draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PatientDraft {
    first_name: String,
    last_name: String,
    middle_name: String,
    fiscal_code: String,
    birth_date: String,
    sex: String,
    email: String,
    phone: String,
}

impl PatientDraft {
    fn from_patient(p: &Patient) -> Self {
        PatientDraft {
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            middle_name: p.middle_name.clone().unwrap_or_default(),
            fiscal_code: p.fiscal_code.clone(),
            birth_date: p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            sex: match p.sex {
                Some(Sex::M) => "M".into(),
                Some(Sex::F) => "F".into(),
                None => String::new(),
            },
            email: p.email.clone().unwrap_or_default(),
            phone: p.phone.clone().unwrap_or_default(),
        }
    }

    fn input(&self, version: Option<u64>) -> PatientInput {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        PatientInput {
            first_name: self.first_name.trim().to_owned(),
            last_name: self.last_name.trim().to_owned(),
            middle_name: opt(&self.middle_name),
            fiscal_code: self.fiscal_code.trim().to_uppercase(),
            birth_date: giponext_shared::wire_time::parse_date(&self.birth_date),
            sex: match self.sex.as_str() {
                "M" => Some(Sex::M),
                "F" => Some(Sex::F),
                _ => None,
            },
            email: opt(&self.email),
            phone: opt(&self.phone),
            version,
        }
    }
}

/// `/patients/new`.
#[component]
pub fn PatientNew() -> impl IntoView {
    view! {
        <h1>{tr!("Nuovo paziente", "New patient")}</h1>
        <section class="card">
            <FeatureGate feature=FeatureId::EditPatients>
                <PatientForm existing=None/>
            </FeatureGate>
        </section>
    }
}

/// `/patients/:id`.
#[component]
pub fn PatientDetail() -> impl IntoView {
    let location = use_location();
    let tenant = use_session().tenant_id().unwrap_or_default();
    let patient = ApiResource::new(move || {
        let id = location.pathname.with(|p| {
            p.trim_end_matches('/')
                .strip_prefix("/patients/")
                .map(|id| {
                    urlencoding::decode(id).map_or_else(|_| id.to_owned(), |d| d.into_owned())
                })
        });
        let id = id.unwrap_or_default();
        Some(tenant_path(&tenant, &format!("patients/{id}")))
    });
    view! {
        <p><a href="/patients">{tr!("‹ Tutti i pazienti", "‹ All patients")}</a></p>
        <FeatureGate feature=FeatureId::BrowsePatients>
            {move || match patient.read::<Patient>() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <FailureView failure=e retry=Callback::new(move |_| patient.refetch())/> }.into_any(),
                Some(Ok(p)) => view! {
                    <h1>{crate::components::display_name(&p)}</h1>
                    <section class="card">
                        <h2>{tr!("Anagrafica", "Demographics")}</h2>
                        <PatientForm existing=Some(p)/>
                    </section>
                }
                .into_any(),
            }}
        </FeatureGate>
    }
}

#[component]
fn PatientForm(existing: Option<Patient>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let navigate = use_navigate();
    let draft = match &existing {
        None => Draft::<PatientDraft>::new("patient-new"),
        Some(p) => Draft::with_baseline(format!("patient-{}", p.id), PatientDraft::from_patient(p)),
    };
    let version = RwSignal::new(existing.as_ref().map(|p| p.version));
    let id = existing.as_ref().map(|p| p.id);
    let directory = crate::components::PatientDirectory::get();
    let failure = RwSignal::new(None::<Failure>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = draft.form.get_untracked().input(version.get_untracked());
        let tenant = tenant.clone();
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            let result = match id {
                None => api::post::<_, Patient>(&tenant_path(&tenant, "patients"), &input).await,
                Some(id) => {
                    api::put::<_, Patient>(&tenant_path(&tenant, &format!("patients/{id}")), &input)
                        .await
                }
            };
            busy.set(false);
            match result {
                Ok(p) => {
                    failure.set(None);
                    saved.set(true);
                    directory.refresh();
                    if id.is_none() {
                        draft.discard();
                        navigate(&format!("/patients/{}", p.id));
                    } else {
                        version.set(Some(p.version));
                        draft.rebase(PatientDraft::from_patient(&p));
                    }
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let discard = move || draft.discard();
    let field = move |key: &'static str,
                      json: &'static str,
                      label: &'static str,
                      kind: &'static str,
                      get: fn(&PatientDraft) -> String,
                      set: fn(&mut PatientDraft, String)| {
        let has_error =
            move || failure.with(|f| f.as_ref().and_then(|f| f.field_error(json)).is_some());
        view! {
            <div class="field" class:invalid=has_error>
                <label for=key>{label}</label>
                <input id=key type=kind name=json
                    aria-invalid=move || has_error().then_some("true")
                    aria-describedby=move || has_error().then(|| format!("err-{json}"))
                    prop:value=move || draft.form.with(get)
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|f| set(f, v)) }/>
                <FieldError failure=failure field=json/>
            </div>
        }
    };
    view! {
        <form class="form grid two" on:submit=submit novalidate data-test="patient-form">
            <RestoredNotice restored=draft.restored discard=Callback::new(move |_| discard())/>
            {field("p-first", "firstName", tr!("Nome", "First name"), "text", |f| f.first_name.clone(), |f, v| f.first_name = v)}
            {field("p-last", "lastName", tr!("Cognome", "Last name"), "text", |f| f.last_name.clone(), |f, v| f.last_name = v)}
            {field("p-middle", "middleName", tr!("Secondo nome", "Middle name"), "text", |f| f.middle_name.clone(), |f, v| f.middle_name = v)}
            {field("p-fiscal", "fiscalCode", tr!("Codice fiscale", "Fiscal code"), "text", |f| f.fiscal_code.clone(), |f, v| f.fiscal_code = v)}
            {field("p-birth", "birthDate", tr!("Data di nascita", "Date of birth"), "date", |f| f.birth_date.clone(), |f, v| f.birth_date = v)}
            <div class="field">
                <label for="p-sex">{tr!("Sesso", "Sex")}</label>
                <select id="p-sex" on:change=move |ev| { let v = event_target_value(&ev); draft.update(|f| f.sex = v) }
                    prop:value=move || draft.form.with(|f| f.sex.clone())>
                    <option value="">"—"</option>
                    <option value="F" selected=move || draft.form.with(|f| f.sex == "F")>"F"</option>
                    <option value="M" selected=move || draft.form.with(|f| f.sex == "M")>"M"</option>
                </select>
            </div>
            {field("p-email", "email", "E-mail", "email", |f| f.email.clone(), |f, v| f.email = v)}
            {field("p-phone", "phone", tr!("Telefono", "Phone"), "tel", |f| f.phone.clone(), |f, v| f.phone = v)}
            <div class="span">
                {move || failure.get().filter(|f| f.field_errors().is_empty()).map(|e| view! { <FailureView failure=e/> })}
                {move || failure.with(|f| f.as_ref().is_some_and(|f| !f.field_errors().is_empty())).then(|| view! {
                    <p class="field-error" role="alert">{tr!("Correggi i campi evidenziati.", "Please correct the highlighted fields.")}</p>
                })}
                {move || saved.get().then(|| view! { <p class="success" role="status" data-test="patient-saved">{tr!("Paziente salvato.", "Patient saved.")}</p> })}
                <div class="actions">
                    <button type="submit" class="button primary" disabled=move || busy.get()>{tr!("Salva", "Save")}</button>
                    <button type="button" class="button" on:click=move |_| discard()>{tr!("Scarta modifiche", "Discard changes")}</button>
                </div>
            </div>
        </form>
    }
}
