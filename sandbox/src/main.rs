//! `giponext-sandbox`: runs the local stand-in for GipoNext until Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    giponext_sandbox::cli::main().await
}
