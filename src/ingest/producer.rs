//! The outbox publisher: follow-up messages written by admission and the controllers in the same
//! transaction as their cause are claimed here with the store's leases, published with an
//! idempotent producer, and marked published only once Kafka acknowledged them. A message whose
//! publication fails is released with the error and claimed again later; one whose publisher died is
//! claimed again when its lease runs out. So every outbox row reaches Kafka at least once, and
//! replicas never publish the same row at the same time.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::config::KafkaConfig;
use super::metrics::IngestMetrics;
use crate::store::{ClaimedMessage, Store, StoreError};
use crate::telemetry::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("Kafka is not configured (no bootstrap servers)")]
    NotConfigured,
    #[error("failed to create the outbox producer")]
    Client(#[source] KafkaError),
    #[error("failed to claim outbox messages")]
    Claim(#[source] StoreError),
    #[error("failed to mark {count} outbox messages published")]
    MarkPublished {
        count: usize,
        #[source]
        source: StoreError,
    },
}

/// How the publisher claims and waits.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// Most messages claimed (and in flight to Kafka) at once.
    pub batch: u32,
    /// How long a claim is ours; a publisher that dies holds messages this long at most.
    pub lease: Duration,
    /// How long to wait before looking again when the outbox is empty or the store failed.
    pub idle_interval: Duration,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        Self {
            batch: 100,
            lease: Duration::from_secs(60),
            idle_interval: Duration::from_millis(500),
        }
    }
}

/// What one round published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishRound {
    pub claimed: usize,
    pub published: usize,
    pub failed: usize,
}

pub struct OutboxPublisher {
    store: Store,
    producer: FutureProducer,
    settings: PublisherSettings,
    metrics: IngestMetrics,
}

impl std::fmt::Debug for OutboxPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxPublisher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OutboxPublisher {
    pub fn new(
        config: &KafkaConfig,
        store: Store,
        settings: PublisherSettings,
        metrics: IngestMetrics,
    ) -> Result<Self, PublishError> {
        if !config.is_configured() {
            return Err(PublishError::NotConfigured);
        }
        let producer = config
            .producer_config()
            .create()
            .map_err(PublishError::Client)?;
        Ok(Self {
            store,
            producer,
            settings,
            metrics,
        })
    }

    /// Claims one batch, publishes it and waits for every acknowledgement, then marks the
    /// acknowledged ones published and releases the others.
    pub async fn publish_once(&self) -> Result<PublishRound, PublishError> {
        let claimed = self
            .store
            .claim_outbox(self.settings.batch, self.settings.lease)
            .await
            .map_err(PublishError::Claim)?;
        if claimed.is_empty() {
            return Ok(PublishRound::default());
        }
        // Deliveries must be confirmed well within the lease, or another publisher may take over.
        let timeout = Timeout::After(self.settings.lease / 2);
        let payloads: Vec<Result<Vec<u8>, serde_json::Error>> = claimed
            .iter()
            .map(|m| serde_json::to_vec(&m.payload))
            .collect();
        let sends = claimed
            .iter()
            .zip(&payloads)
            .map(|(message, payload)| async move {
                let payload = payload
                    .as_ref()
                    .map_err(|e| format!("cannot serialise the payload: {e}"))?;
                let mut record: FutureRecord<'_, str, [u8]> =
                    FutureRecord::to(&message.topic).payload(payload);
                if let Some(key) = &message.key {
                    record = record.key(key);
                }
                self.producer
                    .send(record, timeout)
                    .await
                    .map(|_| ())
                    .map_err(|(error, _)| error_chain(&error))
            });
        let results = join_all(sends).await;

        let mut published = Vec::new();
        let mut failed: Vec<(&ClaimedMessage, String)> = Vec::new();
        for (message, result) in claimed.iter().zip(results) {
            match result {
                Ok(()) => published.push(message.id),
                Err(error) => failed.push((message, error)),
            }
        }
        let round = PublishRound {
            claimed: claimed.len(),
            published: published.len(),
            failed: failed.len(),
        };
        self.store
            .mark_published(&published)
            .await
            .map_err(|source| PublishError::MarkPublished {
                count: published.len(),
                source,
            })?;
        self.metrics.outbox_published.inc_by(published.len() as u64);
        self.metrics
            .outbox_publish_failures
            .inc_by(failed.len() as u64);
        for (message, error) in failed {
            tracing::warn!(id = message.id, topic = %message.topic, attempts = message.attempts, error = %error, "cannot publish an outbox message; releasing it");
            if let Err(release_error) = self.store.release_outbox(message, &error).await {
                // Its lease runs out on its own; it is claimed again then.
                tracing::warn!(id = message.id, error = %error_chain(&release_error), "cannot release an outbox message");
            }
        }
        Ok(round)
    }

    /// Publishes until `shutdown` completes; waits `idle_interval` when there was nothing to do or
    /// the store failed.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.publish_once().await {
                Ok(round) => round.claimed > 0 && round.failed == 0,
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "outbox publishing failed");
                    false
                }
            };
            if busy {
                // Check for shutdown between full rounds without waiting.
                if futures::poll!(&mut shutdown).is_ready() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.idle_interval) => {}
            }
        }
    }
}
