//! The dead-letter topic (`<prefix>.thoth.operator.dead-letter`): records admission could not
//! handle, kept byte for byte (key, value, the producer's headers) with headers saying why and
//! where they came from. Publishing one is awaited before its offset may be stored, so a poison
//! record never stops its partition and is never lost. [`list`] reads the topic back; [`replay`]
//! sends chosen records to their original topic again after a fix.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use crate::messages::TopicPrefix;

/// Why admission refused the record (its ledger row says the same).
pub const REASON_HEADER: &str = "thoth-dead-letter-reason";
/// What exactly was wrong (free text, at most 1 KiB).
pub const DETAIL_HEADER: &str = "thoth-dead-letter-detail";
/// The topic the record was consumed from.
pub const TOPIC_HEADER: &str = "thoth-dead-letter-topic";
/// Its partition there (decimal).
pub const PARTITION_HEADER: &str = "thoth-dead-letter-partition";
/// Its offset there (decimal).
pub const OFFSET_HEADER: &str = "thoth-dead-letter-offset";

const OUR_HEADERS: [&str; 5] = [
    REASON_HEADER,
    DETAIL_HEADER,
    TOPIC_HEADER,
    PARTITION_HEADER,
    OFFSET_HEADER,
];

/// Reasons are free text from admission; a header has no business being large.
const MAX_REASON_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("failed to create the Kafka client for the dead-letter topic")]
    Client(#[source] KafkaError),
    #[error("failed to publish a dead letter for {topic}/{partition}@{offset}")]
    Publish {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: KafkaError,
    },
    #[error("failed to read the dead-letter topic {topic}")]
    Read {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("reading the dead-letter topic {topic} did not reach its end within {seconds} s")]
    ReadTimeout { topic: String, seconds: u64 },
    #[error("failed to replay dead letter {partition}:{offset} to {topic}")]
    Replay {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: KafkaError,
    },
}

