//! "Connected sessions" on the access page: where the user is signed in
//! (browser, address, started, last seen, scopes), revoke one, sign out everywhere.
//! Calls `GET /api/sessions`, `DELETE /api/sessions/{id}` and
//! `POST /auth/logout-everywhere` (with the anti-CSRF header, in `api`).

use giponext_shared::session::ConnectedSession;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Failure};
use crate::components::FailureView;
use crate::i18n::{date_time, pick};
use crate::tr;

/// A time in the browser's time zone: `28/11/2026 09:30`.
fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    let ms = t.timestamp_millis() as f64;
    let offset = js_sys::Date::new(&ms.into()).get_timezone_offset() as i64;
    date_time((t - chrono::Duration::minutes(offset)).naive_utc())
}

/// The list itself, from already-read sessions: one row each, "this
/// session" marked, a revoke button for every other one.
#[component]
pub fn SessionList(
    /// The sessions, newest first.
    sessions: Vec<ConnectedSession>,
    /// Ends the session with this id.
    #[prop(into)]
    revoke: Callback<String>,
) -> impl IntoView {
    let rows = sessions
        .into_iter()
        .map(|s| {
            let id = s.id.clone();
            let action = if s.current {
                view! { <span class="badge on">{tr!("Questa sessione", "This session")}</span> }
                    .into_any()
            } else {
                view! {
                    <button type="button" class="button small" data-revoke=s.id.clone()
                        on:click=move |_| revoke.run(id.clone())>
                        {tr!("Revoca", "Revoke")}
                    </button>
                }
                .into_any()
            };
            view! {
                <tr data-session=s.id>
                    <th scope="row">{s.user_agent}</th>
                    <td class="mono small">{s.address.unwrap_or_default()}</td>
                    <td>{local(s.started)}</td>
                    <td>{local(s.last_seen)}</td>
                    <td class="mono small">{s.scopes.to_wire()}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table" data-test="sessions">
                <thead>
                    <tr>
                        <th scope="col">{tr!("Browser", "Browser")}</th>
                        <th scope="col">{tr!("Indirizzo", "Address")}</th>
                        <th scope="col">{tr!("Iniziata", "Started")}</th>
                        <th scope="col">{tr!("Ultimo uso", "Last seen")}</th>
                        <th scope="col">{tr!("Accessi", "Scopes")}</th>
                        <th scope="col"><span class="sr-only">{tr!("Azione", "Action")}</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn go_home() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign("/");
    }
}

/// The section of the access page: reads the sessions and acts on them.
#[component]
pub fn ConnectedSessions() -> impl IntoView {
    let state = RwSignal::new(None::<Result<Vec<ConnectedSession>, Failure>>);
    let load = move || {
        spawn_local(async move {
            // Through `api::from_json`, as every other answer (one JSON
            // reader in the bundle).
            let read = api::backend("GET", "/api/sessions")
                .await
                .and_then(|text| api::from_json(&text).map_err(Failure::Decode));
            state.set(Some(read));
        })
    };
    load();
    let act = move |method: &'static str, url: String, leaves: bool| {
        spawn_local(async move {
            match api::backend(method, &url).await {
                Ok(_) if leaves => {
                    crate::desk::announce(crate::desk::SIGNED_OUT);
                    go_home()
                }
                Ok(_) => load(),
                Err(e) => state.set(Some(Err(e))),
            }
        })
    };
    let revoke =
        Callback::new(move |id: String| act("DELETE", format!("/api/sessions/{id}"), false));
    let everywhere = move |_| {
        let question = pick(
            "Uscire da tutte le sessioni, anche da questa?",
            "Sign out of every session, this one included?",
        );
        let sure = web_sys::window()
            .and_then(|w| w.confirm_with_message(question).ok())
            .unwrap_or(false);
        if sure {
            crate::drafts::clear_all();
            act("POST", "/auth/logout-everywhere".into(), true);
        }
    };
    view! {
        <section class="detail" aria-labelledby="sessions-title">
            <h2 id="sessions-title">{tr!("Sessioni collegate", "Connected sessions")}</h2>
            <p class="muted">{tr!(
                "Dove hai eseguito l'accesso a GipoNext Connect. Revoca una sessione che non riconosci.",
                "Where you are signed in to GipoNext Connect. Revoke a session you do not recognise."
            )}</p>
            {move || match state.get() {
                None => view! { <super::Loading/> }.into_any(),
                Some(Ok(list)) => view! { <SessionList sessions=list revoke=revoke/> }.into_any(),
                Some(Err(failure)) => view! {
                    <FailureView failure=failure retry=Callback::new(move |_| load())/>
                }
                .into_any(),
            }}
            <div class="actions">
                <button type="button" class="button" data-test="logout-everywhere" on:click=everywhere>
                    {tr!("Esci ovunque", "Sign out everywhere")}
                </button>
            </div>
        </section>
    }
}
