//! The command line, declared with clap's derive API.

use chrono::{NaiveDate, NaiveDateTime};
use clap::{Args, Parser, Subcommand};
use giponext_shared::Scope;
use giponext_shared::api::Sex;

use crate::exit::EXIT_CODES_HELP;

const ENV_HELP: &str = "\
Environment:
  GIPONEXT_ISSUER             OpenID provider (default http://127.0.0.1:8090, the local sandbox);
                              https unless on this machine (127.0.0.1, ::1, localhost)
  GIPONEXT_CLIENT_ID          OAuth client id (default giponext-cli)
  GIPONEXT_CLIENT_SECRET      client secret; empty = public client (the sandbox's secret is
                              the default only for the default issuer and client)
  GIPONEXT_API_BASE           API root (default: the issuer); https unless on this machine
  GIPONEXT_INSECURE_STORAGE   1 = allow the token file when no OS keyring is available
  GIPONEXT_KEYRING            off = never use the OS keyring
  GIPONEXT_CONFIG_DIR         token file directory (default $XDG_CONFIG_HOME/giponext)
  GIPONEXT_NON_INTERACTIVE    1 = never prompt (as --non-interactive)
  GIPONEXT_LOG                log filter for stderr, e.g. debug";

/// `giponext`: GipoNext from the command line. Log in from any browser with
/// a device code, then work within the scopes you granted.
#[derive(Debug, Parser)]
#[command(
    name = "giponext",
    version,
    about,
    propagate_version = true,
    after_help = format!("{EXIT_CODES_HELP}\n\n{ENV_HELP}")
)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Allow keeping tokens in a private file (0600) when no OS keyring is
    /// available. Without it the CLI refuses to store tokens (exit 6).
    #[arg(long, global = true)]
    pub insecure_storage: bool,
    /// Never prompt: missing scopes exit 5 with a JSON list on stdout.
    #[arg(long, global = true)]
    pub non_interactive: bool,
    /// Print JSON instead of a table.
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV instead of a table.
    #[arg(long, global = true)]
    pub csv: bool,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with the Device Code flow (RFC 8628) from any browser.
    Login(LoginArgs),
    /// Revoke the tokens at the provider (RFC 7009) and delete the local copy.
    Logout,
    /// Inspect or change the login.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Patients (scope giponext.patients).
    #[command(subcommand)]
    Patients(PatientsCommand),
    /// Appointments in a date range (scope giponext.agenda).
    Agenda(AgendaArgs),
    /// Book or cancel appointments (scope giponext.agenda).
    #[command(subcommand)]
    Appointments(AppointmentsCommand),
    /// The treatment catalogue (scope giponext.treatments).
    Treatments,
    /// Price lists (scope giponext.treatments).
    Pricelists,
    /// Clinical episodes (scope giponext.episodes).
    Episodes,
    /// Medical reports (scope giponext.medicalreports).
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Invoices (scope giponext.invoices).
    #[command(subcommand)]
    Invoices(InvoicesCommand),
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// A scope to ask for (repeatable or comma-separated), e.g.
    /// `giponext.invoices` or just `invoices`. Default: every data scope.
    /// `openid` and `offline_access` are always asked for.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope, value_delimiter = ',')]
    pub scopes: Vec<Scope>,
    /// Do not draw the QR code.
    #[arg(long)]
    pub no_qr: bool,
}

/// `auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Who is logged in, to which centre, with which scopes, until when.
    /// Exits 1 when not logged in.
    Status,
    /// Renew the access token; with --scopes, ask (device login) for the
    /// union of the scopes held and these.
    Refresh {
        /// Scopes to add (repeatable or comma-separated).
        #[arg(long = "scopes", alias = "scope", value_name = "SCOPE", value_parser = parse_scope, value_delimiter = ',')]
        scopes: Vec<Scope>,
        /// Do not draw the QR code.
        #[arg(long)]
        no_qr: bool,
    },
}

