//! The command line: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod retry;
pub mod run;

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

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
    Crd(CrdArgs),
    /// Apply pending database migrations to the knowledge store, then exit.
    ///
    /// Connection settings come from DATABASE_URL or, when it is unset, KNOWLEDGE_GRAPH_HOST/PORT/USER/
    /// PASSWORD/DATABASE/SSL_DISABLED (default postgres://postgres:postgres@localhost:5432/thoth). A
    /// missing database is created. Safe to run twice and from several replicas at once.
    Migrate,
    /// Inspect the knowledge store (PostgreSQL).
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Serve the in-memory Kubernetes API server alone, until SIGTERM or Ctrl-C.
    ///
    /// It speaks plain HTTP on the given address, pre-installs this operator's
    /// CustomResourceDefinitions (unless --empty) and writes a kubeconfig that kubectl
    /// and kube-rs can use: `KUBECONFIG=FILE kubectl get crds`.
    Apiserver(ApiserverArgs),
    /// Run the operator: migrate the store, serve /metrics /healthz /readyz, reconcile SolverRuns,
    /// SecurityIndicatorRuns and AdviceRequests into Argo Workflows until SIGTERM.
    Run(Box<run::RunArgs>),
    /// Start a new attempt of a Failed or Errored resource (sets its retry annotation).
    Retry(retry::RetryArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the schema version, row counts, flags set, outcomes and the message ledger by fate.
    Status,
    /// Print the live schema's tables and relations as a diagram.
    ///
    /// `--format markdown` is what docs/schema.md holds; run it against a freshly migrated database.
    Schema {
        #[arg(long, value_enum, default_value = "mermaid")]
        format: crate::store::SchemaFormat,
    },
}

#[derive(Debug, clap::Args)]
pub struct CrdArgs {
    /// Write one file per CRD (`<name>.yaml`) into this directory instead of printing.
    /// `thoth-operator crd --output-dir crds` regenerates the committed copies.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
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
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", render_error(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the
/// message already carries (many of our errors quote their source).
fn render_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd(args) => print_crds(args),
        Command::Migrate => {
            let config = crate::store::StoreConfig::from_env()?;
            let store = crate::store::Store::connect(&config).await?;
            store.migrate().await?;
            println!(
                "{}: schema at version {}",
                config.describe(),
                crate::store::latest_version()
            );
            store.close().await;
            Ok(())
        }
        Command::Db { command } => {
            let config = crate::store::StoreConfig::from_env()?;
            let store = crate::store::Store::connect(&config).await?;
            match command {
                DbCommand::Status => print!("{}", store.status().await?),
                DbCommand::Schema { format } => print!("{}", store.schema(format).await?),
            }
            store.close().await;
            Ok(())
        }
        Command::Apiserver(args) => serve_apiserver(args).await,
        Command::Run(args) => run::run(*args).await,
        Command::Retry(args) => retry::run(args).await,
    }
}

fn print_crds(args: CrdArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    match args.output_dir {
        None => print!("{}", crate::api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
            for crd in crate::api::all_crds() {
                let path = dir.join(crate::api::crd_file_name(&crd));
                std::fs::write(&path, crate::api::crd_yaml(&crd)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
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
