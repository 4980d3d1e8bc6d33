//! `thoth-operator index add|enable|disable|list`: the package indexes admission may
//! create work for (Thoth's `python_package_index` table). A message naming an index
//! that is not registered is dead-lettered; one naming a disabled index is skipped.

use clap::Subcommand;

use crate::package::IndexUrl;
use crate::store::{Store, StoreConfig};

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Register an index (enabled unless --disabled); an index already registered keeps
    /// its state.
    Add {
        /// Simple-API URL, e.g. https://pypi.org/simple (stored in canonical form).
        url: String,
        /// Register it without letting messages create work for it yet.
        #[arg(long)]
        disabled: bool,
    },
    /// Let messages naming this index create work (registers it when unknown).
    Enable { url: String },
    /// Stop creating work for this index; its flags and outcomes stay.
    Disable { url: String },
    /// Print every registered index and whether it is enabled.
    List,
}

pub async fn run(command: IndexCommand) -> anyhow::Result<()> {
    let config = StoreConfig::from_env()?;
    let store = Store::connect(&config).await?;
    let result = execute(&store, command, &mut std::io::stdout()).await;
    store.close().await;
    result
}

/// Runs one index command against `store`, writing what it did to `out`.
pub async fn execute(
    store: &Store,
    command: IndexCommand,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let parse = |raw: &str| {
        IndexUrl::parse(raw).map_err(|e| anyhow::anyhow!("invalid index URL {raw:?}: {e}"))
    };
    match command {
        IndexCommand::Add { url, disabled } => {
            let index = parse(&url)?;
            let created = store.register_index(&index, !disabled).await?;
            if created {
                let state = if disabled { "disabled" } else { "enabled" };
                writeln!(out, "registered {index} ({state})")?;
            } else {
                writeln!(out, "{index} is already registered; its state is unchanged")?;
            }
        }
        IndexCommand::Enable { url } => set_enabled(store, &parse(&url)?, true, out).await?,
        IndexCommand::Disable { url } => set_enabled(store, &parse(&url)?, false, out).await?,
        IndexCommand::List => {
            let indexes = store.indexes(false).await?;
            if indexes.is_empty() {
                writeln!(out, "no index is registered")?;
            }
            for (index, enabled) in indexes {
                let state = if enabled { "enabled" } else { "disabled" };
                writeln!(out, "{state:<9} {index}")?;
            }
        }
    }
    Ok(())
}

async fn set_enabled(
    store: &Store,
    index: &IndexUrl,
    enabled: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let changed = store.set_index_enabled(index, enabled).await?;
    let state = if enabled { "enabled" } else { "disabled" };
    if changed {
        writeln!(out, "{index} is now {state}")?;
    } else {
        writeln!(out, "{index} was already {state}")?;
    }
    Ok(())
}
