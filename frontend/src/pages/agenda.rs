//! Agenda: a week calendar per agenda, with free slots, booking and
//! cancelling.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use giponext_shared::FeatureId;
use giponext_shared::api::{
    Agenda as AgendaItem, Appointment, AppointmentInput, AppointmentStatus, Availability, Page,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiResource, Failure, tenant_path};
use crate::components::{
    Empty, FailureView, FeatureGate, FieldError, Loading, PatientName, PatientSelect,
    RestoredNotice,
};
use crate::drafts::Draft;
use crate::i18n;
use crate::session::use_session;
use crate::tr;

/// The Monday of the week `day` is in.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// `/agenda`.
#[component]
pub fn Agenda() -> impl IntoView {
    view! {
        <h1>{tr!("Agenda", "Agenda")}</h1>
        <FeatureGate feature=FeatureId::ViewAgenda>
            <AgendaView/>
        </FeatureGate>
    }
}

#[component]
fn AgendaView() -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let t1 = tenant.clone();
    let agendas = ApiResource::new(move || Some(tenant_path(&t1, "agendas?limit=100")));
    let selected = RwSignal::new(String::new());
    let week = RwSignal::new(week_start(i18n::today()));
    let reload = RwSignal::new(0u32);
    let slot = RwSignal::new(None::<Availability>);
    move || match agendas.read::<Page<AgendaItem>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| agendas.refetch())/> }
                .into_any()
        }
        Some(Ok(page)) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessuna agenda.", "No agendas.")/> }.into_any()
        }
        Some(Ok(page)) => {
            if selected.get_untracked().is_empty() {
                selected.set(page.items[0].id.clone());
            }
            let tabs = page
                .items
                .into_iter()
                .map(|a| {
                    let id = a.id.clone();
                    let id2 = a.id.clone();
                    let label = a.name.clone();
                    view! {
                        <button type="button" class="tab" role="tab"
                            aria-selected=move || (selected.get() == id).to_string()
                            on:click=move |_| selected.set(id2.clone())>{label}</button>
                    }
                })
                .collect_view();
            let tenant = tenant.clone();
            view! {
                <div class="tabs" role="tablist" aria-label=tr!("Agende", "Agendas")>{tabs}</div>
                <div class="week-nav">
                    <button type="button" class="button small" on:click=move |_| week.update(|w| *w -= Duration::days(7))>{tr!("‹ Settimana precedente", "‹ Previous week")}</button>
                    <strong aria-live="polite">{move || format!("{} – {}", i18n::date(week.get()), i18n::date(week.get() + Duration::days(6)))}</strong>
                    <button type="button" class="button small" on:click=move |_| week.set(week_start(i18n::today()))>{tr!("Oggi", "Today")}</button>
                    <button type="button" class="button small" on:click=move |_| week.update(|w| *w += Duration::days(7))>{tr!("Settimana successiva ›", "Next week ›")}</button>
                </div>
                <Week tenant=tenant agenda=selected week=week reload=reload picked=slot/>
                <section class="card">
                    <h2>{tr!("Prenota un appuntamento", "Book an appointment")}</h2>
                    <FeatureGate feature=FeatureId::BookAppointments>
                        <BookingForm agenda=selected picked=slot on_booked=Callback::new(move |_| reload.update(|n| *n += 1))/>
                    </FeatureGate>
                </section>
            }
            .into_any()
        }
    }
}

