//! One browser, one person: the tabs of a shared workstation follow each
//! other.
//!
//! A tab tells the others (a `BroadcastChannel`) when it signs out, ends its
//! session for another person, loads signed in, or keeps the session alive.
//! A tab that hears it, or gains focus or becomes visible, reads
//! `/api/session` again and compares who it shows (`sub` and tenant) with
//! who the backend says: the same person, it only takes the new time left;
//! signed out, it shows the sign-in page (and, after a sign-out, forgets
//! its drafts); another person, it reloads into that person's session. So a
//! tab never shows one person's data under another's session.

use std::cell::RefCell;

use giponext_shared::session::SessionInfo;
use leptos::prelude::Set;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api;
use crate::session::{SessionCtx, SessionState};

/// A tab signed out: every tab signs out and forgets its drafts.
pub const SIGNED_OUT: &str = "out";
/// A tab ended its session for another person ("Cambia utente"): every tab
/// signs out, the drafts stay (sealed for their person).
pub const ENDED: &str = "end";
/// A tab loaded signed in (perhaps as someone else).
pub const SIGNED_IN: &str = "in";
/// A tab kept the session alive.
pub const KEPT_ALIVE: &str = "alive";

thread_local! {
    static CHANNEL: RefCell<Option<web_sys::BroadcastChannel>> = const { RefCell::new(None) };
}

/// `performance.now()`: a monotonic clock in milliseconds, unmoved by
/// changes to the computer's clock.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Waits `ms` milliseconds.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |done, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&done, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Tells the other tabs of this browser `what`.
pub fn announce(what: &str) {
    CHANNEL.with_borrow(|c| {
        if let Some(c) = c {
            let _ = c.post_message(&what.into());
        }
    });
}

/// Starts following the other tabs.
pub fn watch_other_tabs(ctx: SessionCtx) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(channel) = web_sys::BroadcastChannel::new("gx.session") {
        let on_message =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| match e
                .data()
                .as_string()
                .as_deref()
            {
                Some(KEPT_ALIVE) => spawn_local(async move {
                    if let Ok(left) = api::remaining().await {
                        ctx.heard_left(left);
                    }
                }),
                Some(what) => recheck(ctx, what == SIGNED_OUT),
                None => {}
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        CHANNEL.set(Some(channel));
    }
    let on_focus = Closure::<dyn Fn()>::new(move || {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden());
        if !hidden {
            recheck(ctx, false);
        }
    });
    let _ = window.add_event_listener_with_callback("focus", on_focus.as_ref().unchecked_ref());
    if let Some(document) = window.document() {
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_focus.as_ref().unchecked_ref(),
        );
    }
    on_focus.forget();
}

fn person(info: &SessionInfo) -> Option<(&str, &str)> {
    info.authenticated.then(|| {
        (
            info.user.as_ref().map_or("", |u| u.sub.as_str()),
            info.tenant.as_ref().map_or("", |t| t.id.as_str()),
        )
    })
}

/// Reads the session again and makes this tab show who the backend says.
fn recheck(ctx: SessionCtx, signed_out_elsewhere: bool) {
    spawn_local(async move {
        let Ok(info) = api::session().await else {
            return;
        };
        // Still reading the session for the first time: that read decides.
        let Some(shown) = ctx.info_untracked() else {
            return;
        };
        if person(&shown) == person(&info) {
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
