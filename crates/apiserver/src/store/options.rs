//! What a write or delete request asks for: field manager, dry run, field
//! validation, patch type, propagation policy and preconditions.

use std::sync::{Arc, Mutex};

/// `fieldValidation`: what happens to fields the schema does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Dropped silently.
    #[default]
    Ignore,
    /// Dropped, with one warning each (the server's default for API requests).
    Warn,
    /// The request is refused, naming them.
    Strict,
}

/// Warnings a write collects for the client (`Warning` response headers).
/// Clones share the list, so nested writes (apply creating) report into it too.
#[derive(Debug, Clone, Default)]
pub(crate) struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    pub(crate) fn push(&self, warning: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(warning);
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Who writes and how.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOptions {
    pub(crate) field_manager: String,
    pub(crate) dry_run: bool,
    pub(crate) force: bool,
    pub(crate) field_validation: FieldValidation,
    pub(crate) warnings: Warnings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) propagation: Propagation,
    /// Whether the request named a policy (propagationPolicy or orphanDependents) rather
    /// than leaving it to the default.
    pub(crate) propagation_given: bool,
    pub(crate) precondition_uid: Option<String>,
    pub(crate) precondition_rv: Option<String>,
    pub(crate) dry_run: bool,
}