#[component]
fn Week(
    tenant: String,
    agenda: RwSignal<String>,
    week: RwSignal<NaiveDate>,
    reload: RwSignal<u32>,
    picked: RwSignal<Option<Availability>>,
) -> impl IntoView {
    let slot = picked;
    let session = use_session();
    let query = move || {
        let _ = reload.get();
        let (a, from) = (agenda.get(), week.get());
        let to = from + Duration::days(6);
        format!("agendaId={a}&from={from}&to={to}&limit=100")
    };
    let t2 = tenant.clone();
    let appointments =
        ApiResource::new(move || Some(tenant_path(&t2, &format!("appointments?{}", query()))));
    let availabilities = ApiResource::new(move || {
        Some(tenant_path(&tenant, &format!("availabilities?{}", query())))
    });
    // Free slots are a help, not the calendar: without them the week shows.
    let data = move || {
        let appts = appointments.read::<Page<Appointment>>()?;
        let free = availabilities
            .read::<Page<Availability>>()
            .and_then(|r| r.ok())
            .map(|p| p.items)
            .unwrap_or_default();
        Some(appts.map(|p| (p.items, free)))
    };
    let cancel_error = RwSignal::new(None::<Failure>);
    let tenant_c = session.tenant_id().unwrap_or_default();
    move || match data() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| appointments.refetch())/> }
                .into_any()
        }
        Some(Ok((appts, free))) => {
            let can_book = session.enabled(FeatureId::BookAppointments);
            let start = week.get_untracked();
            let days = (0..7)
                .map(|i| {
                    let day = start + Duration::days(i);
                    let mut items: Vec<_> = appts.iter().filter(|a| a.start.date() == day).cloned().collect();
                    items.sort_by_key(|a| a.start);
                    let slots: Vec<_> = free.iter().filter(|s| s.start.date() == day).cloned().collect();
                    let tenant = tenant_c.clone();
                    let appts_view = items
                        .into_iter()
                        .map(|a| {
                            let cancelled = a.status == AppointmentStatus::Cancelled;
                            let path = tenant_path(&tenant, &format!("appointments/{}", a.id));
                            let cancel = move |_| {
                                let path = path.clone();
                                spawn_local(async move {
                                    match api::delete(&path).await {
                                        Ok(()) => reload.update(|n| *n += 1),
                                        Err(e) => cancel_error.set(Some(e)),
                                    }
                                });
                            };
                            view! {
                                <li class="appt" class:cancelled=cancelled>
                                    <span class="time">{format!("{}–{}", i18n::time(a.start), i18n::time(a.end))}</span>
                                    <span><PatientName id=a.patient_id/></span>
                                    {a.notes.clone().map(|n| view! { <span class="muted">{n}</span> })}
                                    {cancelled.then(|| view! { <span class="badge muted">{tr!("annullato", "cancelled")}</span> })}
                                    {(can_book && !cancelled).then(|| view! {
                                        <button type="button" class="link danger" on:click=cancel>{tr!("Annulla", "Cancel")}</button>
                                    })}
                                </li>
                            }
                        })
                        .collect_view();
                    let slots_view = slots
                        .into_iter()
                        .map(|s| {
                            let label = i18n::time(s.start);
                            let s2 = s.clone();
                            view! {
                                <li>
                                    <button type="button" class="slot" disabled=!can_book
                                        on:click=move |_| slot.set(Some(s2.clone()))>
                                        {tr!("Libero ", "Free ")}{label}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="day" role="group" aria-label=format!("{} {}", i18n::weekday(day), i18n::date(day))>
                            <h3 class="day-head">{i18n::weekday(day)}<span>{i18n::day_month(day)}</span></h3>
                            <ul class="plain">{appts_view}</ul>
                            <ul class="plain slots">{slots_view}</ul>
                        </div>
                    }
                })
                .collect_view();
            view! {
                {move || cancel_error.get().map(|e| view! { <FailureView failure=e/> })}
                <div class="week" data-test="week">{days}</div>
            }
            .into_any()
        }
    }
}

/// The booking being written, kept as a draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct BookingDraft {
    /// The agenda shown while it was written: a draft restored after a
    /// sign-in must not be booked on whichever agenda shows first.
    #[serde(default)]
    agenda_id: String,
    patient_id: String,
    start: String,
    end: String,
    notes: String,
}

impl BookingDraft {
    /// Nothing typed or picked: the agenda alone is no draft.
    fn is_blank(&self) -> bool {
        self.patient_id.is_empty()
            && self.start.is_empty()
            && self.end.is_empty()
            && self.notes.is_empty()
    }
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    i18n::from_local_input(s)
}

