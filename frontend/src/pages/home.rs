//! Home: who and where, today's appointments, and what is on and off.

use giponext_shared::FeatureId;
use giponext_shared::api::{Appointment, Page};
use giponext_shared::session::FeatureReason;
use leptos::prelude::*;

use crate::api::{ApiResource, tenant_path};
use crate::components::consent_helpers::who_can_enable;
use crate::components::{Empty, FailureView, FeatureGate, Loading};
use crate::i18n::t;
use crate::session::use_session;
use crate::tr;

/// `/`.
#[component]
pub fn Home() -> impl IntoView {
    let session = use_session();
    let info = session.info();
    let name = info
        .as_ref()
        .and_then(|i| i.user.as_ref())
        .map(|u| u.name.clone());
    let tenant = info
        .as_ref()
        .and_then(|i| i.tenant.as_ref())
        .map(|t| t.name.clone());
    let features = move || {
        session.info().map(|i| {
            i.features
                .into_iter()
                .map(|f| {
                    let entry = giponext_shared::features::feature(f.id);
                    // The state in words, not only in colour: on, you can
                    // grant it, or an administrator must ask GipoNext.
                    let class = match f.reason {
                        _ if f.enabled => "badge on",
                        FeatureReason::NotRegistered => "badge admin",
                        _ => "badge grant",
                    };
                    view! { <li><span class=class>{who_can_enable(f.reason)}</span>" "{t(entry.title)}</li> }
                })
                .collect_view()
        })
    };
    view! {
        <h1>{tr!("Benvenuto", "Welcome")}{name.map(|n| format!(", {n}"))}</h1>
        <p class="lead">{tenant}</p>
        <div class="grid two">
            <section class="card">
                <h2>{tr!("Appuntamenti di oggi", "Today's appointments")}</h2>
                <FeatureGate feature=FeatureId::ViewAgenda>
                    <Today/>
                </FeatureGate>
            </section>
            <section class="card">
                <h2>{tr!("Cosa è attivo", "What is on")}</h2>
                <ul class="plain features">{features}</ul>
                <p><a href="/access">{tr!("Gestisci gli accessi", "Manage access")}</a></p>
            </section>
        </div>
    }
}

#[component]
fn Today() -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let today = crate::i18n::today();
    let list = ApiResource::new(move || {
        Some(tenant_path(
            &tenant,
            &format!("appointments?from={today}&to={today}&limit=100"),
        ))
    });
    move || match list.read::<Page<Appointment>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| list.refetch())/> }
                .into_any()
        }
        Some(Ok(page)) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessun appuntamento oggi.", "No appointments today.")/> }
                .into_any()
        }
        Some(Ok(page)) => {
            let items = page.items
                .into_iter()
                .map(|a| {
                    view! {
                        <li class:cancelled=a.status == giponext_shared::api::AppointmentStatus::Cancelled>
                            <strong>{crate::i18n::time(a.start)}</strong>
                            " "<crate::components::PatientName id=a.patient_id/>
                        </li>
                    }
                })
                .collect_view();
            view! { <ul class="plain appointments">{items}</ul> }.into_any()
        }
    }
}