/// A consumed record on its way to the dead-letter topic.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    /// The producer's headers, in order.
    pub headers: &'a [(String, Option<Vec<u8>>)],
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The dead letter's headers: the producer's own (minus any of ours, from an earlier round trip),
/// then ours.
pub fn dead_letter_headers(origin: &Origin<'_>, reason: &str, detail: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(origin.headers.len() + OUR_HEADERS.len());
    for (key, value) in origin.headers {
        if OUR_HEADERS.contains(&key.as_str()) {
            continue;
        }
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    let ours = [
        (REASON_HEADER, truncate_utf8(reason, MAX_REASON_BYTES)),
        (DETAIL_HEADER, truncate_utf8(detail, MAX_REASON_BYTES)),
        (TOPIC_HEADER, origin.topic),
        (PARTITION_HEADER, partition.as_str()),
        (OFFSET_HEADER, offset.as_str()),
    ];
    for (key, value) in ours {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}

/// Publishes dead letters with an idempotent producer and waits for each acknowledgement.
pub struct DeadLetterProducer {
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for DeadLetterProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterProducer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl DeadLetterProducer {
    pub fn new(config: &KafkaConfig, prefix: &TopicPrefix) -> Result<Self, DeadLetterError> {
        let producer = config
            .producer_config()
            .create()
            .map_err(DeadLetterError::Client)?;
        Ok(Self {
            producer,
            topic: prefix.dead_letter_topic(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes one dead letter and returns once Kafka acknowledged it.
    pub async fn send(
        &self,
        origin: &Origin<'_>,
        reason: &str,
        detail: &str,
    ) -> Result<(), DeadLetterError> {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(dead_letter_headers(origin, reason, detail));
        if let Some(key) = origin.key {
            record = record.key(key);
        }
        if let Some(payload) = origin.payload {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map(|_| ())
            .map_err(|(source, _)| DeadLetterError::Publish {
                topic: origin.topic.to_string(),
                partition: origin.partition,
                offset: origin.offset,
                source,
            })
    }
}

/// A record read back from the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// Where it sits in the dead-letter topic.
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    pub detail: String,
    /// Where it was consumed from (empty/-1 when the headers are missing: not one of ours).
    pub original_topic: String,
    pub original_partition: i32,
    pub original_offset: i64,
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    /// The original value as text (lossy for non-UTF-8 bytes); `payload` has the bytes.
    pub payload_text: String,
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
    /// The producer's own headers.
    #[serde(skip)]
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl DeadLetter {
    fn from_message<M: Message>(message: &M) -> Self {
        let mut letter = DeadLetter {
            partition: message.partition(),
            offset: message.offset(),
            reason: String::new(),
            detail: String::new(),
            original_topic: String::new(),
            original_partition: -1,
            original_offset: -1,
            key: message.key().map(<[u8]>::to_vec),
            payload_text: message
                .payload()
                .map(|p| redact_url_credentials(&String::from_utf8_lossy(p)).into_owned())
                .unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: Vec::new(),
        };
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                let text =
                    || String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned();
                match header.key {
                    REASON_HEADER => letter.reason = text(),
                    DETAIL_HEADER => letter.detail = redact_url_credentials(&text()).into_owned(),
                    TOPIC_HEADER => letter.original_topic = text(),
                    PARTITION_HEADER => letter.original_partition = text().parse().unwrap_or(-1),
                    OFFSET_HEADER => letter.original_offset = text().parse().unwrap_or(-1),
                    key => letter
                        .headers
                        .push((key.to_string(), header.value.map(<[u8]>::to_vec))),
                }
            }
        }
        letter
    }
}

/// A URL's scheme and its user and password (`https://user:token@`, also JSON's escaped
/// `https:\/\/`): everything up to the last `@` before the host ends.
static URL_CREDENTIALS: LazyLock<regex::Regex> = LazyLock::new(|| {
    // A constant pattern, checked by the tests.
    #[allow(clippy::expect_used)]
    regex::Regex::new(r#"(?i)\b([a-z][a-z0-9+.-]*:(?://|\\/\\/))[^/?#\s"'<>\\]*@"#)
        .expect("the pattern compiles")
});

/// `text` with the user and password of every URL in it replaced by `***`: a dead letter's
/// payload may be a message refused for an index URL with credentials (issue 8), and what
/// `dead-letters list` prints must not show them. The stored bytes stay as they were (a
/// replay sends them back unchanged).
pub fn redact_url_credentials(text: &str) -> Cow<'_, str> {
    URL_CREDENTIALS.replace_all(text, "${1}***@")
}

/// Reads the whole dead-letter topic as it stands now (up to each partition's end when the read
/// starts), oldest first per partition. Blocking: call it off the async runtime.
pub fn list(
    config: &KafkaConfig,
    prefix: &TopicPrefix,
    timeout: Duration,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let topic = prefix.dead_letter_topic();
    let read_error = |source| DeadLetterError::Read {
        topic: topic.clone(),
        source,
    };
    // Reading by assignment: no group is joined and nothing is committed, but librdkafka still
    // wants a group id before it hands out records.
    let consumer: BaseConsumer = config
        .client_config()
        .set(
            "group.id",
            format!("{}.dead-letter-reader", config.group_id),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(DeadLetterError::Client)?;
    let deadline = Instant::now() + timeout;
    let partitions: Vec<i32> = {
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(read_error)?;
        metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect()
    };
    let mut ends = std::collections::HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, timeout)
            .map_err(read_error)?;
        if high > low {
            ends.insert(partition, high);
            assignment
                .add_partition_offset(&topic, partition, Offset::Offset(low))
                .map_err(read_error)?;
        }
    }
    consumer.assign(&assignment).map_err(read_error)?;
    drop(assignment);
    let mut letters = Vec::new();
    while !ends.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DeadLetterError::ReadTimeout {
                topic,
                seconds: timeout.as_secs(),
            });
        }
        let Some(result) = consumer.poll(left.min(Duration::from_millis(200))) else {
            continue;
        };
        let message = result.map_err(read_error)?;
        let partition = message.partition();
        if let Some(&end) = ends.get(&partition) {
            if message.offset() < end {
                letters.push(DeadLetter::from_message(&message));
            }
            if message.offset() + 1 >= end {
                ends.remove(&partition);
            }
        }
    }
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}

/// Sends each dead letter back to its original topic with its original key, value and headers,
/// waiting for every acknowledgement. Returns how many were sent.
pub async fn replay(
    config: &KafkaConfig,
    letters: &[DeadLetter],
) -> Result<usize, DeadLetterError> {
    let producer: FutureProducer = config
        .producer_config()
        .create()
        .map_err(DeadLetterError::Client)?;
    for letter in letters {
        let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len());
        for (key, value) in &letter.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&letter.original_topic).headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key);
        }
        if let Some(payload) = &letter.payload {
            record = record.payload(payload);
        }
        producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(source, _)| DeadLetterError::Replay {
                topic: letter.original_topic.clone(),
                partition: letter.partition,
                offset: letter.offset,
                source,
            })?;
    }
    Ok(letters.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused index URL's credentials never reach the screen (issue 8 audit): what
    /// `dead-letters list` prints (payload text, detail, the JSON output) has each URL's user
    /// and password replaced, while the bytes a replay sends back are the original ones.
    #[test]
    fn listed_dead_letters_hide_url_credentials_and_keep_the_bytes() {
        let payload = br#"{"index_url": "https://user:s3cret@pypi.example.com/simple", "b": "http://tok3n@10.0.0.1:8080/x", "c": "https:\/\/al1ce:pw@c.example", "d": "HTTPS://u:p@ss@host.example/y?z", "ok": "https://pypi.org/simple/@x"}"#;
        let message = rdkafka::message::OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            "thoth.solver.solved-package".into(),
            rdkafka::Timestamp::NotAvailable,
            0,
            7,
            Some(OwnedHeaders::new().insert(Header {
                key: DETAIL_HEADER,
                value: Some("see https://user:s3cret@pypi.example.com/simple"),
            })),
        );
        let letter = DeadLetter::from_message(&message);
        let json = serde_json::to_string(&letter).unwrap();
        for shown in [&letter.payload_text, &letter.detail, &json] {
            for secret in ["s3cret", "user", "tok3n", "al1ce", "p@ss"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
        for kept in [
            "https://***@pypi.example.com/simple",
            "http://***@10.0.0.1:8080/x",
            "HTTPS://***@host.example/y?z",
            "https://pypi.org/simple/@x",
        ] {
            assert!(
                letter.payload_text.contains(kept),
                "{kept} not in {}",
                letter.payload_text
            );
        }
        assert_eq!(letter.payload.as_deref(), Some(&payload[..]));
    }

    #[test]
    fn dead_letter_headers_keep_the_producers_and_replace_ours() {
        let producer_headers = vec![
            ("traceparent".to_string(), Some(b"00-abc".to_vec())),
            (REASON_HEADER.to_string(), Some(b"old reason".to_vec())),
            ("empty".to_string(), None),
        ];
        let origin = Origin {
            topic: "p.thoth.solver.solved-package",
            partition: 2,
            offset: 41,
            key: None,
            payload: Some(b"{"),
            headers: &producer_headers,
        };
        let headers = dead_letter_headers(&origin, "malformed_json", &"é".repeat(2000));
        let pairs: Vec<(String, Option<Vec<u8>>)> = headers
            .iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "traceparent",
                "empty",
                REASON_HEADER,
                DETAIL_HEADER,
                TOPIC_HEADER,
                PARTITION_HEADER,
                OFFSET_HEADER
            ]
        );
        assert_eq!(pairs[2].1.as_deref(), Some(&b"malformed_json"[..]));
        let detail = pairs[3].1.as_ref().unwrap();
        assert!(detail.len() <= MAX_REASON_BYTES && std::str::from_utf8(detail).is_ok());
        assert_eq!(pairs[5].1.as_deref(), Some(&b"2"[..]));
        assert_eq!(pairs[6].1.as_deref(), Some(&b"41"[..]));
    }
}
