//! Clinical episodes (list, get, create, update with optimistic concurrency)
//! and medical reports (list, get, create; a signed report is never changed).

use axum::http::StatusCode;
use giponext_shared::api::{
    Episode, EpisodeInput, EpisodeStatus, FieldError, MedicalReport, MedicalReportInput,
    field_codes,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::dispatch::{Ctx, Reply, json};
use super::error::ApiFailure;
use super::params::{Filter, json_body};
use super::{date_at, datetime_at, fmt_datetime, opt_date_at, patients, today};

const EPISODE_COLUMNS: &str = "id, patient_id, title, status, opened_on, closed_on, notes, version";

fn episode_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Episode> {
    let status: String = row.get(3)?;
    Ok(Episode {
        id: row.get(0)?,
        patient_id: row.get(1)?,
        title: row.get(2)?,
        status: if status == "closed" {
            EpisodeStatus::Closed
        } else {
            EpisodeStatus::Open
        },
        opened_on: date_at(row, 4)?,
        closed_on: opt_date_at(row, 5)?,
        notes: row.get(6)?,
        version: row.get::<_, i64>(7)? as u64,
    })
}

fn find_episode(conn: &Connection, tenant: &str, id: i64) -> rusqlite::Result<Option<Episode>> {
    conn.query_row(
        &format!("SELECT {EPISODE_COLUMNS} FROM api_episodes WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        episode_from_row,
    )
    .optional()
}

/// `GET .../episodes?patientId=&status=`.
pub fn list_episodes(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(patient) = ctx.query.i64("patientId")? {
        filter.and("patient_id = ?", [Value::Integer(patient)]);
    }
    if let Some(status) = ctx.query.get("status")? {
        if status != "open" && status != "closed" {
            return Err(ApiFailure::BadRequest(format!(
                "query parameter status must be open or closed, got {status:?}"
            )));
        }
        filter.and("status = ?", [Value::Text(status.to_owned())]);
    }
    json(
        StatusCode::OK,
        &filter.page(
            conn,
            "api_episodes",
            EPISODE_COLUMNS,
            "id",
            page,
            episode_from_row,
        )?,
    )
}

/// `GET .../episodes/{episodeId}`.
pub fn get_episode(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("episodeId", "episode")?;
    match find_episode(conn, &ctx.tenant, id)? {
        Some(e) => json(StatusCode::OK, &e),
        None => Err(ApiFailure::NotFound(format!("no episode {id}"))),
    }
}

fn text_field(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, field_codes::REQUIRED, "is required"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            field_codes::TOO_LONG,
            format!("must be at most {max} characters"),
        ));
    }
}

fn check_episode(conn: &Connection, ctx: &Ctx, input: &EpisodeInput) -> Result<(), ApiFailure> {
    let mut errors = Vec::new();
    if !patients::exists(conn, &ctx.tenant, input.patient_id)? {
        errors.push(FieldError::new(
            "patientId",
            field_codes::NOT_FOUND,
            format!("no patient {} in this centre", input.patient_id),
        ));
    }
    text_field(&mut errors, "title", &input.title, 200);
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 4000)
    {
        errors.push(FieldError::new(
            "notes",
            field_codes::TOO_LONG,
            "must be at most 4000 characters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiFailure::Validation(errors))
    }
}

fn status_text(status: EpisodeStatus) -> &'static str {
    match status {
        EpisodeStatus::Open => "open",
        EpisodeStatus::Closed => "closed",
    }
}

