//! The command line: one binary, one subcommand per job, one file per group of
//! subcommands (`crd`, `db` with `migrate`, and, with the `sandbox` feature,
//! `apiserver`).

#[cfg(feature = "sandbox")]
mod apiserver;
mod crd;
mod db;
mod dead_letters;
pub mod index;
pub mod publish;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod trace;

pub use index::IndexCommand;
pub use publish::{KafkaArgs, PublishArgs};
pub use trace::{OutputFormat, Trace, TraceArgs};
pub mod retry;
pub mod run;

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
    /// How log lines are written to standard error; verbosity follows RUST_LOG (default `info`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "THOTH_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests calling `run` twice) is harmless; ignore it.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions (SolverRun, SecurityIndicatorRun, AdviceRequest) as YAML.
    ///
    /// The output is what `crds/` holds; pipe it to `kubectl apply -f -` to install them.
    Crd(crd::CrdArgs),
    /// Apply pending database migrations to the knowledge store, then exit.
    ///
    /// Connection settings come from DATABASE_URL or, when it is unset, KNOWLEDGE_GRAPH_HOST/PORT/USER/
    /// PASSWORD/DATABASE/SSL_DISABLED (default postgres://postgres:postgres@localhost:5432/thoth). A
    /// missing database is created. Safe to run twice and from several replicas at once.
    Migrate,
    /// Inspect the knowledge store (PostgreSQL).
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Serve the in-memory Kubernetes API server alone, until SIGTERM or Ctrl-C.
    #[cfg(feature = "sandbox")]
    ///
    /// It speaks plain HTTP on the given address, pre-installs this operator's
    /// CustomResourceDefinitions (unless --empty) and writes a kubeconfig that kubectl
    /// and kube-rs can use: `KUBECONFIG=FILE kubectl get crds`.
    Apiserver(apiserver::ApiserverArgs),
    /// The whole loop on this machine, in one process: an in-memory Kubernetes API server with the
    /// CRDs and WorkflowTemplates, an embedded Kafka, PostgreSQL, a local package index, an Argo
    /// stand-in and the operator.
    #[cfg(feature = "sandbox")]
    ///
    /// Prints `sandbox ready` when every part accepts requests and runs until SIGTERM or Ctrl-C;
    /// --dir writes a kubeconfig and an environment file for kubectl, `run`, `publish`, `trace`
    /// and psql; --demo publishes a stream of messages, shows the loop working and judges it.
    Sandbox(Box<sandbox::SandboxArgs>),
    /// Manage the package indexes messages may create work for.
    ///
    /// A message naming an unregistered index is dead-lettered; one naming a disabled
    /// index is recorded as skipped. Store settings as for `migrate`.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Send one Thoth message, validated against the catalogue first.
    ///
    /// Fields as `--set FIELD=VALUE` (JSON values, or strings), or a JSON object on
    /// standard input; the envelope is filled in. Waits for the broker's acknowledgement.
    Publish(PublishArgs),
    /// Show what happened to a message or a package: ledger rows, resources, Workflow
    /// attempts, outcomes and follow-up messages.
    Trace(TraceArgs),
    /// List the dead-letter topic, or send chosen dead letters back to their original topic.
    DeadLetters(dead_letters::DeadLettersArgs),
    /// Run the operator: migrate the store, serve /metrics /healthz /readyz, reconcile SolverRuns,
    /// SecurityIndicatorRuns and AdviceRequests into Argo Workflows until SIGTERM.
    Run(Box<run::RunArgs>),
    /// Start a new attempt of a Failed or Errored resource (sets its retry annotation).
    Retry(retry::RetryArgs),
}

/// `info`, but `warn` for `sandbox --demo`, whose live progress the operator's log lines would
/// break up (RUST_LOG still wins).
fn default_log_level(command: &Command) -> &'static str {
    match command {
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) if args.demo => "warn",
        _ => "info",
    }
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, default_log_level(&cli.command));
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Each error says what failed and leaves its cause to the source chain, so
            // the alternate form (every cause, joined by ": ") repeats nothing.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd(args) => crd::print_crds(args),
        Command::Migrate => db::migrate().await,
        Command::Db { command } => db::run(command).await,
        #[cfg(feature = "sandbox")]
        Command::Apiserver(args) => apiserver::serve(args).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(*args).await,
        Command::Index { command } => index::run(command).await,
        Command::Publish(args) => publish::run(args).await,
        Command::Trace(args) => trace::run(args).await,
        Command::DeadLetters(args) => dead_letters::run(args).await,
        Command::Run(args) => run::run(*args).await,
        Command::Retry(args) => retry::run(args).await,
    }
}
