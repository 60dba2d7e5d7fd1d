//! The data commands over the shared resource table.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use giponext_shared::Operation;
use giponext_shared::api::{
    Appointment, AppointmentInput, Episode, Invoice, MedicalReport, Patient, PatientInput,
    PriceList, Treatment,
};
use giponext_shared::fiscal_code::FiscalCode;
use giponext_shared::operations::by_id;
use serde::de::DeserializeOwned;

use super::{Context, preflight, required_scopes};
use crate::api::Api;
use crate::auth::Session;
use crate::cli::{AppointmentsCommand, Command, InvoicesCommand, PatientsCommand, ReportsCommand};
use crate::exit::{Exit, Failure};
use crate::output::{Format, Row, write_list, write_one};

fn op(id: &str) -> &'static Operation {
    by_id(id).unwrap_or_else(|| panic!("operation {id} is in the shared table"))
}

fn range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Vec<(String, String)>> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Failure::new(Exit::Usage, format!("--from {f} is after --to {t}")).into());
    }
    let mut q = Vec::new();
    if let Some(f) = from {
        q.push(("from".to_owned(), f.to_string()));
    }
    if let Some(t) = to {
        q.push(("to".to_owned(), t.to_string()));
    }
    Ok(q)
}

/// Opens the session and preflights `ops` for `command`.
async fn start(ctx: &Context, command: &str, ops: &[&str]) -> Result<Session> {
    let mut session = Session::open(ctx.config.clone())?;
    preflight(&mut session, ctx, command, required_scopes(ops)).await?;
    Ok(session)
}

async fn list<T: Row + DeserializeOwned>(
    ctx: &Context,
    command: &str,
    op_id: &str,
    query: Vec<(String, String)>,
) -> Result<()> {
    let mut session = start(ctx, command, &[op_id]).await?;
    let progress = ctx.ui.progress(command);
    let items: Vec<T> = Api::new(&mut session)
        .list_all(op(op_id), &query, &progress)
        .await?;
    write_list(&mut std::io::stdout().lock(), &items, ctx.format)
}

async fn get<T: Row + DeserializeOwned>(
    ctx: &Context,
    command: &str,
    op_id: &str,
    param: &str,
    id: i64,
) -> Result<()> {
    let mut session = start(ctx, command, &[op_id]).await?;
    let id = id.to_string();
    let item: T = Api::new(&mut session)
        .call(op(op_id), &[(param, &id)], &[], None)
        .await?;
    write_one(&mut std::io::stdout().lock(), &item, ctx.format)
}

