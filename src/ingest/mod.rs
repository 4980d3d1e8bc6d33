//! Kafka I/O, nothing else: the group consumer that hands records to admission in batches and
//! stores each partition's offset only once the fates before it are durable, the dead-letter topic,
//! and the outbox publisher. It knows Thoth's topics (`messages`) and the store's outbox, nothing of
//! Kubernetes.
//!
//! - [`consumer`]: poll → batch → [`Sink::admit`] (concurrently) → dead letters → [`offsets`] →
//!   `store_offsets`; transient sink errors pause the batch's partitions and retry with backoff.
//! - [`offsets`]: the pure per-partition in-order tracker.
//! - [`dead_letter`]: the dead-letter record format, and listing and replaying the topic.
//! - [`producer`]: the outbox publisher (idempotent producer, delivery awaited, store leases).
//! - [`metrics`]: what the above count, for the telemetry registry.

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod metrics;
pub mod offsets;
pub mod producer;
mod sink;

pub use config::KafkaConfig;
pub use consumer::{ConsumerSettings, IngestError, run_consumer};
pub use metrics::IngestMetrics;
pub use sink::{Record, Sink, SinkError, SinkFate};
