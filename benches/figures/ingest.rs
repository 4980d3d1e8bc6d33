//! Ingestion throughput: messages per second from Kafka (the mock cluster over TCP) to a durable
//! fate through the real consumer and admission (in-memory API server, PostgreSQL), for a stream of
//! unique PackageReleased messages (each one a SolverRun and a ledger row) and for a stream that is
//! 99% duplicates, beside a bare rdkafka consumer reading the same topic (the ceiling).
//!
//! Beside them, the same-writes ceiling: the rate at which the store records one ledger row per
//! record and nothing else (what admission must write for every record, duplicates included:
//! invariant 1), in the consumer's batch size and concurrency. The duplicate-heavy stream cannot
//! be faster than the slower of that and the bare consumer.
//!
//! Both clocks start when the consumer group assigns the consumer its partitions and stop at the
//! last record's durable fate (for the ceiling: its receipt), so both rates are of the same work
//! window: fetching included, the group join (a fixed cost of 0.1–1 s on the mock cluster,
//! whatever the stream's length) printed beside them, not in them. Targets (issue 10): ≥ 2,000
//! unique messages/s; the duplicate-heavy stream ≥ 50% of the bare rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::json;
use testkit::TestDatabase;
use thoth_operator::admission::{
    AdmissionConfig, AdmissionError, Admitter, IndexClient, IndexClientConfig, RecordFate,
};
use thoth_operator::api::SolverRun;
use thoth_operator::ingest::{
    ConsumerSettings, IngestMetrics, KafkaConfig, Record, Sink, run_consumer,
};
use thoth_operator::messages::{MessageKind, ParseConfig, SolverName, TopicPrefix};
use thoth_operator::package::IndexUrl;
use thoth_operator::sandbox::kafka::KafkaHost;
use thoth_operator::store::{
    Fate, LedgerEntry, ResourceKind, ResourceRef, Store, StoreConfig, StoreError,
};
use thoth_operator::telemetry::{KAFKA_CONSUMER, Readiness};
use tokio::sync::watch;

/// Unique messages: each one a SolverRun in the in-memory API server.
const UNIQUE: usize = 20_000;
/// The duplicate-heavy stream: long enough that the rate is not the first batches' warm-up.
const DUPLICATES: usize = 200_000;
/// Partitions per topic. The mock cluster keeps at most 5 MiB or 100,000 records per partition
/// (librdkafka's `rdkafka_mock.c`, `max_size`/`max_cnt`) and silently drops the oldest beyond
/// that, so the duplicate stream's 200,000 records of about 200 bytes need more than 8.
const PARTITIONS: u16 = 16;
const PYPI: &str = "https://pypi.org/simple";

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

pub fn run() -> BenchResult<()> {
    tokio::runtime::Runtime::new()?.block_on(bench())
}

struct Counted {
    admitter: Admitter,
    durable: watch::Sender<usize>,
}

impl Sink for Counted {
    type Fate = RecordFate;
    type Error = AdmissionError;

    async fn admit(&self, records: &[Record]) -> Result<Vec<RecordFate>, AdmissionError> {
        let fates = self.admitter.admit(records).await?;
        self.durable.send_modify(|n| *n += fates.len());
        Ok(fates)
    }
}

fn release(i: usize) -> Vec<u8> {
    json!({
        "component_name": "thoth-package-releases-job",
        "service_version": "0.7.6",
        "index_url": PYPI,
        "package_name": format!("bench-package-{i}"),
        "package_version": "1.0.0",
        "version": "v1",
    })
    .to_string()
    .into_bytes()
}

/// Produces `payloads` to `topic` and checks that the cluster holds every one of them.
async fn produce(kafka: &KafkaHost, topic: &str, payloads: &[Vec<u8>]) -> BenchResult<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("linger.ms", "5")
        .create()?;
    // Spread evenly, record by record, so that no partition reaches the mock's retention limit.
    let spread: Vec<(i32, &Vec<u8>)> = (0..i32::from(PARTITIONS)).cycle().zip(payloads).collect();
    for chunk in spread.chunks(5_000) {
        let sends = chunk.iter().map(|(partition, payload)| {
            producer.send(
                FutureRecord::<(), [u8]>::to(topic)
                    .payload(payload.as_slice())
                    .partition(*partition),
                Timeout::After(Duration::from_secs(30)),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| e)?;
        }
    }
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()?;
    let mut held = 0;
    for partition in 0..i32::from(PARTITIONS) {
        let (low, high) = reader.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        held += high - low;
    }
    tokio::task::spawn_blocking(move || drop(reader)).await?;
    if held != payloads.len() as i64 {
        return Err(format!(
            "the mock cluster holds {held} of the {} records produced to {topic} (its per-partition \
             retention dropped the rest): use more partitions",
            payloads.len()
        )
        .into());
    }
    Ok(())
}

