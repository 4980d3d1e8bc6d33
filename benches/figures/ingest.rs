//! Ingestion throughput: messages per second from Kafka (the mock cluster over TCP) to a durable
//! fate through the real consumer and admission (in-memory API server, PostgreSQL), for a stream of
//! unique PackageReleased messages (each one a SolverRun and a ledger row) and for a stream that is
//! 99% duplicates, beside a bare rdkafka consumer reading the same topic (the ceiling).
//!
//! Every figure is wall time from subscribing to the last record's durable fate (for the ceiling:
//! its receipt), group join included. Targets (issue 10): ≥ 2,000 unique messages/s; the
//! duplicate-heavy stream ≥ 50% of the bare rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::ApiServer;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
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
use thoth_operator::store::{Store, StoreConfig};
use tokio::sync::watch;

const MESSAGES: usize = 20_000;
const PARTITIONS: u16 = 4;
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

async fn produce(kafka: &KafkaHost, topic: &str, payloads: &[Vec<u8>]) -> BenchResult<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("linger.ms", "5")
        .create()?;
    for chunk in payloads.chunks(5_000) {
        let sends = chunk.iter().map(|payload| {
            producer.send(
                FutureRecord::<(), [u8]>::to(topic).payload(payload),
                Timeout::After(Duration::from_secs(30)),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| e)?;
        }
    }
    Ok(())
}

/// The ceiling: a group consumer that only receives.
async fn bare(kafka: &KafkaHost, topic: &str, count: usize) -> BenchResult<f64> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", "bench-bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let started = Instant::now();
    consumer.subscribe(&[topic])?;
    for _ in 0..count {
        consumer.recv().await?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(rate)
}

/// Kafka → consumer → admission → durable fate, for `payloads` on a fresh cluster, database and
/// API server, then checks the ledger and the SolverRuns; also returns the bare consumer's rate on
/// the same topic (measured first, on its own).
/// `distinct` is how many different releases `payloads` holds: the SolverRuns expected.
async fn end_to_end(name: &str, payloads: &[Vec<u8>], distinct: usize) -> BenchResult<(f64, f64)> {
    let prefix = TopicPrefix::new(name)?;
    let kafka = KafkaHost::start(prefix.clone(), 1, PARTITIONS)?;
    let topic = prefix.topic_for(MessageKind::PackageReleased);
    produce(&kafka, &topic, payloads).await?;
    let bare_rate = bare(&kafka, &topic, payloads.len()).await?;

    let db = TestDatabase::create().await?;
    let store = Store::open(&StoreConfig {
        max_connections: 4,
        ..StoreConfig::new(db.options.clone())
    })
    .await?;
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
    let started = Instant::now();
    let consumer = {
        let sink = sink.clone();
        let prefix = prefix.clone();
        tokio::spawn(async move {
            run_consumer(
                &kafka_config,
                &prefix,
                sink,
                IngestMetrics::new(),
                ConsumerSettings::default(),
                async {
                    let _ = stopped.await;
                },
            )
            .await
        })
    };
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
    let rate = count as f64 / started.elapsed().as_secs_f64();
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
    Ok((rate, bare_rate))
}

async fn bench() -> BenchResult<()> {
    let unique: Vec<Vec<u8>> = (0..MESSAGES).map(release).collect();
    let (rate, bare_rate) = end_to_end("bench-unique", &unique, MESSAGES).await?;
    println!(
        "ingest/unique          {MESSAGES} msgs  end to end {rate:>8.0} msg/s | bare consumer {bare_rate:>8.0} msg/s | ratio {:.3} | target ≥ 2,000 msg/s: {}",
        rate / bare_rate,
        verdict(rate >= 2_000.0)
    );
    // 99% duplicates: 1% of the messages are distinct releases, each sent 100 times, interleaved.
    let distinct = MESSAGES / 100;
    let duplicates: Vec<Vec<u8>> = (0..MESSAGES).map(|i| release(i % distinct)).collect();
    let (rate, bare_rate) = end_to_end("bench-duplicates", &duplicates, distinct).await?;
    println!(
        "ingest/99%-duplicates  {MESSAGES} msgs  end to end {rate:>8.0} msg/s | bare consumer {bare_rate:>8.0} msg/s | ratio {:.3} | target ≥ 0.5 of bare: {}",
        rate / bare_rate,
        verdict(rate >= bare_rate / 2.0)
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
