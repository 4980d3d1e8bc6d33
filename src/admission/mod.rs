//! Admission: a batch of Kafka records → durable fates (invariant 1).
//!
//! For each record: parse it ([`crate::messages::parse`]), fetch what the store
//! and the package indexes know ([`Known`]), decide purely ([`decide::decide`]) and
//! apply ([`apply`]): create each resource if absent (409 AlreadyExists counts as
//! found), then write the ledger rows, flags, artifacts and re-arms of the whole
//! batch in one store transaction. Only after [`Admitter::admit`] returns `Ok` is
//! every record's fate durable, so only then may the consumer commit its offset.
//!
//! Admission never touches Kafka: dead letters are returned as
//! [`RecordFate::DeadLetter`] for the consumer to publish.

pub mod apply;
pub mod decide;
mod error;
mod existing;
pub mod expand;
mod known;
pub mod names;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use apply::ResourceRef;
pub use decide::{Decision, Known, Plan, Resource, VersionState, decide};
pub use error::AdmissionError;
pub use existing::ExistingConfig;
pub use expand::{IndexClient, IndexClientConfig, IndexClientError, Listing};

use crate::messages::{ParseConfig, SolverName};
use crate::store::Store;

/// One Kafka record as the consumer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record value; `None` for a tombstone (dead-lettered as `empty_body`).
    pub payload: Option<Vec<u8>>,
    /// The record's Kafka timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// When the record was produced, or `now` when Kafka gave no timestamp.
    pub(crate) fn received_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.timestamp_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or(now)
    }
}

/// What became of one record. [`Admitter::admit`] returns exactly one per input
/// record, in the same order; each is durable when `admit` returns `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFate {
    /// At least one resource was created for this record. `resources` lists those
    /// created now, `existing` those of the record's identities that already existed.
    Created {
        resources: Vec<ResourceRef>,
        existing: Vec<ResourceRef>,
        /// Parts of the record that needed no work, with the reason (a version
        /// already solved, a listed version that is not PEP 440, ...).
        skipped: Vec<String>,
    },
    /// Every resource the record maps to already existed (a redelivery, the same
    /// message sent twice, or an earlier record of the same batch).
    Duplicate {
        resources: Vec<ResourceRef>,
        skipped: Vec<String>,
    },
    /// The record set flags in the store (`is_missing=true`, `provides_source_distro=false`,
    /// `artifact_present=false`), listed here.
    FlagSet { flags: Vec<String> },
    /// No work: the store already knows the answer, or the index is disabled.
    Skipped { reason: String },
    /// A valid message of a type the operator does not act on.
    NotHandled { reason: String },
    /// The record cannot be handled as it is; the consumer publishes it to the
    /// dead-letter topic. `reason` is a stable label (a [`crate::messages::ParseError`]
    /// reason, `unknown_index`, `unknown_solver`, `invalid_resource`, ...).
    DeadLetter {
        reason: &'static str,
        detail: String,
    },
}

impl RecordFate {
    /// A stable label for metrics: `created`, `duplicate`, `flag_set`, `skipped`,
    /// `not_handled`, `dead_letter`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Duplicate { .. } => "duplicate",
            Self::FlagSet { .. } => "flag_set",
            Self::Skipped { .. } => "skipped",
            Self::NotHandled { .. } => "not_handled",
            Self::DeadLetter { .. } => "dead_letter",
        }
    }

    pub fn is_dead_letter(&self) -> bool {
        matches!(self, Self::DeadLetter { .. })
    }
}

/// How admission retries transient failures (API 5xx/429/connection, PostgreSQL
/// 40P01/40001/connection) before returning them to the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// What admission is configured with; a message never chooses any of it (invariant 5).
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Namespace the resources are created in.
    pub namespace: String,
    /// The solvers an UnresolvedPackage, PackageReleased or HashMismatch message
    /// without a solver fans out to (Thoth's `solvers` ConfigMap); a message that
    /// names a solver must name one of these.
    pub solvers: Vec<SolverName>,
    /// Topic prefix and body limit for parsing.
    pub parse: ParseConfig,
    /// Creates in flight at once per batch.
    pub create_concurrency: usize,
    /// Index listings fetched at once per batch.
    pub listing_concurrency: usize,
    pub retry: RetryPolicy,
    /// How many resources admission remembers having seen exist, and for how long, so that
    /// duplicates need no API call (see [`ExistingConfig`] for what a stale entry may cost).
    pub existing: ExistingConfig,
}

