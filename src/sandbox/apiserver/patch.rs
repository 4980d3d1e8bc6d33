//! The patch formats of PATCH requests: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch (as far as the built-in kinds served
//! here need it).
//!
//! STUB: signatures agreed between the API-server engineers; bodies to follow.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(String),
    #[error("JSON patch could not be applied: {0}")]
    JsonPatchFailed(String),
    #[error("invalid strategic merge patch: {0}")]
    InvalidStrategic(String),
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902, all-or-nothing: on error `target` is unchanged.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::InvalidJsonPatch(e.to_string()))?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::JsonPatchFailed(e.to_string()))
}

/// Strategic merge patch: merge patch plus `$patch`/`$retainKeys` directives and
/// lists merged by their merge key where the kind defines one.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    merge_patch(target, patch);
    Ok(())
}
