//! `giponext-security matrix`: runs the attack matrix and prints the table;
//! `giponext-security faults`: injects faults and prints what the user saw.
//! Exits 1 if any case fails. (`giponext-security bff` serves the backend
//! from the environment, as `giponext-bff` does: the fault injection starts
//! it as a separate process to kill it.)

fn main() -> std::process::ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "matrix".into());
    if arg == "bff" {
        return serve_bff();
    }
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
        let exe = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cannot find this executable: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let report = runtime.block_on(giponext_security::run_faults(&exe));
        print!("{}", report.blocks());
        report
    } else {
        let report = runtime.block_on(giponext_security::run_matrix());
        print!("{}", report.table());
        report
    };
    if report.all_pass() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The backend, configured from the environment (`giponext-bff serve`).
fn serve_bff() -> std::process::ExitCode {
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return std::process::ExitCode::from(2);
    };
    runtime.block_on(giponext_bff::serve_from_env())
}
