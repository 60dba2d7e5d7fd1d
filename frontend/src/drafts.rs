//! Form drafts, so nothing typed is lost to a consent round trip or an
//! expired session, and nothing typed reaches the next person at a shared
//! computer.
//!
//! A draft is keyed by page, saved on every change, restored on return with
//! a notice, and cleared on submit or discard. It lives in `sessionStorage`
//! (per tab, gone when the tab closes) sealed with AES-256-GCM (WebCrypto)
//! under the key of the person and centre that typed it
//! ([`DraftKey`], from `/api/session`, derived by the backend over `sub` and
//! tenant). The stored name carries the key's id, the value its expiry:
//! `gx.draft.<key id>.<page>` = `<expiry ms>.<hex(iv || ciphertext)>`, the
//! name and expiry being the associated data. So a draft opens only for the
//! same person in the same centre, in any later session; another person's
//! drafts are left sealed and never shown; a draft that does not open, or is
//! older than [`LIFETIME_MS`], is deleted.
//!
//! While a page runs, the drafts of its person are held opened in memory
//! ([`unlock`] opens them once, before the signed-in views render), so
//! reading one stays synchronous; sealing a change happens in the
//! background.

use std::cell::RefCell;

use giponext_shared::session::DraftKey;
use js_sys::{Array, Uint8Array};
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey};

const PREFIX: &str = "gx.draft.";

/// How long a draft is kept after its last change: 12 hours, the session's
/// absolute lifetime, so no draft outlives the working day it was typed in.
pub const LIFETIME_MS: u64 = 12 * 3600 * 1000;

// Plain lists, not maps, and integer times, not floats: a tab holds a
// handful of drafts, and float parsing and printing or a hasher would cost
// the bundle kilobytes (its size budget).
type List<T> = Vec<(String, T)>;

fn find<'a, T>(list: &'a List<T>, page: &str) -> Option<&'a T> {
    list.iter().find(|(p, _)| p == page).map(|(_, v)| v)
}

