//! Agendas, appointments (list by date range, get, book, cancel) and free
//! slots computed from working hours minus bookings.

use axum::http::StatusCode;
use chrono::{Duration, NaiveDateTime};
use giponext_shared::api::{
    Agenda, Appointment, AppointmentInput, AppointmentStatus, Availability, FieldError, field_codes,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::dispatch::{Ctx, Reply, json};
use super::error::ApiFailure;
use super::params::{Filter, json_body, page_of};
use super::seed::{periods, works_on};
use super::{datetime_at, fmt_datetime, patients, today};

/// The longest range of free slots one request may ask for.
const MAX_AVAILABILITY_DAYS: i64 = 31;

/// An agenda with its working pattern.
struct AgendaRow {
    agenda: Agenda,
    weekdays: String,
    hours: String,
    slot_minutes: i64,
}

const AGENDA_COLUMNS: &str = "id, name, practitioner, specialty, weekdays, hours, slot_minutes";

fn agenda_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgendaRow> {
    Ok(AgendaRow {
        agenda: Agenda {
            id: row.get(0)?,
            name: row.get(1)?,
            practitioner: row.get(2)?,
            specialty: row.get(3)?,
        },
        weekdays: row.get(4)?,
        hours: row.get(5)?,
        slot_minutes: row.get(6)?,
    })
}

fn find_agenda(conn: &Connection, tenant: &str, id: &str) -> rusqlite::Result<Option<AgendaRow>> {
    conn.query_row(
        &format!("SELECT {AGENDA_COLUMNS} FROM api_agendas WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        agenda_from_row,
    )
    .optional()
}

/// `GET .../agendas`.
pub fn list_agendas(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let rows = Filter::tenant(&ctx.tenant).page(
        conn,
        "api_agendas",
        AGENDA_COLUMNS,
        "id",
        page,
        agenda_from_row,
    )?;
    let items: Vec<Agenda> = rows.items.into_iter().map(|r| r.agenda).collect();
    json(StatusCode::OK, &page_of(items, rows.total_count, page))
}

/// `GET .../agendas/{agendaId}`.
pub fn get_agenda(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.param("agendaId");
    match find_agenda(conn, &ctx.tenant, id)? {
        Some(row) => json(StatusCode::OK, &row.agenda),
        None => Err(ApiFailure::NotFound(format!("no agenda {id}"))),
    }
}

const APPOINTMENT_COLUMNS: &str =
    "id, agenda_id, patient_id, treatment_id, start, end, status, notes";

fn appointment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Appointment> {
    let status: String = row.get(6)?;
    Ok(Appointment {
        id: row.get(0)?,
        agenda_id: row.get(1)?,
        patient_id: row.get(2)?,
        treatment_id: row.get(3)?,
        start: datetime_at(row, 4)?,
        end: datetime_at(row, 5)?,
        status: if status == "cancelled" {
            AppointmentStatus::Cancelled
        } else {
            AppointmentStatus::Booked
        },
        notes: row.get(7)?,
    })
}

fn find_appointment(
    conn: &Connection,
    tenant: &str,
    id: i64,
) -> rusqlite::Result<Option<Appointment>> {
    conn.query_row(
        &format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM api_appointments WHERE tenant_id = ?1 AND id = ?2"
        ),
        params![tenant, id],
        appointment_from_row,
    )
    .optional()
}

/// `from`/`to` of a range query; `to` must be after `from`.
fn range(ctx: &Ctx) -> Result<(Option<NaiveDateTime>, Option<NaiveDateTime>), ApiFailure> {
    let from = ctx.query.bound("from", false)?;
    let to = ctx.query.bound("to", true)?;
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        return Err(ApiFailure::BadRequest(
            "query parameter to must be after from".into(),
        ));
    }
    Ok((from, to))
}

