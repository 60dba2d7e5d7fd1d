//! The warning before the idle timeout: two minutes before the backend ends
//! an unused session, a dialog says so and offers "Resta collegato".
//!
//! The countdown starts from the backend's figure (`idle_seconds_left`)
//! and runs on the monotonic clock (`performance.now()`), so the computer's
//! clock does not matter. Before warning, the console asks the backend
//! again without counting as use (`GET /api/session/remaining`): another
//! tab, or calls made meanwhile, may have kept the session alive. At zero
//! the page shows the sign-in page; the drafts stay, sealed for this person.
//!
//! Accessible: the dialog is an `alertdialog` that takes focus (its button),
//! a live region announces it, and Escape does not dismiss it (only the
//! button does, by keeping the session).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::desk;
use crate::session::{SessionCtx, use_session};
use crate::tr;

/// When the warning shows: this many seconds before the idle timeout.
pub const WARN_SECS: u64 = 120;

/// Asks the backend how long is left and records it; once the time is up
/// (the backend says 0, or no session), shows the sign-in page. It never
/// reads `/api/session` while that session still lives: that read counts as
/// use and would keep alive a session nobody is using.
async fn check(session: SessionCtx) {
    loop {
        match api::remaining().await {
            Ok(left) if left.idle_seconds_left == 0 => desk::sleep_ms(1000).await,
            Ok(left) => return session.heard_left(left),
            Err(_) => return session.reload(),
        }
    }
}

/// The idle warning, mounted once in the signed-in frame.
#[component]
pub fn IdleWarning() -> impl IntoView {
    let session = use_session();
    let now = RwSignal::new(desk::now_ms());
    if let Ok(tick) =
        set_interval_with_handle(move || now.set(desk::now_ms()), Duration::from_secs(1))
    {
        on_cleanup(move || tick.clear());
    }
    let left = Memo::new(move |_| {
        let t = now.get();
        session.left.get().map(|(l, at)| {
            let end = at + l.idle_seconds_left as f64 * 1000.0;
            let secs = ((end - t) / 1000.0).ceil().max(0.0) as u64;
            // The absolute lifetime caps the session: keeping it alive
            // cannot help then.
            (secs, l.absolute_seconds_left <= l.idle_seconds_left)
        })
    });
    // Confirmed by the backend since the countdown entered the last two
    // minutes, and the check at zero asked.
    let confirmed = RwSignal::new(false);
    let asked = StoredValue::new(false);
    let ending = StoredValue::new(false);
    Effect::new(move |_| {
        let Some((secs, _)) = left.get() else { return };
        if secs > WARN_SECS {
            asked.set_value(false);
            confirmed.set(false);
            return;
        }
        if !asked.get_value() {
            asked.set_value(true);
            spawn_local(async move {
                check(session).await;
                confirmed.set(true);
            });
        }
        if secs > 0 {
            ending.set_value(false);
        } else if !ending.get_value() {
            ending.set_value(true);
            spawn_local(check(session));
        }
    });
    let shown =
        Memo::new(move |_| confirmed.get() && left.get().is_some_and(|(s, _)| s <= WARN_SECS));
    let button = NodeRef::<leptos::html::Button>::new();
    // Closed after "Resta collegato": focus goes back to the page.
    Effect::new(move |was: Option<bool>| {
        let now = shown.get();
        if was == Some(true) && !now {
            crate::focus_main();
        }
        now
    });
    Effect::new(move |_| {
        if let Some(b) = button.get() {
            let _ = b.focus();
        }
    });
    let stay = move |_| {
        spawn_local(async move {
            match api::keepalive().await {
                Ok(l) => {
                    session.heard_left(l);
                    desk::announce(desk::KEPT_ALIVE);
                }
                Err(_) => session.reload(),
            }
        });
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        // Escape does not dismiss, and focus stays in the dialog (its only
        // control is the button).
        if ev.key() == "Escape" || ev.key() == "Tab" {
            ev.prevent_default();
            ev.stop_propagation();
            if let Some(b) = button.get_untracked() {
                let _ = b.focus();
            }
        }
    };
    let announcement = move || {
        shown.get().then(|| {
            tr!(
                "La sessione sta per scadere per inattività. Premi Resta collegato per continuare.",
                "Your session is about to expire because of inactivity. Press Stay signed in to continue."
            )
        })
    };
    view! {
        <div class="sr-only" aria-live="assertive" data-test="idle-announcement">{announcement}</div>
        {move || shown.get().then(|| {
            let text = move || {
                let (secs, capped) = left.get().unwrap_or_default();
                let clock = format!("{}:{:02}", secs / 60, secs % 60);
                if capped {
                    format!("{} {clock}. {}", tr!("La sessione termina tra", "The session ends in"),
                        tr!("Ha raggiunto la durata massima: salva il lavoro.",
                            "It has reached its maximum length: save your work."))
                } else {
                    format!("{} {clock}. {}", tr!("Per inattività, la sessione termina tra", "Because of inactivity, the session ends in"),
                        tr!("Quello che hai scritto resta salvato.", "What you typed stays saved."))
                }
            };
            view! {
                <div class="idle-backdrop">
                    <div class="idle-dialog" role="alertdialog" aria-modal="true"
                        aria-labelledby="idle-title" aria-describedby="idle-text"
                        data-test="idle-warning" on:keydown=on_key>
                        <h2 id="idle-title">{tr!("Sei ancora lì?", "Are you still there?")}</h2>
                        <p id="idle-text" role="timer" data-test="idle-countdown">{text}</p>
                        <button type="button" class="button primary" data-test="stay-signed-in"
                            node_ref=button on:click=stay>
                            {tr!("Resta collegato", "Stay signed in")}
                        </button>
                    </div>
                </div>
            }
        })}
    }
}
