//! `giponext-security matrix`: runs the attack matrix and prints the table;
//! `giponext-security faults`: injects faults and prints what the user saw.
//! Exits 1 if any case fails.

fn main() -> std::process::ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "matrix".into());
    if arg != "matrix" && arg != "faults" {
        eprintln!("usage: giponext-security matrix|faults");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let report = if arg == "faults" {
        runtime.block_on(giponext_security::run_faults())
    } else {
        runtime.block_on(giponext_security::run_matrix())
    };
    print!("{}", report.table());
    if report.all_pass() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