fn put<T>(list: &mut List<T>, page: &str, value: T) {
    list.retain(|(p, _)| p != page);
    list.push((page.to_owned(), value));
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

struct Unlocked {
    id: String,
    key: CryptoKey,
}

thread_local! {
    static KEY: RefCell<Option<Unlocked>> = const { RefCell::new(None) };
    /// The opened drafts of this page's person, by page.
    static OPEN: RefCell<List<String>> = const { RefCell::new(Vec::new()) };
    /// Bumped on every change of a page's draft, so a seal that finishes
    /// after a later change (or a clear) does not write over it.
    static GENERATION: RefCell<List<u32>> = const { RefCell::new(Vec::new()) };
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn subtle() -> Option<web_sys::SubtleCrypto> {
    Some(web_sys::window()?.crypto().ok()?.subtle())
}

fn bump(page: &str) -> u32 {
    GENERATION.with_borrow_mut(|g| {
        let n = find(g, page).copied().unwrap_or_default().wrapping_add(1);
        put(g, page, n);
        n
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (text.len() % 2 == 0)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

fn params(iv: &[u8], aad: &str) -> AesGcmParams {
    let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(iv));
    params.set_additional_data_u8_array(&Uint8Array::from(aad.as_bytes()));
    params
}

async fn bytes_of(promise: Result<js_sys::Promise, JsValue>) -> Option<Vec<u8>> {
    let value = JsFuture::from(promise.ok()?).await.ok()?;
    Some(Uint8Array::new(&value).to_vec())
}

/// Opens this person's drafts kept in this tab, deleting the ones that have
/// expired or do not open under `key`, and remembers the key for saving.
/// Drafts of anyone else stay sealed (they expire on their own).
pub async fn unlock(key: &DraftKey) {
    let (Some(storage), Some(subtle), Some(raw)) = (storage(), subtle(), unhex(&key.key)) else {
        return;
    };
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let Ok(promise) = subtle.import_key_with_str(
        "raw",
        &Uint8Array::from(&raw[..]),
        "AES-GCM",
        false,
        &usages,
    ) else {
        return;
    };
    let Some(crypto_key) = JsFuture::from(promise)
        .await
        .ok()
        .and_then(|k| k.dyn_into::<CryptoKey>().ok())
    else {
        return;
    };
    let now = now();
    let mine = format!("{PREFIX}{}.", key.id);
    let names: Vec<String> = (0..storage.length().unwrap_or(0))
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    let mut opened = List::new();
    for name in names {
        let value = storage.get_item(&name).ok().flatten().unwrap_or_default();
        let sealed = value
            .split_once('.')
            .and_then(|(expiry, blob)| Some((expiry.parse::<u64>().ok()?, unhex(blob)?)));
        let page = name.strip_prefix(&mine).map(str::to_owned);
        let text = match (sealed, page) {
            // An expired draft goes, whoever typed it.
            (Some((expiry, _)), _) if expiry <= now => None,
            // Someone else's draft: left as it is, sealed.
            (Some(_), None) if name[PREFIX.len()..].contains('.') => continue,
            (Some((expiry, blob)), Some(page)) if blob.len() > 12 => {
                let aad = format!("{name}|{expiry}");
                let (iv, data) = blob.split_at(12);
                let plain = bytes_of(subtle.decrypt_with_object_and_u8_array(
                    &params(iv, &aad),
                    &crypto_key,
                    data,
                ))
                .await;
                plain
                    .and_then(|p| String::from_utf8(p).ok())
                    .map(|t| (page, t))
            }
            // Not in this format (e.g. a plain-text draft of an older
            // console), or damaged: it goes.
            _ => None,
        };
        match text {
            Some((page, text)) => opened.push((page, text)),
            None => {
                let _ = storage.remove_item(&name);
            }
        }
    }
    OPEN.set(opened);
    KEY.set(Some(Unlocked {
        id: key.id.clone(),
        key: crypto_key,
    }));
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
    OPEN.with_borrow(|o| find(o, page).cloned())
}

#[inline(never)]
fn save_text(page: &str, text: &str) {
    OPEN.with_borrow_mut(|o| put(o, page, text.to_owned()));
    let generation = bump(page);
    let Some((id, key)) = KEY.with_borrow(|k| k.as_ref().map(|k| (k.id.clone(), k.key.clone())))
    else {
        return;
    };
    let (page, text) = (page.to_owned(), text.to_owned());
    leptos::task::spawn_local(async move {
        let (Some(storage), Some(subtle)) = (storage(), subtle()) else {
            return;
        };
        let mut iv = [0u8; 12];
        let Some(()) = web_sys::window()
            .and_then(|w| w.crypto().ok())
            .and_then(|c| c.get_random_values_with_u8_array(&mut iv).ok())
            .map(|_| ())
        else {
            return;
        };
        let expiry = now() + LIFETIME_MS;
        let name = format!("{PREFIX}{id}.{page}");
        let aad = format!("{name}|{expiry}");
        let Some(sealed) = bytes_of(subtle.encrypt_with_object_and_u8_array(
            &params(&iv, &aad),
            &key,
            text.as_bytes(),
        ))
        .await
        else {
            return;
        };
        if GENERATION.with_borrow(|g| find(g, &page) == Some(&generation)) {
            let _ = storage.set_item(&name, &format!("{expiry}.{}{}", hex(&iv), hex(&sealed)));
        }
    });
}

/// Forgets the draft of `page`.
pub fn clear(page: &str) {
    OPEN.with_borrow_mut(|o| o.retain(|(p, _)| p != page));
    bump(page);
    let id = KEY.with_borrow(|k| k.as_ref().map(|k| k.id.clone()));
    if let (Some(storage), Some(id)) = (storage(), id) {
        let _ = storage.remove_item(&format!("{PREFIX}{id}.{page}"));
    }
}

/// Forgets every draft kept in this tab, whoever typed it (at sign-out: a
/// shared computer keeps nothing).
pub fn clear_all() {
    let pages: Vec<String> = OPEN.with_borrow_mut(|o| o.drain(..).map(|(p, _)| p).collect());
    for page in pages {
        bump(&page);
    }
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
