//! Thoth's message vocabulary, pure: the catalogue, envelope, topics, parsing, and
//! building messages to publish ([`build`]). No I/O: Kafka lives in
//! `ingest`, and nothing here knows Kubernetes or the store.
//!
//! [`parse`] turns a record (topic, value) into a [`Message`] (envelope, one
//! [`MessageBody`] variant per live Thoth type, and any extra fields) or a
//! [`ParseError`] with a stable [`ParseError::reason`]. Topics are
//! `<THOTH_DEPLOYMENT_NAME>.<base name>` ([`TopicPrefix`]); the schema version
//! is the body's `version` field, "v1" when absent. Wire models keep fields as
//! sent; their accessors give the validated, normalised values, and `parse`
//! has already checked them, so a parsed message is one the operator may act on.

pub mod build;
pub mod catalogue;
pub mod envelope;
pub mod fields;
pub mod package_messages;
pub mod parse;
pub mod topics;
pub mod trigger_messages;

pub use catalogue::{MessageBody, MessageKind, RetiredKind, Validate};
pub use envelope::{DEFAULT_VERSION, Envelope};
pub use fields::{
    InspectionId, InvalidField, JobId, PackageRelease, Sensitive, SolverName, VersionSelector,
};
pub use package_messages::{
    CveProvided, HashMismatch, MissingPackage, MissingVersion, NameAndVersion, PackageOnIndex,
    PackageReleased, SiUnanalyzedPackage, SolvedPackage, UnresolvedPackage, UnresolvedRequest,
    UnrevsolvedPackage, UpdateProvidesSourceDistro,
};
pub use parse::{DEFAULT_MAX_BODY_BYTES, Message, ParseConfig, ParseError, ParseErrorKind, parse};
pub use topics::{
    DEAD_LETTER_BASE_TOPIC, DEPLOYMENT_NAME_ENV, TopicMatch, TopicPrefix, TopicPrefixError,
};
pub use trigger_messages::{
    AdviseJustification, AdviserTrigger, BuildAnalysisTrigger, EnvironmentType,
    InspectionCompleted, JsonObject, KebechetJustification, KebechetRunUrlMetadata,
    KebechetRunUrlTrigger, KebechetTrigger, PackageExtractTrigger, ProvenanceCheckerTrigger,
    ThothRepoInit,
};

#[cfg(test)]
mod tests;
