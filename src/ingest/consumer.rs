//! The group consumer: a loop that only moves records (style pattern 8).
//!
//! It polls Thoth's live topics, gathers records into batches (up to [`ConsumerSettings::max_batch`],
//! or whatever arrived within [`ConsumerSettings::linger`]) and hands up to
//! [`ConsumerSettings::max_in_flight`] batches to the [`Sink`] at once. When a batch's fates are
//! durable and its dead letters acknowledged, its offsets are marked in the [`OffsetTracker`], and
//! only each partition's contiguous durable prefix is stored; librdkafka commits stored offsets
//! (never positions) periodically, on rebalance and on close, and shutdown commits them once more
//! synchronously.
//!
//! Back-pressure: a batch the sink fails pauses its partitions and is retried with exponential
//! backoff until it succeeds; then they resume. When admission is slower than Kafka and
//! [`ConsumerSettings::max_buffered`] records wait for a batch slot, every assigned partition is
//! paused too, until the wait is down to a quarter of that. In both cases the loop goes on polling,
//! so the consumer stays in its group and hears rebalances. Nothing is stored meanwhile.
//!
//! Rebalance: partitions being revoked first store what is durable, then lose their pending state;
//! work still running for them finishes into nothing and their next owner repeats it from the
//! committed offset, which admission turns into the same fates.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::KafkaConfig;
use super::dead_letter::{DeadLetterError, DeadLetterProducer, Origin};
use super::metrics::{
    ErrorLabels, IngestMetrics, MessageLabels, PartitionLabels, TypeLabels, message_type_label,
};
use super::offsets::{OffsetTracker, PartitionKey, Ticket};
use super::sink::{Record, Sink, SinkError, SinkFate};
use crate::messages::TopicPrefix;
use crate::telemetry::{KAFKA_CONSUMER, Readiness, error_chain};

/// Batching, concurrency and retry settings of the consumer loop.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Most records handed to the sink in one call (one store transaction).
    pub max_batch: usize,
    /// How long the first record of a batch waits for more before the batch goes anyway.
    pub linger: Duration,
    /// Batches with the sink at once.
    pub max_in_flight: usize,
    /// Records received and waiting for a batch slot at which every assigned partition is paused;
    /// they resume when a quarter of that is left. Bounds the consumer's memory (a record of
    /// Thoth's is a few hundred bytes: 32,000 are about 13 MB) and keeps pauses rare, since each
    /// costs a refetch (see the loop).
    pub max_buffered: usize,
    /// First retry delay after a failed batch; doubles per attempt up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// On shutdown, how long to wait for batches already with the sink.
    pub drain_timeout: Duration,
    /// Where to report whether the consumer is in its group (part
    /// [`crate::telemetry::KAFKA_CONSUMER`]): not ready from the start until the group assigns it
    /// partitions (none is an assignment too), again from a revocation until the next assignment,
    /// and once it stopped.
    pub readiness: Option<Readiness>,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            // Only reached when the consumer is behind (the linger sends what came sooner): the
            // batch's store round trips and transaction are then shared by more records.
            max_batch: 2_000,
            linger: Duration::from_millis(20),
            max_in_flight: 4,
            max_buffered: 32_000,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            readiness: None,
        }
    }
}

