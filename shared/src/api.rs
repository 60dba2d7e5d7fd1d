//! JSON types of the GipoNext REST API (`/v2/...`).
//!
//! Field names follow the platform (camelCase). Unknown fields are ignored
//! when reading, because the platform adds fields without notice; optional
//! fields default when absent.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// `GET /v2/userinfo`: the signed-in person and their medical centres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Subject identifier.
    pub sub: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// E-mail, when the provider shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The tenants (medical centres) the user belongs to; normally one.
    #[serde(default)]
    pub tenants: Vec<TenantRef>,
}

/// A tenant: one medical centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRef {
    /// The `tenantId` used in API paths.
    pub id: String,
    /// The centre's name.
    #[serde(default)]
    pub name: String,
}

/// One page of a list: every list of the API is paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total_count: u64,
    /// The offset of the first item, from 0.
    pub offset: u64,
    /// The page size that was applied.
    pub limit: u64,
    /// Whether items follow this page.
    pub has_more: bool,
}

/// Query parameters of a paged list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    /// From 0.
    #[serde(default)]
    pub offset: u64,
    /// Page size; the server caps it at [`PageQuery::MAX_LIMIT`].
    #[serde(default = "PageQuery::default_limit")]
    pub limit: u64,
}

impl PageQuery {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u64 = 20;
    /// The largest page the API serves.
    pub const MAX_LIMIT: u64 = 100;
    fn default_limit() -> u64 {
        Self::DEFAULT_LIMIT
    }
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            offset: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// Biological sex as recorded for the fiscal code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Sex {
    M,
    F,
}

/// A patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// Identifier within the tenant.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Middle name, if any.
    #[serde(default)]
    pub middle_name: Option<String>,
    /// Codice fiscale.
    pub fiscal_code: String,
    /// Date of birth.
    #[serde(default, deserialize_with = "crate::wire_time::optional_date")]
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    #[serde(default)]
    pub sex: Option<Sex>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Optimistic-concurrency version: an update must name the version it
    /// read, or it gets 409.
    #[serde(default)]
    pub version: u64,
}

/// The body of a patient create (`version` absent) or update (`version` required).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientInput {
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Codice fiscale.
    #[serde(default)]
    pub fiscal_code: String,
    /// Date of birth.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::wire_time::optional_date"
    )]
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The version this update is based on (updates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// An agenda: one practitioner's or room's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agenda {
    /// Identifier.
    pub id: String,
    /// Name shown to staff.
    pub name: String,
    /// The practitioner, if the agenda is a person's.
    #[serde(default)]
    pub practitioner: Option<String>,
    /// Medical specialty.
    #[serde(default)]
    pub specialty: Option<String>,
}

/// Status of an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
}

/// An appointment. Times are the centre's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    /// Identifier.
    pub id: i64,
    /// The agenda it is on.
    pub agenda_id: String,
    /// The patient.
    pub patient_id: i64,
    /// The treatment, if known.
    #[serde(default)]
    pub treatment_id: Option<String>,
    /// Start (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub start: NaiveDateTime,
    /// End (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub end: NaiveDateTime,
    /// Booked or cancelled.
    pub status: AppointmentStatus,
    /// Free-text notes.
    #[serde(default)]
    pub notes: Option<String>,
}

/// The body of an appointment booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentInput {
    /// Agenda.
    pub agenda_id: String,
    /// Patient.
    pub patient_id: i64,
    /// Treatment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_id: Option<String>,
    /// Start (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub start: NaiveDateTime,
    /// End (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub end: NaiveDateTime,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A free slot on an agenda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// Agenda.
    pub agenda_id: String,
    /// Start (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub start: NaiveDateTime,
    /// End (local time).
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub end: NaiveDateTime,
}

/// A treatment of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Treatment {
    /// Identifier.
    pub id: String,
    /// Catalogue code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Typical duration.
    pub duration_minutes: u32,
    /// Category, e.g. "Cardiologia".
    #[serde(default)]
    pub category: Option<String>,
}

/// A price list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceList {
    /// Identifier.
    pub id: String,
    /// Name, e.g. "Listino privati 2026".
    pub name: String,
    /// ISO 4217 currency; always `EUR` in practice.
    pub currency: String,
    /// The prices.
    pub items: Vec<PriceListItem>,
}

/// The price of one treatment in a price list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceListItem {
    /// Treatment.
    pub treatment_id: String,
    /// Price in cents, VAT excluded.
    pub price_cents: i64,
    /// VAT rate in percent (health services are usually exempt: 0).
    pub vat_rate_percent: u8,
}

/// Status of a clinical episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum EpisodeStatus {
    Open,
    Closed,
}

