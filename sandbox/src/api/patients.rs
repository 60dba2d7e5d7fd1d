//! Patients: list with search, get, create, update (optimistic concurrency).

use axum::http::StatusCode;
use chrono::NaiveDate;
use giponext_shared::api::{FieldError, Patient, PatientInput, Sex, field_codes};
use giponext_shared::fiscal_code::{FiscalCode, FiscalCodeError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::dispatch::{Ctx, Reply, json};
use super::error::ApiFailure;
use super::params::{Filter, json_body};
use super::{opt_date_at, today};

const COLUMNS: &str =
    "id, first_name, last_name, middle_name, fiscal_code, birth_date, sex, email, phone, version";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Patient> {
    let sex: Option<String> = row.get(6)?;
    Ok(Patient {
        id: row.get(0)?,
        first_name: row.get(1)?,
        last_name: row.get(2)?,
        middle_name: row.get(3)?,
        fiscal_code: row.get(4)?,
        birth_date: opt_date_at(row, 5)?,
        sex: match sex.as_deref() {
            Some("F") => Some(Sex::F),
            Some("M") => Some(Sex::M),
            _ => None,
        },
        email: row.get(7)?,
        phone: row.get(8)?,
        version: row.get::<_, i64>(9)? as u64,
    })
}

/// The patient `id` of `tenant`, if any.
pub fn find(conn: &Connection, tenant: &str, id: i64) -> rusqlite::Result<Option<Patient>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_patients WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        from_row,
    )
    .optional()
}

/// Whether patient `id` exists in `tenant`.
pub fn exists(conn: &Connection, tenant: &str, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM api_patients WHERE tenant_id = ?1 AND id = ?2",
            params![tenant, id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Lower case without accents, so `niccolo` finds `Niccolò` and `NICCOLÒ`.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            other => other,
        })
        .collect()
}

