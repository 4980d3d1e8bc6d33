//! Dev-only test support for the workspace: throwaway PostgreSQL databases
//! ([`TestDatabase`]), the kubectl and helm binaries ([`tools`]) with a runner that
//! keeps them away from `~` ([`Kubectl`]), and the team's shared reference data
//! ([`reference_data`]). Only ever a dev-dependency: nothing here reaches a
//! release binary.

mod database;
pub mod reference_data;
pub mod tools;

use std::path::PathBuf;

pub use database::{DEFAULT_TEST_DATABASE_URL, TestDatabase};
pub use tools::{Kubectl, KubectlOutput};

/// The workspace's root directory (where `Cargo.toml`, `crds/` and `scripts/` live),
/// found from this crate's own place in it at build time.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.clone(), PathBuf::from)
}
