//! One browser, one person: the tabs of a shared workstation follow each
//! other.
//!
//! A tab tells the others (a `BroadcastChannel`, in `frontend/desk.js`) when it signs out, ends its
//! session for another person, loads signed in, or keeps the session alive.
//! A tab that hears it, or gains focus or becomes visible, reads
//! `/api/session` again and compares who it shows (`sub` and tenant) with
//! who the backend says: the same person, it only takes the new time left;
//! signed out, it shows the sign-in page (and, after a sign-out, forgets
//! its drafts); another person, it reloads into that person's session. So a
//! tab never shows one person's data under another's session.

use leptos::prelude::Set;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::{Closure, wasm_bindgen};

use crate::api;
use crate::session::{SessionCtx, SessionState, person};

/// A tab signed out: every tab signs out and forgets its drafts.
pub const SIGNED_OUT: &str = "out";
/// A tab ended its session for another person ("Cambia utente"): every tab
/// signs out, the drafts stay (sealed for their person).
pub const ENDED: &str = "end";
/// A tab loaded signed in (perhaps as someone else).
pub const SIGNED_IN: &str = "in";
// A tab kept the session alive: "alive", handled in `desk.js`. This tab
// gained focus or became visible: "focus".

// The browser half is in `frontend/desk.js` (see `drafts` for why).
#[wasm_bindgen(module = "/desk.js")]
extern "C" {
    #[wasm_bindgen(js_name = watch, catch)]
    fn js_watch(heard: &Closure<dyn Fn(String)>) -> Result<(), wasm_bindgen::JsValue>;
    #[wasm_bindgen(js_name = announce, catch)]
    fn js_announce(what: &str) -> Result<(), wasm_bindgen::JsValue>;
}

/// Tells the other tabs of this browser `what`.
pub fn announce(what: &str) {
    let _ = js_announce(what);
}

/// Starts following the other tabs, and this tab's focus. (A keep-alive
/// in another tab only moves the idle warning's countdown: `desk.js` reads
/// the time left itself.)
pub fn watch_other_tabs(ctx: SessionCtx) {
    let heard = Closure::<dyn Fn(String)>::new(move |what: String| {
        recheck(ctx, what == SIGNED_OUT);
    });
    let _ = js_watch(&heard);
    heard.forget();
}

/// Reads the session again and makes this tab show who the backend says.
fn recheck(ctx: SessionCtx, signed_out_elsewhere: bool) {
    spawn_local(async move {
        let Ok(info) = api::session().await else {
            return;
        };
        // Still reading the session for the first time: that read decides.
        let Some(shown) = ctx.shown_person() else {
            return;
        };
        if shown == person(&info) {
            ctx.heard(&info);
        } else if !info.authenticated {
            if signed_out_elsewhere {
                crate::drafts::clear_all();
            }
            ctx.state.set(SessionState::Ready(info));
        } else if let Some(w) = web_sys::window() {
            // Another person (or signed in after showing the sign-in page):
            // a fresh page, with nothing of the previous one in memory.
            let _ = w.location().reload();
        }
    });
}
