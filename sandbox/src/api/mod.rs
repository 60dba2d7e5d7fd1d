//! The REST API: the stand-in for api.giponext.it (`/v2/...`).
//!
//! Routing is the shared resource table itself: one fallback handler matches
//! the raw request path with [`giponext_shared::operations::match_path`], so
//! the sandbox serves exactly the rows of [`giponext_shared::OPERATIONS`] and
//! nothing else. Every request then goes through the platform's checks in its
//! order (see [`dispatch`]): bearer token, per-client rate limit, the
//! operation's scope, the tenant, the user's own GipoNext permission.
//!
//! Data lives in SQLite (tables `api_*`, see [`schema`]) and is seeded
//! deterministically the first time (see [`seed`]; [`reseed`] starts over).
//!
//! # Lists
//! Every list is paged: `offset` (from 0) and `limit` (default 20, 1 to 100;
//! anything else is a 400), answered with the `Page` envelope
//! (`items`, `totalCount`, `offset`, `limit`, `hasMore`), in a stable order
//! (by id; appointments by start then id; free slots by start then agenda).
//! Filters (a repeated or malformed parameter is a 400 naming it):
//!
//! | List | Parameters |
//! |---|---|
//! | patients | `search`: every word must match first, middle or last name or fiscal code, ignoring case and accents |
//! | appointments | `from`, `to` (date = whole day, or local date-time; overlap), `agendaId`, `patientId`, `status` (`booked`/`cancelled`) |
//! | availabilities | `agendaId`, `from`, `to` (default: today and the next 7 days; at most 31 days); slots not yet begun |
//! | treatments | `category` |
//! | episodes | `patientId`, `status` (`open`/`closed`) |
//! | medicalreports | `patientId`, `episodeId` |
//! | invoices | `from`, `to` (dates, inclusive), `patientId` |
//!
//! # Writes
//! Bodies are JSON (`Content-Type: application/json` when given; at most
//! 1 MiB). Malformed JSON is a 400 `bad_request`; a missing or wrong-typed
//! field, or invalid data, a 422 `validation_failed` with `fields`
//! (`field` is the JSON path, e.g. `fiscalCode`, `lines[1].quantity`).
//! Updates (`PUT`) carry the `version` read; a stale one is a 409
//! `conflict`. A duplicate fiscal code, an overlapping booking and a second
//! cancellation are 409 too. Bookings must fall inside one working period of
//! the agenda and not in the past. Every write is one SQLite transaction.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use chrono::{NaiveDate, NaiveDateTime};

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::server::SandboxState;

mod agenda;
mod catalogue;
mod clinical;
pub mod dispatch;
pub mod error;
mod invoices;
pub mod params;
mod patients;
pub mod schema;
pub mod seed;
mod seed_data;

pub use error::ApiFailure;

/// Creates the API's tables and seeds them when they are empty.
pub fn migrate_and_seed(db: &Db, config: &SandboxConfig) -> anyhow::Result<()> {
    db.with(|conn| {
        schema::create(conn).context("creating the API tables")?;
        let patients: i64 =
            conn.query_row("SELECT COUNT(*) FROM api_patients", [], |r| r.get(0))?;
        if patients == 0 {
            let tx = conn.transaction()?;
            seed::seed(&tx, today(), config.seed_invoices).context("seeding the API data")?;
            tx.commit()?;
        }
        Ok(())
    })
}

/// Throws away every API record and seeds afresh: the same data a fresh store
/// gets on the same day. The account server's data (grants, keys) is kept.
pub fn reseed(db: &Db, config: &SandboxConfig) -> anyhow::Result<()> {
    db.with(|conn| {
        schema::create(conn)?;
        let tx = conn.transaction()?;
        schema::clear(&tx)?;
        seed::seed(&tx, today(), config.seed_invoices).context("seeding the API data")?;
        tx.commit()?;
        Ok(())
    })
}

/// The API's routes: everything not routed elsewhere comes to the dispatcher,
/// which answers 404 for any path that is not a row of the resource table.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new().fallback(dispatch::handle)
}

/// Today in the centre's local time.
pub(crate) fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// The stored form of a local date-time.
pub(crate) fn fmt_datetime(dt: NaiveDateTime) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Reads a stored date column.
pub(crate) fn date_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<NaiveDate> {
    let text: String = row.get(idx)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads a stored optional date column.
pub(crate) fn opt_date_at(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<NaiveDate>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// Reads a stored date-time column.
pub(crate) fn datetime_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<NaiveDateTime> {
    let text: String = row.get(idx)?;
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}