/// Records when the group first assigned partitions.
struct Assigned(watch::Sender<Option<Instant>>);

impl ClientContext for Assigned {}

impl ConsumerContext for Assigned {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(_)) {
            self.0.send_if_modified(|at| {
                let first = at.is_none();
                at.get_or_insert_with(Instant::now);
                first
            });
        }
    }
}

/// A rate and the group join it was measured after.
struct Measured {
    /// Records per second from the assignment to the last record.
    rate: f64,
    /// From subscribing to the assignment.
    join: Duration,
}

/// The ceiling: a group consumer that only receives.
async fn bare(kafka: &KafkaHost, topic: &str, count: usize) -> BenchResult<Measured> {
    let (assigned_tx, assigned) = watch::channel(None);
    let consumer: StreamConsumer<Assigned> = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", "bench-bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create_with_context(Assigned(assigned_tx))?;
    let subscribed = Instant::now();
    consumer.subscribe(&[topic])?;
    let receive_all = async {
        for _ in 0..count {
            consumer.recv().await?;
        }
        Ok::<_, rdkafka::error::KafkaError>(())
    };
    tokio::time::timeout(Duration::from_secs(120), receive_all)
        .await
        .map_err(|_| format!("the bare consumer did not receive {count} records within 120 s"))??;
    let finished = Instant::now();
    let at =
        (*assigned.borrow()).ok_or("the bare consumer received records without an assignment")?;
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(Measured {
        rate: count as f64 / finished.duration_since(at).as_secs_f64(),
        join: at.duration_since(subscribed),
    })
}

/// The same-writes ceiling: `count` ledger rows (a duplicate's row: fate, resource, message type)
/// recorded in transactions of the consumer's batch size, as many at once as it has batches in
/// flight, into a fresh database. Returns rows per second; checks the store recorded each one.
async fn ledger_only(topic: &str, count: usize) -> BenchResult<f64> {
    let db = TestDatabase::create().await?;
    // The pool `thoth-operator run` has by default.
    let store = Store::open(&StoreConfig::new(db.options.clone())).await?;
    let settings = ConsumerSettings::default();
    let resource = ResourceRef {
        kind: ResourceKind::SolverRun,
        namespace: "thoth".into(),
        name: "bench-package-0-1-0-0-solver-fedora-38-py311-0123456789".into(),
    };
    let partitions = usize::from(PARTITIONS);
    let received_at = chrono::Utc::now();
    let entries: Vec<LedgerEntry> = (0..count)
        .map(|i| LedgerEntry {
            topic: topic.to_string(),
            partition: i32::try_from(i % partitions).unwrap_or(0),
            offset: i64::try_from(i / partitions).unwrap_or(0),
            message_type: Some("PackageReleased".into()),
            message_version: Some("v1".into()),
            received_at,
            fate: Fate::Duplicate(resource.clone()),
        })
        .collect();
    let started = Instant::now();
    let written: Vec<u64> = futures::stream::iter(entries.chunks(settings.max_batch))
        .map(|chunk| {
            let store = &store;
            async move {
                let mut tx = store.begin().await?;
                let written = tx.record_ledger(chunk).await?;
                tx.commit().await?;
                Ok::<u64, StoreError>(written)
            }
        })
        .buffer_unordered(settings.max_in_flight)
        .try_collect()
        .await?;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    let recorded: u64 = written.iter().sum();
    if recorded != count as u64 {
        return Err(format!("the store recorded {recorded} of {count} ledger rows").into());
    }
    Ok(rate)
}

