//! The warning before the idle timeout: two minutes before the backend ends
//! an unused session, a dialog says so and offers "Resta collegato".
//!
//! The countdown starts from the backend's figure (`idle_seconds_left`, in
//! `/api/session` and every time-left answer) and runs on the monotonic
//! clock (`performance.now()`), so the computer's clock does not matter.
//! Before warning, the console asks the backend again without counting as
//! use (`GET /api/session/remaining`): another tab, or calls made
//! meanwhile, may have kept the session alive. "Resta collegato" is one
//! cheap call (`POST /api/session/keepalive`), announced to the other tabs.
//! At zero the page shows the sign-in page; the drafts stay, sealed for
//! this person. It never reads `/api/session` while that session still
//! lives: that read counts as use and would keep alive a session nobody is
//! using.
//!
//! Accessible: the dialog is an `alertdialog` named by its title and
//! described by the countdown; focus moves to its button, a live region
//! announces it, and Escape does not dismiss it (only the button does, by
//! keeping the session); Tab stays on the button.
//!
//! The timer, the calls and the dialog's element are in `frontend/desk.js`
//! (timers, `fetch` and focus are browser calls; as Rust view and reactive
//! code they cost the bundle about 3.5 KB gzipped, over its budget). The
//! texts come from here, in the console's language.

use std::cell::RefCell;

use giponext_shared::session::SessionRemaining;
use leptos::prelude::on_cleanup;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::{Closure, wasm_bindgen};

use crate::session::SessionCtx;
use crate::tr;

#[wasm_bindgen(module = "/desk.js")]
extern "C" {
    #[wasm_bindgen(js_name = startIdle, catch)]
    fn js_start_idle(lines: &str, gone: &Closure<dyn Fn()>) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = stopIdle, catch)]
    fn js_stop_idle() -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = heardLeft, catch)]
    fn js_heard_left(idle: f64, absolute: f64) -> Result<(), JsValue>;
}

thread_local! {
    /// What the warning calls once the session is gone: read the session
    /// again (it then shows the sign-in page).
    static GONE: RefCell<Option<Closure<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Records the time left as the backend just said it.
pub fn heard(left: SessionRemaining) {
    let _ = js_heard_left(
        left.idle_seconds_left as f64,
        left.absolute_seconds_left as f64,
    );
}

/// Runs the idle warning while the signed-in frame is on the page.
pub fn watch_idle(session: SessionCtx) {
    let lines = [
        tr!("Sei ancora lì?", "Are you still there?"),
        tr!("Resta collegato", "Stay signed in"),
        tr!(
            "Per inattività, la sessione termina tra",
            "Because of inactivity, the session ends in"
        ),
        tr!("Quello che hai scritto resta salvato.", "What you typed stays saved."),
        tr!("La sessione termina tra", "The session ends in"),
        tr!(
            "Ha raggiunto la durata massima: salva il lavoro.",
            "It has reached its maximum length: save your work."
        ),
        tr!(
            "La sessione sta per scadere per inattività. Premi Resta collegato per continuare.",
            "Your session is about to expire because of inactivity. Press Stay signed in to continue."
        ),
    ]
    .join("\n");
    let gone = Closure::<dyn Fn()>::new(move || session.reload());
    let _ = js_start_idle(&lines, &gone);
    GONE.set(Some(gone));
    on_cleanup(|| {
        let _ = js_stop_idle();
    });
}
