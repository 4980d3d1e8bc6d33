//! The consumer against rdkafka's mock cluster over TCP, first with a fake sink that behaves like
//! admission's ledger (one fate per topic/partition/offset, first write wins; one unit of work per
//! identity), so that what is tested is the consumer: what it hands over, what it commits, what it
//! dead-letters, how it pauses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use thoth_operator::ingest::dead_letter;
use thoth_operator::ingest::{
    ConsumerSettings, IngestMetrics, KafkaConfig, Record, Sink, SinkError, SinkFate, run_consumer,
};
use thoth_operator::messages::{MessageKind, TopicPrefix};
use thoth_operator::sandbox::kafka::KafkaHost;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const PARTITIONS: u16 = 3;
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
enum FakeFate {
    Created,
    Duplicate,
    DeadLetter(String),
}

impl SinkFate for FakeFate {
    fn dead_letter(&self) -> Option<(&str, &str)> {
        match self {
            FakeFate::DeadLetter(detail) => Some(("malformed_json", detail)),
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            FakeFate::Created => "created",
            FakeFate::Duplicate => "duplicate",
            FakeFate::DeadLetter(_) => "dead_letter",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the fake store is down")]
struct Down;

impl SinkError for Down {
    fn is_transient(&self) -> bool {
        true
    }
}

type OffsetKey = (String, i32, i64);

#[derive(Default)]
struct FakeState {
    /// The durable fate of each record, first write wins (as admission's ledger).
    ledger: BTreeMap<OffsetKey, FakeFate>,
    /// Identities that got their unit of work.
    work: HashSet<Vec<u8>>,
    /// Every hand-over of a record, redeliveries included.
    admitted: HashMap<OffsetKey, usize>,
    /// Which consumer (by tag) admitted each batch.
    by_consumer: HashMap<&'static str, usize>,
}

struct FakeSink {
    state: Mutex<FakeState>,
    down: AtomicBool,
    refusals: AtomicUsize,
    /// The ledger's size, for tests to await.
    durable: watch::Sender<usize>,
}

impl FakeSink {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(FakeState::default()),
            down: AtomicBool::new(false),
            refusals: AtomicUsize::new(0),
            durable: watch::channel(0).0,
        })
    }

    async fn wait_for_durable(&self, count: usize) {
        let mut rx = self.durable.subscribe();
        tokio::time::timeout(WAIT, rx.wait_for(|n| *n >= count))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{count} durable fates within {WAIT:?}; have {}",
                    *self.durable.borrow()
                )
            })
            .unwrap();
    }

    fn ledger(&self) -> BTreeMap<OffsetKey, FakeFate> {
        self.state.lock().unwrap().ledger.clone()
    }
}

/// A sink handle tagged with the consumer it serves, sharing one ledger.
struct Tagged(Arc<FakeSink>, &'static str);

/// Like [`Tagged`], but each batch takes a while, as real admission does: batches are still in
/// flight when something happens.
struct Slow(Arc<FakeSink>, &'static str);

impl Sink for Slow {
    type Fate = FakeFate;
    type Error = Down;

    async fn admit(&self, records: &[Record]) -> Result<Vec<FakeFate>, Down> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Tagged(self.0.clone(), self.1).admit(records).await
    }
}

impl Sink for Tagged {
    type Fate = FakeFate;
    type Error = Down;

    async fn admit(&self, records: &[Record]) -> Result<Vec<FakeFate>, Down> {
        let sink = &self.0;
        if sink.down.load(Ordering::SeqCst) {
            sink.refusals.fetch_add(1, Ordering::SeqCst);
            return Err(Down);
        }
        let mut state = sink.state.lock().unwrap();
        *state.by_consumer.entry(self.1).or_default() += 1;
        let mut fates = Vec::with_capacity(records.len());
        for record in records {
            let key = (record.topic.clone(), record.partition, record.offset);
            *state.admitted.entry(key.clone()).or_default() += 1;
            let payload = record.payload.clone().unwrap_or_default();
            let fate = if let Some(fate) = state.ledger.get(&key) {
                fate.clone()
            } else if serde_json::from_slice::<serde_json::Value>(&payload).is_err() {
                FakeFate::DeadLetter("expected value at line 1 column 1".to_string())
            } else if state.work.insert(payload) {
                FakeFate::Created
            } else {
                FakeFate::Duplicate
            };
            state.ledger.entry(key).or_insert_with(|| fate.clone());
            fates.push(fate);
        }
        let size = state.ledger.len();
        drop(state);
        sink.durable.send_replace(size);
        Ok(fates)
    }
}

fn prefix() -> TopicPrefix {
    TopicPrefix::new("it").unwrap()
}

fn topic() -> String {
    prefix().topic_for(MessageKind::SolvedPackage)
}

fn config(kafka: &KafkaHost, group: &str) -> KafkaConfig {
    let mut config = KafkaConfig::plaintext(kafka.bootstrap_servers(), group);
    // Members leave cleanly, so a restart does not wait for this; it only has to outlast a busy
    // machine's pauses, or the group evicts a healthy member and rebalances (infra.md §2a).
    config.session_timeout_ms = 3_000;
    config.commit_interval_ms = 200;
    config
}

fn settings() -> ConsumerSettings {
    ConsumerSettings {
        max_batch: 50,
        linger: Duration::from_millis(5),
        max_in_flight: 3,
        max_buffered: 150,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        drain_timeout: Duration::from_secs(10),
        readiness: None,
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the consumer stops")
            .unwrap();
    }
}

fn start(config: KafkaConfig, sink: Tagged, metrics: IngestMetrics) -> Running {
    start_with(config, sink, metrics)
}

fn start_sink(config: KafkaConfig, sink: impl Sink) -> Running {
    start_with(config, sink, IngestMetrics::new())
}

fn start_with(config: KafkaConfig, sink: impl Sink, metrics: IngestMetrics) -> Running {
    // The consumer's log goes with the test's output (shown when it fails); RUST_LOG filters it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run_consumer(
            &config,
            &prefix(),
            Arc::new(sink),
            metrics,
            settings(),
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    Running { stop, task }
}

async fn produce(kafka: &KafkaHost, topic: &str, partition: Option<i32>, payloads: &[Vec<u8>]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let sends = payloads.iter().map(|payload| {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
            .payload(payload.as_slice())
            .headers(OwnedHeaders::new().insert(Header {
                key: "traceparent",
                value: Some("00-it"),
            }));
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        producer.send(record, Timeout::After(Duration::from_secs(10)))
    });
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e).unwrap();
    }
}

