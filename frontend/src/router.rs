//! A small client-side router (instead of `leptos_router`, about 20 KB
//! gzipped less in the bundle).
//!
//! [`Router`] keeps the browser's path and query in signals, turns clicks on
//! same-origin links (`href="/..."`) into `history.pushState`, and follows
//! the back and forward buttons. Links with `rel="external"`, `download`, a
//! `target`, a modifier key or a non-primary button are left to the browser,
//! as are fragment links (`href="#main"`) and links to other origins.
//! The console matches its few routes itself (see `SignedIn` in the crate
//! root).

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

/// The current location, reactive.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    /// The path, e.g. `/patients/42`.
    pub pathname: RwSignal<String>,
    /// The query string with its `?`, or empty.
    pub search: RwSignal<String>,
}

impl Location {
    fn read() -> (String, String) {
        let Some(loc) = web_sys::window().map(|w| w.location()) else {
            return ("/".to_owned(), String::new());
        };
        (
            loc.pathname().unwrap_or_else(|_| "/".to_owned()),
            loc.search().unwrap_or_default(),
        )
    }

    /// Reads the browser's location into the signals (notifies only what
    /// changed).
    fn sync(self) {
        let (path, search) = Location::read();
        if self.pathname.with_untracked(|p| *p != path) {
            self.pathname.set(path);
        }
        if self.search.with_untracked(|s| *s != search) {
            self.search.set(search);
        }
    }

    /// Goes to `to` (a same-origin path, optionally with a query) as a new
    /// history entry, and scrolls to the top.
    pub fn push(self, to: &str) {
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Ok(history) = window.history() {
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(to));
        }
        self.sync();
        window.scroll_to_with_x_and_y(0.0, 0.0);
    }

    /// The value of query parameter `name`, decoded.
    pub fn query(self, name: &str) -> Option<String> {
        self.search.with(|s| parse_query(s, name))
    }
}

/// Query parameter `name` of `location`, or of the browser's address
/// outside a [`Router`].
pub fn query(location: Option<Location>, name: &str) -> Option<String> {
    match location {
        Some(l) => l.query(name),
        None => parse_query(&Location::read().1, name),
    }
}

fn parse_query(search: &str, name: &str) -> Option<String> {
    search.trim_start_matches('?').split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let v = v.replace('+', " ");
            urlencoding::decode(&v).map_or_else(|_| v.clone(), |d| d.into_owned())
        })
    })
}

/// Provides the [`Location`] and handles link clicks and history
/// navigation for everything inside.
#[component]
pub fn Router(children: Children) -> impl IntoView {
    let (path, search) = Location::read();
    let location = Location {
        pathname: RwSignal::new(path),
        search: RwSignal::new(search),
    };
    provide_context(location);
    let click = window_event_listener(leptos::ev::click, move |ev| on_click(location, &ev));
    let popstate = window_event_listener(leptos::ev::popstate, move |_| location.sync());
    on_cleanup(move || {
        click.remove();
        popstate.remove();
    });
    children()
}

fn on_click(location: Location, ev: &web_sys::MouseEvent) {
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.alt_key()
        || ev.ctrl_key()
        || ev.shift_key()
    {
        return;
    }
    let Some(a) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("a").ok().flatten())
    else {
        return;
    };
    let external = a
        .get_attribute("rel")
        .is_some_and(|r| r.split_ascii_whitespace().any(|p| p == "external"));
    if external
        || a.has_attribute("download")
        || a.get_attribute("target").is_some_and(|t| !t.is_empty())
    {
        return;
    }
    let Some(href) = a.get_attribute("href") else {
        return;
    };
    // Same-origin absolute paths only: `//host` and `#fragment` go to the
    // browser.
    if !href.starts_with('/') || href.starts_with("//") {
        return;
    }
    ev.prevent_default();
    location.push(&href);
}

/// The current [`Location`] (inside a [`Router`]).
///
/// # Panics
///
/// Outside a [`Router`].
pub fn use_location() -> Location {
    expect_context::<Location>()
}

/// A function that navigates to a same-origin path (inside a [`Router`]).
pub fn use_navigate() -> impl Fn(&str) + Clone + 'static {
    let location = use_location();
    move |to: &str| location.push(to)
}