/// `GET .../appointments?from=&to=&agendaId=&patientId=&status=`: the
/// appointments overlapping the range, by start time.
pub fn list_appointments(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let (from, to) = range(ctx)?;
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(from) = from {
        filter.and("end > ?", [Value::Text(fmt_datetime(from))]);
    }
    if let Some(to) = to {
        filter.and("start < ?", [Value::Text(fmt_datetime(to))]);
    }
    if let Some(agenda) = ctx.query.get("agendaId")? {
        filter.and("agenda_id = ?", [Value::Text(agenda.to_owned())]);
    }
    if let Some(patient) = ctx.query.i64("patientId")? {
        filter.and("patient_id = ?", [Value::Integer(patient)]);
    }
    if let Some(status) = ctx.query.get("status")? {
        if status != "booked" && status != "cancelled" {
            return Err(ApiFailure::BadRequest(format!(
                "query parameter status must be booked or cancelled, got {status:?}"
            )));
        }
        filter.and("status = ?", [Value::Text(status.to_owned())]);
    }
    let result = filter.page(
        conn,
        "api_appointments",
        APPOINTMENT_COLUMNS,
        "start, id",
        page,
        appointment_from_row,
    )?;
    json(StatusCode::OK, &result)
}

/// `GET .../appointments/{appointmentId}`.
pub fn get_appointment(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("appointmentId", "appointment")?;
    match find_appointment(conn, &ctx.tenant, id)? {
        Some(a) => json(StatusCode::OK, &a),
        None => Err(ApiFailure::NotFound(format!("no appointment {id}"))),
    }
}

/// The centre's local time now.
fn now() -> NaiveDateTime {
    chrono::Local::now().naive_local()
}

/// Whether `[start, end)` lies inside one working period of the agenda.
fn within_hours(agenda: &AgendaRow, start: NaiveDateTime, end: NaiveDateTime) -> bool {
    start.date() == end.date() && works_on(&agenda.weekdays, start.date()) && {
        let (s, e) = (start.time(), end.time());
        periods(&agenda.hours)
            .iter()
            .any(|(open, close)| *open <= s && e <= *close)
    }
}

