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

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
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
