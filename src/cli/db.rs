//! `migrate` and `db`: the knowledge store's schema and what it holds.

use clap::Subcommand;

use crate::store::{SchemaFormat, Store, StoreConfig, latest_version};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the schema version, row counts, flags set, outcomes and the message ledger by fate.
    Status,
    /// Print the live schema's tables and relations as a diagram.
    ///
    /// `--format markdown` is what docs/schema.md holds; run it against a freshly migrated database.
    Schema {
        #[arg(long, value_enum, default_value = "mermaid")]
        format: SchemaFormat,
    },
}

/// `migrate`: creates the database when missing and applies pending migrations.
pub(super) async fn migrate() -> anyhow::Result<()> {
    let config = StoreConfig::from_env()?;
    let store = Store::connect(&config).await?;
    store.migrate().await?;
    println!(
        "{}: schema at version {}",
        config.describe(),
        latest_version()
    );
    store.close().await;
    Ok(())
}

/// `db status` and `db schema`.
pub(super) async fn run(command: DbCommand) -> anyhow::Result<()> {
    let config = StoreConfig::from_env()?;
    let store = Store::connect(&config).await?;
    match command {
        DbCommand::Status => print!("{}", store.status().await?),
        DbCommand::Schema { format } => print!("{}", store.schema(format).await?),
    }
    store.close().await;
    Ok(())
}
