//! Language of the console: Italian by default, English available, the
//! choice remembered in `localStorage`.
//!
//! Texts live next to the views that show them, as `tr!("italiano",
//! "English")`; the feature and scope texts come from `giponext_shared`.
//! Changing the language re-renders the shell, so a text needs no signal of
//! its own.

use giponext_shared::api::{FieldError, field_codes as c};
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

/// Joins phrases as a sentence: "A, B e C" / "A, B and C" ("ed" before a
/// vowel e, as Italian writes it).
pub fn join_list(items: &[String], lang: Lang) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => {
            let and = match lang {
                Lang::It if last.starts_with(['e', 'E', 'è', 'È']) => " ed ",
                Lang::It => " e ",
                Lang::En => " and ",
            };
            format!("{}{and}{last}", init.join(", "))
        }
    }
}

/// Scope labels after "access": "a Fatturazione", "ad Agenda", "a
/// Prestazioni e listini e a Fatturazione" / "to Invoicing", "to Treatments
/// and price lists and to Invoicing". The preposition is repeated so a
/// label that holds "e"/"and" itself reads as one name.
pub fn access_to(labels: &[&str], lang: Lang) -> String {
    let items: Vec<String> = labels
        .iter()
        .map(|l| match lang {
            Lang::It if l.starts_with(['a', 'A']) => format!("ad {l}"),
            Lang::It => format!("a {l}"),
            Lang::En => format!("to {l}"),
        })
        .collect();
    join_list(&items, lang)
}

/// What is wrong with a field of a 422 answer, in the current language: in
/// Italian the API's stable `code` translated; in English, or for a code
/// this console does not know, the API's own (English) message.
pub fn field_message(e: &FieldError) -> String {
    let it = match (lang(), e.code.as_deref()) {
        (Lang::En, _) | (_, None) => None,
        (Lang::It, Some(code)) => Some(match code {
            c::REQUIRED => "Campo obbligatorio.",
            c::TOO_LONG => "Testo troppo lungo.",
            c::OUT_OF_RANGE => "Valore fuori dall'intervallo consentito.",
            c::NOT_FOUND => "Non trovato in questo centro.",
            c::IN_FUTURE => "Non può essere nel futuro.",
            c::IN_PAST => "È nel passato.",
            c::END_BEFORE_START => "La fine deve essere dopo l'inizio.",
            c::OUTSIDE_HOURS => "Fuori dall'orario di lavoro dell'agenda.",
            c::FISCAL_CODE_LENGTH => "Il codice fiscale deve avere 16 caratteri.",
            c::FISCAL_CODE_SHAPE => "Il codice fiscale non è ben formato.",
            c::FISCAL_CODE_CHECK => {
                "Codice fiscale non valido: il carattere di controllo è errato."
            }
            c::INVALID_EMAIL => "Indirizzo e-mail non valido.",
            c::INVALID_PHONE => "Numero di telefono non valido.",
            c::INVALID => "Valore non valido.",
            _ => return e.message.clone(),
        }),
    };
    it.map_or_else(|| e.message.clone(), str::to_owned)
}

// Dates are formatted by hand: chrono's strftime machinery would add tens
// of kilobytes to the bundle for four patterns.

/// A date as staff read it: `28/11/2026` (it) or `28 Nov 2026` (en).
pub fn date(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match lang() {
        Lang::It => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        Lang::En => format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year()),
    }
}

/// `28/11`.
pub fn day_month(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:02}/{:02}", d.day(), d.month())
}

/// `09:30`.
pub fn time(t: chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// A date and time: `28/11/2026 09:30`.
pub fn date_time(t: chrono::NaiveDateTime) -> String {
    format!("{} {}", date(t.date()), time(t))
}

/// The value of an `<input type="datetime-local">`: `2026-11-28T09:30`.
pub fn to_local_input(t: chrono::NaiveDateTime) -> String {
    format!("{}T{}", t.date(), time(t))
}

/// Reads an `<input type="datetime-local">` value (`2026-11-28T09:30`,
/// seconds optional).
pub fn from_local_input(s: &str) -> Option<chrono::NaiveDateTime> {
    let (date, time) = s.split_once('T')?;
    let date = giponext_shared::wire_time::parse_date(date)?;
    let mut parts = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m) = (parts.next()??, parts.next()??);
    let sec = parts.next().flatten().unwrap_or(0);
    date.and_hms_opt(h, m, sec)
}

/// Today in the browser's time zone (chrono's clock needs a feature that
/// would pull in more JavaScript glue; the browser knows the date).
pub fn today() -> chrono::NaiveDate {
    let now = js_sys::Date::new_0();
    chrono::NaiveDate::from_ymd_opt(
        now.get_full_year() as i32,
        now.get_month() + 1,
        now.get_date(),
    )
    .unwrap_or_default()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn local_inputs_round_trip() {
        let t = from_local_input("2026-11-28T09:30").unwrap();
        assert_eq!(to_local_input(t), "2026-11-28T09:30");
        assert_eq!(
            from_local_input("2026-11-28T09:30:15").map(time).as_deref(),
            Some("09:30")
        );
        assert_eq!(from_local_input("2026-11-28"), None);
        assert_eq!(from_local_input("2026-13-28T09:30"), None);
        assert_eq!(date(t.date()), "28/11/2026");
        assert_eq!(date_time(t), "28/11/2026 09:30");
    }

    #[test]
    fn lists_of_scopes_read_as_sentences() {
        let two = ["Prestazioni e listini", "Fatturazione"];
        assert_eq!(
            access_to(&two, Lang::It),
            "a Prestazioni e listini e a Fatturazione"
        );
        assert_eq!(access_to(&["Agenda"], Lang::It), "ad Agenda");
        assert_eq!(
            access_to(&["Treatments and price lists", "Invoicing"], Lang::En),
            "to Treatments and price lists and to Invoicing"
        );
        let three = ["Pazienti", "Agenda", "Episodi clinici"].map(String::from);
        assert_eq!(
            join_list(&three, Lang::It),
            "Pazienti, Agenda ed Episodi clinici"
        );
        assert_eq!(join_list(&three[..1], Lang::En), "Pazienti");
    }

    #[test]
    fn field_errors_speak_the_console_language() {
        // Its own owner, so the language set here does not leak into other
        // tests.
        Owner::new().with(|| {
            let ctx = LangCtx(RwSignal::new(Lang::It));
            provide_context(ctx);
            let check = FieldError::new(
                "fiscalCode",
                c::FISCAL_CODE_CHECK,
                "is not a valid fiscal code (the check character is wrong)",
            );
            assert_eq!(
                field_message(&check),
                "Codice fiscale non valido: il carattere di controllo è errato."
            );
            let unknown = FieldError::new("x", "some_new_code", "is odd");
            assert_eq!(field_message(&unknown), "is odd");
            let old = FieldError {
                code: None,
                ..FieldError::new("x", c::REQUIRED, "is required")
            };
            assert_eq!(field_message(&old), "is required");
            ctx.0.set(Lang::En);
            assert_eq!(
                field_message(&check),
                "is not a valid fiscal code (the check character is wrong)"
            );
        });
    }
}
