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
///
/// One timer drives it (not effects and memos: each costs the bundle, see
/// `frontend/README.md`): every second it works out the time left and sets
/// `open` and the seconds shown (with whether the absolute lifetime caps
/// them).
#[component]
pub fn IdleWarning() -> impl IntoView {
    let session = use_session();
    let open = RwSignal::new(false);
    let shown_left = RwSignal::new((0u64, false));
    // Confirmed by the backend since the countdown entered the last two
    // minutes; the check at zero asked.
    let confirmed = RwSignal::new(false);
    let asked = StoredValue::new(false);
    let ending = StoredValue::new(false);
    let tick = move || {
        let Some((l, at)) = session.left.get_untracked() else {
            return;
        };
        let end = at + l.idle_seconds_left as f64 * 1000.0;
        let secs = ((end - desk::now_ms()) / 1000.0).ceil().max(0.0) as u64;
        if secs > WARN_SECS {
            asked.set_value(false);
            ending.set_value(false);
            confirmed.set(false);
            if open.get_untracked() {
                open.set(false);
            }
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
        if confirmed.get_untracked() {
            // The absolute lifetime caps the session: keeping it alive
            // cannot help then.
            shown_left.set((secs, l.absolute_seconds_left <= l.idle_seconds_left));
            if !open.get_untracked() {
                open.set(true);
                // Focus moves to the dialog once it is on the page.
                request_animation_frame(focus_stay);
            }
        }
    };
    if let Ok(timer) = set_interval_with_handle(tick, Duration::from_millis(500)) {
        on_cleanup(move || timer.clear());
    }
    let stay = move |_| {
        spawn_local(async move {
            match api::keepalive().await {
                Ok(l) => {
                    session.heard_left(l);
                    desk::announce(desk::KEPT_ALIVE);
                    if l.idle_seconds_left > WARN_SECS {
                        open.set(false);
                        crate::focus_main();
                    }
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
            focus_stay();
        }
    };
    view! {
        <div class="sr-only" aria-live="assertive" data-test="idle-announcement">
            {move || open.get().then(|| tr!(
                "La sessione sta per scadere per inattività. Premi Resta collegato per continuare.",
                "Your session is about to expire because of inactivity. Press Stay signed in to continue."
            ))}
        </div>
        {move || open.get().then(|| {
            let text = move || {
            let (secs, capped) = shown_left.get();
            let (lead, tail) = if capped {
                (tr!("La sessione termina tra", "The session ends in"),
                 tr!("Ha raggiunto la durata massima: salva il lavoro.",
                     "It has reached its maximum length: save your work."))
            } else {
                (tr!("Per inattività, la sessione termina tra", "Because of inactivity, the session ends in"),
                 tr!("Quello che hai scritto resta salvato.", "What you typed stays saved."))
            };
            format!("{lead} {}:{:02}. {tail}", secs / 60, secs % 60)
            };
            view! {
                <div class="idle-backdrop">
                    <div class="idle-dialog" role="alertdialog" aria-modal="true"
                        aria-labelledby="idle-title" aria-describedby="idle-text"
                        data-test="idle-warning" on:keydown=on_key>
                        <h2 id="idle-title">{tr!("Sei ancora lì?", "Are you still there?")}</h2>
                        <p id="idle-text" role="timer" data-test="idle-countdown">
                            {text}
                        </p>
                        <button type="button" class="button primary" id="idle-stay"
                            data-test="stay-signed-in" on:click=stay>
                            {tr!("Resta collegato", "Stay signed in")}
                        </button>
                    </div>
                </div>
            }
        })}
    }
}

fn focus_stay() {
    use wasm_bindgen::JsCast;
    if let Some(b) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("idle-stay"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = b.focus();
    }
}
