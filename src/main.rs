use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    thoth_operator::cli::main().await
}