#[component]
fn BookingForm(
    agenda: RwSignal<String>,
    picked: RwSignal<Option<Availability>>,
    on_booked: Callback<()>,
) -> impl IntoView {
    let slot = picked;
    let tenant = use_session().tenant_id().unwrap_or_default();
    let draft = Draft::<BookingDraft>::new("appointment");
    let form = draft.form;
    let failure = RwSignal::new(None::<Failure>);
    let booked = RwSignal::new(false);
    let restored_agenda = form.with_untracked(|f| f.agenda_id.clone());
    if !restored_agenda.is_empty() {
        agenda.set(restored_agenda);
    }
    // A draft under way records the agenda on screen (so a blank form
    // stays no draft), at every change and when the agenda is switched.
    let edit = move |change: &dyn Fn(&mut BookingDraft)| {
        draft.update(|f| {
            change(f);
            f.agenda_id = if f.is_blank() {
                String::new()
            } else {
                agenda.get_untracked()
            };
        })
    };
    Effect::new(move |_| {
        let shown = agenda.get();
        if form.with_untracked(|f| !f.agenda_id.is_empty() && f.agenda_id != shown) {
            draft.update(|f| f.agenda_id = shown);
        }
    });
    Effect::new(move |_| {
        if let Some(s) = slot.get() {
            edit(&|f| {
                f.start = i18n::to_local_input(s.start);
                f.end = i18n::to_local_input(s.end);
            });
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = form.get_untracked();
        let (Some(start), Some(end), Ok(patient_id)) = (
            parse_local(&f.start),
            parse_local(&f.end),
            f.patient_id.parse(),
        ) else {
            failure.set(Some(Failure::Api {
                status: 422,
                error: giponext_shared::api::ApiError {
                    error: "validation_failed".into(),
                    message: tr!(
                        "Scegli paziente, inizio e fine.",
                        "Choose patient, start and end."
                    )
                    .into(),
                    scope: None,
                    fields: Vec::new(),
                },
            }));
            return;
        };
        let input = AppointmentInput {
            agenda_id: agenda.get_untracked(),
            patient_id,
            treatment_id: None,
            start,
            end,
            notes: (!f.notes.trim().is_empty()).then(|| f.notes.trim().to_owned()),
        };
        let path = tenant_path(&tenant, "appointments");
        spawn_local(async move {
            match api::post::<_, Appointment>(&path, &input).await {
                Ok(_) => {
                    draft.discard();
                    slot.set(None);
                    failure.set(None);
                    booked.set(true);
                    on_booked.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let text = move |id: &'static str,
                     label: &'static str,
                     kind: &'static str,
                     get: fn(&BookingDraft) -> String,
                     set: fn(&mut BookingDraft, String)| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type=kind prop:value=move || form.with(get)
                    on:input=move |ev| { let v = event_target_value(&ev); edit(&|f| set(f, v.clone())) }/>
            </div>
        }
    };
    view! {
        <form class="form grid two" on:submit=submit novalidate>
            <RestoredNotice restored=draft.restored discard=Callback::new(move |_| draft.discard())/>
            <div class="field">
                <label for="book-patient">{tr!("Paziente", "Patient")}</label>
                <PatientSelect id="book-patient" value=Signal::derive(move || form.with(|f| f.patient_id.clone()))
                    on_change=Callback::new(move |v: String| edit(&|f| f.patient_id = v.clone()))/>
                <FieldError failure=failure field="patientId"/>
            </div>
            {text("book-notes", tr!("Note", "Notes"), "text", |f| f.notes.clone(), |f, v| f.notes = v)}
            {text("book-start", tr!("Inizio", "Start"), "datetime-local", |f| f.start.clone(), |f, v| f.start = v)}
            {text("book-end", tr!("Fine", "End"), "datetime-local", |f| f.end.clone(), |f, v| f.end = v)}
            <div class="span">
                <p class="muted">{tr!("Suggerimento: scegli uno slot libero nel calendario.", "Tip: pick a free slot in the calendar.")}</p>
                {move || failure.get().map(|e| view! { <FailureView failure=e/> })}
                {move || booked.get().then(|| view! { <p class="success" role="status">{tr!("Appuntamento prenotato.", "Appointment booked.")}</p> })}
                <div class="actions">
                    <button type="submit" class="button primary">{tr!("Prenota", "Book")}</button>
                    <button type="button" class="button" on:click=move |_| draft.discard()>{tr!("Scarta", "Discard")}</button>
                </div>
            </div>
        </form>
    }
}
