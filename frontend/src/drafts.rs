//! Form drafts kept in `sessionStorage`, so nothing typed is lost to a
//! consent round trip or an expired session.
//!
//! A draft is keyed by page, saved on every change, restored on return with
//! a notice, and cleared on submit or discard. `sessionStorage` is per tab
//! and gone when the tab closes, which is what a draft of patient data
//! should do: it never outlives the working session on a shared computer.

use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

const PREFIX: &str = "gx.draft.";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The stored draft of `page`, if any.
pub fn load<F: DeserializeOwned>(page: &str) -> Option<F> {
    crate::api::from_json(&load_text(page)?).ok()
}

/// Stores the draft of `page`.
pub fn save<F: Serialize>(page: &str, form: &F) {
    if let Ok(text) = serde_json::to_string(form) {
        save_text(page, &text);
    }
}

// The storage half of `load` and `save`, not generic and not inlined: one
// copy for every kind of draft (the bundle has a size budget).
#[inline(never)]
fn load_text(page: &str) -> Option<String> {
    storage()?.get_item(&format!("{PREFIX}{page}")).ok()?
}

#[inline(never)]
fn save_text(page: &str, text: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(&format!("{PREFIX}{page}"), text);
    }
}

/// Forgets the draft of `page`.
pub fn clear(page: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(&format!("{PREFIX}{page}"));
    }
}

/// Forgets every draft (at sign-out: a shared computer keeps nothing).
pub fn clear_all() {
    let Some(storage) = storage() else { return };
    let len = storage.length().unwrap_or(0);
    let keys: Vec<String> = (0..len)
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    for key in keys {
        let _ = storage.remove_item(&key);
    }
}

/// A form bound to its draft.
#[derive(Debug)]
pub struct Draft<F: Send + Sync + 'static> {
    /// The form's values.
    pub form: RwSignal<F>,
    /// Whether the values were restored from an earlier visit.
    pub restored: RwSignal<bool>,
    page: StoredValue<String>,
    baseline: StoredValue<F>,
}

impl<F: Send + Sync + 'static> Clone for Draft<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F: Send + Sync + 'static> Copy for Draft<F> {}

impl<F> Draft<F>
where
    F: Default + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Restores the draft of `page` (or starts empty) and saves every change.
    pub fn new(page: impl Into<String>) -> Draft<F> {
        Self::with_baseline(page, F::default())
    }

    /// Like [`Draft::new`], for a form that starts from `baseline` (an
    /// edit form starts from the record): only changes from it are a draft.
    pub fn with_baseline(page: impl Into<String>, baseline: F) -> Draft<F> {
        let page = page.into();
        let stored = load::<F>(&page).filter(|f| *f != baseline);
        let draft = Draft {
            restored: RwSignal::new(stored.is_some()),
            form: RwSignal::new(stored.unwrap_or_else(|| baseline.clone())),
            page: StoredValue::new(page),
            baseline: StoredValue::new(baseline),
        };
        Effect::new(move |_| {
            let form = draft.form.get();
            let page = draft.page.get_value();
            if draft.baseline.with_value(|b| *b == form) {
                clear(&page);
            } else {
                save(&page, &form);
            }
        });
        draft
    }

    /// Changes one value.
    pub fn update(self, f: impl FnOnce(&mut F)) {
        self.form.update(f);
    }

    /// Puts the form back to its start and forgets the draft (after submit
    /// or discard).
    pub fn discard(self) {
        self.form.set(self.baseline.get_value());
        self.restored.set(false);
        clear(&self.page.get_value());
    }

    /// After a successful save of an edit form: the saved values are the
    /// new start, and no draft remains.
    pub fn rebase(self, baseline: F) {
        self.baseline.set_value(baseline.clone());
        self.form.set(baseline);
        self.restored.set(false);
        clear(&self.page.get_value());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn drafts_round_trip_and_clear() {
        save("unit", &vec!["a".to_owned()]);
        assert_eq!(load::<Vec<String>>("unit"), Some(vec!["a".to_owned()]));
        clear("unit");
        assert_eq!(load::<Vec<String>>("unit"), None);
    }
}