/// `POST .../appointments`: books a slot; an overlap with another booking on
/// the same agenda is a 409.
pub fn create_appointment(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let input: AppointmentInput = json_body(&ctx.body)?;
    let tx = conn.transaction()?;
    let mut errors = Vec::new();
    let mut error = |field: &str, code: &str, message: String| {
        errors.push(FieldError::new(field, code, message))
    };
    let agenda = find_agenda(&tx, &ctx.tenant, &input.agenda_id)?;
    if agenda.is_none() {
        error(
            "agendaId",
            field_codes::NOT_FOUND,
            format!("no agenda {} in this centre", input.agenda_id),
        );
    }
    if !patients::exists(&tx, &ctx.tenant, input.patient_id)? {
        error(
            "patientId",
            field_codes::NOT_FOUND,
            format!("no patient {} in this centre", input.patient_id),
        );
    }
    if let Some(t) = &input.treatment_id {
        let found = tx
            .query_row(
                "SELECT 1 FROM api_treatments WHERE tenant_id = ?1 AND id = ?2",
                params![ctx.tenant, t],
                |_| Ok(()),
            )
            .optional()?;
        if found.is_none() {
            error(
                "treatmentId",
                field_codes::NOT_FOUND,
                format!("no treatment {t} in this centre"),
            );
        }
    }
    if input.end <= input.start {
        error(
            "end",
            field_codes::END_BEFORE_START,
            "must be after start".into(),
        );
    } else if input.end - input.start > Duration::hours(12) {
        error(
            "end",
            field_codes::OUT_OF_RANGE,
            "an appointment lasts at most 12 hours".into(),
        );
    } else if input.start < now() {
        error("start", field_codes::IN_PAST, "is in the past".into());
    } else if let Some(agenda) = &agenda
        && !within_hours(agenda, input.start, input.end)
    {
        error(
            "start",
            field_codes::OUTSIDE_HOURS,
            format!(
                "is outside the working hours of {} ({})",
                agenda.agenda.name, agenda.hours
            ),
        );
    }
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        error(
            "notes",
            field_codes::TOO_LONG,
            "must be at most 2000 characters".into(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiFailure::Validation(errors));
    }
    let overlapping: Option<i64> = tx
        .query_row(
            "SELECT id FROM api_appointments WHERE tenant_id = ?1 AND agenda_id = ?2 AND status = 'booked'
             AND start < ?4 AND end > ?3 LIMIT 1",
            params![ctx.tenant, input.agenda_id, fmt_datetime(input.start), fmt_datetime(input.end)],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(other) = overlapping {
        return Err(ApiFailure::Conflict(format!(
            "the slot overlaps appointment {other} on this agenda"
        )));
    }
    let notes = input
        .notes
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    tx.execute(
        "INSERT INTO api_appointments (tenant_id, agenda_id, patient_id, treatment_id, start, end, status, notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'booked', ?7)",
        params![
            ctx.tenant,
            input.agenda_id,
            input.patient_id,
            input.treatment_id,
            fmt_datetime(input.start),
            fmt_datetime(input.end),
            notes
        ],
    )?;
    let id = tx.last_insert_rowid();
    let created = find_appointment(&tx, &ctx.tenant, id)?
        .ok_or_else(|| anyhow::anyhow!("appointment {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::CREATED, &created)
}

/// `DELETE .../appointments/{appointmentId}`: marks it cancelled and returns
/// it; cancelling twice is a 409.
pub fn cancel_appointment(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("appointmentId", "appointment")?;
    let tx = conn.transaction()?;
    let current = find_appointment(&tx, &ctx.tenant, id)?
        .ok_or_else(|| ApiFailure::NotFound(format!("no appointment {id}")))?;
    if current.status == AppointmentStatus::Cancelled {
        return Err(ApiFailure::Conflict(format!(
            "appointment {id} is already cancelled"
        )));
    }
    tx.execute(
        "UPDATE api_appointments SET status = 'cancelled' WHERE tenant_id = ?1 AND id = ?2",
        params![ctx.tenant, id],
    )?;
    let cancelled = find_appointment(&tx, &ctx.tenant, id)?
        .ok_or_else(|| anyhow::anyhow!("appointment {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::OK, &cancelled)
}

/// `GET .../availabilities?agendaId=&from=&to=`: free slots of each agenda's
/// working hours (slots of the agenda's length) that no booking overlaps and
/// that have not begun yet.
/// Defaults to the next seven days from today; at most 31 days at once.
pub fn list_availabilities(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let (from, to) = range(ctx)?;
    let from = from.unwrap_or_else(|| today().and_time(chrono::NaiveTime::MIN));
    let to = to.unwrap_or(from + Duration::days(7));
    if to <= from {
        return Err(ApiFailure::BadRequest(
            "query parameter to must be after from".into(),
        ));
    }
    if to - from > Duration::days(MAX_AVAILABILITY_DAYS) {
        return Err(ApiFailure::BadRequest(format!(
            "availabilities cover at most {MAX_AVAILABILITY_DAYS} days per request; narrow from/to"
        )));
    }
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(agenda) = ctx.query.get("agendaId")? {
        filter.and("id = ?", [Value::Text(agenda.to_owned())]);
    }
    // An agenda list is short: read all of it.
    let agendas = filter.page(
        conn,
        "api_agendas",
        AGENDA_COLUMNS,
        "id",
        giponext_shared::api::PageQuery {
            offset: 0,
            limit: 10_000,
        },
        agenda_from_row,
    )?;
    let mut booked = conn.prepare(
        "SELECT start, end FROM api_appointments WHERE tenant_id = ?1 AND agenda_id = ?2 AND status = 'booked'
         AND start < ?4 AND end > ?3",
    )?;
    // A slot that has begun is no longer offered.
    let now = now();
    let mut free = Vec::new();
    for agenda in &agendas.items {
        let busy: Vec<(String, String)> = booked
            .query_map(
                params![
                    ctx.tenant,
                    agenda.agenda.id,
                    fmt_datetime(from),
                    fmt_datetime(to)
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let slot = Duration::minutes(agenda.slot_minutes.max(5));
        let mut day = from.date();
        while day <= to.date() {
            if works_on(&agenda.weekdays, day) {
                for (open, close) in periods(&agenda.hours) {
                    let mut start = day.and_time(open);
                    while start + slot <= day.and_time(close) {
                        let end = start + slot;
                        let (s, e) = (fmt_datetime(start), fmt_datetime(end));
                        let taken = busy.iter().any(|(bs, be)| *bs < e && *be > s);
                        if start >= from && start >= now && end <= to && !taken {
                            free.push(Availability {
                                agenda_id: agenda.agenda.id.clone(),
                                start,
                                end,
                            });
                        }
                        start = end;
                    }
                }
            }
            day += Duration::days(1);
        }
    }
    free.sort_by(|a, b| (a.start, &a.agenda_id).cmp(&(b.start, &b.agenda_id)));
    let total = free.len() as u64;
    let items: Vec<Availability> = free
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .collect();
    json(StatusCode::OK, &page_of(items, total, page))
}
