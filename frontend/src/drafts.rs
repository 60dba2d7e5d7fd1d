//! Form drafts, so nothing typed is lost to a consent round trip or an
//! expired session, and nothing typed reaches the next person at a shared
//! computer.
//!
//! A draft is keyed by page, saved on every change, restored on return with
//! a notice, and cleared on submit or discard. It lives in `sessionStorage`
//! (per tab, gone when the tab closes) sealed with AES-256-GCM (WebCrypto)
//! under the key of the person and centre that typed it ([`DraftKey`], from
//! `/api/session`, derived by the backend over `sub` and tenant). So a
//! draft opens only for the same person in the same centre, in any later
//! session; another person's drafts are left sealed and never shown; a
//! draft that does not open, or is older than 12 hours (the session's
//! absolute lifetime), is deleted.
//!
//! The sealing and the storage are in `frontend/desk.js` (calls into the
//! browser's own APIs; written in Rust they cost the bundle about 8 KB over
//! its budget). While a page runs, its person's drafts are held opened
//! there ([`unlock`] opens them once, before the signed-in views render), so
//! reading one stays synchronous; sealing a change happens in the
//! background.

use giponext_shared::session::DraftKey;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(module = "/desk.js")]
extern "C" {
    #[wasm_bindgen(js_name = unlock, catch)]
    fn js_unlock(id: &str, key: &str) -> Result<js_sys::Promise, wasm_bindgen::JsValue>;
    #[wasm_bindgen(js_name = load)]
    fn js_load(page: &str) -> Option<String>;
    #[wasm_bindgen(js_name = save)]
    fn js_save(page: &str, text: &str);
    #[wasm_bindgen(js_name = clear)]
    fn js_clear(page: &str);
    #[wasm_bindgen(js_name = clearAll)]
    fn js_clear_all();
}

/// Opens this person's drafts kept in this tab, deleting the ones that have
/// expired or do not open under `key`, and remembers the key for saving.
/// Drafts of anyone else stay sealed (they expire on their own).
pub async fn unlock(key: &DraftKey) {
    if let Ok(promise) = js_unlock(&key.id, &key.key) {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

/// The stored draft of `page`, if any.
pub fn load<F: DeserializeOwned>(page: &str) -> Option<F> {
    crate::api::from_json(&js_load(page)?).ok()
}

/// Stores the draft of `page`.
pub fn save<F: Serialize>(page: &str, form: &F) {
    if let Ok(text) = serde_json::to_string(form) {
        js_save(page, &text);
    }
}

/// Forgets the draft of `page`.
pub fn clear(page: &str) {
    js_clear(page);
}

/// Forgets every draft kept in this tab, whoever typed it (at sign-out: a
/// shared computer keeps nothing).
pub fn clear_all() {
    js_clear_all();
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
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.session_storage().ok().flatten()
    }

    fn key(id: &str, byte: &str) -> DraftKey {
        DraftKey {
            id: id.to_owned(),
            key: byte.repeat(32),
        }
    }

    async fn settle() {
        // Sealing runs in the background: let it finish.
        let promise = js_sys::Promise::new(&mut |done, _| {
            let _ = web_sys::window()
                .expect("a window")
                .set_timeout_with_callback_and_timeout_and_arguments_0(&done, 50);
        });
        let _ = JsFuture::from(promise).await;
    }

    #[test]
    async fn drafts_are_sealed_and_open_only_for_their_person() {
        clear_all();
        unlock(&key("00000000000000aa", "11")).await;
        save("unit", &vec!["Chiara Fontana".to_owned()]);
        assert_eq!(
            load::<Vec<String>>("unit"),
            Some(vec!["Chiara Fontana".to_owned()])
        );
        settle().await;
        let stored = storage()
            .and_then(|s| s.get_item("gx.draft.00000000000000aa.unit").ok().flatten())
            .expect("sealed in sessionStorage");
        assert!(!stored.contains("Chiara"), "not in plain text: {stored}");
        // Another person: nothing opens, and the sealed draft stays.
        unlock(&key("00000000000000bb", "22")).await;
        assert_eq!(load::<Vec<String>>("unit"), None);
        // Someone presenting the first id with another key: deleted.
        unlock(&key("00000000000000aa", "33")).await;
        assert_eq!(load::<Vec<String>>("unit"), None);
        save("unit", &vec!["x".to_owned()]);
        settle().await;
        unlock(&key("00000000000000aa", "11")).await;
        assert_eq!(
            load::<Vec<String>>("unit"),
            None,
            "a draft that does not open is gone"
        );
        save("unit", &vec!["a".to_owned()]);
        settle().await;
        unlock(&key("00000000000000aa", "11")).await;
        assert_eq!(load::<Vec<String>>("unit"), Some(vec!["a".to_owned()]));
        clear("unit");
        unlock(&key("00000000000000aa", "11")).await;
        assert_eq!(load::<Vec<String>>("unit"), None);
    }
}
