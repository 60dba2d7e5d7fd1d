//! Results on stdout: aligned tables for people, `--json` and `--csv` for
//! programs.

use std::io::Write;

use anyhow::Result;
use giponext_shared::Lang;
use giponext_shared::api::{
    Appointment, Episode, Invoice, MedicalReport, Patient, PriceList, Treatment, format_eur,
};
use serde::Serialize;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON: the API's objects as they came.
    Json,
    /// CSV with a header row; amounts in cents.
    Csv,
}

impl Format {
    /// From the `--json` / `--csv` flags.
    pub fn from_flags(json: bool, csv: bool) -> Format {
        match (json, csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Table,
        }
    }
}

/// A record that can be a table or CSV row.
pub trait Row: Serialize {
    /// Column names (CSV header).
    fn headers() -> &'static [&'static str];
    /// Cells for CSV: machine values (cents, ISO dates).
    fn cells(&self) -> Vec<String>;
    /// Cells for a table: human values; defaults to the CSV cells.
    fn display_cells(&self) -> Vec<String> {
        self.cells()
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl Row for Patient {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "lastName",
            "firstName",
            "fiscalCode",
            "birthDate",
            "email",
            "phone",
        ]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.last_name.clone(),
            self.first_name.clone(),
            self.fiscal_code.clone(),
            opt(&self.birth_date),
            opt(&self.email),
            opt(&self.phone),
        ]
    }
}

impl Row for Appointment {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "agendaId",
            "patientId",
            "treatmentId",
            "start",
            "end",
            "status",
        ]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.agenda_id.clone(),
            self.patient_id.to_string(),
            opt(&self.treatment_id),
            self.start.format("%Y-%m-%dT%H:%M:%S").to_string(),
            self.end.format("%Y-%m-%dT%H:%M:%S").to_string(),
            format!("{:?}", self.status).to_lowercase(),
        ]
    }
}

impl Row for Treatment {
    fn headers() -> &'static [&'static str] {
        &["id", "code", "name", "durationMinutes", "category"]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.code.clone(),
            self.name.clone(),
            self.duration_minutes.to_string(),
            opt(&self.category),
        ]
    }
}

impl Row for PriceList {
    fn headers() -> &'static [&'static str] {
        &["id", "name", "currency", "items"]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.currency.clone(),
            self.items.len().to_string(),
        ]
    }
}

impl Row for Episode {
    fn headers() -> &'static [&'static str] {
        &["id", "patientId", "title", "status", "openedOn", "closedOn"]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.patient_id.to_string(),
            self.title.clone(),
            format!("{:?}", self.status).to_lowercase(),
            self.opened_on.to_string(),
            opt(&self.closed_on),
        ]
    }
}

impl Row for MedicalReport {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "patientId",
            "episodeId",
            "title",
            "author",
            "createdAt",
        ]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.patient_id.to_string(),
            opt(&self.episode_id),
            self.title.clone(),
            self.author.clone(),
            self.created_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
        ]
    }
}

impl Row for Invoice {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "number",
            "patientId",
            "date",
            "netCents",
            "vatCents",
            "totalCents",
            "lines",
        ]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.number.clone(),
            self.patient_id.to_string(),
            self.date.to_string(),
            self.net_cents.to_string(),
            self.vat_cents.to_string(),
            self.total_cents.to_string(),
            self.lines.len().to_string(),
        ]
    }
    fn display_cells(&self) -> Vec<String> {
        let mut cells = self.cells();
        for cell in &mut cells[4..=6] {
            let cents: i64 = cell.parse().unwrap_or_default();
            *cell = format_eur(cents, Lang::It);
        }
        cells
    }
}

/// Writes `items` in `format`.
pub fn write_list<T: Row>(out: &mut dyn Write, items: &[T], format: Format) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, items)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(T::headers())?;
            for item in items {
                w.write_record(item.cells())?;
            }
            w.flush()?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = items.iter().map(Row::display_cells).collect();
            write_table(out, T::headers(), &rows)?;
            if items.is_empty() {
                writeln!(out, "(none)")?;
            }
        }
    }
    Ok(())
}

/// Writes one item: JSON as is, CSV as a one-row table, a table as
/// `name: value` lines.
pub fn write_one<T: Row>(out: &mut dyn Write, item: &T, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, item)?;
            writeln!(out)?;
            Ok(())
        }
        Format::Csv => write_list(out, std::slice::from_ref(item), format),
        Format::Table => {
            let width = T::headers().iter().map(|h| h.len()).max().unwrap_or(0);
            for (h, v) in T::headers().iter().zip(item.display_cells()) {
                writeln!(out, "{h:width$}  {v}")?;
            }
            Ok(())
        }
    }
}

/// Writes aligned columns; cells are cleaned of control characters so data
/// cannot move the cursor or fake lines.
pub fn write_table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use giponext_shared::api::InvoiceLine;

    fn invoice(id: i64, number: &str) -> Invoice {
        Invoice {
            id,
            number: number.into(),
            patient_id: 3,
            date: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            lines: vec![InvoiceLine {
                treatment_id: "t".into(),
                description: "Visita".into(),
                quantity: 1,
                unit_price_cents: 12345,
                vat_rate_percent: 0,
            }],
            net_cents: 12345,
            vat_cents: 0,
            total_cents: 12345,
        }
    }

    fn render<F: FnOnce(&mut Vec<u8>)>(f: F) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_and_keeps_cents() {
        let items = [invoice(1, "2026/1"), invoice(2, "a,\"b\"")];
        let text = render(|o| write_list(o, &items, Format::Csv).unwrap());
        assert_eq!(
            text,
            "id,number,patientId,date,netCents,vatCents,totalCents,lines\n\
             1,2026/1,3,2026-01-02,12345,0,12345,1\n\
             2,\"a,\"\"b\"\"\",3,2026-01-02,12345,0,12345,1\n"
        );
    }

    #[test]
    fn table_aligns_and_formats_euros() {
        let text = render(|o| write_list(o, &[invoice(1, "2026/1")], Format::Table).unwrap());
        let lines: Vec<_> = text.lines().collect();
        assert!(lines[0].starts_with("id  number  patientId"), "{text}");
        assert!(lines[1].contains("€ 123,45"), "{text}");
        let empty: [Invoice; 0] = [];
        assert!(render(|o| write_list(o, &empty, Format::Table).unwrap()).contains("(none)"));
    }

    #[test]
    fn json_is_the_api_shape_and_tables_strip_control_chars() {
        let text = render(|o| write_one(o, &invoice(1, "x"), Format::Json).unwrap());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["totalCents"], 12345);
        let text = render(|o| write_table(o, &["a"], &[vec!["x\u{1b}[2J\ny".into()]]).unwrap());
        assert_eq!(text, "a\nx [2J y\n");
    }
}
