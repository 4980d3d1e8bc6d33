//! Kafka connection settings under Thoth's own variable names (thoth-messaging maps the same
//! `KAFKA_*` variables onto librdkafka keys; `../shared/reference/thoth.md` §3.3), as command-line
//! flags that fall back to those variables. Passwords are [`Sensitive`]: `Debug` never shows them and
//! `--help` never prints their values.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::messages::Sensitive;

fn sensitive(raw: &str) -> Result<Sensitive, std::convert::Infallible> {
    Ok(Sensitive::new(raw))
}

/// How to reach Kafka and which consumer group to join.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaConfig {
    /// Kafka brokers, `host:port[,host:port…]`. Unset: the operator does not consume or publish.
    #[arg(
        long = "kafka-bootstrap-servers",
        env = "KAFKA_BOOTSTRAP_SERVERS",
        value_name = "HOST:PORT,…"
    )]
    pub bootstrap_servers: Option<String>,
    /// The client id brokers see in their logs and quotas.
    #[arg(
        long = "kafka-client-id",
        env = "KAFKA_CLIENT_ID",
        default_value = "thoth-operator"
    )]
    pub client_id: String,
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (librdkafka's `security.protocol`).
    #[arg(long = "kafka-security-protocol", env = "KAFKA_SECURITY_PROTOCOL")]
    pub security_protocol: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates.
    #[arg(
        long = "kafka-ssl-ca-location",
        env = "KAFKA_SSL_CA_LOCATION",
        value_name = "FILE"
    )]
    pub ssl_ca_location: Option<String>,
    /// PEM file of this client's certificate (mutual TLS).
    #[arg(
        long = "kafka-ssl-certificate-location",
        env = "KAFKA_SSL_CERTIFICATE_LOCATION",
        value_name = "FILE"
    )]
    pub ssl_certificate_location: Option<String>,
    /// PEM file of this client's private key.
    #[arg(
        long = "kafka-ssl-key-location",
        env = "KAFKA_SSL_KEY_LOCATION",
        value_name = "FILE"
    )]
    pub ssl_key_location: Option<String>,
    /// Password of the private key.
    #[arg(long = "kafka-ssl-key-password", env = "KAFKA_SSL_KEY_PASSWORD", hide_env_values = true, value_parser = sensitive)]
    pub ssl_key_password: Option<Sensitive>,
    /// `https` checks the broker's host name against its certificate; `none` does not (Thoth's
    /// production setting).
    #[arg(
        long = "kafka-ssl-endpoint-identification-algorithm",
        env = "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"
    )]
    pub ssl_endpoint_identification_algorithm: Option<String>,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, …
    #[arg(long = "kafka-sasl-mechanism", env = "KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// User name for SASL authentication.
    #[arg(long = "kafka-sasl-username", env = "KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// Password for SASL authentication.
    #[arg(long = "kafka-sasl-password", env = "KAFKA_SASL_PASSWORD", hide_env_values = true, value_parser = sensitive)]
    pub sasl_password: Option<Sensitive>,
    /// Largest request this client sends, in bytes (librdkafka `message.max.bytes`, 1000 to
    /// 1,000,000,000).
    #[arg(long = "kafka-message-max-bytes", env = "KAFKA_MESSAGE_MAX_BYTES", value_parser = clap::value_parser!(u32).range(1_000..=1_000_000_000))]
    pub message_max_bytes: Option<u32>,
    /// Largest response this client accepts, in bytes (librdkafka `receive.message.max.bytes`, 1000
    /// to 2,147,483,647). librdkafka refuses a consumer whose value is below its fetch size + 512:
    /// the larger of 52,428,800 and `--kafka-message-max-bytes`, plus 512.
    #[arg(
        long = "kafka-receive-message-max-bytes",
        env = "KAFKA_RECEIVE_MESSAGE_MAX_BYTES",
        value_parser = clap::value_parser!(u32).range(1_000..=2_147_483_647)
    )]
    pub receive_message_max_bytes: Option<u32>,
    /// The consumer group every replica joins; partitions are shared out among its members.
    #[arg(
        long = "kafka-consumer-group-id",
        env = "KAFKA_CONSUMER_GROUP_ID",
        default_value = "thoth-operator"
    )]
    pub group_id: String,
    /// A stable member id per replica (static membership): a restart within the session timeout
    /// keeps its partitions without a rebalance.
    #[arg(
        long = "kafka-consumer-group-instance-id",
        env = "KAFKA_CONSUMER_GROUP_INSTANCE_ID"
    )]
    pub group_instance_id: Option<String>,
    /// Longest time between two polls before the group evicts this member, in milliseconds. The
    /// operator polls even while partitions are paused, so the default is enough. 1 to 86,400,000
    /// (librdkafka's range), and at least the session timeout (librdkafka refuses less).
    #[arg(
        long = "kafka-consumer-max-poll-interval-ms",
        env = "KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS",
        default_value_t = 300_000,
        value_parser = clap::value_parser!(u32).range(1..=86_400_000)
    )]
    pub max_poll_interval_ms: u32,
    /// How long the group waits for a silent member before rebalancing its partitions, in ms (1 to
    /// 3,600,000, librdkafka's range; brokers allow 6,000 to 1,800,000 by default).
    #[arg(
        long = "kafka-consumer-session-timeout-ms",
        env = "KAFKA_CONSUMER_SESSION_TIMEOUT_MS",
        default_value_t = 45_000,
        value_parser = clap::value_parser!(u32).range(1..=3_600_000)
    )]
    pub session_timeout_ms: u32,
    /// Where a group with no committed offset starts: `earliest` or `latest`. Thoth used `latest`
    /// and so skipped any backlog a new group found; the ledger makes re-reading harmless, so the
    /// default is `earliest`.
    #[arg(
        long = "kafka-consumer-auto-offset-reset",
        env = "KAFKA_CONSUMER_AUTO_OFFSET_RESET",
        default_value = "earliest"
    )]
    pub auto_offset_reset: String,
    /// How often stored offsets (those whose fate is durable) are committed, in milliseconds (1 to
    /// 86,400,000: librdkafka's range less its 0, which would turn periodic commits off).
    #[arg(
        long = "kafka-consumer-commit-interval-ms",
        env = "KAFKA_CONSUMER_COMMIT_INTERVAL_MS",
        default_value_t = 1_000,
        value_parser = clap::value_parser!(u32).range(1..=86_400_000)
    )]
    pub commit_interval_ms: u32,
    /// Compression of what the operator publishes: `none`, `gzip`, `snappy` or `lz4` (librdkafka is
    /// built without zstd, so it refuses `zstd`).
    #[arg(
        long = "kafka-producer-compression-type",
        env = "KAFKA_TOPIC_PRODUCER_COMPRESSION_TYPE"
    )]
    pub compression_type: Option<String>,
}

