//! A Kafka cluster in this process: librdkafka's mock cluster, reached over real TCP on 127.0.0.1,
//! so that the operator, rdkafka clients in tests and other processes (`kcat`, the operator binary run
//! as a child) all talk to it through its bootstrap address. It lives as long as the [`KafkaHost`].
//!
//! Set up as `../shared/reference/infra.md` §2a found it needs to be: the consumer group's initial
//! rebalance delay is 0 (the mock's default of 3 s made every first join slow), and every topic of
//! the deployment exists up front with the partition count asked for.

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};

use crate::messages::TopicPrefix;

#[derive(Debug, thiserror::Error)]
pub enum KafkaHostError {
    #[error("failed to start the mock Kafka cluster")]
    Start(#[source] KafkaError),
    #[error("the mock Kafka cluster's client has no cluster attached")]
    NoCluster,
    #[error("failed to create topic {topic}")]
    CreateTopic {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// A running mock Kafka cluster. Dropping it stops the brokers.
pub struct KafkaHost {
    // The client that owns the mock cluster: librdkafka destroys the cluster with it.
    host: BaseProducer,
    bootstrap_servers: String,
    prefix: TopicPrefix,
}

impl std::fmt::Debug for KafkaHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaHost")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl KafkaHost {
    /// Starts `brokers` mock brokers and creates every live topic of `prefix` and its dead-letter
    /// topic with `partitions` partitions each (replication factor 1).
    pub fn start(
        prefix: TopicPrefix,
        brokers: u16,
        partitions: u16,
    ) -> Result<Self, KafkaHostError> {
        let host: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.max(1).to_string())
            // The host client itself never sends; keep its own chatter out of the logs.
            .set("log_level", "3")
            .create()
            .map_err(KafkaHostError::Start)?;
        let bootstrap_servers = host
            .client()
            .mock_cluster()
            .ok_or(KafkaHostError::NoCluster)?
            .bootstrap_servers();
        set_initial_rebalance_delay_to_zero(&host);
        let kafka = Self {
            host,
            bootstrap_servers,
            prefix,
        };
        let mut topics = kafka.prefix.live_topics();
        topics.push(kafka.prefix.dead_letter_topic());
        for topic in topics {
            kafka.create_topic(&topic, partitions)?;
        }
        Ok(kafka)
    }

    /// The `bootstrap.servers` value clients use (`127.0.0.1:PORT,…`).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    pub fn prefix(&self) -> &TopicPrefix {
        &self.prefix
    }

    /// Creates a topic (replication factor 1). Creating an existing topic fails.
    pub fn create_topic(&self, topic: &str, partitions: u16) -> Result<(), KafkaHostError> {
        let mock = self
            .host
            .client()
            .mock_cluster()
            .ok_or(KafkaHostError::NoCluster)?;
        mock.create_topic(topic, i32::from(partitions.max(1)), 1)
            .map_err(|source| KafkaHostError::CreateTopic {
                topic: topic.to_string(),
                source,
            })
    }
}

/// The mock waits 3 s before a group's first rebalance, which made every consumer's first join take
/// that long. rdkafka's `MockCluster` has no setter for it and hides the raw handle, so this calls
/// librdkafka directly.
#[allow(
    unsafe_code,
    reason = "rdkafka's safe MockCluster does not wrap rd_kafka_mock_group_initial_rebalance_delay_ms; \
              the handle comes from a live client we own and the call only sets an integer"
)]
fn set_initial_rebalance_delay_to_zero(host: &BaseProducer) {
    // SAFETY: `native_ptr` is the live rd_kafka_t of `host`, borrowed for this call; the mock cluster
    // handle it yields is owned by that client and outlives the call (the client is borrowed). A null
    // handle (no mock attached) is checked before use.
    unsafe {
        let raw = rdkafka::bindings::rd_kafka_handle_mock_cluster(host.client().native_ptr());
        if !raw.is_null() {
            rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::time::Duration;

    #[test]
    fn topics_of_the_deployment_exist_on_the_bootstrap_address() {
        let prefix = TopicPrefix::new("sandbox").unwrap();
        let kafka = KafkaHost::start(prefix.clone(), 1, 2).unwrap();
        assert!(kafka.bootstrap_servers().starts_with("127.0.0.1:"));
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .create()
            .unwrap();
        let metadata = client
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        let dead_letter = prefix.dead_letter_topic();
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == dead_letter)
            .expect("dead-letter topic exists");
        assert_eq!(topic.partitions().len(), 2);
        let live = metadata
            .topics()
            .iter()
            .filter(|t| t.name().starts_with("sandbox.thoth."))
            .count();
        assert_eq!(live, prefix.live_topics().len() + 1);
        drop(metadata);
    }
}
