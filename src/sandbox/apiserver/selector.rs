//! Label selectors (equality- and set-based) and the field selectors the API
//! server supports for every resource (`metadata.name`, `metadata.namespace`).
//!
//! STUB: signatures agreed between the API-server engineers; bodies to follow.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Syntax(String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    raw: String,
}

impl LabelSelector {
    pub fn parse(raw: &str) -> Result<Self, SelectorError> {
        Ok(Self {
            raw: raw.to_string(),
        })
    }

    pub fn matches(&self, _labels: &BTreeMap<String, String>) -> bool {
        self.raw.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    raw: String,
}

impl FieldSelector {
    pub fn parse(raw: &str) -> Result<Self, SelectorError> {
        Ok(Self {
            raw: raw.to_string(),
        })
    }

    /// Matches against the whole object (only metadata fields are consulted).
    pub fn matches(&self, _object: &Value) -> bool {
        self.raw.is_empty()
    }
}