impl KafkaConfig {
    /// Settings for a local broker without security (tests, the sandbox).
    pub fn plaintext(bootstrap_servers: impl Into<String>, group_id: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: Some(bootstrap_servers.into()),
            client_id: "thoth-operator".to_string(),
            security_protocol: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_key_password: None,
            ssl_endpoint_identification_algorithm: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            message_max_bytes: None,
            receive_message_max_bytes: None,
            group_id: group_id.into(),
            group_instance_id: None,
            max_poll_interval_ms: 300_000,
            session_timeout_ms: 45_000,
            auto_offset_reset: "earliest".to_string(),
            commit_interval_ms: 1_000,
            compression_type: None,
        }
    }

    pub fn is_configured(&self) -> bool {
        self.bootstrap_servers
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
    }

    /// Connection and security settings shared by every client.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("client.id", &self.client_id);
        if let Some(servers) = &self.bootstrap_servers {
            config.set("bootstrap.servers", servers.trim());
        }
        let optional = [
            ("security.protocol", self.security_protocol.as_deref()),
            ("ssl.ca.location", self.ssl_ca_location.as_deref()),
            (
                "ssl.certificate.location",
                self.ssl_certificate_location.as_deref(),
            ),
            ("ssl.key.location", self.ssl_key_location.as_deref()),
            (
                "ssl.key.password",
                self.ssl_key_password.as_ref().map(Sensitive::expose),
            ),
            (
                "ssl.endpoint.identification.algorithm",
                self.ssl_endpoint_identification_algorithm.as_deref(),
            ),
            ("sasl.mechanism", self.sasl_mechanism.as_deref()),
            ("sasl.username", self.sasl_username.as_deref()),
            (
                "sasl.password",
                self.sasl_password.as_ref().map(Sensitive::expose),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
                config.set(key, value.trim());
            }
        }
        if let Some(bytes) = self.message_max_bytes {
            config.set("message.max.bytes", bytes.to_string());
        }
        if let Some(bytes) = self.receive_message_max_bytes {
            config.set("receive.message.max.bytes", bytes.to_string());
        }
        config
    }

    /// The group consumer: offsets are stored by the operator only once a record's fate is durable
    /// (`enable.auto.offset.store=false`) and librdkafka commits what was stored every
    /// `commit_interval_ms`, on rebalance and on close. `statistics.interval.ms` feeds the lag metric.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.commit.interval.ms",
                self.commit_interval_ms.to_string(),
            )
            .set("auto.offset.reset", &self.auto_offset_reset)
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval_ms.to_string(),
            )
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            // A member hears of a rebalance at its next heartbeat; a third of the session timeout
            // (Kafka's own ratio), at most librdkafka's default of 3 s.
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 3).clamp(100, 3_000).to_string(),
            )
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", "5000");
        if let Some(instance) = self.group_instance_id.as_deref().filter(|s| !s.is_empty()) {
            config.set("group.instance.id", instance);
        }
        config
    }

    /// The producer for follow-up messages and dead letters: idempotent (no duplicates or
    /// reordering from its own retries), every send acknowledged by all in-sync replicas.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000");
        if let Some(compression) = self.compression_type.as_deref().filter(|s| !s.is_empty()) {
            config.set("compression.type", compression);
        }
        config
    }

    /// How long a graceful shutdown waits for batches already handed to admission.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaConfig,
    }

    #[test]
    fn passwords_reach_librdkafka_but_never_debug_output() {
        let cli = Cli::try_parse_from([
            "x",
            "--kafka-bootstrap-servers",
            "broker:9093",
            "--kafka-security-protocol",
            "SASL_SSL",
            "--kafka-sasl-username",
            "thoth",
            "--kafka-sasl-password",
            "hunter2",
            "--kafka-ssl-key-password",
            "swordfish",
        ])
        .unwrap();
        let debug = format!("{:?}", cli.kafka);
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
        let config = cli.kafka.consumer_config();
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
        assert_eq!(config.get("ssl.key.password"), Some("swordfish"));
        assert_eq!(config.get("bootstrap.servers"), Some("broker:9093"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("group.id"), Some("thoth-operator"));
        assert!(cli.kafka.is_configured());
    }

    #[test]
    fn without_bootstrap_servers_kafka_is_not_configured() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        if std::env::var_os("KAFKA_BOOTSTRAP_SERVERS").is_none() {
            assert!(!cli.kafka.is_configured());
        }
        assert_eq!(
            cli.kafka.producer_config().get("enable.idempotence"),
            Some("true")
        );
    }
}
