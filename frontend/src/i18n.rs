//! Language of the console: Italian by default, English available, the
//! choice remembered in `localStorage`.
//!
//! Texts live next to the views that show them, as `tr!("italiano",
//! "English")`; the feature and scope texts come from `giponext_shared`.
//! Changing the language re-renders the shell, so a text needs no signal of
//! its own.

use giponext_shared::{Lang, Text};
use leptos::prelude::*;

const STORAGE_KEY: &str = "gx.lang";

/// The current language, provided at the root.
#[derive(Debug, Clone, Copy)]
pub struct LangCtx(pub RwSignal<Lang>);

/// Provides the language context, read from `localStorage` (default Italian).
pub fn provide_lang() -> LangCtx {
    let ctx = LangCtx(RwSignal::new(stored_lang().unwrap_or_default()));
    provide_context(ctx);
    Effect::new(move |_| {
        let lang = ctx.0.get();
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(STORAGE_KEY, lang.tag());
        }
        if let Some(html) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = html.set_attribute("lang", lang.tag());
        }
    });
    ctx
}

/// The language the user chose last time, if any.
pub fn stored_lang() -> Option<Lang> {
    local_storage()?
        .get_item(STORAGE_KEY)
        .ok()
        .flatten()
        .and_then(|tag| Lang::from_tag(&tag))
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The current language (untracked: the shell re-renders on change).
pub fn lang() -> Lang {
    use_context::<LangCtx>()
        .map(|c| c.0.get_untracked())
        .unwrap_or_default()
}

/// A shared text in the current language.
pub fn t(text: Text) -> &'static str {
    text.get(lang())
}

/// The Italian or the English text, per the current language.
pub fn pick(it: &'static str, en: &'static str) -> &'static str {
    match lang() {
        Lang::It => it,
        Lang::En => en,
    }
}

/// `tr!("italiano", "English")`: the text in the current language.
#[macro_export]
macro_rules! tr {
    ($it:expr, $en:expr $(,)?) => {
        $crate::i18n::pick($it, $en)
    };
}

/// Joins scope labels as a sentence: "A, B e C" / "A, B and C".
pub fn join_labels(labels: &[&str]) -> String {
    let and = pick(" e ", " and ");
    match labels {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{}{and}{last}", init.join(", ")),
    }
}

/// A date as staff read it: `28/11/2026` (it) or `28 Nov 2026` (en).
pub fn date(d: chrono::NaiveDate) -> String {
    match lang() {
        Lang::It => d.format("%d/%m/%Y").to_string(),
        Lang::En => d.format("%-d %b %Y").to_string(),
    }
}

/// A short weekday name.
pub fn weekday(d: chrono::NaiveDate) -> &'static str {
    use chrono::Datelike;
    const IT: [&str; 7] = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let i = d.weekday().num_days_from_monday() as usize;
    match lang() {
        Lang::It => IT[i],
        Lang::En => EN[i],
    }
}