/// The ids of `tenant`'s patients matching every word of `search`.
fn search_ids(conn: &Connection, tenant: &str, search: &str) -> rusqlite::Result<Vec<i64>> {
    let words: Vec<String> = search.split_whitespace().map(fold).collect();
    let mut stmt = conn.prepare_cached(
        "SELECT id, first_name || ' ' || COALESCE(middle_name, '') || ' ' || last_name || ' ' || fiscal_code
         FROM api_patients WHERE tenant_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![tenant], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut ids = Vec::new();
    for row in rows {
        let (id, text) = row?;
        let text = fold(&text);
        if words.iter().all(|w| text.contains(w.as_str())) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `GET .../patients?search=&offset=&limit=`: `search` matches every word
/// against first, middle and last name and the fiscal code, ignoring case
/// and accents.
pub fn list(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(search) = ctx.query.get("search")? {
        if search.chars().count() > 100 {
            return Err(ApiFailure::BadRequest(
                "query parameter search is longer than 100 characters".into(),
            ));
        }
        let ids = search_ids(conn, &ctx.tenant, search)?;
        if ids.is_empty() {
            filter.and("0", []);
        } else {
            let placeholders = vec!["?"; ids.len()].join(", ");
            filter.and(
                &format!("id IN ({placeholders})"),
                ids.into_iter().map(Value::Integer),
            );
        }
    }
    json(
        StatusCode::OK,
        &filter.page(conn, "api_patients", COLUMNS, "id", page, from_row)?,
    )
}

/// `GET .../patients/{patientId}`.
pub fn get(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("patientId", "patient")?;
    match find(conn, &ctx.tenant, id)? {
        Some(patient) => json(StatusCode::OK, &patient),
        None => Err(ApiFailure::NotFound(format!("no patient {id}"))),
    }
}

/// A patient input, checked and normalised.
struct Valid {
    first_name: String,
    last_name: String,
    middle_name: Option<String>,
    fiscal_code: String,
    birth_date: Option<NaiveDate>,
    sex: Option<&'static str>,
    email: Option<String>,
    phone: Option<String>,
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn email_is_well_formed(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn validate(input: PatientInput) -> Result<Valid, ApiFailure> {
    let mut errors = Vec::new();
    let mut error = |field: &str, code: &str, message: &str| {
        errors.push(FieldError::new(field, code, message));
    };
    let first_name = input.first_name.trim().to_owned();
    let last_name = input.last_name.trim().to_owned();
    for (field, value) in [("firstName", &first_name), ("lastName", &last_name)] {
        if value.is_empty() {
            error(field, field_codes::REQUIRED, "is required");
        } else if value.chars().count() > 100 {
            error(
                field,
                field_codes::TOO_LONG,
                "must be at most 100 characters",
            );
        }
    }
    let middle_name = blank_to_none(input.middle_name);
    if middle_name
        .as_ref()
        .is_some_and(|m| m.chars().count() > 100)
    {
        error(
            "middleName",
            field_codes::TOO_LONG,
            "must be at most 100 characters",
        );
    }
    let fiscal_code = if input.fiscal_code.trim().is_empty() {
        error("fiscalCode", field_codes::REQUIRED, "is required");
        String::new()
    } else {
        match FiscalCode::parse(&input.fiscal_code) {
            Ok(code) => code.as_str().to_owned(),
            Err(e) => {
                let (code, why) = match e {
                    FiscalCodeError::Length => (
                        field_codes::FISCAL_CODE_LENGTH,
                        "must have 16 characters".to_owned(),
                    ),
                    FiscalCodeError::Shape(pos) => (
                        field_codes::FISCAL_CODE_SHAPE,
                        format!("is not a well-formed fiscal code (character {pos})"),
                    ),
                    FiscalCodeError::CheckCharacter => (
                        field_codes::FISCAL_CODE_CHECK,
                        "is not a valid fiscal code (the check character is wrong)".into(),
                    ),
                };
                error("fiscalCode", code, &why);
                String::new()
            }
        }
    };
    if let Some(birth) = input.birth_date {
        if birth > today() {
            error(
                "birthDate",
                field_codes::IN_FUTURE,
                "cannot be in the future",
            );
        } else if birth < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
            error(
                "birthDate",
                field_codes::OUT_OF_RANGE,
                "must be after 1900-01-01",
            );
        }
    }
    let email = blank_to_none(input.email);
    if email.as_deref().is_some_and(|e| !email_is_well_formed(e)) {
        error(
            "email",
            field_codes::INVALID_EMAIL,
            "is not a valid e-mail address",
        );
    }
    let phone = blank_to_none(input.phone);
    if let Some(phone) = &phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if phone.len() > 30
            || digits < 6
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()/.".contains(c))
        {
            error(
                "phone",
                field_codes::INVALID_PHONE,
                "is not a valid phone number",
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiFailure::Validation(errors));
    }
    Ok(Valid {
        first_name,
        last_name,
        middle_name,
        fiscal_code,
        birth_date: input.birth_date,
        sex: input.sex.map(|s| match s {
            Sex::F => "F",
            Sex::M => "M",
        }),
        email,
        phone,
    })
}

fn duplicate_check(
    conn: &Connection,
    tenant: &str,
    code: &str,
    except: Option<i64>,
) -> Result<(), ApiFailure> {
    let other: Option<i64> = conn
        .query_row(
            "SELECT id FROM api_patients WHERE tenant_id = ?1 AND fiscal_code = ?2 AND id != ?3",
            params![tenant, code, except.unwrap_or(-1)],
            |r| r.get(0),
        )
        .optional()?;
    match other {
        Some(id) => Err(ApiFailure::Conflict(format!(
            "another patient ({id}) already has this fiscal code"
        ))),
        None => Ok(()),
    }
}

/// `POST .../patients`.
pub fn create(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let input: PatientInput = json_body(&ctx.body)?;
    let v = validate(input)?;
    let tx = conn.transaction()?;
    duplicate_check(&tx, &ctx.tenant, &v.fiscal_code, None)?;
    tx.execute(
        "INSERT INTO api_patients (tenant_id, first_name, last_name, middle_name, fiscal_code, birth_date, sex, email, phone, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)",
        params![
            ctx.tenant,
            v.first_name,
            v.last_name,
            v.middle_name,
            v.fiscal_code,
            v.birth_date.map(|d| d.to_string()),
            v.sex,
            v.email,
            v.phone
        ],
    )?;
    let id = tx.last_insert_rowid();
    let patient =
        find(&tx, &ctx.tenant, id)?.ok_or_else(|| anyhow::anyhow!("patient {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::CREATED, &patient)
}

/// `PUT .../patients/{patientId}`: the whole record, with the `version` it
/// was read at; a stale version is a 409.
pub fn update(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("patientId", "patient")?;
    let input: PatientInput = json_body(&ctx.body)?;
    let version = input.version;
    let v = validate(input)?;
    let Some(version) = version else {
        return Err(ApiFailure::field(
            "version",
            field_codes::REQUIRED,
            "is required for an update: send the version you read",
        ));
    };
    let tx = conn.transaction()?;
    let current = find(&tx, &ctx.tenant, id)?
        .ok_or_else(|| ApiFailure::NotFound(format!("no patient {id}")))?;
    if current.version != version {
        return Err(ApiFailure::Conflict(format!(
            "patient {id} was changed by someone else (version {} now, you sent {version}); read it again",
            current.version
        )));
    }
    duplicate_check(&tx, &ctx.tenant, &v.fiscal_code, Some(id))?;
    tx.execute(
        "UPDATE api_patients SET first_name = ?3, last_name = ?4, middle_name = ?5, fiscal_code = ?6, birth_date = ?7,
                sex = ?8, email = ?9, phone = ?10, version = version + 1
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            ctx.tenant,
            id,
            v.first_name,
            v.last_name,
            v.middle_name,
            v.fiscal_code,
            v.birth_date.map(|d| d.to_string()),
            v.sex,
            v.email,
            v.phone
        ],
    )?;
    let patient =
        find(&tx, &ctx.tenant, id)?.ok_or_else(|| anyhow::anyhow!("patient {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::OK, &patient)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(code: &str) -> PatientInput {
        PatientInput {
            first_name: "Anna".into(),
            last_name: "Verdi".into(),
            fiscal_code: code.into(),
            ..Default::default()
        }
    }

    fn fields(err: ApiFailure) -> Vec<String> {
        match err {
            ApiFailure::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn validation_names_each_bad_field() {
        assert!(validate(input("RSSMRA85T10A562S")).is_ok());
        assert_eq!(
            fields(validate(input("RSSMRA85T10A562X")).err().unwrap()),
            ["fiscalCode"]
        );
        let mut bad = input("");
        bad.first_name = "  ".into();
        bad.email = Some("not-an-email".into());
        bad.phone = Some("12".into());
        assert_eq!(
            fields(validate(bad).err().unwrap()),
            ["firstName", "fiscalCode", "email", "phone"]
        );
    }

    #[test]
    fn each_field_error_carries_a_stable_code() {
        let codes = |input| match validate(input).err().unwrap() {
            ApiFailure::Validation(f) => f
                .into_iter()
                .map(|f| (f.field, f.code.unwrap_or_default()))
                .collect::<Vec<_>>(),
            other => panic!("expected 422, got {other:?}"),
        };
        let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());
        assert_eq!(
            codes(input("RSSMRA85T10A562X")),
            [pair("fiscalCode", field_codes::FISCAL_CODE_CHECK)]
        );
        assert_eq!(
            codes(input("RSSMRA")),
            [pair("fiscalCode", field_codes::FISCAL_CODE_LENGTH)]
        );
        assert_eq!(
            codes(input("1SSMRA85T10A562S")),
            [pair("fiscalCode", field_codes::FISCAL_CODE_SHAPE)]
        );
        let mut bad = input("");
        bad.first_name = "  ".into();
        bad.email = Some("not-an-email".into());
        bad.phone = Some("12".into());
        assert_eq!(
            codes(bad),
            [
                pair("firstName", field_codes::REQUIRED),
                pair("fiscalCode", field_codes::REQUIRED),
                pair("email", field_codes::INVALID_EMAIL),
                pair("phone", field_codes::INVALID_PHONE),
            ]
        );
    }

    #[test]
    fn search_folds_case_and_accents() {
        assert_eq!(fold("NICCOLÒ D'Angelo"), "niccolo d'angelo");
        assert_eq!(fold("rzzpla82"), fold("RZZPLA82"));
    }

    #[test]
    fn codes_are_normalised_and_blanks_dropped() {
        let mut i = input(" rssmra85t10a562s ");
        i.email = Some(" ".into());
        let v = validate(i).ok().unwrap();
        assert_eq!(v.fiscal_code, "RSSMRA85T10A562S");
        assert_eq!(v.email, None);
        assert!(email_is_well_formed("a.b@c.it"));
        assert!(!email_is_well_formed("a@b"));
        assert!(!email_is_well_formed("a b@c.it"));
    }
}
