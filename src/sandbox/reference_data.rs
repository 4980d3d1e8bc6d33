//! The team's shared reference data — Argo's published Workflow CRDs, JSON schema
//! and examples — read where it lives (`../shared` beside the checkout, or
//! `$THOTH_SHARED_DIR`), never from a copy in the repository.

use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceDataError {
    #[error("cannot read {path}: {source} (set THOTH_SHARED_DIR to the shared reference folder)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path} as YAML: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// `$THOTH_SHARED_DIR`, else `../shared` beside the crate, else `/work/shared`
/// (where the team's worktrees keep it).
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("THOTH_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    let beside = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if beside.exists() {
        beside
    } else {
        PathBuf::from("/work/shared")
    }
}

/// Every non-empty YAML document of a file under [`shared_dir`], as JSON. Argo's
/// full CRDs exceed serde-saphyr's default budget (nodes and nesting depth), so
/// it is raised here: this reads trusted reference data, not user input.
pub fn yaml_documents(relative: impl AsRef<Path>) -> Result<Vec<Value>, ReferenceDataError> {
    let path = shared_dir().join(relative);
    let text = std::fs::read_to_string(&path).map_err(|source| ReferenceDataError::Read {
        path: path.clone(),
        source,
    })?;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 1_000;
    budget.max_nodes = 50_000_000;
    budget.max_events = 50_000_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let documents: Vec<Value> = serde_saphyr::from_str_multiple_with_options(&text, options)
        .map_err(|e| ReferenceDataError::Parse {
            path,
            reason: e.to_string(),
        })?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}