/// `patients ...`.
#[derive(Debug, Subcommand)]
pub enum PatientsCommand {
    /// Every patient of the centre (all pages).
    List {
        /// Only patients whose name or fiscal code contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// One patient.
    Get {
        /// Patient id.
        id: i64,
    },
    /// Register a patient.
    Create(PatientCreateArgs),
}

/// `patients create`.
#[derive(Debug, Args)]
pub struct PatientCreateArgs {
    /// First name.
    #[arg(long)]
    pub first_name: String,
    /// Last name.
    #[arg(long)]
    pub last_name: String,
    /// Codice fiscale (checked before sending).
    #[arg(long)]
    pub fiscal_code: String,
    /// Middle name.
    #[arg(long)]
    pub middle_name: Option<String>,
    /// Date of birth (YYYY-MM-DD).
    #[arg(long)]
    pub birth_date: Option<NaiveDate>,
    /// Sex as recorded for the fiscal code: M or F.
    #[arg(long, value_parser = parse_sex)]
    pub sex: Option<Sex>,
    /// E-mail.
    #[arg(long)]
    pub email: Option<String>,
    /// Phone.
    #[arg(long)]
    pub phone: Option<String>,
}

/// `agenda`.
#[derive(Debug, Args)]
pub struct AgendaArgs {
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day, included (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// Only this agenda.
    #[arg(long)]
    pub agenda: Option<String>,
}

/// `appointments ...`.
#[derive(Debug, Subcommand)]
pub enum AppointmentsCommand {
    /// Book an appointment.
    Book {
        /// Agenda id.
        #[arg(long)]
        agenda: String,
        /// Patient id.
        #[arg(long)]
        patient: i64,
        /// Start, local time (YYYY-MM-DDTHH:MM:SS).
        #[arg(long)]
        start: NaiveDateTime,
        /// End, local time.
        #[arg(long)]
        end: NaiveDateTime,
        /// Treatment id.
        #[arg(long)]
        treatment: Option<String>,
        /// Notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Cancel an appointment.
    Cancel {
        /// Appointment id.
        id: i64,
    },
}

/// `reports ...`.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Every medical report.
    List,
    /// One report, with its text.
    Get {
        /// Report id.
        id: i64,
    },
}

/// `invoices ...`.
#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Invoices, optionally in a date range.
    List {
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day, included.
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// One invoice with its lines.
    Get {
        /// Invoice id.
        id: i64,
    },
    /// Export every invoice of a date range (CSV unless --json), all pages.
    Export {
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// Last day, included.
        #[arg(long)]
        to: NaiveDate,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

/// Parses `M` or `F`.
pub fn parse_sex(s: &str) -> Result<Sex, String> {
    match s {
        "M" | "m" => Ok(Sex::M),
        "F" | "f" => Ok(Sex::F),
        _ => Err(format!("sex must be M or F, got {s:?}")),
    }
}

/// Parses `giponext.invoices` or the short `invoices`.
pub fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::from_wire(s)
        .or_else(|| Scope::from_wire(&format!("giponext.{s}")))
        .ok_or_else(|| {
            let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown scope {s:?}; known: {}", known.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scopes_parse_long_short_and_comma_lists() {
        assert_eq!(parse_scope("giponext.invoices"), Ok(Scope::Invoices));
        assert_eq!(parse_scope("patients"), Ok(Scope::Patients));
        assert!(parse_scope("Invoices").is_err());
        let cli = Cli::try_parse_from([
            "giponext",
            "login",
            "--scope",
            "invoices,patients",
            "--scope",
            "agenda",
        ])
        .unwrap();
        let Command::Login(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            args.scopes,
            vec![Scope::Invoices, Scope::Patients, Scope::Agenda]
        );
        assert!(Cli::try_parse_from(["giponext", "login", "--scope", "bogus"]).is_err());
        assert!(Cli::try_parse_from(["giponext", "invoices", "list", "--json", "--csv"]).is_err());
    }
}