fn unique_payloads(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range
        .map(|i| format!(r#"{{"package_name":"p{i}"}}"#).into_bytes())
        .collect()
}

/// The group's committed offsets on `topic`, read without joining the group.
async fn committed(kafka: &KafkaHost, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let bootstrap = kafka.bootstrap_servers().to_string();
    let group = group.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut wanted = TopicPartitionList::new();
        for partition in 0..i32::from(PARTITIONS) {
            wanted.add_partition(&topic, partition);
        }
        let offsets = consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .unwrap();
        let out = offsets
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        // Lists from the consumer go before the consumer (infra.md §2a).
        drop(offsets);
        out
    })
    .await
    .unwrap()
}

fn count(ledger: &BTreeMap<OffsetKey, FakeFate>, fate: &FakeFate) -> usize {
    ledger.values().filter(|f| *f == fate).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_the_committed_offset() {
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let sink = FakeSink::new();
    let config = config(&kafka, "restart");

    produce(&kafka, &topic(), None, &unique_payloads(0..30)).await;
    let first = start(
        config.clone(),
        Tagged(sink.clone(), "first"),
        IngestMetrics::new(),
    );
    sink.wait_for_durable(30).await;
    first.stop().await;
    let after_first = committed(&kafka, "restart", &topic()).await;
    assert_eq!(after_first.values().sum::<i64>(), 30, "{after_first:?}");

    produce(&kafka, &topic(), None, &unique_payloads(30..50)).await;
    let second = start(config, Tagged(sink.clone(), "second"), IngestMetrics::new());
    sink.wait_for_durable(50).await;
    second.stop().await;

    {
        let state = sink.state.lock().unwrap();
        let again: Vec<_> = state.admitted.iter().filter(|(_, n)| **n > 1).collect();
        assert!(again.is_empty(), "records handed over twice: {again:?}");
        assert_eq!(count(&state.ledger, &FakeFate::Created), 50);
    }
    let after_second = committed(&kafka, "restart", &topic()).await;
    assert_eq!(after_second.values().sum::<i64>(), 50, "{after_second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_between_two_good_ones_is_dead_lettered_and_both_good_ones_are_processed()
{
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let sink = FakeSink::new();
    let payloads = vec![
        br#"{"package_name":"before"}"#.to_vec(),
        b"{not json".to_vec(),
        br#"{"package_name":"after"}"#.to_vec(),
    ];
    produce(&kafka, &topic(), Some(1), &payloads).await;
    let running = start(
        config(&kafka, "poison"),
        Tagged(sink.clone(), "c"),
        IngestMetrics::new(),
    );
    sink.wait_for_durable(3).await;
    running.stop().await;

    let ledger = sink.ledger();
    let fates: Vec<&FakeFate> = ledger.values().collect();
    assert_eq!(fates[0], &FakeFate::Created);
    assert!(matches!(fates[1], FakeFate::DeadLetter(_)));
    assert_eq!(fates[2], &FakeFate::Created);
    assert_eq!(
        committed(&kafka, "poison", &topic()).await.get(&1),
        Some(&3)
    );

    let config = config(&kafka, "unused");
    let letters = tokio::task::spawn_blocking(move || {
        dead_letter::list(&config, &prefix(), Duration::from_secs(20)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.payload.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(letter.reason, "malformed_json");
    assert_eq!(letter.detail, "expected value at line 1 column 1");
    assert_eq!(
        (
            letter.original_topic.as_str(),
            letter.original_partition,
            letter.original_offset
        ),
        (topic().as_str(), 1, 1)
    );
    assert_eq!(
        letter.headers,
        vec![("traceparent".to_string(), Some(b"00-it".to_vec()))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_copies_of_one_message_give_one_unit_of_work_and_duplicates() {
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let sink = FakeSink::new();
    let metrics = IngestMetrics::new();
    let copies = vec![br#"{"package_name":"same"}"#.to_vec(); 1000];
    produce(&kafka, &topic(), None, &copies).await;
    let running = start(
        config(&kafka, "copies"),
        Tagged(sink.clone(), "c"),
        metrics.clone(),
    );
    sink.wait_for_durable(1000).await;
    running.stop().await;

    let ledger = sink.ledger();
    assert_eq!(count(&ledger, &FakeFate::Created), 1);
    assert_eq!(count(&ledger, &FakeFate::Duplicate), 999);
    assert_eq!(
        committed(&kafka, "copies", &topic())
            .await
            .values()
            .sum::<i64>(),
        1000
    );
    let duplicates = metrics
        .messages
        .get_or_create(&thoth_operator::ingest::metrics::MessageLabels {
            message_type: "solved_package".into(),
            fate: "duplicate".into(),
        })
        .get();
    assert_eq!(duplicates, 999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_during_a_stream_loses_nothing_and_gives_no_second_fate() {
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let sink = FakeSink::new();
    let config = config(&kafka, "rebalance");
    produce(&kafka, &topic(), None, &unique_payloads(0..600)).await;
    let first = start_sink(config.clone(), Slow(sink.clone(), "first"));
    sink.wait_for_durable(100).await;
    // A second member joins mid-stream: the group rebalances while batches are in flight. The
    // stream goes on until the second member has handled some of it.
    let second = start_sink(config.clone(), Slow(sink.clone(), "second"));
    let mut produced = 600;
    tokio::time::timeout(WAIT, async {
        while !sink
            .state
            .lock()
            .unwrap()
            .by_consumer
            .contains_key("second")
        {
            produce(
                &kafka,
                &topic(),
                None,
                &unique_payloads(produced..produced + 50),
            )
            .await;
            produced += 50;
            let mut durable = sink.durable.subscribe();
            let _ = tokio::time::timeout(Duration::from_millis(500), durable.changed()).await;
        }
    })
    .await
    .expect("the second member gets partitions");
    produce(
        &kafka,
        &topic(),
        None,
        &unique_payloads(produced..produced + 300),
    )
    .await;
    produced += 300;
    sink.wait_for_durable(produced).await;
    first.stop().await;
    second.stop().await;
    // The mock broker refuses commits while the group rebalances, and the members' leaving is
    // such a rebalance: their last commits may not land. What was not committed is handed to the
    // next member, which must find every record's first fate (no second unit of work) and then
    // commit the whole stream.
    let third = start_sink(config, Slow(sink.clone(), "third"));
    tokio::time::timeout(WAIT, async {
        loop {
            let done = committed(&kafka, "rebalance", &topic())
                .await
                .values()
                .sum::<i64>();
            assert!(done <= produced as i64, "committed {done} of {produced}");
            if done == produced as i64 {
                break;
            }
            let mut durable = sink.durable.subscribe();
            let _ = tokio::time::timeout(Duration::from_millis(500), durable.changed()).await;
        }
    })
    .await
    .expect("the stream is committed in full once a member has it");
    third.stop().await;

    {
        let state = sink.state.lock().unwrap();
        assert_eq!(state.ledger.len(), produced);
        assert_eq!(
            count(&state.ledger, &FakeFate::Created),
            produced,
            "one unit of work per message"
        );
        // Records in flight at the rebalance may be handed over again; they found their first fate.
        let redelivered = state.admitted.values().filter(|n| **n > 1).count();
        eprintln!("records handed over again after the rebalance: {redelivered}");
    }
    assert_eq!(
        committed(&kafka, "rebalance", &topic())
            .await
            .values()
            .sum::<i64>(),
        produced as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_sink_errors_pause_the_partitions_and_resume_with_nothing_lost() {
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let sink = FakeSink::new();
    let metrics = IngestMetrics::new();
    sink.down.store(true, Ordering::SeqCst);
    produce(&kafka, &topic(), None, &unique_payloads(0..40)).await;
    let running = start(
        config(&kafka, "outage"),
        Tagged(sink.clone(), "c"),
        metrics.clone(),
    );

    // Wait for the consumer to pause while admission keeps failing.
    tokio::time::timeout(WAIT, async {
        while metrics.paused_partitions.get() == 0 || sink.refusals.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("partitions paused while admission is down");
    assert_eq!(*sink.durable.borrow(), 0);
    assert!(
        committed(&kafka, "outage", &topic()).await.is_empty(),
        "nothing committed during the outage"
    );
    let refused = sink.refusals.load(Ordering::SeqCst);

    sink.down.store(false, Ordering::SeqCst);
    sink.wait_for_durable(40).await;
    tokio::time::timeout(WAIT, async {
        while metrics.paused_partitions.get() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("partitions resumed after the outage");
    // Still consuming after resuming: new records arrive and become durable.
    produce(&kafka, &topic(), None, &unique_payloads(40..50)).await;
    sink.wait_for_durable(50).await;
    running.stop().await;

    assert!(refused >= 3);
    {
        let state = sink.state.lock().unwrap();
        assert_eq!(count(&state.ledger, &FakeFate::Created), 50);
    }
    assert_eq!(
        committed(&kafka, "outage", &topic())
            .await
            .values()
            .sum::<i64>(),
        50
    );
}

// With the real admission: in-memory API server with our CRDs, a PostgreSQL database of its own.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_consumer_until_its_group_assigns_it_partitions_and_once_it_stopped() {
    use thoth_operator::telemetry::{KAFKA_CONSUMER, Readiness};
    let consume = |config: KafkaConfig, readiness: Readiness| {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run_consumer(
                &config,
                &prefix(),
                Arc::new(Tagged(FakeSink::new(), "readiness")),
                IngestMetrics::new(),
                ConsumerSettings {
                    readiness: Some(readiness),
                    ..settings()
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
        });
        Running { stop, task }
    };

    // No broker answers: the consumer never joins a group, and says so.
    let readiness = Readiness::default();
    readiness.set_ready();
    let running = consume(
        KafkaConfig::plaintext("127.0.0.1:1", "readiness-nowhere"),
        readiness.clone(),
    );
    tokio::time::timeout(WAIT, readiness.wait_for_part(KAFKA_CONSUMER, false))
        .await
        .expect("the consumer reports itself");
    assert_eq!(
        readiness.why_not().as_deref(),
        Some("kafka consumer: has not joined its consumer group yet")
    );
    running.stop().await;
    assert_eq!(
        readiness.why_not().as_deref(),
        Some("kafka consumer: stopped")
    );

    // A cluster: ready once assigned, not ready once stopped.
    let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
    let readiness = Readiness::default();
    readiness.set_ready();
    let running = consume(config(&kafka, "readiness"), readiness.clone());
    tokio::time::timeout(WAIT, readiness.wait_ready())
        .await
        .expect("ready once the group assigned the consumer its partitions");
    assert_eq!(readiness.why_not(), None);
    running.stop().await;
    assert!(!readiness.is_ready());
}

mod with_admission {
    use super::*;
    use crate::harness::{self, PYPI};
    use apiserver::FaultConfig;
    use serde_json::json;
    use thoth_operator::admission::{Admitter, RecordFate};
    use thoth_operator::ingest::producer::{OutboxPublisher, PublisherSettings};
    use thoth_operator::messages::ParseConfig;
    use thoth_operator::store::{Fate, OutboxMessage};

    /// Admission with the first fate of each record (as the ledger keeps it) and its count to await.
    struct Counted {
        admitter: Admitter,
        durable: watch::Sender<usize>,
        fates: Mutex<BTreeMap<OffsetKey, RecordFate>>,
    }

    impl Sink for Counted {
        type Fate = RecordFate;
        type Error = thoth_operator::admission::AdmissionError;

        async fn admit(&self, records: &[Record]) -> Result<Vec<RecordFate>, Self::Error> {
            let fates = self.admitter.admit(records).await?;
            let mut first = self.fates.lock().unwrap();
            for (record, fate) in records.iter().zip(&fates) {
                first
                    .entry((record.topic.clone(), record.partition, record.offset))
                    .or_insert_with(|| fate.clone());
            }
            self.durable.send_replace(first.len());
            Ok(fates)
        }
    }

    /// The shared harness and admission behind a [`Counted`] sink.
    struct Harness {
        base: harness::Harness,
        sink: Arc<Counted>,
    }

    impl std::ops::Deref for Harness {
        type Target = harness::Harness;

        fn deref(&self) -> &harness::Harness {
            &self.base
        }
    }

    impl Harness {
        async fn start() -> Self {
            let base = harness::Harness::start().await;
            let admitter = base.admitter(base.config(&["solver-fedora-38-py311"], prefix()));
            Self::around(base, admitter)
        }

        fn around(base: harness::Harness, admitter: Admitter) -> Self {
            let sink = Arc::new(Counted {
                admitter,
                durable: watch::channel(0).0,
                fates: Mutex::new(BTreeMap::new()),
            });
            Self { base, sink }
        }

        fn run(&self, kafka: &KafkaHost, group: &str) -> Running {
            self.run_with(kafka, group, IngestMetrics::new())
        }

        fn run_with(&self, kafka: &KafkaHost, group: &str, metrics: IngestMetrics) -> Running {
            let (stop, stopped) = oneshot::channel::<()>();
            let config = config(kafka, group);
            let sink = self.sink.clone();
            let task = tokio::spawn(async move {
                run_consumer(&config, &prefix(), sink, metrics, settings(), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
            Running { stop, task }
        }

        async fn wait_for_durable(&self, count: usize) {
            let mut rx = self.sink.durable.subscribe();
            tokio::time::timeout(WAIT, rx.wait_for(|n| *n >= count))
                .await
                .expect("fates became durable in time")
                .unwrap();
        }
    }

    fn released_topic() -> String {
        prefix().topic_for(MessageKind::PackageReleased)
    }

    fn release(name: &str) -> Vec<u8> {
        json!({
            "component_name": "thoth-package-releases-job",
            "service_version": "0.7.6",
            "index_url": PYPI,
            "package_name": name,
            "package_version": "1.0.0",
            "version": "v1",
        })
        .to_string()
        .into_bytes()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poison_record_between_two_releases_is_dead_lettered_and_both_releases_become_solver_runs()
     {
        let harness = Harness::start().await;
        let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
        let payloads = vec![
            release("before"),
            b"{\"package_name\": 3".to_vec(),
            release("after"),
        ];
        produce(&kafka, &released_topic(), Some(0), &payloads).await;
        let running = harness.run(&kafka, "admission-poison");
        harness.wait_for_durable(3).await;
        running.stop().await;

        let mut names: Vec<String> = harness
            .solver_runs()
            .await
            .into_iter()
            .filter_map(|run| run.metadata.name)
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        let poison = harness
            .store
            .ledger_entry(&released_topic(), 0, 1)
            .await
            .unwrap()
            .expect("the poison record has a ledger row");
        assert!(
            matches!(poison.fate, Fate::DeadLettered { .. }),
            "{:?}",
            poison.fate
        );
        assert_eq!(
            committed(&kafka, "admission-poison", &released_topic())
                .await
                .get(&0),
            Some(&3)
        );
        let config = config(&kafka, "unused");
        let letters = tokio::task::spawn_blocking(move || {
            dead_letter::list(&config, &prefix(), Duration::from_secs(20)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(
            letters[0].payload.as_deref(),
            Some(&b"{\"package_name\": 3"[..])
        );
        assert_eq!(letters[0].original_offset, 1);
    }

    /// The writes (anything but reads) the API server was asked for on `resource`: verb and answer.
    fn writes(server: &apiserver::RunningApiServer, resource: &str) -> Vec<(String, u16)> {
        server
            .audit_log()
            .into_iter()
            .filter(|r| {
                r.resource == resource && !matches!(r.verb.as_str(), "get" | "list" | "watch")
            })
            .map(|r| (r.verb, r.code))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_duplicates_makes_no_api_write_after_the_first_create() {
        let base = harness::Harness::start_with(true).await;
        let admitter = base.admitter(base.config(&["solver-fedora-38-py311"], prefix()));
        let harness = Harness::around(base, admitter);
        let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
        let running = harness.run(&kafka, "admission-remembered");
        // The first copy alone, so that its create has been answered before any copy is admitted
        // (batches run side by side: copies in the first round would each ask).
        produce(&kafka, &released_topic(), None, &[release("same")]).await;
        harness.wait_for_durable(1).await;
        produce(&kafka, &released_topic(), None, &vec![release("same"); 500]).await;
        harness.wait_for_durable(501).await;
        running.stop().await;

        assert_eq!(
            writes(&harness.server, "solverruns"),
            vec![("create".to_string(), 201)]
        );
        let fates = harness.sink.fates.lock().unwrap();
        let created = fates.values().filter(|f| f.label() == "created").count();
        let duplicates = fates.values().filter(|f| f.label() == "duplicate").count();
        assert_eq!((created, duplicates), (1, 500));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_copies_of_one_release_give_one_solver_run() {
        let harness = Harness::start().await;
        let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
        produce(
            &kafka,
            &released_topic(),
            None,
            &vec![release("same"); 1000],
        )
        .await;
        let running = harness.run(&kafka, "admission-copies");
        harness.wait_for_durable(1000).await;
        running.stop().await;

        assert_eq!(harness.solver_runs().await.len(), 1);
        {
            let fates = harness.sink.fates.lock().unwrap();
            let created = fates.values().filter(|f| f.label() == "created").count();
            let duplicates = fates.values().filter(|f| f.label() == "duplicate").count();
            assert_eq!((created, duplicates), (1, 999));
        }
        assert_eq!(
            committed(&kafka, "admission-copies", &released_topic())
                .await
                .values()
                .sum::<i64>(),
            1000
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follow_up_message_from_the_outbox_is_consumed_back_by_a_plain_consumer_and_parses() {
        let harness = harness::Harness::start().await;
        let store = harness.store.clone();
        let kafka = KafkaHost::start(prefix(), 1, 1).unwrap();
        let fixture = include_bytes!("../fixtures/messages/solved_package.v1.json");
        let solved_topic = prefix().topic_for(MessageKind::SolvedPackage);
        let message = thoth_operator::messages::parse(
            &solved_topic,
            fixture,
            &ParseConfig::with_prefix(prefix()),
        )
        .unwrap();
        store
            .enqueue(&[OutboxMessage {
                dedup_key: "SolvedPackage/test".into(),
                topic: solved_topic.clone(),
                key: Some("solved".into()),
                payload: message.to_json().unwrap(),
            }])
            .await
            .unwrap();
        let publisher = OutboxPublisher::new(
            &config(&kafka, "unused"),
            store.clone(),
            PublisherSettings::default(),
            IngestMetrics::new(),
        )
        .unwrap();
        let round = publisher.publish_once().await.unwrap();
        assert_eq!((round.claimed, round.published, round.failed), (1, 1, 0));
        assert_eq!(
            publisher.publish_once().await.unwrap().claimed,
            0,
            "marked published"
        );

        let bootstrap = kafka.bootstrap_servers().to_string();
        let topic = solved_topic.clone();
        let (key, payload) = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "plain-reader")
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&topic, 0, Offset::Beginning)
                .unwrap();
            consumer.assign(&assignment).unwrap();
            drop(assignment);
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the follow-up message arrives"
                );
                if let Some(result) = consumer.poll(Duration::from_millis(200)) {
                    let message = result.unwrap();
                    break (
                        message.key().map(<[u8]>::to_vec),
                        message.payload().unwrap_or_default().to_vec(),
                    );
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(key.as_deref(), Some(&b"solved"[..]));
        let parsed = thoth_operator::messages::parse(
            &solved_topic,
            &payload,
            &ParseConfig::with_prefix(prefix()),
        )
        .unwrap();
        assert_eq!(parsed, message);
        let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        for field in ["component_name", "service_version", "version"] {
            assert!(value.get(field).is_some(), "{field} in {value}");
        }
    }

    /// Polls the consumer's metrics until `condition` holds.
    async fn wait_for_metrics(
        metrics: &IngestMetrics,
        what: &str,
        condition: impl Fn(&IngestMetrics) -> bool,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tokio::time::timeout(WAIT, async {
            while !condition(metrics) {
                tick.tick().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"));
    }

    fn transient_errors(metrics: &IngestMetrics) -> u64 {
        metrics
            .admit_errors
            .get_or_create(&thoth_operator::ingest::metrics::ErrorLabels {
                class: "transient".into(),
            })
            .get()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_api_server_then_a_database_outage_pause_the_partitions_and_resume_with_nothing_lost()
     {
        let base = harness::Harness::start().await;
        let proxy = harness::PgProxy::start(base.database_address()).await;
        let store = base.store_through(&proxy).await;
        let admitter = base.admitter_on(store, base.config(&["solver-fedora-38-py311"], prefix()));
        let harness = Harness::around(base, admitter);
        let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
        let metrics = IngestMetrics::new();
        let running = harness.run_with(&kafka, "outages", metrics.clone());
        let batch = |from: usize| -> Vec<Vec<u8>> {
            (from..from + 30)
                .map(|i| release(&format!("outage-{i}")))
                .collect()
        };

        // The API server answers 500 to everything: admission fails transiently, the consumer
        // pauses the partitions, nothing becomes durable and nothing is committed.
        harness.server.faults().set(FaultConfig {
            error_share: 1.0,
            ..FaultConfig::default()
        });
        produce(&kafka, &released_topic(), None, &batch(0)).await;
        wait_for_metrics(&metrics, "paused during the API outage", |m| {
            m.paused_partitions.get() > 0 && transient_errors(m) >= 2
        })
        .await;
        assert_eq!(*harness.sink.durable.borrow(), 0);
        assert!(
            committed(&kafka, "outages", &released_topic())
                .await
                .is_empty()
        );
        harness.server.faults().clear();
        harness.wait_for_durable(30).await;
        wait_for_metrics(&metrics, "resumed after the API outage", |m| {
            m.paused_partitions.get() == 0
        })
        .await;

        // PostgreSQL becomes unreachable (connections cut, new ones closed): the same.
        let before = transient_errors(&metrics);
        proxy.set_up(false);
        produce(&kafka, &released_topic(), None, &batch(30)).await;
        wait_for_metrics(&metrics, "paused during the database outage", |m| {
            m.paused_partitions.get() > 0 && transient_errors(m) >= before + 2
        })
        .await;
        assert_eq!(*harness.sink.durable.borrow(), 30);
        proxy.set_up(true);
        harness.wait_for_durable(60).await;
        wait_for_metrics(&metrics, "resumed after the database outage", |m| {
            m.paused_partitions.get() == 0
        })
        .await;
        running.stop().await;

        assert_eq!(harness.solver_runs().await.len(), 60);
        assert_eq!(
            committed(&kafka, "outages", &released_topic())
                .await
                .values()
                .sum::<i64>(),
            60
        );
        // One fate per record, each naming its own release's SolverRun. A resource created by an
        // attempt that failed afterwards (another create refused, the ledger write cut off) is
        // found by the retry, so its record's fate is `duplicate`.
        let fates = harness.sink.fates.lock().unwrap();
        let mut named = std::collections::HashSet::new();
        for fate in fates.values() {
            let resources = match fate {
                RecordFate::Created { resources, .. } | RecordFate::Duplicate { resources, .. } => {
                    resources
                }
                other => panic!("{other:?}"),
            };
            assert_eq!(resources.len(), 1, "{fate:?}");
            assert!(named.insert(resources[0].name.clone()), "{fate:?}");
        }
        assert_eq!(named.len(), 60);
    }

    /// Thoth's own JSON of every live type (tests/fixtures/messages, current versions), each on
    /// its topic, through Kafka, the consumer and admission: the handled types become resources or
    /// flags, the others ledger rows saying they are not handled, and every offset is committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_live_type_from_thoths_own_json_reaches_its_fate_through_kafka() {
        let base = harness::Harness::start().await;
        // MissingPackage flags the versions the store knows of the package.
        base.store
            .ensure_versions(&[thoth_operator::store::VersionKey::new(
                thoth_operator::package::PackageName::parse("pyifd").unwrap(),
                thoth_operator::package::PackageVersion::parse("1.0").unwrap(),
                thoth_operator::package::IndexUrl::parse(PYPI).unwrap(),
            )])
            .await
            .unwrap();
        // The solvers the fixtures name.
        let config = base.config(
            &[
                "solver-fedora-35-py310",
                "solver-rhel-8-py36",
                "solver-rhel-8-py38",
            ],
            prefix(),
        );
        let admitter = base.admitter(config);
        let harness = Harness::around(base, admitter);
        let kafka = KafkaHost::start(prefix(), 1, 1).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
        let mut expected = BTreeMap::new();
        for kind in MessageKind::ALL {
            let file = dir.join(format!(
                "{}.{}.json",
                kind.snake_name(),
                kind.current_version()
            ));
            let payload =
                std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let topic = prefix().topic_for(*kind);
            produce(&kafka, &topic, Some(0), &[payload]).await;
            let fate = match kind.snake_name() {
                "unresolved_package"
                | "package_released"
                | "solved_package"
                | "si_unanalyzed_package"
                | "adviser_trigger"
                | "hash_mismatch" => "created",
                "missing_package" | "missing_version" | "update_provides_source_distro" => {
                    "flag_set"
                }
                _ => "not_handled",
            };
            expected.insert((topic, 0, 0), fate);
        }
        let running = harness.run(&kafka, "every-type");
        harness.wait_for_durable(expected.len()).await;
        running.stop().await;

        let fates: BTreeMap<OffsetKey, &'static str> = harness
            .sink
            .fates
            .lock()
            .unwrap()
            .iter()
            .map(|(key, fate)| (key.clone(), fate.label()))
            .collect();
        assert_eq!(fates, expected);
        for (topic, partition, offset) in expected.keys() {
            assert!(
                harness
                    .store
                    .ledger_entry(topic, *partition, *offset)
                    .await
                    .unwrap()
                    .is_some(),
                "{topic} has its ledger row"
            );
            assert_eq!(
                committed(&kafka, "every-type", topic).await.get(&0),
                Some(&1),
                "{topic} committed"
            );
        }
    }

    // --- the operator binary, killed mid-batch ---------------------------------------------

    /// `thoth-operator run` as a child process, its log in a file shown when a wait fails.
    struct OperatorProcess {
        child: tokio::process::Child,
        log: std::path::PathBuf,
    }

    impl OperatorProcess {
        fn start(harness: &Harness, kafka: &KafkaHost, dir: &std::path::Path, n: usize) -> Self {
            let kubeconfig = dir.join("kubeconfig");
            harness.server.write_kubeconfig(&kubeconfig).unwrap();
            let log = dir.join(format!("operator-{n}.log"));
            let stderr = std::fs::File::create(&log).unwrap();
            let kubeconfig = kubeconfig.to_string_lossy().into_owned();
            let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_thoth-operator"))
                .args([
                    "run",
                    "--kubeconfig",
                    &kubeconfig,
                    "--metrics-listen",
                    "127.0.0.1:0",
                    "--identity",
                    &format!("operator-{n}"),
                    "--lease-seconds",
                    "2",
                    "--resource-namespace",
                    harness::NAMESPACE,
                    "--solvers",
                    "solver-fedora-38-py311",
                    // One Workflow at a time: the controllers run too, but this test is about
                    // what admission creates.
                    "--admission-limits",
                    "thoth-middletier=1",
                    "--default-admission-limit",
                    "1",
                    "--kafka-bootstrap-servers",
                    kafka.bootstrap_servers(),
                    "--kafka-consumer-group-id",
                    "killed",
                    // A killed member holds its partitions until its session times out.
                    "--kafka-consumer-session-timeout-ms",
                    "3000",
                    // Several batches in the stream, so that a kill falls between two of them.
                    "--ingest-max-batch",
                    "200",
                ])
                .env("DATABASE_URL", harness.database_url())
                .env("THOTH_DEPLOYMENT_NAME", prefix().deployment_name().unwrap())
                .env("RUST_LOG", "info")
                .env("THOTH_LOG_FORMAT", "text")
                .env_remove("KAFKA_BOOTSTRAP_SERVERS")
                .env_remove("KUBECONFIG")
                .stdout(std::process::Stdio::null())
                .stderr(stderr)
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            Self { child, log }
        }

        fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        /// SIGKILL: no drain, no commit, no leaving the group.
        async fn kill(mut self) {
            self.child.start_kill().unwrap();
            let status = self.child.wait().await.unwrap();
            assert!(!status.success(), "killed: {status:?}");
        }

        /// SIGTERM, and the exit status of the graceful shutdown.
        async fn terminate(mut self) -> std::process::ExitStatus {
            let pid = self.child.id().unwrap().to_string();
            let sent = tokio::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .unwrap();
            assert!(sent.success());
            match tokio::time::timeout(WAIT, self.child.wait()).await {
                Ok(status) => status.unwrap(),
                Err(_) => panic!("the operator stops on SIGTERM; its log:\n{}", self.log()),
            }
        }
    }

    async fn ledger_rows(pool: &sqlx::PgPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM message_ledger")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// Polls the ledger (the condition the operator makes true) until it has `rows` rows.
    async fn wait_for_ledger(pool: &sqlx::PgPool, rows: i64, operator: &OperatorProcess) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while ledger_rows(pool).await < rows {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{rows} ledger rows in time; have {}; operator log:\n{}",
                ledger_rows(pool).await,
                operator.log()
            );
            tick.tick().await;
        }
    }

    /// Watches SolverRuns until at least `count` exist.
    async fn wait_for_solver_runs(harness: &Harness, count: usize, operator: &OperatorProcess) {
        use futures::TryStreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let api = kube::Api::<thoth_operator::api::SolverRun>::namespaced(
            harness.client.clone(),
            harness::NAMESPACE,
        );
        let mut seen = std::collections::HashSet::new();
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        let found = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(run) = stream.try_next().await.unwrap() {
                seen.insert(run.metadata.name.unwrap_or_default());
                if seen.len() >= count {
                    return;
                }
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "{count} SolverRuns in time; operator log:\n{}",
            operator.log()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_operator_killed_mid_batch_and_restarted_loses_nothing_and_duplicates_nothing() {
        const UNIQUE: usize = 600;
        let harness = Harness::start().await;
        for crd in thoth_operator::sandbox::argo_crds::argo_crds().unwrap() {
            harness.server.install_crd(&crd).unwrap();
        }
        let kafka = KafkaHost::start(prefix(), 1, PARTITIONS).unwrap();
        // Every release twice: a redelivery after the kill must be told from a second copy.
        let payloads: Vec<Vec<u8>> = (0..2 * UNIQUE)
            .map(|i| release(&format!("killed-{}", i % UNIQUE)))
            .collect();
        let total = payloads.len() as i64;
        produce(&kafka, &released_topic(), None, &payloads).await;
        let pool = sqlx::PgPool::connect_with(harness.db.options.clone())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();

        // First kill: while the first batches' resources are being created, before their ledger
        // transaction (the resources exist, their records have no fate yet).
        let operator = OperatorProcess::start(&harness, &kafka, dir.path(), 1);
        wait_for_solver_runs(&harness, 20, &operator).await;
        operator.kill().await;
        let after_first = ledger_rows(&pool).await;
        assert!(after_first < total, "killed mid-stream: {after_first}");

        // Second kill: as soon as a batch's fates are durable, before (most of) their offsets are
        // committed, while other batches are still with admission.
        let operator = OperatorProcess::start(&harness, &kafka, dir.path(), 2);
        wait_for_ledger(&pool, after_first + 1, &operator).await;
        operator.kill().await;

        let operator = OperatorProcess::start(&harness, &kafka, dir.path(), 3);
        wait_for_ledger(&pool, total, &operator).await;
        let log = operator.log();
        let status = operator.terminate().await;
        assert!(status.success(), "{status:?}; log:\n{log}");

        // Nothing lost: one fate per record, every offset committed.
        assert_eq!(ledger_rows(&pool).await, total);
        assert_eq!(
            committed(&kafka, "killed", &released_topic())
                .await
                .values()
                .sum::<i64>(),
            total
        );
        // Nothing duplicated: one SolverRun per release, each created at most once in the ledger,
        // and every ledger row names one of them.
        let names: std::collections::HashSet<String> = harness
            .solver_runs()
            .await
            .into_iter()
            .filter_map(|run| run.metadata.name)
            .collect();
        assert_eq!(names.len(), UNIQUE);
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT fate, resource_name FROM message_ledger")
                .fetch_all(&pool)
                .await
                .unwrap();
        let mut created: BTreeMap<String, usize> = BTreeMap::new();
        for (fate, name) in rows {
            let name = name.unwrap_or_else(|| panic!("a {fate} row without a resource"));
            assert!(names.contains(&name), "{name} exists");
            assert!(fate == "created" || fate == "duplicate", "{fate}");
            if fate == "created" {
                *created.entry(name).or_default() += 1;
            }
        }
        assert!(created.values().all(|n| *n == 1), "{created:?}");
        pool.close().await;
    }
}