/// A clinical episode: one pathway of care for a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    /// Identifier.
    pub id: i64,
    /// Patient.
    pub patient_id: i64,
    /// Title, e.g. "Riabilitazione ginocchio".
    pub title: String,
    /// Open or closed.
    pub status: EpisodeStatus,
    /// When it was opened.
    #[serde(deserialize_with = "crate::wire_time::date")]
    pub opened_on: NaiveDate,
    /// When it was closed.
    #[serde(default, deserialize_with = "crate::wire_time::optional_date")]
    pub closed_on: Option<NaiveDate>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Optimistic-concurrency version.
    #[serde(default)]
    pub version: u64,
}

/// The body of an episode create or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeInput {
    /// Patient.
    pub patient_id: i64,
    /// Title.
    pub title: String,
    /// Status (defaults to open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EpisodeStatus>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The version this update is based on (updates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A medical report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicalReport {
    /// Identifier.
    pub id: i64,
    /// Patient.
    pub patient_id: i64,
    /// Episode it belongs to, if any.
    #[serde(default)]
    pub episode_id: Option<i64>,
    /// Title.
    pub title: String,
    /// The report's text.
    pub body: String,
    /// Author's display name.
    pub author: String,
    /// When it was signed.
    #[serde(deserialize_with = "crate::wire_time::local")]
    pub created_at: NaiveDateTime,
}

/// The body of a new medical report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicalReportInput {
    /// Patient.
    pub patient_id: i64,
    /// Episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_id: Option<i64>,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    /// Identifier.
    pub id: i64,
    /// Number, e.g. `2026/000123`.
    pub number: String,
    /// Patient billed.
    pub patient_id: i64,
    /// Issue date.
    #[serde(deserialize_with = "crate::wire_time::date")]
    pub date: NaiveDate,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the lines, VAT excluded, in cents.
    pub net_cents: i64,
    /// VAT, in cents.
    pub vat_cents: i64,
    /// What the patient pays, in cents.
    pub total_cents: i64,
}

/// A line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    /// Treatment.
    pub treatment_id: String,
    /// Description printed on the invoice.
    pub description: String,
    /// Quantity.
    pub quantity: u32,
    /// Unit price, VAT excluded, in cents.
    pub unit_price_cents: i64,
    /// VAT rate in percent.
    pub vat_rate_percent: u8,
}

/// The body of a new invoice: prices come from the named price list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceInput {
    /// Patient billed.
    pub patient_id: i64,
    /// Price list the prices are taken from.
    pub price_list_id: String,
    /// Issue date (today when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::wire_time::optional_date"
    )]
    pub date: Option<NaiveDate>,
    /// Lines: treatment and quantity.
    pub lines: Vec<InvoiceLineInput>,
}

/// A line of a new invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLineInput {
    /// Treatment.
    pub treatment_id: String,
    /// Quantity (at least 1).
    pub quantity: u32,
}

/// Totals of invoice lines: `(net, vat, total)` in cents. VAT is computed
/// per line and rounded half up, as Italian invoices print it.
pub fn invoice_totals(lines: &[InvoiceLine]) -> (i64, i64, i64) {
    let (net, vat) = lines.iter().fold((0i64, 0i64), |(net, vat), line| {
        let line_net = line.unit_price_cents * i64::from(line.quantity);
        let line_vat = (line_net * i64::from(line.vat_rate_percent) + 50) / 100;
        (net + line_net, vat + line_vat)
    });
    (net, vat, net + vat)
}

/// Formats cents as euros, e.g. `€ 1.234,50` (it) or `€1,234.50` (en).
pub fn format_eur(cents: i64, lang: crate::Lang) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let (units, rest) = (abs / 100, abs % 100);
    let (group, decimal, prefix) = match lang {
        crate::Lang::It => ('.', ',', "€ "),
        crate::Lang::En => (',', '.', "€"),
    };
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    format!("{sign}{prefix}{grouped}{decimal}{rest:02}")
}

/// The error body of the API: `{"error": "...", "message": "..."}`, with the
/// missing scope for `insufficient_scope` and field errors for 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable code, e.g. `insufficient_scope`, `permission_denied`,
    /// `validation_failed`, `conflict`, `rate_limit_exceeded`.
    pub error: String,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// The scope a call needed, for `insufficient_scope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Per-field errors, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// An invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's JSON name, e.g. `fiscalCode`.
    pub field: String,
    /// What is wrong with it, in English.
    pub message: String,
    /// A stable machine-readable reason (one of [`field_codes`]), so a
    /// client can say it in its own language; absent when the server gives
    /// none, and then only `message` is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl FieldError {
    /// A field error with its stable `code` (one of [`field_codes`]).
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
            code: Some(code.to_owned()),
        }
    }
}

