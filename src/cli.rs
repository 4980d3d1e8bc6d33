//! The command line: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "thoth-operator",
    version,
    about = "Runs Thoth's continuous-learning loop on Kubernetes",
    long_about = "Runs Thoth's continuous-learning loop on Kubernetes: consumes Thoth's Kafka \
messages, turns each into a SolverRun, SecurityIndicatorRun or AdviceRequest (or a flag in \
PostgreSQL), runs each as an Argo Workflow and records every outcome in PostgreSQL."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions (SolverRun, SecurityIndicatorRun, AdviceRequest) as YAML.
    ///
    /// The output is what `crds/` holds; pipe it to `kubectl apply -f -` to install them.
    Crd,
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            print!("{}", crate::api::crds_yaml()?);
            Ok(())
        }
    }
}
