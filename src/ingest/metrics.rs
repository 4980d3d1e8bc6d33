//! Ingestion metrics (prometheus-client). Label values are bounded: message types come from the
//! catalogue, fates from [`super::SinkFate::label`], partitions from the assignment.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::messages::{TopicMatch, TopicPrefix};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MessageLabels {
    pub message_type: String,
    pub fate: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TypeLabels {
    pub message_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `transient` or `permanent`.
    pub class: String,
}

/// Counters and gauges of the consumer and the outbox publisher; cheap to clone (shared cells).
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    pub messages: Family<MessageLabels, Counter>,
    pub dead_letters: Family<TypeLabels, Counter>,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub paused_partitions: Gauge,
    pub batch_size: Histogram,
    pub durable_latency_seconds: Histogram,
    pub admit_errors: Family<ErrorLabels, Counter>,
    pub outbox_published: Counter,
    pub outbox_publish_failures: Counter,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self {
            messages: Family::default(),
            dead_letters: Family::default(),
            consumer_lag: Family::default(),
            paused_partitions: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            durable_latency_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            admit_errors: Family::default(),
            outbox_published: Counter::default(),
            outbox_publish_failures: Counter::default(),
        }
    }
}

impl IngestMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates one zero-valued series in each labelled family (prometheus-client leaves a family
    /// without series out of `/metrics`), so that an encoding names every family ingestion exports:
    /// what the chart's dashboard is checked against. The series are examples, not for a running
    /// operator's metrics.
    pub fn add_example_series(&self) {
        let _ = self.messages.get_or_create(&MessageLabels {
            message_type: "solver_run".to_string(),
            fate: "admitted".to_string(),
        });
        let _ = self.dead_letters.get_or_create(&TypeLabels {
            message_type: "solver_run".to_string(),
        });
        let _ = self.consumer_lag.get_or_create(&PartitionLabels {
            topic: "thoth.investigator.solver".to_string(),
            partition: "0".to_string(),
        });
        let _ = self.admit_errors.get_or_create(&ErrorLabels {
            class: "transient".to_string(),
        });
    }

    /// Adds every metric under `<registry prefix>_ingest_…` (`thoth_operator_ingest_…` in the
    /// telemetry registry; counters get `_total`).
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("ingest");
        registry.register(
            "messages",
            "Kafka records whose fate became durable, by message type and fate",
            self.messages.clone(),
        );
        registry.register(
            "dead_letters",
            "Records published to the dead-letter topic, by message type",
            self.dead_letters.clone(),
        );
        registry.register(
            "consumer_lag",
            "Records between the committed offset and the end of each assigned partition",
            self.consumer_lag.clone(),
        );
        registry.register(
            "paused_partitions",
            "Assigned partitions paused for back-pressure or while admission is failing",
            self.paused_partitions.clone(),
        );
        registry.register(
            "batch_size",
            "Records per batch handed to admission",
            self.batch_size.clone(),
        );
        registry.register(
            "durable_latency_seconds",
            "Time from a record's receipt to its durable fate (dead letter delivered included)",
            self.durable_latency_seconds.clone(),
        );
        registry.register(
            "admit_errors",
            "Batches admission failed, by class (transient ones are retried after a pause)",
            self.admit_errors.clone(),
        );
        registry.register(
            "outbox_published",
            "Outbox messages whose delivery Kafka acknowledged",
            self.outbox_published.clone(),
        );
        registry.register(
            "outbox_publish_failures",
            "Outbox messages whose publication failed and were released for another attempt",
            self.outbox_publish_failures.clone(),
        );
    }
}

/// The metric label for a topic: the message type's snake-case name, `retired` or `unknown`.
pub fn message_type_label(prefix: &TopicPrefix, topic: &str) -> &'static str {
    match prefix.resolve(topic) {
        TopicMatch::Live(kind) => kind.snake_name(),
        TopicMatch::Retired(_) => "retired",
        TopicMatch::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn registered_metrics_appear_in_the_exposition() {
        let metrics = IngestMetrics::new();
        metrics
            .messages
            .get_or_create(&MessageLabels {
                message_type: "solved_package".into(),
                fate: "created".into(),
            })
            .inc();
        let mut registry = Registry::with_prefix("thoth_operator");
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "thoth_operator_ingest_messages_total{message_type=\"solved_package\",fate=\"created\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("thoth_operator_ingest_paused_partitions"));
    }
}
