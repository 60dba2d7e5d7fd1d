//! The API's tables. Every row carries its `tenant_id`, and every query
//! filters on it: another tenant's data is simply not found.
//!
//! Numeric ids are plain `INTEGER PRIMARY KEY` (no AUTOINCREMENT), so a
//! reseed of emptied tables numbers everything exactly as a fresh store does.
//! Times are ISO 8601 text (`YYYY-MM-DDTHH:MM:SS`, local time), which sorts
//! and compares correctly as text.

use rusqlite::Connection;

/// Tables in dependency order (children last).
pub const TABLES: &[&str] = &[
    "api_patients",
    "api_agendas",
    "api_treatments",
    "api_price_lists",
    "api_price_list_items",
    "api_appointments",
    "api_episodes",
    "api_medical_reports",
    "api_invoices",
    "api_invoice_lines",
];

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS api_patients (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    middle_name TEXT,
    fiscal_code TEXT NOT NULL,
    birth_date TEXT,
    sex TEXT,
    email TEXT,
    phone TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (tenant_id, fiscal_code)
);
CREATE TABLE IF NOT EXISTS api_agendas (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    practitioner TEXT,
    specialty TEXT,
    -- ISO weekdays it works, e.g. '12345' for Monday to Friday.
    weekdays TEXT NOT NULL,
    -- Working periods, e.g. '08:30-13:00,14:00-18:00'.
    hours TEXT NOT NULL,
    slot_minutes INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS api_treatments (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    category TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS api_price_lists (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS api_price_list_items (
    tenant_id TEXT NOT NULL,
    price_list_id TEXT NOT NULL,
    treatment_id TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    vat_rate_percent INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, price_list_id, treatment_id)
);
CREATE TABLE IF NOT EXISTS api_appointments (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    agenda_id TEXT NOT NULL,
    patient_id INTEGER NOT NULL REFERENCES api_patients(id),
    treatment_id TEXT,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    status TEXT NOT NULL,
    notes TEXT
);
CREATE INDEX IF NOT EXISTS api_appointments_by_time ON api_appointments (tenant_id, agenda_id, start);
CREATE TABLE IF NOT EXISTS api_episodes (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    patient_id INTEGER NOT NULL REFERENCES api_patients(id),
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_on TEXT NOT NULL,
    closed_on TEXT,
    notes TEXT,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS api_medical_reports (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    patient_id INTEGER NOT NULL REFERENCES api_patients(id),
    episode_id INTEGER REFERENCES api_episodes(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_invoices (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    number TEXT NOT NULL,
    patient_id INTEGER NOT NULL REFERENCES api_patients(id),
    date TEXT NOT NULL,
    net_cents INTEGER NOT NULL,
    vat_cents INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    UNIQUE (tenant_id, number)
);
CREATE INDEX IF NOT EXISTS api_invoices_by_date ON api_invoices (tenant_id, date);
CREATE TABLE IF NOT EXISTS api_invoice_lines (
    invoice_id INTEGER NOT NULL REFERENCES api_invoices(id),
    line_no INTEGER NOT NULL,
    treatment_id TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    vat_rate_percent INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);
"#;

/// Creates the tables that do not exist yet.
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// Empties every API table (children first, for the foreign keys).
pub fn clear(conn: &Connection) -> rusqlite::Result<()> {
    for table in TABLES.iter().rev() {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}
