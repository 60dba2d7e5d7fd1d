//! Medical reports: read a patient's reports, write a new one. The writing
//! form is always there: what is typed is a draft, so a consent round trip
//! for Medical reports halfway through loses nothing.

use giponext_shared::FeatureId;
use giponext_shared::api::{MedicalReport, MedicalReportInput, Page};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiResource, Failure, tenant_path};
use crate::components::{
    Empty, FailureView, FeatureGate, FieldError, GrantPrompt, Loading, PatientSelect,
    RestoredNotice,
};
use crate::drafts::Draft;
use crate::session::use_session;
use crate::tr;

/// `/reports`.
#[component]
pub fn Reports() -> impl IntoView {
    let patient = RwSignal::new(String::new());
    let reload = RwSignal::new(0u32);
    view! {
        <h1>{tr!("Referti", "Medical reports")}</h1>
        <section class="card">
            <h2>{tr!("Referti di un paziente", "A patient's reports")}</h2>
            <FeatureGate feature=FeatureId::ReadMedicalReports>
                <div class="field">
                    <label for="reports-patient">{tr!("Paziente", "Patient")}</label>
                    <PatientSelect id="reports-patient" value=patient.into() on_change=Callback::new(move |v| patient.set(v))/>
                </div>
                <ReportList patient=patient reload=reload/>
            </FeatureGate>
        </section>
        <section class="card">
            <h2>{tr!("Nuovo referto", "New medical report")}</h2>
            <ReportForm on_created=Callback::new(move |_| reload.update(|n| *n += 1))/>
        </section>
    }
}

#[component]
fn ReportList(patient: RwSignal<String>, reload: RwSignal<u32>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let list = ApiResource::new(move || {
        let _ = reload.get();
        let id = patient.get();
        (!id.is_empty())
            .then(|| tenant_path(&tenant, &format!("medicalreports?patientId={id}&limit=100")))
    });
    move || {
        match list.read::<Option<Page<MedicalReport>>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Ok(None)) => view! { <Empty text=tr!("Scegli un paziente per vederne i referti.", "Choose a patient to see their reports.")/> }.into_any(),
        Some(Err(e)) => view! { <FailureView failure=e retry=Callback::new(move |_| list.refetch())/> }.into_any(),
        Some(Ok(Some(page))) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessun referto per questo paziente.", "No reports for this patient.")/> }.into_any()
        }
        Some(Ok(Some(page))) => page
            .items
            .into_iter()
            .map(|r| {
                view! {
                    <article class="report">
                        <h3>{r.title}</h3>
                        <p class="muted">{format!("{} · {}", r.author, crate::i18n::date_time(r.created_at))}</p>
                        <p class="report-body">{r.body}</p>
                    </article>
                }
            })
            .collect_view()
            .into_any(),
    }
    }
}

/// The report being written, kept as a draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ReportDraft {
    patient_id: String,
    title: String,
    body: String,
}

#[component]
fn ReportForm(on_created: Callback<()>) -> impl IntoView {
    let session = use_session();
    let tenant = session.tenant_id().unwrap_or_default();
    let draft = Draft::<ReportDraft>::new("medical-report");
    let form = draft.form;
    let failure = RwSignal::new(None::<Failure>);
    let saved = RwSignal::new(false);
    let write = Memo::new(move |_| session.feature(FeatureId::WriteMedicalReports));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = form.get_untracked();
        let input = MedicalReportInput {
            patient_id: f.patient_id.parse().unwrap_or(0),
            episode_id: None,
            title: f.title.clone(),
            body: f.body.clone(),
        };
        let path = tenant_path(&tenant, "medicalreports");
        spawn_local(async move {
            match api::post::<_, MedicalReport>(&path, &input).await {
                Ok(_) => {
                    draft.discard();
                    failure.set(None);
                    saved.set(true);
                    on_created.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        {move || write.get().filter(|f| !f.enabled).map(|f| view! {
            <GrantPrompt feature=f.id missing=f.missing reason=f.reason/>
        })}
        <form class="form" on:submit=submit novalidate>
            <RestoredNotice restored=draft.restored discard=Callback::new(move |_| draft.discard())/>
            <div class="field">
                <label for="report-patient">{tr!("Paziente", "Patient")}</label>
                <PatientSelect id="report-patient" value=Signal::derive(move || form.with(|f| f.patient_id.clone()))
                    on_change=Callback::new(move |v| draft.update(|f| f.patient_id = v))/>
                <FieldError failure=failure field="patientId"/>
            </div>
            <div class="field">
                <label for="report-title">{tr!("Titolo", "Title")}</label>
                <input id="report-title" type="text" required
                    prop:value=move || form.with(|f| f.title.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|f| f.title = v) }/>
                <FieldError failure=failure field="title"/>
            </div>
            <div class="field">
                <label for="report-body">{tr!("Testo del referto", "Report text")}</label>
                <textarea id="report-body" rows="8" required
                    prop:value=move || form.with(|f| f.body.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|f| f.body = v) }></textarea>
                <FieldError failure=failure field="body"/>
            </div>
            {move || failure.get().filter(|f| f.field_errors().is_empty()).map(|e| view! { <FailureView failure=e/> })}
            {move || saved.get().then(|| view! { <p class="success" role="status" data-test="report-saved">{tr!("Referto salvato.", "Report saved.")}</p> })}
            <div class="actions">
                <button type="submit" class="button primary">{tr!("Salva referto", "Save report")}</button>
                <button type="button" class="button" on:click=move |_| draft.discard()>{tr!("Scarta", "Discard")}</button>
            </div>
        </form>
    }
}