/// `POST .../episodes`.
pub fn create_episode(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let input: EpisodeInput = json_body(&ctx.body)?;
    let tx = conn.transaction()?;
    check_episode(&tx, ctx, &input)?;
    let status = input.status.unwrap_or(EpisodeStatus::Open);
    let today = today().to_string();
    tx.execute(
        "INSERT INTO api_episodes (tenant_id, patient_id, title, status, opened_on, closed_on, notes, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        params![
            ctx.tenant,
            input.patient_id,
            input.title.trim(),
            status_text(status),
            today,
            (status == EpisodeStatus::Closed).then_some(&today),
            input.notes.as_deref().map(str::trim).filter(|n| !n.is_empty())
        ],
    )?;
    let id = tx.last_insert_rowid();
    let created = find_episode(&tx, &ctx.tenant, id)?
        .ok_or_else(|| anyhow::anyhow!("episode {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::CREATED, &created)
}

/// `PUT .../episodes/{episodeId}`: with the `version` read; closing sets
/// `closedOn` to today, reopening clears it.
pub fn update_episode(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("episodeId", "episode")?;
    let input: EpisodeInput = json_body(&ctx.body)?;
    let tx = conn.transaction()?;
    let current = find_episode(&tx, &ctx.tenant, id)?
        .ok_or_else(|| ApiFailure::NotFound(format!("no episode {id}")))?;
    check_episode(&tx, ctx, &input)?;
    let Some(version) = input.version else {
        return Err(ApiFailure::field(
            "version",
            field_codes::REQUIRED,
            "is required for an update: send the version you read",
        ));
    };
    if version != current.version {
        return Err(ApiFailure::Conflict(format!(
            "episode {id} was changed by someone else (version {} now, you sent {version}); read it again",
            current.version
        )));
    }
    let status = input.status.unwrap_or(current.status);
    let closed_on = match (status, current.closed_on) {
        (EpisodeStatus::Open, _) => None,
        (EpisodeStatus::Closed, Some(day)) => Some(day.to_string()),
        (EpisodeStatus::Closed, None) => Some(today().to_string()),
    };
    tx.execute(
        "UPDATE api_episodes SET patient_id = ?3, title = ?4, status = ?5, closed_on = ?6, notes = ?7, version = version + 1
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            ctx.tenant,
            id,
            input.patient_id,
            input.title.trim(),
            status_text(status),
            closed_on,
            input.notes.as_deref().map(str::trim).filter(|n| !n.is_empty())
        ],
    )?;
    let updated = find_episode(&tx, &ctx.tenant, id)?
        .ok_or_else(|| anyhow::anyhow!("episode {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::OK, &updated)
}

const REPORT_COLUMNS: &str = "id, patient_id, episode_id, title, body, author, created_at";

fn report_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MedicalReport> {
    Ok(MedicalReport {
        id: row.get(0)?,
        patient_id: row.get(1)?,
        episode_id: row.get(2)?,
        title: row.get(3)?,
        body: row.get(4)?,
        author: row.get(5)?,
        created_at: datetime_at(row, 6)?,
    })
}

fn find_report(
    conn: &Connection,
    tenant: &str,
    id: i64,
) -> rusqlite::Result<Option<MedicalReport>> {
    conn.query_row(
        &format!(
            "SELECT {REPORT_COLUMNS} FROM api_medical_reports WHERE tenant_id = ?1 AND id = ?2"
        ),
        params![tenant, id],
        report_from_row,
    )
    .optional()
}

/// `GET .../medicalreports?patientId=&episodeId=`.
pub fn list_reports(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(patient) = ctx.query.i64("patientId")? {
        filter.and("patient_id = ?", [Value::Integer(patient)]);
    }
    if let Some(episode) = ctx.query.i64("episodeId")? {
        filter.and("episode_id = ?", [Value::Integer(episode)]);
    }
    json(
        StatusCode::OK,
        &filter.page(
            conn,
            "api_medical_reports",
            REPORT_COLUMNS,
            "id",
            page,
            report_from_row,
        )?,
    )
}

/// `GET .../medicalreports/{reportId}`.
pub fn get_report(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.id("reportId", "medical report")?;
    match find_report(conn, &ctx.tenant, id)? {
        Some(r) => json(StatusCode::OK, &r),
        None => Err(ApiFailure::NotFound(format!("no medical report {id}"))),
    }
}

/// `POST .../medicalreports`: signed by the calling user, now.
pub fn create_report(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let input: MedicalReportInput = json_body(&ctx.body)?;
    let tx = conn.transaction()?;
    let mut errors = Vec::new();
    if !patients::exists(&tx, &ctx.tenant, input.patient_id)? {
        errors.push(FieldError::new(
            "patientId",
            field_codes::NOT_FOUND,
            format!("no patient {} in this centre", input.patient_id),
        ));
    }
    if let Some(episode) = input.episode_id {
        match find_episode(&tx, &ctx.tenant, episode)? {
            None => errors.push(FieldError::new(
                "episodeId",
                field_codes::NOT_FOUND,
                format!("no episode {episode} in this centre"),
            )),
            Some(e) if e.patient_id != input.patient_id => errors.push(FieldError::new(
                "episodeId",
                field_codes::NOT_FOUND,
                format!("episode {episode} belongs to another patient"),
            )),
            Some(_) => {}
        }
    }
    text_field(&mut errors, "title", &input.title, 200);
    text_field(&mut errors, "body", &input.body, 20_000);
    if !errors.is_empty() {
        return Err(ApiFailure::Validation(errors));
    }
    let now = chrono::Local::now().naive_local();
    tx.execute(
        "INSERT INTO api_medical_reports (tenant_id, patient_id, episode_id, title, body, author, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            ctx.tenant,
            input.patient_id,
            input.episode_id,
            input.title.trim(),
            input.body,
            ctx.user.name,
            fmt_datetime(now)
        ],
    )?;
    let id = tx.last_insert_rowid();
    let created = find_report(&tx, &ctx.tenant, id)?
        .ok_or_else(|| anyhow::anyhow!("report {id} vanished"))?;
    tx.commit()?;
    json(StatusCode::CREATED, &created)
}
