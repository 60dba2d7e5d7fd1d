//! Invoices: list by date range and patient, get, create. A new invoice takes
//! its prices from a price list, is numbered `YYYY/NNNNNN` in sequence per
//! centre and year, and is written in one transaction with its lines.

use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};
use giponext_shared::api::{
    FieldError, Invoice, InvoiceInput, InvoiceLine, field_codes, invoice_totals,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::catalogue::find_price_list;
use super::dispatch::{Ctx, Reply, json};
use super::error::ApiFailure;
use super::params::{Filter, json_body};
use super::{date_at, patients, today};

/// The most lines one invoice may have.
const MAX_LINES: usize = 100;

/// The next number for an invoice of `tenant` dated `date`.
pub fn next_number(conn: &Connection, tenant: &str, date: NaiveDate) -> rusqlite::Result<String> {
    let year = date.year();
    let last: Option<String> = conn.query_row(
        // A range ('0' follows '/' in ASCII), so the unique index serves it.
        "SELECT MAX(number) FROM api_invoices WHERE tenant_id = ?1 AND number >= ?2 AND number < ?3",
        params![tenant, format!("{year:04}/"), format!("{year:04}0")],
        |r| r.get(0),
    )?;
    let last_seq = last
        .and_then(|n| {
            n.split_once('/')
                .and_then(|(_, seq)| seq.parse::<u32>().ok())
        })
        .unwrap_or(0);
    Ok(format!("{year:04}/{:06}", last_seq + 1))
}

/// Writes an invoice and its lines; returns its id. The caller holds the
/// transaction.
pub fn insert(
    conn: &Connection,
    tenant: &str,
    number: &str,
    patient_id: i64,
    date: NaiveDate,
    lines: &[InvoiceLine],
) -> rusqlite::Result<i64> {
    let (net, vat, total) = invoice_totals(lines);
    conn.execute(
        "INSERT INTO api_invoices (tenant_id, number, patient_id, date, net_cents, vat_cents, total_cents)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![tenant, number, patient_id, date.to_string(), net, vat, total],
    )?;
    let id = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO api_invoice_lines (invoice_id, line_no, treatment_id, description, quantity, unit_price_cents, vat_rate_percent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, line) in lines.iter().enumerate() {
        stmt.execute(params![
            id,
            i as i64 + 1,
            line.treatment_id,
            line.description,
            line.quantity,
            line.unit_price_cents,
            line.vat_rate_percent
        ])?;
    }
    Ok(id)
}

const COLUMNS: &str = "id, number, patient_id, date, net_cents, vat_cents, total_cents";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Invoice> {
    Ok(Invoice {
        id: row.get(0)?,
        number: row.get(1)?,
        patient_id: row.get(2)?,
        date: date_at(row, 3)?,
        lines: Vec::new(),
        net_cents: row.get(4)?,
        vat_cents: row.get(5)?,
        total_cents: row.get(6)?,
    })
}

/// Fills in the lines of `invoices` with one query.
fn attach_lines(conn: &Connection, invoices: &mut [Invoice]) -> rusqlite::Result<()> {
    if invoices.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["?"; invoices.len()].join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT invoice_id, treatment_id, description, quantity, unit_price_cents, vat_rate_percent
         FROM api_invoice_lines WHERE invoice_id IN ({placeholders}) ORDER BY invoice_id, line_no"
    ))?;
    let rows = stmt.query_map(params_from_iter(invoices.iter().map(|i| i.id)), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            InvoiceLine {
                treatment_id: r.get(1)?,
                description: r.get(2)?,
                quantity: r.get(3)?,
                unit_price_cents: r.get(4)?,
                vat_rate_percent: r.get(5)?,
            },
        ))
    })?;
    for row in rows {
        let (id, line) = row?;
        if let Some(invoice) = invoices.iter_mut().find(|i| i.id == id) {
            invoice.lines.push(line);
        }
    }
    Ok(())
}

fn find(conn: &Connection, tenant: &str, id: i64) -> rusqlite::Result<Option<Invoice>> {
    let invoice = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM api_invoices WHERE tenant_id = ?1 AND id = ?2"),
            params![tenant, id],
            from_row,
        )
        .optional()?;
    let Some(invoice) = invoice else {
        return Ok(None);
    };
    let mut one = [invoice];
    attach_lines(conn, &mut one)?;
    let [invoice] = one;
    Ok(Some(invoice))
}

