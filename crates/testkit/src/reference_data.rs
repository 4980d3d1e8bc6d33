//! The team's shared reference data — Argo's published Workflow CRDs, JSON schema
//! and examples — read where it lives (`$THOTH_SHARED_DIR`, else `../shared` beside
//! the workspace), never from a copy in the repository.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A reference file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceDataError {
    #[error("failed to read {path} (set THOTH_SHARED_DIR to the shared reference folder)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse {path} as YAML: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// `$THOTH_SHARED_DIR` when set and not empty, else `../shared` beside the workspace root.
pub fn shared_dir() -> PathBuf {
    match std::env::var("THOTH_SHARED_DIR") {
        Ok(dir) if !dir.trim().is_empty() => PathBuf::from(dir),
        _ => crate::workspace_root().join("../shared"),
    }
}

/// The text of a file under [`shared_dir`].
pub fn read(relative: impl AsRef<Path>) -> Result<String, ReferenceDataError> {
    let path = shared_dir().join(relative);
    std::fs::read_to_string(&path).map_err(|source| ReferenceDataError::Read { path, source })
}

/// Every non-empty YAML document of a file under [`shared_dir`], as JSON. Argo's
/// full CRDs exceed serde-saphyr's default budget (nodes and nesting depth), so
/// it is raised here: this reads trusted reference data, not user input.
pub fn yaml_documents(relative: impl AsRef<Path>) -> Result<Vec<Value>, ReferenceDataError> {
    let path = shared_dir().join(relative.as_ref());
    let text = read(relative)?;
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