/// Runs a data command.
pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Patients(PatientsCommand::List { search }) => {
            let query = search
                .map(|s| ("search".to_owned(), s))
                .into_iter()
                .collect();
            list::<Patient>(ctx, "patients list", "patients.list", query).await
        }
        Command::Patients(PatientsCommand::Get { id }) => {
            get::<Patient>(ctx, "patients get", "patients.get", "patientId", id).await
        }
        Command::Patients(PatientsCommand::Create(args)) => {
            let fiscal_code = FiscalCode::parse(&args.fiscal_code).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("--fiscal-code {:?} is not valid: {e}", args.fiscal_code),
                )
            })?;
            let mut session = start(ctx, "patients create", &["patients.create"]).await?;
            let input = PatientInput {
                first_name: args.first_name,
                last_name: args.last_name,
                middle_name: args.middle_name,
                fiscal_code: fiscal_code.as_str().to_owned(),
                birth_date: args.birth_date,
                sex: args.sex,
                email: args.email,
                phone: args.phone,
                ..PatientInput::default()
            };
            let body = serde_json::to_value(&input)?;
            let created: Patient = Api::new(&mut session)
                .call(op("patients.create"), &[], &[], Some(&body))
                .await?;
            write_one(&mut std::io::stdout().lock(), &created, ctx.format)
        }
        Command::Agenda(args) => {
            let mut query = range(Some(args.from), Some(args.to))?;
            if let Some(agenda) = args.agenda {
                query.push(("agendaId".to_owned(), agenda));
            }
            list::<Appointment>(ctx, "agenda", "appointments.list", query).await
        }
        Command::Appointments(AppointmentsCommand::Book {
            agenda,
            patient,
            start: begin,
            end,
            treatment,
            notes,
        }) => {
            if end <= begin {
                return Err(Failure::new(Exit::Usage, "--end must be after --start").into());
            }
            let mut session = start(ctx, "appointments book", &["appointments.create"]).await?;
            let body = serde_json::to_value(AppointmentInput {
                agenda_id: agenda,
                patient_id: patient,
                treatment_id: treatment,
                start: begin,
                end,
                notes,
            })?;
            let booked: Appointment = Api::new(&mut session)
                .call(op("appointments.create"), &[], &[], Some(&body))
                .await?;
            write_one(&mut std::io::stdout().lock(), &booked, ctx.format)
        }
        Command::Appointments(AppointmentsCommand::Cancel { id }) => {
            let mut session = start(ctx, "appointments cancel", &["appointments.cancel"]).await?;
            let id = id.to_string();
            let bytes = Api::new(&mut session)
                .send(
                    op("appointments.cancel"),
                    &[("appointmentId", &id)],
                    &[],
                    None,
                )
                .await?;
            match serde_json::from_slice::<Appointment>(&bytes) {
                Ok(a) => write_one(&mut std::io::stdout().lock(), &a, ctx.format),
                Err(_) => {
                    eprintln!("Appointment {id} cancelled.");
                    Ok(())
                }
            }
        }
        Command::Treatments => {
            list::<Treatment>(ctx, "treatments", "treatments.list", vec![]).await
        }
        Command::Pricelists => {
            list::<PriceList>(ctx, "pricelists", "pricelists.list", vec![]).await
        }
        Command::Episodes => list::<Episode>(ctx, "episodes", "episodes.list", vec![]).await,
        Command::Reports(ReportsCommand::List) => {
            list::<MedicalReport>(ctx, "reports list", "medicalreports.list", vec![]).await
        }
        Command::Reports(ReportsCommand::Get { id }) => {
            let mut session = start(ctx, "reports get", &["medicalreports.get"]).await?;
            let id = id.to_string();
            let report: MedicalReport = Api::new(&mut session)
                .call(op("medicalreports.get"), &[("reportId", &id)], &[], None)
                .await?;
            let mut out = std::io::stdout().lock();
            write_one(&mut out, &report, ctx.format)?;
            if ctx.format == Format::Table {
                writeln!(out, "\n{}", report.body)?;
            }
            Ok(())
        }
        Command::Invoices(InvoicesCommand::List { from, to }) => {
            list::<Invoice>(ctx, "invoices list", "invoices.list", range(from, to)?).await
        }
        Command::Invoices(InvoicesCommand::Get { id }) => {
            get::<Invoice>(ctx, "invoices get", "invoices.get", "invoiceId", id).await
        }
        Command::Invoices(InvoicesCommand::Export { from, to, output }) => {
            let query = range(Some(from), Some(to))?;
            let mut session = start(ctx, "invoices export", &["invoices.list"]).await?;
            let progress = ctx.ui.progress("Exporting invoices");
            let items: Vec<Invoice> = Api::new(&mut session)
                .list_all(op("invoices.list"), &query, &progress)
                .await?;
            let format = if ctx.format == Format::Json {
                Format::Json
            } else {
                Format::Csv
            };
            match output {
                Some(path) => {
                    // Clinic data: readable by the user only, like the token file.
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    write_list(&mut file, &items, format)?;
                    file.sync_all()?;
                }
                None => write_list(&mut std::io::stdout().lock(), &items, format)?,
            }
            eprintln!("Exported {} invoices ({from} to {to}).", items.len());
            Ok(())
        }
        Command::Login(_) | Command::Logout | Command::Auth(_) | Command::Completions { .. } => {
            unreachable!("not a data command")
        }
    }
}