/// `GET .../invoices?from=&to=&patientId=`: `from`/`to` are dates, inclusive.
pub fn list(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let from = ctx.query.date("from")?;
    let to = ctx.query.date("to")?;
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(ApiFailure::BadRequest(
            "query parameter to must not be before from".into(),
        ));
    }
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(from) = from {
        filter.and("date >= ?", [Value::Text(from.to_string())]);
    }
    if let Some(to) = to {
        filter.and("date <= ?", [Value::Text(to.to_string())]);
    }
    if let Some(patient) = ctx.query.i64("patientId")? {
        filter.and("patient_id = ?", [Value::Integer(patient)]);
    }
    let mut result = filter.page(conn, "api_invoices", COLUMNS, "id", page, from_row)?;
    attach_lines(conn, &mut result.items)?;
    json(StatusCode::OK, &result)
}

/// `GET .../invoices/{invoiceId}`.
pub fn get(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("invoiceId", "invoice")?;
    match find(conn, &ctx.tenant, id)? {
        Some(invoice) => json(StatusCode::OK, &invoice),
        None => Err(ApiFailure::NotFound(format!("no invoice {id}"))),
    }
}

/// `POST .../invoices`: all or nothing.
pub fn create(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let input: InvoiceInput = json_body(&ctx.body)?;
    let tx = conn.transaction()?;
    let mut errors = Vec::new();
    let mut error = |field: String, code: &str, message: String| {
        errors.push(FieldError::new(field, code, message))
    };
    if !patients::exists(&tx, &ctx.tenant, input.patient_id)? {
        error(
            "patientId".into(),
            field_codes::NOT_FOUND,
            format!("no patient {} in this centre", input.patient_id),
        );
    }
    let date = input.date.unwrap_or_else(today);
    if date > today() {
        error(
            "date".into(),
            field_codes::IN_FUTURE,
            "an invoice cannot be dated in the future".into(),
        );
    }
    let price_list = find_price_list(&tx, &ctx.tenant, &input.price_list_id)?;
    if price_list.is_none() {
        error(
            "priceListId".into(),
            field_codes::NOT_FOUND,
            format!("no price list {} in this centre", input.price_list_id),
        );
    }
    if input.lines.is_empty() {
        error(
            "lines".into(),
            field_codes::REQUIRED,
            "an invoice needs at least one line".into(),
        );
    } else if input.lines.len() > MAX_LINES {
        error(
            "lines".into(),
            field_codes::OUT_OF_RANGE,
            format!("an invoice has at most {MAX_LINES} lines"),
        );
    }
    let mut lines = Vec::new();
    for (i, line) in input.lines.iter().enumerate() {
        if line.quantity == 0 || line.quantity > 999 {
            error(
                format!("lines[{i}].quantity"),
                field_codes::OUT_OF_RANGE,
                "must be between 1 and 999".into(),
            );
        }
        let Some(list) = &price_list else { continue };
        let Some(item) = list
            .items
            .iter()
            .find(|p| p.treatment_id == line.treatment_id)
        else {
            error(
                format!("lines[{i}].treatmentId"),
                field_codes::NOT_FOUND,
                format!(
                    "treatment {} has no price in {}",
                    line.treatment_id, list.name
                ),
            );
            continue;
        };
        let description: Option<String> = tx
            .query_row(
                "SELECT name FROM api_treatments WHERE tenant_id = ?1 AND id = ?2",
                params![ctx.tenant, line.treatment_id],
                |r| r.get(0),
            )
            .optional()?;
        lines.push(InvoiceLine {
            treatment_id: line.treatment_id.clone(),
            description: description.unwrap_or_else(|| line.treatment_id.clone()),
            quantity: line.quantity,
            unit_price_cents: item.price_cents,
            vat_rate_percent: item.vat_rate_percent,
        });
    }
    if !errors.is_empty() {
        return Err(ApiFailure::Validation(errors));
    }
    let number = next_number(&tx, &ctx.tenant, date)?;
    let id = insert(&tx, &ctx.tenant, &number, input.patient_id, date, &lines)?;
    let created =
        find(&tx, &ctx.tenant, id)?.ok_or_else(|| anyhow::anyhow!("invoice {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::CREATED, &created)
}