/// A configuration admission cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("namespace {0:?} is not a DNS-1123 label")]
    Namespace(String),
}

impl AdmissionConfig {
    /// Checks what the API server would otherwise refuse on every create: the namespace,
    /// by its rule. (The solvers are [`SolverName`]s, which SolverRun's schema pattern, the
    /// same rule, accepts by construction.)
    pub fn check(&self) -> Result<(), ConfigError> {
        if crate::package::Namespace::parse(&self.namespace).is_err() {
            return Err(ConfigError::Namespace(self.namespace.clone()));
        }
        Ok(())
    }

    pub fn new(namespace: impl Into<String>, solvers: Vec<SolverName>) -> Self {
        Self {
            namespace: namespace.into(),
            solvers,
            parse: ParseConfig::default(),
            create_concurrency: 16,
            listing_concurrency: 4,
            retry: RetryPolicy::default(),
            existing: ExistingConfig::default(),
        }
    }
}

/// Decides and applies batches of records. Cheap to clone; clones share one memory of existing
/// resources, so share one per process.
#[derive(Clone)]
pub struct Admitter {
    client: kube::Client,
    store: Store,
    config: AdmissionConfig,
    index: IndexClient,
    existing: Arc<Mutex<existing::ExistingResources>>,
}

impl std::fmt::Debug for Admitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitter")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Admitter {
    /// Call [`AdmissionConfig::check`] on `config` first (at start-up).
    pub fn new(
        client: kube::Client,
        store: Store,
        config: AdmissionConfig,
        index: IndexClient,
    ) -> Self {
        let existing = Arc::new(Mutex::new(existing::ExistingResources::new(
            config.existing,
        )));
        Self {
            client,
            store,
            config,
            index,
            existing,
        }
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Decides and applies one batch. On `Ok`, every record's fate is durable: the
    /// resource exists (created now or found), or the flag is set, or a ledger row
    /// says why it was skipped or dead-lettered. Exactly one [`RecordFate`] per
    /// input record, in the same order.
    ///
    /// Safe to call again with the same records (redelivery) and from several
    /// replicas at once: creates are create-if-absent and store writes are keyed.
    ///
    /// # Errors
    /// [`AdmissionError`] when the API server or PostgreSQL failed after the
    /// configured retries; [`AdmissionError::is_transient`] tells the consumer to
    /// pause and retry the whole batch. Nothing in a record's content causes an error.
    pub async fn admit(&self, records: &[Record]) -> Result<Vec<RecordFate>, AdmissionError> {
        let now = Utc::now();
        let parsed = known::parse_all(records, &self.config.parse);
        let known = known::gather(&self.store, &self.index, &self.config, &parsed.distinct).await?;
        let decisions: Vec<Decision> = parsed
            .distinct
            .iter()
            .map(|message| match message {
                Ok(message) => decide(message, &self.config, &known),
                Err(dead) => dead.clone(),
            })
            .collect();
        apply::apply(self, records, &parsed, &decisions, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solvers_must_follow_the_schema_pattern_and_the_namespace_must_be_a_label() {
        let solver = |s: &str| SolverName::parse(s).unwrap();
        assert_eq!(
            AdmissionConfig::new("thoth", vec![solver("solver-rhel-8.0-py36")]).check(),
            Ok(())
        );
        // A solver name the CRD would refuse cannot even be made: the rule is the parser.
        assert!(SolverName::parse("rhel-8").is_err());
        assert!(SolverName::parse("solver-rhel-py38").is_err());
        assert!(AdmissionConfig::new("Thoth", Vec::new()).check().is_err());
    }

    #[test]
    fn a_record_without_timestamp_was_received_now() {
        let now = Utc::now();
        let mut record = Record {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            payload: None,
            timestamp_ms: None,
        };
        assert_eq!(record.received_at(now), now);
        record.timestamp_ms = Some(0);
        assert_eq!(record.received_at(now).timestamp(), 0);
    }
}
