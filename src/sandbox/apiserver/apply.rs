//! Server-side apply: field ownership per manager (`metadata.managedFields`,
//! `fieldsV1`), merging an applied configuration into the live object, and
//! conflicts when another manager owns a field with a different value.
//!
//! STUB: signatures agreed between the API-server engineers; bodies to follow.

use serde_json::Value;

/// A field owned by another manager that the applied configuration would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub manager: String,
    /// Path in the form the API server prints it, e.g. `.spec.solver`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Rendered as the API server does: `Apply failed with N conflict(s): conflict with "m": .spec.x`.
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, render_conflicts(.0))]
    Conflicts(Vec<FieldConflict>),
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

fn render_conflicts(conflicts: &[FieldConflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("conflict with \"{}\": {}", c.manager, c.field))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to apply and on whose behalf.
#[derive(Debug, Clone)]
pub struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub force: bool,
    /// `apiVersion` recorded in the managedFields entry.
    pub api_version: &'a str,
    /// `time` recorded in the managedFields entry (RFC 3339).
    pub now: &'a str,
    /// Set when applying through the `/status` subresource: only `status` is
    /// merged and the entry records `subresource: status`.
    pub subresource: Option<&'a str>,
}

/// Merges `applied` into `live` (or builds a new object when `live` is None) and
/// returns the result with `metadata.managedFields` updated. Fields the manager
/// applied before but omits now are removed when no other manager owns them.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    request: &ApplyRequest<'_>,
) -> Result<Value, ApplyError> {
    let _ = request;
    let mut merged = live.cloned().unwrap_or(Value::Null);
    json_patch::merge(&mut merged, applied);
    Ok(merged)
}

/// Records an ordinary write (create, update, patch) by `manager` in
/// `new.metadata.managedFields` (operation `Update`), taking over the fields it
/// changed relative to `old`, so that a later apply by someone else conflicts.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    subresource: Option<&str>,
) {
    let _ = (old, new, manager, api_version, now, subresource);
}
