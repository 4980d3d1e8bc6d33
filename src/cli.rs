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
    /// Serve the in-memory Kubernetes API server alone, until SIGTERM or Ctrl-C.
    ///
    /// It speaks plain HTTP on the given address, pre-installs this operator's
    /// CustomResourceDefinitions (unless --empty) and writes a kubeconfig that kubectl
    /// and kube-rs can use: `KUBECONFIG=FILE kubectl get crds`.
    Apiserver(ApiserverArgs),
}

#[derive(Debug, clap::Args)]
pub struct ApiserverArgs {
    /// Address to listen on; port 0 picks a free port (the kubeconfig names the real one).
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "HOST:PORT")]
    pub listen: String,
    /// Where to write the kubeconfig pointing at this server.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: std::path::PathBuf,
    /// Start without this operator's CRDs (only Namespaces, Events, Leases and CRDs are served).
    #[arg(long)]
    pub empty: bool,
    /// How many recent changes watches can resume from; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000, value_name = "EVENTS")]
    pub event_window: usize,
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
        Command::Apiserver(args) => serve_apiserver(args).await,
    }
}

async fn serve_apiserver(args: ApiserverArgs) -> anyhow::Result<()> {
    use crate::sandbox::apiserver::ApiServer;
    use tokio::signal::unix::{SignalKind, signal};

    let mut builder = ApiServer::builder().event_window(args.event_window);
    if !args.empty {
        builder = builder.crds(crate::api::all_crds());
    }
    let server = builder.build().start(&args.listen).await?;
    server.write_kubeconfig(&args.kubeconfig)?;
    eprintln!(
        "in-memory API server listening on {}; kubeconfig written to {}",
        server.url(),
        args.kubeconfig.display()
    );
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    server.shutdown().await;
    Ok(())
}
