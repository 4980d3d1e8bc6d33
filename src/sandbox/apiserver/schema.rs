//! Structural-schema handling for custom resources: defaulting, pruning and
//! validation against a CRD version's `openAPIV3Schema`, with field paths in
//! the form the real API server reports them.
//!
//! STUB: signatures agreed between the API-server engineers; bodies to follow.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("openAPIV3Schema at {path} is not usable: {reason}")]
    Unusable { path: String, reason: String },
}

/// Why a field was refused; maps to the `reason` of a `StatusCause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorReason {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Duplicate,
    Forbidden,
}

impl FieldErrorReason {
    /// The `StatusCause.reason` string Kubernetes uses for this kind of error.
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One refused field. `field` is a dotted path such as `spec.packageName` or
/// `spec.arguments.parameters[0].name`; `message` is the text after the path in
/// the API server's message, e.g. `Required value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: FieldErrorReason,
    pub message: String,
}

/// A compiled `openAPIV3Schema` of one CRD version.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    #[allow(dead_code)]
    root: Value,
}

impl CompiledSchema {
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, SchemaError> {
        Ok(Self {
            root: open_api_v3_schema.clone(),
        })
    }

    /// Fills in `default`s, as the API server does on create, update and read.
    pub fn apply_defaults(&self, _object: &mut Value) {}

    /// Drops fields the schema does not know, except under
    /// `x-kubernetes-preserve-unknown-fields`; never touches `apiVersion`,
    /// `kind` or `metadata` at the root.
    pub fn prune(&self, _object: &mut Value) {}

    /// Every violation of the schema, in document order.
    pub fn validate(&self, _object: &Value) -> Vec<FieldError> {
        Vec::new()
    }
}
