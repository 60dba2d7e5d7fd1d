//! The `giponext` binary: see the `giponext_cli` crate docs.

fn main() -> std::process::ExitCode {
    giponext_cli::main_entry()
}