/// Kafka → consumer → admission → durable fate, for `payloads` on a fresh cluster, database and
/// API server, then checks the ledger and the SolverRuns; also returns the bare consumer's rate on
/// the same topic (measured first, on its own).
/// `distinct` is how many different releases `payloads` holds: the SolverRuns expected.
async fn end_to_end(
    name: &str,
    payloads: &[Vec<u8>],
    distinct: usize,
) -> BenchResult<(Measured, Measured)> {
    let prefix = TopicPrefix::new(name)?;
    let kafka = KafkaHost::start(prefix.clone(), 1, PARTITIONS)?;
    let topic = prefix.topic_for(MessageKind::PackageReleased);
    produce(&kafka, &topic, payloads).await?;
    let bare_measured = bare(&kafka, &topic, payloads.len()).await?;

    let db = TestDatabase::create().await?;
    // The pool `thoth-operator run` has by default.
    let store = Store::open(&StoreConfig::new(db.options.clone())).await?;
    let server = ApiServer::builder()
        .crds(thoth_operator::api::all_crds())
        .build()
        .start("127.0.0.1:0")
        .await?;
    let client = server.client()?;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": "thoth"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    store
        .set_index_enabled(&IndexUrl::parse(PYPI)?, true)
        .await?;
    let mut config =
        AdmissionConfig::new("thoth", vec![SolverName::parse("solver-fedora-38-py311")?]);
    config.parse = ParseConfig::with_prefix(prefix.clone());
    let admitter = Admitter::new(
        client,
        store.clone(),
        config,
        IndexClient::new(IndexClientConfig::default())?,
    );
    let sink = Arc::new(Counted {
        admitter,
        durable: watch::channel(0).0,
    });
    let mut durable = sink.durable.subscribe();
    let kafka_config = KafkaConfig::plaintext(kafka.bootstrap_servers(), "bench-operator");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let readiness = Readiness::default();
    let subscribed = Instant::now();
    let consumer = {
        let readiness = readiness.clone();
        let sink = sink.clone();
        let prefix = prefix.clone();
        tokio::spawn(async move {
            run_consumer(
                &kafka_config,
                &prefix,
                sink,
                IngestMetrics::new(),
                ConsumerSettings {
                    readiness: Some(readiness),
                    ..ConsumerSettings::default()
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
        })
    };
    readiness.wait_for_part(KAFKA_CONSUMER, true).await;
    let assigned = Instant::now();
    let count = payloads.len();
    if tokio::time::timeout(Duration::from_secs(600), durable.wait_for(|n| *n >= count))
        .await
        .is_err()
    {
        return Err(format!(
            "{name}: only {} of {count} records durable within 600 s",
            *durable.borrow()
        )
        .into());
    }
    let measured = Measured {
        rate: count as f64 / assigned.elapsed().as_secs_f64(),
        join: assigned.duration_since(subscribed),
    };
    let _ = stop.send(());
    consumer.await??;

    // The work was done: one ledger row per record, one SolverRun per distinct release, and the
    // fates say which record created it.
    let pool = sqlx::PgPool::connect_with(db.options.clone()).await?;
    let fates: Vec<(String, i64)> =
        sqlx::query_as("SELECT fate, count(*) FROM message_ledger GROUP BY fate ORDER BY fate")
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    let fates: std::collections::BTreeMap<String, i64> = fates.into_iter().collect();
    let runs = Api::<SolverRun>::namespaced(server.client()?, "thoth")
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    let ledger: i64 = fates.values().sum();
    let created = fates.get("created").copied().unwrap_or(0);
    if ledger != count as i64 || runs != distinct || created != distinct as i64 {
        return Err(format!(
            "{name}: expected {count} ledger rows and {distinct} SolverRuns each created once; \
             found ledger {fates:?} and {runs} SolverRuns"
        )
        .into());
    }
    server.shutdown().await;
    store.close().await;
    Ok((measured, bare_measured))
}

fn print(label: &str, count: usize, ours: &Measured, bare: &Measured, target: &str, met: bool) {
    println!(
        "ingest/{label:<14} {count:>7} msgs  end to end {:>8.0} msg/s | bare consumer {:>8.0} msg/s | ratio {:.3} | group join {:.2} s (bare {:.2} s) | target {target}: {}",
        ours.rate,
        bare.rate,
        ours.rate / bare.rate,
        ours.join.as_secs_f64(),
        bare.join.as_secs_f64(),
        verdict(met)
    );
}

async fn bench() -> BenchResult<()> {
    let unique: Vec<Vec<u8>> = (0..UNIQUE).map(release).collect();
    let (ours, bare) = end_to_end("bench-unique", &unique, UNIQUE).await?;
    print(
        "unique",
        UNIQUE,
        &ours,
        &bare,
        "≥ 2,000 msg/s",
        ours.rate >= 2_000.0,
    );
    // 99% duplicates: 1% of the messages are distinct releases, each sent 100 times, interleaved.
    let distinct = DUPLICATES / 100;
    let duplicates: Vec<Vec<u8>> = (0..DUPLICATES).map(|i| release(i % distinct)).collect();
    let (ours, bare) = end_to_end("bench-duplicates", &duplicates, distinct).await?;
    print(
        "99%-duplicates",
        DUPLICATES,
        &ours,
        &bare,
        "≥ 0.5 of bare",
        ours.rate >= bare.rate / 2.0,
    );
    let ledger = ledger_only("bench-duplicates.ledger", DUPLICATES).await?;
    let ceiling = ledger.min(bare.rate);
    println!(
        "ingest/same-writes    {DUPLICATES:>7} rows  ledger rows only {ledger:>8.0} rows/s | ceiling min(bare, ledger) {ceiling:>8.0} msg/s | 99%-duplicates at {:.3} of it",
        ours.rate / ceiling
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