impl ConsumerSettings {
    /// The delay before retry number `attempt` (0-based): exponential, capped, with jitter so that
    /// replicas do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .backoff_min
            .saturating_mul(2u32.saturating_pow(attempt.min(20)));
        let capped = exponential.min(self.backoff_max);
        capped.mul_f64(rand::random_range(0.5..=1.0))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("Kafka is not configured (no bootstrap servers)")]
    NotConfigured,
    #[error("failed to create the Kafka consumer")]
    Client(#[source] KafkaError),
    #[error("failed to subscribe to Thoth's topics")]
    Subscribe(#[source] KafkaError),
    #[error("failed to set up the dead-letter producer")]
    DeadLetter(#[source] DeadLetterError),
}

enum RebalanceEvent {
    Assigned(Vec<PartitionKey>),
    Revoked(Vec<PartitionKey>),
}

fn keys_of(tpl: &TopicPartitionList) -> Vec<PartitionKey> {
    tpl.elements()
        .iter()
        .map(|e| PartitionKey::new(e.topic(), e.partition()))
        .collect()
}

fn lock(tracker: &Mutex<OffsetTracker>) -> MutexGuard<'_, OffsetTracker> {
    // A panic while holding the lock cannot leave the tracker half-updated in a way that matters
    // more than stopping ingestion would: keep going with what is there.
    tracker
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Offsets as a list librdkafka takes; the caller drops it before the consumer (infra.md §2a).
fn offsets_list(offsets: &[(PartitionKey, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (key, offset) in offsets {
        if let Err(error) =
            tpl.add_partition_offset(&key.topic, key.partition, Offset::Offset(*offset))
        {
            tracing::warn!(topic = %key.topic, partition = key.partition, error = %error, "cannot list an offset to store");
        }
    }
    tpl
}

struct IngestContext {
    tracker: Arc<Mutex<OffsetTracker>>,
    /// Offsets stored and perhaps not yet committed, per partition.
    stored: Arc<Mutex<HashMap<PartitionKey, i64>>>,
    events: mpsc::UnboundedSender<RebalanceEvent>,
    metrics: IngestMetrics,
    readiness: Option<Readiness>,
}

impl IngestContext {
    fn not_ready(&self, why: &str) {
        if let Some(readiness) = &self.readiness {
            readiness.not_ready(KAFKA_CONSUMER, why);
        }
    }
}

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, topic_stats) in &statistics.topics {
            for (partition, stats) in &topic_stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a lag of -1 means unknown.
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .get_or_create(&PartitionLabels {
                            topic: topic.clone(),
                            partition: partition.to_string(),
                        })
                        .set(stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let keys = keys_of(tpl);
                let storable = {
                    let mut tracker = lock(&self.tracker);
                    let storable = tracker.take_storable_of(&keys);
                    for key in &keys {
                        tracker.revoke(key);
                    }
                    storable
                };
                // Commit what is durable before the partitions go, and wait for it: the next owner
                // reads the committed offset as soon as the group settles, and an asynchronous
                // commit still in flight then would make it redo work already done here.
                let to_commit: Vec<(PartitionKey, i64)> = {
                    let mut stored = lock_stored(&self.stored);
                    for (key, offset) in storable {
                        stored.insert(key, offset);
                    }
                    keys.iter()
                        .filter_map(|key| stored.remove(key).map(|offset| (key.clone(), offset)))
                        .collect()
                };
                if !to_commit.is_empty() {
                    let list = offsets_list(&to_commit);
                    if let Err(error) = consumer.commit(&list, CommitMode::Sync) {
                        tracing::warn!(error = %error, "cannot commit durable offsets of revoked partitions");
                    }
                    drop(list);
                }
                for key in &keys {
                    self.metrics.consumer_lag.remove(&PartitionLabels {
                        topic: key.topic.clone(),
                        partition: key.partition.to_string(),
                    });
                }
                self.not_ready(
                    "rebalancing: partitions revoked, waiting for the group's assignment",
                );
                tracing::info!(partitions = keys.len(), "partitions revoked");
                let _ = self.events.send(RebalanceEvent::Revoked(keys));
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => tracing::warn!(error = %error, "rebalance failed"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // A partition paused by an earlier owner's loop (ours, before a revoke) must not stay so.
            if let Err(error) = consumer.resume(tpl) {
                tracing::debug!(error = %error, "cannot resume newly assigned partitions");
            }
            let keys = keys_of(tpl);
            if let Some(readiness) = &self.readiness {
                readiness.ready(KAFKA_CONSUMER);
            }
            tracing::info!(partitions = keys.len(), "partitions assigned");
            let _ = self.events.send(RebalanceEvent::Assigned(keys));
        }
    }
}

/// A received record with what the dead-letter topic and the metrics need besides [`Record`].
struct Received {
    ticket: Ticket,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    received_at: Instant,
    message_type: &'static str,
}

struct BatchOutcome {
    id: u64,
    tickets: Vec<Ticket>,
}

/// What a batch task needs besides its records.
struct BatchEnv<S> {
    sink: Arc<S>,
    dead_letters: Arc<DeadLetterProducer>,
    tracker: Arc<Mutex<OffsetTracker>>,
    failing: mpsc::UnboundedSender<(u64, Vec<PartitionKey>)>,
    metrics: IngestMetrics,
    settings: ConsumerSettings,
}

impl<S> Clone for BatchEnv<S> {
    fn clone(&self) -> Self {
        Self {
            sink: self.sink.clone(),
            dead_letters: self.dead_letters.clone(),
            tracker: self.tracker.clone(),
            failing: self.failing.clone(),
            metrics: self.metrics.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S: Sink> BatchEnv<S> {
    fn partitions_of(received: &[Received]) -> Vec<PartitionKey> {
        let keys: BTreeSet<PartitionKey> = received.iter().map(|r| r.ticket.key.clone()).collect();
        keys.into_iter().collect()
    }

    /// Admits the batch until it succeeds, pausing its partitions while it fails; then publishes
    /// its dead letters. Records of partitions revoked meanwhile are dropped along the way.
    async fn run(
        self,
        id: u64,
        mut records: Vec<Record>,
        mut received: Vec<Received>,
    ) -> BatchOutcome {
        self.metrics.batch_size.observe(records.len() as f64);
        let mut attempt = 0u32;
        let mut reported = false;
        let fates = loop {
            let error = match self.sink.admit(&records).await {
                Ok(fates) if fates.len() == records.len() => break fates,
                Ok(fates) => {
                    tracing::error!(
                        records = records.len(),
                        fates = fates.len(),
                        "admission returned a fate count that does not match the batch; retrying the batch"
                    );
                    "permanent"
                }
                Err(error) => {
                    let transient = error.is_transient();
                    if transient {
                        tracing::warn!(error = %error_chain(&error), records = records.len(), attempt, "admission is unavailable; pausing the batch's partitions and retrying");
                    } else {
                        tracing::error!(error = %error_chain(&error), records = records.len(), attempt, "admission failed; pausing the batch's partitions and retrying");
                    }
                    if transient { "transient" } else { "permanent" }
                }
            };
            self.metrics
                .admit_errors
                .get_or_create(&ErrorLabels {
                    class: error.to_string(),
                })
                .inc();
            if !reported {
                reported = true;
                let _ = self.failing.send((id, Self::partitions_of(&received)));
            }
            tokio::time::sleep(self.settings.backoff(attempt)).await;
            attempt = attempt.saturating_add(1);
            // A revoked partition's next owner repeats its records; stop spending time on them.
            let current: Vec<bool> = {
                let tracker = lock(&self.tracker);
                received
                    .iter()
                    .map(|r| tracker.is_current(&r.ticket))
                    .collect()
            };
            if current.iter().any(|c| !c) {
                let mut keep = current.iter();
                records.retain(|_| *keep.next().unwrap_or(&false));
                let mut keep = current.iter();
                received.retain(|_| *keep.next().unwrap_or(&false));
            }
            if records.is_empty() {
                return BatchOutcome {
                    id,
                    tickets: Vec::new(),
                };
            }
        };

        // Dead letters go out together; each is awaited before any offset of the batch is stored.
        let reported = AtomicBool::new(reported);
        let dead_letters =
            records
                .iter()
                .zip(&received)
                .zip(&fates)
                .filter_map(|((record, meta), fate)| {
                    let (reason, detail) = fate.dead_letter()?;
                    Some(self.publish_dead_letter(id, record, meta, reason, detail, &reported))
                });
        futures::future::join_all(dead_letters).await;
        let now = Instant::now();
        // Counted per label pair first: a batch of repeats is one or two pairs, and each
        // `get_or_create` allocates its labels and takes the family's lock.
        let mut counts: HashMap<(&'static str, &'static str), u64> = HashMap::new();
        for (meta, fate) in received.iter().zip(&fates) {
            *counts.entry((meta.message_type, fate.label())).or_default() += 1;
        }
        for ((message_type, fate), count) in counts {
            self.metrics
                .messages
                .get_or_create(&MessageLabels {
                    message_type: message_type.to_string(),
                    fate: fate.to_string(),
                })
                .inc_by(count);
        }
        for meta in &received {
            self.metrics.durable_latency_seconds.observe(
                now.saturating_duration_since(meta.received_at)
                    .as_secs_f64(),
            );
        }
        BatchOutcome {
            id,
            tickets: received.into_iter().map(|r| r.ticket).collect(),
        }
    }

    async fn publish_dead_letter(
        &self,
        id: u64,
        record: &Record,
        meta: &Received,
        reason: &str,
        detail: &str,
        reported: &AtomicBool,
    ) {
        let origin = Origin {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            key: meta.key.as_deref(),
            payload: record.payload.as_deref(),
            headers: &meta.headers,
        };
        let mut attempt = 0u32;
        loop {
            match self.dead_letters.send(&origin, reason, detail).await {
                Ok(()) => {
                    self.metrics
                        .dead_letters
                        .get_or_create(&TypeLabels {
                            message_type: meta.message_type.to_string(),
                        })
                        .inc();
                    tracing::info!(topic = %record.topic, partition = record.partition, offset = record.offset, reason, "dead-lettered");
                    return;
                }
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "cannot publish a dead letter; pausing its partition and retrying");
                    if !reported.swap(true, Ordering::Relaxed) {
                        let _ = self.failing.send((id, vec![meta.ticket.key.clone()]));
                    }
                    tokio::time::sleep(self.settings.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    if !lock(&self.tracker).is_current(&meta.ticket) {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether the loop holds every partition paused because admission is behind: from the moment
/// `buffered` records wait for a batch slot (`max_buffered` or more) until at most a quarter of
/// `max_buffered` is left (`was`: whether it held them until now). The gap between the two levels
/// makes pauses rare: each one costs a refetch.
fn holding_back(was: bool, buffered: usize, max_buffered: usize) -> bool {
    if buffered >= max_buffered {
        true
    } else if buffered <= max_buffered / 4 {
        false
    } else {
        was
    }
}

/// Partitions to hold paused, from what the loop knows.
fn paused_wanted(
    assigned: &BTreeSet<PartitionKey>,
    failing: &HashMap<u64, Vec<PartitionKey>>,
    saturated: bool,
) -> BTreeSet<PartitionKey> {
    if saturated {
        return assigned.clone();
    }
    failing
        .values()
        .flatten()
        .filter(|key| assigned.contains(*key))
        .cloned()
        .collect()
}

fn partition_list(keys: &BTreeSet<PartitionKey>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(keys.len());
    for key in keys {
        tpl.add_partition(&key.topic, key.partition);
    }
    tpl
}

/// Consumes Thoth's live topics of `prefix` until `shutdown` completes, handing records to `sink`;
/// see the module documentation. Returns an error only when it cannot start: once running, every
/// failure is logged and retried.
pub async fn run_consumer<S: Sink>(
    config: &KafkaConfig,
    prefix: &TopicPrefix,
    sink: Arc<S>,
    metrics: IngestMetrics,
    settings: ConsumerSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    if !config.is_configured() {
        return Err(IngestError::NotConfigured);
    }
    let tracker = Arc::new(Mutex::new(OffsetTracker::new()));
    let (rebalance_tx, mut rebalance_rx) = mpsc::unbounded_channel();
    let stored: Arc<Mutex<HashMap<PartitionKey, i64>>> = Arc::default();
    let context = IngestContext {
        tracker: tracker.clone(),
        stored: stored.clone(),
        events: rebalance_tx,
        metrics: metrics.clone(),
        readiness: settings.readiness.clone(),
    };
    context.not_ready("has not joined its consumer group yet");
    let consumer: StreamConsumer<IngestContext> = config
        .consumer_config()
        .create_with_context(context)
        .map_err(IngestError::Client)?;
    let topics = prefix.live_topics();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topic_refs)
        .map_err(IngestError::Subscribe)?;
    let dead_letters =
        Arc::new(DeadLetterProducer::new(config, prefix).map_err(IngestError::DeadLetter)?);
    tracing::info!(group = %config.group_id, topics = topics.len(), prefix = %prefix, "consuming");

    let (failing_tx, mut failing_rx) = mpsc::unbounded_channel();
    let env = BatchEnv {
        sink,
        dead_letters,
        tracker: tracker.clone(),
        failing: failing_tx,
        metrics: metrics.clone(),
        settings: settings.clone(),
    };
    let max_batch = settings.max_batch.max(1);
    let max_in_flight = settings.max_in_flight.max(1);
    let max_buffered = settings.max_buffered.max(max_batch);
    let mut saturated = false;
    let mut batches: JoinSet<BatchOutcome> = JoinSet::new();
    let mut task_batches: HashMap<tokio::task::Id, u64> = HashMap::new();
    let mut records: Vec<Record> = Vec::new();
    let mut received: Vec<Received> = Vec::new();
    let mut linger_until: Option<Instant> = None;
    let mut next_id = 0u64;
    let mut failing: HashMap<u64, Vec<PartitionKey>> = HashMap::new();
    let mut assigned: BTreeSet<PartitionKey> = BTreeSet::new();
    let mut paused: BTreeSet<PartitionKey> = BTreeSet::new();
    tokio::pin!(shutdown);

    loop {
        // Hand out batches while there are free slots and a batch is full or has waited enough.
        while !records.is_empty()
            && batches.len() < max_in_flight
            && (records.len() >= max_batch || linger_until.is_some_and(|t| t <= Instant::now()))
        {
            let take = records.len().min(max_batch);
            let batch_records: Vec<Record> = records.drain(..take).collect();
            let batch_received: Vec<Received> = received.drain(..take).collect();
            next_id += 1;
            let handle = batches.spawn(env.clone().run(next_id, batch_records, batch_received));
            task_batches.insert(handle.id(), next_id);
            linger_until = (!records.is_empty()).then(|| Instant::now() + settings.linger);
        }

        // Pausing is not free: librdkafka drops what it prefetched for a paused partition and
        // fetches again only some hundreds of milliseconds after the resume (the duplicates bench
        // of issue 10 spent most of its time in those gaps, at twice the rate once the pauses
        // were rare). So many batches' worth is buffered here before anything is paused, and the
        // partitions resume only once most of it has gone to the sink.
        saturated = holding_back(saturated, records.len(), max_buffered);
        let wanted = paused_wanted(&assigned, &failing, saturated);
        let to_pause: BTreeSet<PartitionKey> = wanted.difference(&paused).cloned().collect();
        let to_resume: BTreeSet<PartitionKey> = paused.difference(&wanted).cloned().collect();
        if !to_pause.is_empty() {
            let list = partition_list(&to_pause);
            if let Err(error) = consumer.pause(&list) {
                tracing::warn!(error = %error, "cannot pause partitions");
            }
            drop(list);
            paused.extend(to_pause);
        }
        if !to_resume.is_empty() {
            let list = partition_list(&to_resume);
            if let Err(error) = consumer.resume(&list) {
                tracing::warn!(error = %error, "cannot resume partitions");
            }
            drop(list);
            for key in &to_resume {
                paused.remove(key);
            }
        }
        metrics.paused_partitions.set(paused.len() as i64);

        let slot_free = batches.len() < max_in_flight;
        let linger = async {
            match linger_until {
                Some(until) if slot_free => tokio::time::sleep_until(until).await,
                _ => std::future::pending().await,
            }
        };

        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(event) = rebalance_rx.recv() => match event {
                RebalanceEvent::Assigned(keys) => {
                    for key in keys {
                        paused.remove(&key);
                        assigned.insert(key);
                    }
                }
                RebalanceEvent::Revoked(keys) => {
                    for key in &keys {
                        assigned.remove(key);
                        paused.remove(key);
                    }
                    // Records not yet handed out for a revoked partition belong to its next owner.
                    let tracker_guard = lock(&tracker);
                    let keep: Vec<bool> = received.iter().map(|r| tracker_guard.is_current(&r.ticket)).collect();
                    drop(tracker_guard);
                    let mut it = keep.iter();
                    records.retain(|_| *it.next().unwrap_or(&false));
                    let mut it = keep.iter();
                    received.retain(|_| *it.next().unwrap_or(&false));
                    if records.is_empty() {
                        linger_until = None;
                    }
                }
            },
            Some((id, keys)) = failing_rx.recv() => {
                failing.insert(id, keys);
            }
            Some(joined) = batches.join_next_with_id(), if !batches.is_empty() => {
                match joined {
                    Ok((task, outcome)) => {
                        task_batches.remove(&task);
                        failing.remove(&outcome.id);
                        complete(&consumer, &tracker, &outcome.tickets, &stored);
                    }
                    // A batch task panicked: its offsets stay unstored, so its records come back
                    // after a restart or rebalance; its partitions need not stay paused.
                    Err(error) => {
                        tracing::error!(error = %error, "a batch task ended abnormally");
                        if let Some(id) = task_batches.remove(&error.id()) {
                            failing.remove(&id);
                        }
                    }
                }
            }
            () = linger => {}
            message = consumer.recv() => match message {
                Ok(message) => {
                    let topic = message.topic();
                    let ticket = match lock(&tracker).receive(topic, message.partition(), message.offset()) {
                        Ok(ticket) => ticket,
                        Err(error) => {
                            tracing::warn!(error = %error, "ignoring a record delivered out of order");
                            continue;
                        }
                    };
                    let headers = message
                        .headers()
                        .map(|headers| {
                            headers
                                .iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default();
                    records.push(Record {
                        topic: topic.to_string(),
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload().map(<[u8]>::to_vec),
                        timestamp_ms: message.timestamp().to_millis(),
                    });
                    received.push(Received {
                        ticket,
                        key: message.key().map(<[u8]>::to_vec),
                        headers,
                        received_at: Instant::now(),
                        message_type: message_type_label(prefix, topic),
                    });
                    if linger_until.is_none() {
                        linger_until = Some(Instant::now() + settings.linger);
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "Kafka consumer error");
                    // Errors come from the broker connection; do not spin on them.
                    tokio::time::sleep(settings.backoff_min).await;
                }
            },
        }
    }

    // Shutdown: no new batches; let those with the sink finish, store and commit what is durable.
    let drain = async {
        while let Some(joined) = batches.join_next().await {
            if let Ok(outcome) = joined {
                complete(&consumer, &tracker, &outcome.tickets, &stored);
            }
        }
    };
    if tokio::time::timeout(settings.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("batches still with admission at shutdown are left to be redelivered");
        batches.abort_all();
    }
    let offsets: Vec<(PartitionKey, i64)> = std::mem::take(&mut *lock_stored(&stored))
        .into_iter()
        .collect();
    if !offsets.is_empty() {
        let list = offsets_list(&offsets);
        if let Err(error) = consumer.commit(&list, CommitMode::Sync) {
            tracing::warn!(error = %error, "cannot commit durable offsets at shutdown");
        }
        drop(list);
    }
    // Closing leaves the group and waits for librdkafka's threads: keep it off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    if let Some(readiness) = &settings.readiness {
        readiness.not_ready(KAFKA_CONSUMER, "stopped");
    }
    tracing::info!("consumer stopped");
    Ok(())
}

/// Marks tickets durable and stores each partition's new contiguous offset.
fn lock_stored(
    stored: &Mutex<HashMap<PartitionKey, i64>>,
) -> MutexGuard<'_, HashMap<PartitionKey, i64>> {
    stored
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn complete(
    consumer: &StreamConsumer<IngestContext>,
    tracker: &Mutex<OffsetTracker>,
    tickets: &[Ticket],
    stored: &Mutex<HashMap<PartitionKey, i64>>,
) {
    let storable = {
        let mut tracker = lock(tracker);
        for ticket in tickets {
            tracker.complete(ticket);
        }
        tracker.take_storable()
    };
    if storable.is_empty() {
        return;
    }
    let list = offsets_list(&storable);
    match consumer.store_offsets(&list) {
        Ok(()) => {
            let mut stored = lock_stored(stored);
            for (key, offset) in storable {
                stored.insert(key, offset);
            }
        }
        Err(error) => tracing::warn!(error = %error, "cannot store durable offsets"),
    }
    drop(list);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        PartitionKey::new("t", p)
    }

    #[test]
    fn failing_batches_pause_only_their_assigned_partitions_and_saturation_pauses_all() {
        let assigned: BTreeSet<PartitionKey> = [key(0), key(1), key(2)].into();
        let mut failing = HashMap::new();
        failing.insert(7, vec![key(1), key(9)]);
        assert_eq!(paused_wanted(&assigned, &failing, false), [key(1)].into());
        assert_eq!(paused_wanted(&assigned, &failing, true), assigned);
        assert!(paused_wanted(&assigned, &HashMap::new(), false).is_empty());
    }

    #[test]
    fn a_full_buffer_holds_partitions_back_until_three_quarters_of_it_went_to_the_sink() {
        assert!(!holding_back(false, 999, 1_000));
        assert!(holding_back(false, 1_000, 1_000));
        // Between the levels, the state stays what it was.
        assert!(holding_back(true, 251, 1_000));
        assert!(!holding_back(false, 251, 1_000));
        assert!(!holding_back(true, 250, 1_000));
        assert!(!holding_back(true, 0, 1_000));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_below_it() {
        let settings = ConsumerSettings {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..ConsumerSettings::default()
        };
        let first = settings.backoff(0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for attempt in [5, 30, u32::MAX] {
            let delay = settings.backoff(attempt);
            assert!(
                delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2),
                "{delay:?}"
            );
        }
    }
}
