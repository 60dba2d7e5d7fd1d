//! Dates and times as the API and the backend write them, read without
//! chrono's general-purpose parser.
//!
//! chrono's `FromStr` and `Deserialize` go through its format-item
//! interpreter (about 12 KB of WebAssembly before compression, for forms
//! the wire never uses), and the console has a size budget. These readers
//! take exactly the ISO 8601 / RFC 3339 forms chrono itself writes:
//!
//! - a date: `YYYY-MM-DD`;
//! - a local date-time: `YYYY-MM-DDTHH:MM:SS`, with an optional fraction of
//!   1 to 9 digits;
//! - an instant: a local date-time followed by `Z` or `±HH:MM`.
//!
//! The values are still chrono's types, built with its checked
//! constructors, so an impossible date (February 30th) is refused. The
//! serde functions are used as `#[serde(deserialize_with = "...")]`;
//! serialisation stays chrono's own, which writes these forms. The tests
//! check every form against chrono's parser.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::de::{Deserialize, Deserializer, Error, Unexpected};

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` (`T` or `t`).
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let rest = rest.strip_prefix(['T', 't'])?;
    Some(parse_date(date)?.and_time(parse_time(rest)?))
}

/// A local date-time followed by `Z` (or `z`) or `±HH:MM`, as an instant.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let (local, offset_seconds) = if let Some(local) = s.strip_suffix(['Z', 'z']) {
        (local, 0)
    } else {
        let split = s.len().checked_sub(6)?;
        let (local, offset) = (s.get(..split)?, s.get(split..)?.as_bytes());
        let sign = match offset[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if offset[3] != b':' {
            return None;
        }
        let (hours, minutes) = (digits(&offset[1..3])?, digits(&offset[4..6])?);
        if hours > 23 || minutes > 59 {
            return None;
        }
        (local, sign * (hours * 3600 + minutes * 60) as i32)
    };
    let local = parse_local(local)?;
    let offset = FixedOffset::east_opt(offset_seconds)?;
    Some(offset.from_local_datetime(&local).single()?.to_utc())
}

/// `HH:MM:SS[.fraction]`.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    let nanos = match &b[8..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// The value of a run of ASCII digits (at most 9, so it fits).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn read<'de, D, T>(
    d: D,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    parse_or_refuse(&String::deserialize(d)?, parse, expected)
}

fn read_optional<'de, D, T>(
    d: D,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(d)?
        .map(|text| parse_or_refuse(&text, parse, expected))
        .transpose()
}

fn parse_or_refuse<T, E: Error>(
    text: &str,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<T, E> {
    parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &expected))
}

const DATE: &str = "a date as YYYY-MM-DD";
const LOCAL: &str = "a local date and time as YYYY-MM-DDTHH:MM:SS";
const INSTANT: &str = "a date and time with its offset (RFC 3339)";

/// Deserialises a [`NaiveDate`].
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    read(d, parse_date, DATE)
}

/// Deserialises an optional [`NaiveDate`] (`null` is `None`).
pub fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    read_optional(d, parse_date, DATE)
}

/// Deserialises a [`NaiveDateTime`].
pub fn local<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    read(d, parse_local, LOCAL)
}

/// Deserialises a [`DateTime<Utc>`].
pub fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    read(d, parse_utc, INSTANT)
}

/// Deserialises an optional [`DateTime<Utc>`] (`null` is `None`).
pub fn optional_instant<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    read_optional(d, parse_utc, INSTANT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, SecondsFormat};

    /// Instants spread over the years the console meets, with and without
    /// fractions of a second.
    fn instants() -> impl Iterator<Item = DateTime<Utc>> {
        let start = Utc.with_ymd_and_hms(1899, 12, 31, 23, 59, 59).unwrap();
        (0..4_000i64).map(move |i| {
            start
                + Duration::seconds(i * 1_234_567 + i * i * 89)
                + Duration::nanoseconds(match i % 4 {
                    0 => 0,
                    1 => 500_000_000,
                    2 => 123_000,
                    _ => 987_654_321,
                })
        })
    }

    #[test]
    fn reads_what_chrono_writes_exactly_as_chrono_reads_it() {
        for t in instants() {
            let naive = t.naive_utc();
            let date = naive.date();
            // The forms chrono's serde writes for each type.
            let written = |value: serde_json::Value| value.as_str().unwrap().to_owned();
            let date_text = written(serde_json::to_value(date).unwrap());
            let local_text = written(serde_json::to_value(naive).unwrap());
            let instant_text = written(serde_json::to_value(t).unwrap());
            for (text, ours, theirs) in [
                (
                    &date_text,
                    parse_date(&date_text).map(|d| d.to_string()),
                    date_text.parse::<NaiveDate>().ok().map(|d| d.to_string()),
                ),
                (
                    &local_text,
                    parse_local(&local_text).map(|d| d.to_string()),
                    local_text
                        .parse::<NaiveDateTime>()
                        .ok()
                        .map(|d| d.to_string()),
                ),
                (
                    &instant_text,
                    parse_utc(&instant_text).map(|d| d.to_rfc3339()),
                    instant_text
                        .parse::<DateTime<Utc>>()
                        .ok()
                        .map(|d| d.to_rfc3339()),
                ),
            ] {
                assert!(ours.is_some(), "{text}");
                assert_eq!(ours, theirs, "{text}");
            }
            // Offsets other than Z, and every fraction length.
            for offset in [0, 3600, -5 * 3600 - 1800, 14 * 3600, -12 * 3600] {
                let zone = FixedOffset::east_opt(offset).unwrap();
                for digits in [
                    SecondsFormat::Secs,
                    SecondsFormat::Millis,
                    SecondsFormat::Nanos,
                ] {
                    let text = t.with_timezone(&zone).to_rfc3339_opts(digits, false);
                    let theirs = DateTime::parse_from_rfc3339(&text).unwrap().to_utc();
                    assert_eq!(parse_utc(&text), Some(theirs), "{text}");
                }
            }
        }
    }

    #[test]
    fn refuses_what_chrono_refuses() {
        for text in [
            "",
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "2026/11/28",
            "2026-11-28T",
            "2026-11-28T24:00:00",
            "2026-11-28T12:60:00",
            "2026-11-28T12:00:00.",
            "2026-11-28T12:00:00+2400",
            "2026-11-28T12:00:00+24:00",
            "2026-11-28T12:00:00+01:60",
            "2026-11-28X12:00:00Z",
            "2026-11-28T12:00:00ZZ",
            "２026-11-28",
            "2026-11-28T1２:00:00Z",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
            assert_eq!(text.parse::<NaiveDate>().ok(), None, "chrono: {text}");
            assert_eq!(parse_local(text), None, "{text}");
            assert_eq!(text.parse::<NaiveDateTime>().ok(), None, "chrono: {text}");
            assert_eq!(parse_utc(text), None, "{text}");
            assert_eq!(text.parse::<DateTime<Utc>>().ok(), None, "chrono: {text}");
        }
    }

    /// chrono reads a few forms leniently that no API writes; these readers
    /// keep to the one form of each type and refuse them (a clear error,
    /// not a guess at a two-digit year).
    #[test]
    fn stricter_than_chrono_on_forms_the_wire_never_carries() {
        for (text, chrono_reads) in [
            ("26-11-28", "26-11-28".parse::<NaiveDate>().is_ok()),
            ("+2026-11-2", "+2026-11-2".parse::<NaiveDate>().is_ok()),
            (
                "2026-11-28T12:00:00.1234567890",
                "2026-11-28T12:00:00.1234567890"
                    .parse::<NaiveDateTime>()
                    .is_ok(),
            ),
        ] {
            assert!(chrono_reads, "{text}");
            assert_eq!(parse_date(text), None, "{text}");
            assert_eq!(parse_local(text), None, "{text}");
            assert_eq!(parse_utc(text), None, "{text}");
        }
    }

    #[test]
    fn serde_functions_name_the_expected_form() {
        #[derive(Debug, serde::Deserialize)]
        struct Row {
            #[serde(deserialize_with = "date")]
            on: NaiveDate,
            #[serde(default, deserialize_with = "optional_instant")]
            at: Option<DateTime<Utc>>,
        }
        let row: Row = serde_json::from_str(r#"{"on":"2026-11-28","at":null}"#).unwrap();
        assert_eq!(row.on, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        assert_eq!(row.at, None);
        let row: Row = serde_json::from_str(r#"{"on":"2026-11-28"}"#).unwrap();
        assert_eq!(row.at, None, "absent with a default");
        let err = serde_json::from_str::<Row>(r#"{"on":"28/11/2026"}"#).unwrap_err();
        assert!(err.to_string().contains("a date as YYYY-MM-DD"), "{err}");
        let err =
            serde_json::from_str::<Row>(r#"{"on":"2026-11-28","at":"yesterday"}"#).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
