//! The three fields every Thoth message carries besides its own.

use serde::{Deserialize, Serialize};

/// The schema version Thoth assumes when a message has no `version` field.
pub const DEFAULT_VERSION: &str = "v1";

/// Who produced a message and in which schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The producing component (`graph-refresh-job`, `solver`, `user-api`, ...).
    pub component_name: String,
    /// The producing component's own version.
    pub service_version: String,
    /// The message schema version (`v1` ... `v5`), as received: re-serialising
    /// writes it back unchanged.
    pub version: String,
}

impl Envelope {
    pub fn new(
        component_name: impl Into<String>,
        service_version: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            component_name: component_name.into(),
            service_version: service_version.into(),
            version: version.into(),
        }
    }
}

/// The envelope fields read from the wire; `version` is read separately
/// because its absence means "v1" while a `null` is a wrong type.
#[derive(Deserialize)]
pub(crate) struct WireEnvelope {
    pub component_name: String,
    pub service_version: String,
}
