//! Clinical episodes: a patient's episodes, create and update.

use giponext_shared::FeatureId;
use giponext_shared::api::{Episode, EpisodeInput, EpisodeStatus, Page};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiResource, Failure, tenant_path};
use crate::components::{
    Empty, FailureView, FeatureGate, FieldError, Loading, PatientSelect, RestoredNotice,
};
use crate::drafts::Draft;
use crate::i18n;
use crate::session::use_session;
use crate::tr;

/// `/episodes`.
#[component]
pub fn Episodes() -> impl IntoView {
    let patient = RwSignal::new(String::new());
    let reload = RwSignal::new(0u32);
    view! {
        <h1>{tr!("Episodi clinici", "Clinical episodes")}</h1>
        <FeatureGate feature=FeatureId::Episodes>
            <section class="card">
                <div class="field">
                    <label for="ep-patient">{tr!("Paziente", "Patient")}</label>
                    <PatientSelect id="ep-patient" value=patient.into() on_change=Callback::new(move |v| patient.set(v))/>
                </div>
                <EpisodeList patient=patient reload=reload/>
            </section>
            <section class="card">
                <h2>{tr!("Nuovo episodio", "New episode")}</h2>
                <EpisodeForm patient=patient on_saved=Callback::new(move |_| reload.update(|n| *n += 1))/>
            </section>
        </FeatureGate>
    }
}

#[component]
fn EpisodeList(patient: RwSignal<String>, reload: RwSignal<u32>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let t1 = tenant.clone();
    let list = ApiResource::new(move || {
        let _ = reload.get();
        let id = patient.get();
        (!id.is_empty()).then(|| tenant_path(&t1, &format!("episodes?patientId={id}&limit=100")))
    });
    let error = RwSignal::new(None::<Failure>);
    move || {
        match list.read::<Option<Page<Episode>>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Ok(None)) => view! { <Empty text=tr!("Scegli un paziente per vederne gli episodi.", "Choose a patient to see their episodes.")/> }.into_any(),
        Some(Err(e)) => view! { <FailureView failure=e retry=Callback::new(move |_| list.refetch())/> }.into_any(),
        Some(Ok(Some(page))) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessun episodio per questo paziente.", "No episodes for this patient.")/> }.into_any()
        }
        Some(Ok(Some(page))) => {
            let rows = page
                .items
                .into_iter()
                .map(|e| {
                    let open = e.status == EpisodeStatus::Open;
                    let path = tenant_path(&tenant, &format!("episodes/{}", e.id));
                    let input = EpisodeInput {
                        patient_id: e.patient_id,
                        title: e.title.clone(),
                        status: Some(if open { EpisodeStatus::Closed } else { EpisodeStatus::Open }),
                        notes: e.notes.clone(),
                        version: Some(e.version),
                    };
                    let toggle = move |_| {
                        let (path, input) = (path.clone(), input.clone());
                        spawn_local(async move {
                            match api::put::<_, Episode>(&path, &input).await {
                                Ok(_) => {
                                    error.set(None);
                                    reload.update(|n| *n += 1);
                                }
                                Err(e) => error.set(Some(e)),
                            }
                        });
                    };
                    view! {
                        <tr>
                            <th scope="row">{e.title}</th>
                            <td><span class=if open { "badge on" } else { "badge muted" }>
                                {if open { tr!("aperto", "open") } else { tr!("chiuso", "closed") }}
                            </span></td>
                            <td>{i18n::date(e.opened_on)}</td>
                            <td>{e.notes}</td>
                            <td><button type="button" class="button small" on:click=toggle>
                                {if open { tr!("Chiudi", "Close") } else { tr!("Riapri", "Reopen") }}
                            </button></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                {move || error.get().map(|e| view! { <FailureView failure=e/> })}
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">{tr!("Titolo", "Title")}</th>
                            <th scope="col">{tr!("Stato", "Status")}</th>
                            <th scope="col">{tr!("Aperto il", "Opened")}</th>
                            <th scope="col">{tr!("Note", "Notes")}</th>
                            <th scope="col"><span class="sr-only">{tr!("Azioni", "Actions")}</span></th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    }
    }
}

/// The episode being written, kept as a draft (with the patient chosen
/// above, so a restored draft goes to the same patient).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct EpisodeDraft {
    title: String,
    notes: String,
    #[serde(default)]
    patient_id: String,
}

#[component]
fn EpisodeForm(patient: RwSignal<String>, on_saved: Callback<()>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let draft = Draft::<EpisodeDraft>::new("episode");
    let form = draft.form;
    let failure = RwSignal::new(None::<Failure>);
    let kept = form.with_untracked(|f| f.patient_id.clone());
    if draft.restored.get_untracked() && !kept.is_empty() {
        patient.set(kept);
    }
    // Only a started episode is a draft: choosing a patient alone is not.
    Effect::new(move |_| {
        let p = patient.get();
        if form.with_untracked(|f| f.patient_id != p && !(f.title.is_empty() && f.notes.is_empty()))
        {
            draft.update(|f| f.patient_id = p);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = form.get_untracked();
        let input = EpisodeInput {
            patient_id: patient.get_untracked().parse().unwrap_or(0),
            title: f.title.trim().to_owned(),
            status: Some(EpisodeStatus::Open),
            notes: (!f.notes.trim().is_empty()).then(|| f.notes.trim().to_owned()),
            version: None,
        };
        let path = tenant_path(&tenant, "episodes");
        spawn_local(async move {
            match api::post::<_, Episode>(&path, &input).await {
                Ok(_) => {
                    draft.discard();
                    failure.set(None);
                    on_saved.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <form class="form" on:submit=submit novalidate>
            <RestoredNotice restored=draft.restored discard=Callback::new(move |_| draft.discard())/>
            <p class="muted">{tr!("L'episodio viene aperto per il paziente scelto sopra.", "The episode is opened for the patient chosen above.")}</p>
            <FieldError failure=failure field="patientId"/>
            <div class="field">
                <label for="ep-title">{tr!("Titolo", "Title")}</label>
                <input id="ep-title" type="text" prop:value=move || form.with(|f| f.title.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|f| { f.title = v; f.patient_id = patient.get_untracked() }) }/>
                <FieldError failure=failure field="title"/>
            </div>
            <div class="field">
                <label for="ep-notes">{tr!("Note", "Notes")}</label>
                <textarea id="ep-notes" rows="3" prop:value=move || form.with(|f| f.notes.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|f| { f.notes = v; f.patient_id = patient.get_untracked() }) }></textarea>
            </div>
            {move || failure.get().filter(|f| f.field_errors().is_empty()).map(|e| view! { <FailureView failure=e/> })}
            <div class="actions">
                <button type="submit" class="button primary">{tr!("Apri episodio", "Open episode")}</button>
                <button type="button" class="button" on:click=move |_| draft.discard()>{tr!("Scarta", "Discard")}</button>
            </div>
        </form>
    }
}
