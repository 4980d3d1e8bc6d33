//! What the consumer hands records to: admission, or a fake in tests.

use std::future::Future;

/// One Kafka record as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The value as sent; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// The record's timestamp (create or log-append time), milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// What the consumer needs to know of a record's durable fate.
pub trait SinkFate {
    /// `Some(reason)` when the record must go to the dead-letter topic (its ledger row is already
    /// durable); the reason becomes a header.
    fn dead_letter_reason(&self) -> Option<&str>;
    /// A short, bounded name for the metric (`created`, `duplicate`, `dead_lettered`, …).
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