/// Well-known `code`s of [`FieldError`]. Clients translate the ones they
/// know and show `message` for any other.
pub mod field_codes {
    /// The field is missing or blank.
    pub const REQUIRED: &str = "required";
    /// The text is longer than allowed.
    pub const TOO_LONG: &str = "too_long";
    /// The number, date or count is outside the allowed range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// The referenced record (patient, agenda, treatment, episode, price
    /// list) does not exist in this centre, or does not fit the others.
    pub const NOT_FOUND: &str = "not_found";
    /// The date or time is in the future where it cannot be.
    pub const IN_FUTURE: &str = "in_future";
    /// The date or time is in the past where it cannot be.
    pub const IN_PAST: &str = "in_past";
    /// The end is not after the start.
    pub const END_BEFORE_START: &str = "end_before_start";
    /// The appointment falls outside the agenda's working hours.
    pub const OUTSIDE_HOURS: &str = "outside_hours";
    /// The fiscal code does not have 16 characters.
    pub const FISCAL_CODE_LENGTH: &str = "fiscal_code_length";
    /// The fiscal code is not well formed.
    pub const FISCAL_CODE_SHAPE: &str = "fiscal_code_shape";
    /// The fiscal code's check character is wrong.
    pub const FISCAL_CODE_CHECK: &str = "fiscal_code_check";
    /// Not a valid e-mail address.
    pub const INVALID_EMAIL: &str = "invalid_email";
    /// Not a valid phone number.
    pub const INVALID_PHONE: &str = "invalid_phone";
    /// Any other invalid value (e.g. a query parameter).
    pub const INVALID: &str = "invalid";
}

/// Well-known `error` codes of [`ApiError`].
pub mod error_codes {
    /// The token lacks the scope (403).
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
    /// The user's own GipoNext role does not allow the call (403).
    pub const PERMISSION_DENIED: &str = "permission_denied";
    /// The token is missing, invalid or expired (401).
    pub const INVALID_TOKEN: &str = "invalid_token";
    /// Not found, or not in this tenant (404).
    pub const NOT_FOUND: &str = "not_found";
    /// The update is based on an old version (409).
    pub const CONFLICT: &str = "conflict";
    /// The body is well-formed but invalid (422).
    pub const VALIDATION_FAILED: &str = "validation_failed";
    /// The body or query could not be read (400).
    pub const BAD_REQUEST: &str = "bad_request";
    /// Too many requests for this client (429).
    pub const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn unknown_fields_are_ignored() {
        let json = r#"{"id":7,"firstName":"Mario","lastName":"Rossi","fiscalCode":"RSSMRA85T10A562S",
                       "middleName":null,"newField":{"x":1}}"#;
        let p: Patient = serde_json::from_str(json).unwrap();
        assert_eq!(p.id, 7);
        assert_eq!(p.middle_name, None);
        let info: UserInfo = serde_json::from_str(
            r#"{"sub":"user-id","name":"Mario Rossi","tenants":[{"id":"tenant-abc123","name":"Example Clinic"}],"x":1}"#,
        )
        .unwrap();
        assert_eq!(info.tenants[0].id, "tenant-abc123");
    }

    #[test]
    fn field_error_code_is_optional_on_the_wire() {
        let old: FieldError =
            serde_json::from_str(r#"{"field":"fiscalCode","message":"is required"}"#)
                .expect("an old field error");
        assert_eq!(old.code, None);
        let json = serde_json::to_value(FieldError::new(
            "fiscalCode",
            field_codes::REQUIRED,
            "is required",
        ))
        .expect("serialisable");
        assert_eq!(json["code"], "required");
        assert_eq!(json["field"], "fiscalCode");
    }

    #[test]
    fn page_envelope_is_camel_case() {
        let page = Page {
            items: vec![1, 2],
            total_count: 5,
            offset: 0,
            limit: 2,
            has_more: true,
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["totalCount"], 5);
        assert_eq!(json["hasMore"], true);
    }

    #[test]
    fn totals_round_vat_per_line() {
        let line = |price, qty, vat| InvoiceLine {
            treatment_id: "t".into(),
            description: "d".into(),
            quantity: qty,
            unit_price_cents: price,
            vat_rate_percent: vat,
        };
        assert_eq!(
            invoice_totals(&[line(8000, 1, 0), line(1250, 2, 22)]),
            (10500, 550, 11050)
        );
        assert_eq!(invoice_totals(&[]), (0, 0, 0));
    }

    #[test]
    fn euros_format_per_language() {
        assert_eq!(format_eur(123450, Lang::It), "€ 1.234,50");
        assert_eq!(format_eur(123450, Lang::En), "€1,234.50");
        assert_eq!(format_eur(5, Lang::It), "€ 0,05");
        assert_eq!(format_eur(-100000000, Lang::En), "-€1,000,000.00");
    }
}
