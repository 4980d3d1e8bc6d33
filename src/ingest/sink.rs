//! What the consumer hands records to: [`Admitter`] in the operator, a fake in tests.

use std::future::Future;

use crate::admission::{AdmissionError, Admitter, RecordFate};

/// One Kafka record as admission sees it (admission's own type).
pub use crate::admission::Record;

/// What the consumer needs to know of a record's durable fate.
pub trait SinkFate {
    /// `Some((reason, detail))` when the record must go to the dead-letter topic (its ledger row
    /// is already durable): a stable reason label and free-text detail, both become headers.
    fn dead_letter(&self) -> Option<(&str, &str)>;
    /// A short, bounded name for the metric (`created`, `duplicate`, `dead_letter`, …).
    fn label(&self) -> &'static str;
}

/// An error from [`Sink::admit`]: nothing of the batch may be taken as durable.
pub trait SinkError: std::error::Error + Send + Sync + 'static {
    /// The API server or PostgreSQL is unavailable, or the transaction lost a race (deadlock,
    /// serialization failure): the same batch is worth retrying later as it is.
    fn is_transient(&self) -> bool;
}

/// Takes a batch of records to their durable fates.
pub trait Sink: Send + Sync + 'static {
    type Fate: SinkFate + Send + Sync + 'static;
    type Error: SinkError;

    /// One fate per record, in the same order. On `Ok` every fate is durable; on `Err`, none may be
    /// relied on (some may be durable: admitting the same records again must give the same fates).
    fn admit(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<Vec<Self::Fate>, Self::Error>> + Send;
}

impl SinkFate for RecordFate {
    fn dead_letter(&self) -> Option<(&str, &str)> {
        match self {
            RecordFate::DeadLetter { reason, detail } => Some((reason, detail)),
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        RecordFate::label(self)
    }
}

impl SinkError for AdmissionError {
    fn is_transient(&self) -> bool {
        AdmissionError::is_transient(self)
    }
}

impl Sink for Admitter {
    type Fate = RecordFate;
    type Error = AdmissionError;

    fn admit(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<Vec<RecordFate>, AdmissionError>> + Send {
        Admitter::admit(self, records)
    }
}
