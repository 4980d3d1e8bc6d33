//! `sandbox --demo`: publishes a realistic stream of Thoth messages, shows the loop working on it
//! live, then a summary, and judges whether the loop completed as it should.
//!
//! The stream ([`stream`]): new releases, unresolved packages for several solvers with many
//! duplicates (one without a version, so the local index expands it), an advice request (the Argo
//! stand-in reports unresolved packages for it) with the unresolved packages Thoth's adviser
//! publishes for such a run (solver work on PyPI, for every configured solver), a missing version, a package without a source distribution, and a few malformed messages.
//!
//! What it watches ([`Snapshot`]): the operator's own metrics (messages by fate, dead letters,
//! active and queued Workflows per namespace, follow-up messages published), the resources by kind
//! and phase through the API server, and the store's outcome rows. [`verdict`] says what is still
//! missing; the demo ends when nothing is and the picture has stopped changing, or at its deadline.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kube::api::{Api, ListParams};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

use crate::api::{AdviceRequest, Phase, SecurityIndicatorRun, SolverRun};
use crate::messages::{MessageKind, TopicPrefix};
use crate::package::{IndexUrl, PackageName, PackageVersion};
use crate::store::{Store, StoreConfig, VersionKey};

use super::PYPI_SIMPLE;

/// The solvers the demo names (the operator's default `--solvers`).
pub const SOLVERS: [&str; 3] = [
    "solver-rhel-8-py38",
    "solver-fedora-34-py39",
    "solver-fedora-35-py310",
];
/// The package the demo's advice run left unresolved (on PyPI), as the Argo stand-in reports it.
const ADVICE_UNRESOLVED: &str = "flask";
const ADVICE_UNRESOLVED_VERSION: &str = "2.0.1";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("failed to create the demo's Kafka producer")]
    Producer(#[source] rdkafka::error::KafkaError),
    #[error("failed to publish the demo's message {what} to {topic}")]
    Publish {
        what: String,
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("failed to open the sandbox's store")]
    Store(#[source] crate::store::StoreError),
}

/// One record of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    /// What it shows, for the log.
    pub what: String,
}

/// What the stream must lead to, counted when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expectations {
    /// Records published.
    pub published: u64,
    /// Records that must be dead-lettered (malformed, unregistered index, invalid name).
    pub dead_letters: u64,
    /// Records repeating an identity already sent (each is a duplicate, or skipped once solved).
    pub repeats: u64,
    /// Records setting a flag.
    pub flags: u64,
}

/// The demo's stream and what it must lead to.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStream {
    pub messages: Vec<DemoMessage>,
    pub expect: Expectations,
    /// The advice request's job id.
    pub job_id: String,
}

fn body(kind: MessageKind, fields: Value) -> Vec<u8> {
    let mut body = json!({
        "component_name": "thoth-operator-sandbox-demo",
        "service_version": env!("CARGO_PKG_VERSION"),
        "version": kind.current_version(),
    });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    body.to_string().into_bytes()
}

/// Builds the stream for a deployment's topics, with `local` the sandbox's package index.
pub fn stream(prefix: &TopicPrefix, local: &IndexUrl, job_suffix: &str) -> DemoStream {
    let mut messages = Vec::new();
    let mut expect = Expectations::default();
    let local = local.as_str();
    let mut push = |kind: MessageKind, fields: Value, what: String| {
        messages.push(DemoMessage {
            topic: prefix.topic_for(kind),
            payload: body(kind, fields),
            what,
        });
    };
    // New releases on the local index: one SolverRun per solver each.
    for (name, version) in [
        ("flask", "3.1.0"),
        ("requests", "2.32.3"),
        ("urllib3", "2.2.3"),
    ] {
        push(
            MessageKind::PackageReleased,
            json!({"package_name": name, "package_version": version, "index_url": local}),
            format!("release {name}=={version}"),
        );
    }
    // Unresolved packages for one solver each, sent many times over (Thoth's adviser repeats them).
    for (name, version, solver, times) in [
        ("urllib3", "1.26.20", SOLVERS[0], 6),
        ("requests", "2.31.0", SOLVERS[1], 4),
    ] {
        for _ in 0..times {
            push(
                MessageKind::UnresolvedPackage,
                json!({"package_name": name, "package_version": version,
                       "index_url": local, "solver": solver}),
                format!("unresolved {name}=={version} for {solver}"),
            );
        }
        expect.repeats += times - 1;
    }
    // No version: expanded into every version the local index lists.
    for _ in 0..3 {
        push(
            MessageKind::UnresolvedPackage,
            json!({"package_name": "Flask", "index_url": [local], "solver": SOLVERS[2]}),
            format!("unresolved flask (every version) for {}", SOLVERS[2]),
        );
    }
    expect.repeats += 2;
    // A release announced twice more.
    for _ in 0..2 {
        push(
            MessageKind::PackageReleased,
            json!({"package_name": "flask", "package_version": "3.1.0", "index_url": local}),
            "release flask==3.1.0 again".to_string(),
        );
    }
    expect.repeats += 2;
    // An advice request, and the unresolved packages Thoth's adviser publishes for it (no solver
    // named: every configured solver), twice each as an adviser re-run would.
    let job_id = format!("adviser-{job_suffix}");
    push(
        MessageKind::AdviserTrigger,
        json!({"recommendation_type": "latest", "job_id": job_id,
               "origin": "https://github.com/thoth-station/sandbox-demo", "source_type": "KEBECHET"}),
        format!("advice request {job_id}"),
    );
    for (name, version) in [
        (ADVICE_UNRESOLVED, ADVICE_UNRESOLVED_VERSION),
        ("werkzeug", "2.0.2"),
    ] {
        for _ in 0..2 {
            push(
                MessageKind::UnresolvedPackage,
                json!({"package_name": name, "package_version": version, "index_url": PYPI_SIMPLE}),
                format!("unresolved {name}=={version} on PyPI for {job_id}"),
            );
        }
        expect.repeats += 1;
    }
    // Flags.
    push(
        MessageKind::MissingVersion,
        json!({"package_name": "requests", "package_version": "2.32.0", "index_url": local}),
        "requests==2.32.0 is gone from the index".to_string(),
    );
    push(
        MessageKind::UpdateProvidesSourceDistro,
        json!({"package_name": "tensorflow-cpu", "package_version": "2.16.1",
               "index_url": local, "value": false}),
        "tensorflow-cpu==2.16.1 has no source distribution".to_string(),
    );
    expect.flags += 2;
    // Malformed: not JSON, a missing field, an invalid name, an index nobody registered.
    let unresolved = prefix.topic_for(MessageKind::UnresolvedPackage);
    messages.push(DemoMessage {
        topic: unresolved.clone(),
        payload: b"{not json".to_vec(),
        what: "malformed: not JSON".to_string(),
    });
    messages.push(DemoMessage {
        topic: unresolved,
        payload: body(
            MessageKind::UnresolvedPackage,
            json!({"solver": SOLVERS[0]}),
        ),
        what: "malformed: no package_name".to_string(),
    });
    let released = prefix.topic_for(MessageKind::PackageReleased);
    messages.push(DemoMessage {
        topic: released.clone(),
        payload: body(
            MessageKind::PackageReleased,
            json!({"package_name": "../../etc/passwd", "package_version": "1.0", "index_url": local}),
        ),
        what: "malformed: invalid package name".to_string(),
    });
    messages.push(DemoMessage {
        topic: released,
        payload: body(
            MessageKind::PackageReleased,
            json!({"package_name": "numpy", "package_version": "2.1.0",
                   "index_url": "https://unregistered.example/simple"}),
        ),
        what: "an index nobody registered".to_string(),
    });
    expect.dead_letters += 4;
    expect.published = messages.len() as u64;
    DemoStream {
        messages,
        expect,
        job_id,
    }
}

/// Publishes every record and waits for each acknowledgement.
pub async fn publish(bootstrap_servers: &str, stream: &DemoStream) -> Result<(), DemoError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(DemoError::Producer)?;
    let sends = stream.messages.iter().map(|message| {
        let producer = &producer;
        async move {
            let record: FutureRecord<'_, (), [u8]> =
                FutureRecord::to(&message.topic).payload(&message.payload);
            producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(source, _)| DemoError::Publish {
                    what: message.what.clone(),
                    topic: message.topic.clone(),
                    source,
                })
        }
    });
    futures::future::try_join_all(sends).await?;
    Ok(())
}

/// Sums of one metric family from Prometheus' text format, by the value of one label
/// (`""` when the sample has no such label). Unparseable lines are skipped.
pub fn metric_by_label(exposition: &str, family: &str, label: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(family) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(inner) => match inner.split_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let key = labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim() == label)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        *sums.entry(key).or_insert(0.0) += value;
    }
    sums
}

/// What the demo saw at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Messages by fate (`created`, `duplicate`, `flag_set`, `skipped`, `dead_letter`, …).
    pub fates: BTreeMap<String, u64>,
    pub dead_letters: u64,
    /// Follow-up messages the operator published (its outbox).
    pub follow_ups: u64,
    /// Active and queued Workflows per target namespace (the operator's gauges).
    pub active: BTreeMap<String, i64>,
    pub queued: BTreeMap<String, i64>,
    /// Resources by kind, then by phase (`-` before the first status).
    pub resources: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// SolverRuns for the package the advice run left unresolved.
    pub advice_follow_up_runs: u64,
    /// Whether the advice run's outcome (with its unresolved packages) is in the store.
    pub advice_recorded: bool,
    /// Finished resources whose outcome row is in the store, and those without one.
    pub outcome_rows: u64,
    pub missing_rows: Vec<String>,
}

impl Snapshot {
    pub fn fates_total(&self) -> u64 {
        self.fates.values().sum()
    }

    fn count(&self, kind: &str) -> u64 {
        self.resources.get(kind).map_or(0, |p| p.values().sum())
    }

    fn unfinished(&self) -> u64 {
        self.resources
            .values()
            .flat_map(|phases| phases.iter())
            .filter(|(phase, _)| !matches!(phase.as_str(), "Succeeded" | "Failed" | "Error"))
            .map(|(_, n)| n)
            .sum()
    }

    fn fate(&self, name: &str) -> u64 {
        self.fates.get(name).copied().unwrap_or(0)
    }
}

/// What is still missing for the loop to have completed as it should (empty: it has).
pub fn verdict(expect: &Expectations, seen: &Snapshot) -> Vec<String> {
    let mut missing = Vec::new();
    let wanted = expect.published + seen.follow_ups;
    if seen.fates_total() < wanted {
        missing.push(format!(
            "{} of {wanted} messages (published and follow-ups) have a durable fate",
            seen.fates_total()
        ));
    }
    if seen.dead_letters < expect.dead_letters {
        missing.push(format!(
            "{} of {} malformed messages dead-lettered",
            seen.dead_letters, expect.dead_letters
        ));
    }
    let repeats = seen.fate("duplicate") + seen.fate("skipped");
    if repeats < expect.repeats {
        missing.push(format!(
            "{repeats} of {} repeated messages found their existing work",
            expect.repeats
        ));
    }
    if seen.fate("flag_set") < expect.flags {
        missing.push(format!(
            "{} of {} flags set",
            seen.fate("flag_set"),
            expect.flags
        ));
    }
    for kind in ["SolverRun", "SecurityIndicatorRun", "AdviceRequest"] {
        if seen.count(kind) == 0 {
            missing.push(format!("no {kind} yet"));
        }
    }
    if seen.advice_follow_up_runs < SOLVERS.len() as u64 {
        missing.push(format!(
            "{} of {} SolverRuns for {ADVICE_UNRESOLVED}=={ADVICE_UNRESOLVED_VERSION}, which the advice run left unresolved",
            seen.advice_follow_up_runs,
            SOLVERS.len()
        ));
    }
    if !seen.advice_recorded {
        missing.push("no advice run outcome in the store".to_string());
    }
    let unfinished = seen.unfinished();
    if unfinished > 0 {
        missing.push(format!("{unfinished} resources not finished"));
    }
    let active: i64 = seen.active.values().sum::<i64>() + seen.queued.values().sum::<i64>();
    if active > 0 {
        missing.push(format!("{active} Workflows active or queued"));
    }
    if !seen.missing_rows.is_empty() {
        missing.push(format!(
            "no outcome row in the store for {}",
            seen.missing_rows.join(", ")
        ));
    }
    missing
}

/// Where the demo looks.
pub struct Watch {
    pub client: kube::Client,
    /// The demo's advice request's job id (its document id in the store).
    pub job_id: String,
    pub metrics_url: String,
    pub store: Store,
    pub http: reqwest::Client,
}

impl Watch {
    pub async fn connect(
        client: kube::Client,
        job_id: &str,
        metrics: std::net::SocketAddr,
        store: &StoreConfig,
    ) -> Result<Self, DemoError> {
        let mut store = store.clone();
        store.max_connections = 2;
        Ok(Self {
            client,
            job_id: job_id.to_string(),
            metrics_url: format!("http://{metrics}/metrics"),
            store: Store::connect(&store).await.map_err(DemoError::Store)?,
            http: reqwest::Client::new(),
        })
    }

    /// Looks at everything once; what cannot be read yet counts as nothing seen.
    pub async fn snapshot(&self) -> Snapshot {
        let mut seen = Snapshot::default();
        if let Ok(response) = self.http.get(&self.metrics_url).send().await
            && let Ok(text) = response.text().await
        {
            seen.fates = metric_by_label(&text, "thoth_operator_ingest_messages_total", "fate")
                .into_iter()
                .map(|(fate, n)| (fate, n as u64))
                .collect();
            seen.dead_letters =
                metric_by_label(&text, "thoth_operator_ingest_dead_letters_total", "")
                    .values()
                    .sum::<f64>() as u64;
            seen.follow_ups =
                metric_by_label(&text, "thoth_operator_ingest_outbox_published_total", "")
                    .values()
                    .sum::<f64>() as u64;
            let gauge = |family: &str| -> BTreeMap<String, i64> {
                metric_by_label(&text, family, "namespace")
                    .into_iter()
                    .map(|(namespace, n)| (namespace, n as i64))
                    .collect()
            };
            seen.active = gauge("thoth_operator_active_workflows");
            seen.queued = gauge("thoth_operator_queued_resources");
        }
        let params = ListParams::default();
        if let Ok(runs) = Api::<SolverRun>::all(self.client.clone())
            .list(&params)
            .await
        {
            let mut phases = BTreeMap::new();
            for run in &runs.items {
                *phases
                    .entry(phase_of(run.status.as_ref().and_then(|s| s.phase)))
                    .or_insert(0) += 1;
                if run.spec.package_name == ADVICE_UNRESOLVED
                    && run.spec.package_version.as_deref() == Some(ADVICE_UNRESOLVED_VERSION)
                {
                    seen.advice_follow_up_runs += 1;
                }
                if run.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded)
                    && let Some(key) = key(
                        &run.spec.package_name,
                        run.spec.package_version.as_deref(),
                        &run.spec.index_url,
                    )
                {
                    match self.store.is_solved(&key, &run.spec.solver).await {
                        Ok(true) => seen.outcome_rows += 1,
                        _ => seen
                            .missing_rows
                            .push(format!("SolverRun {}", kube::ResourceExt::name_any(run))),
                    }
                }
            }
            seen.resources.insert("SolverRun", phases);
        }
        if let Ok(runs) = Api::<SecurityIndicatorRun>::all(self.client.clone())
            .list(&params)
            .await
        {
            let mut phases = BTreeMap::new();
            for run in &runs.items {
                *phases
                    .entry(phase_of(run.status.as_ref().and_then(|s| s.phase)))
                    .or_insert(0) += 1;
                if run.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded)
                    && let Some(key) = key(
                        &run.spec.package_name,
                        Some(&run.spec.package_version),
                        &run.spec.index_url,
                    )
                {
                    match self.store.is_analysed(&key).await {
                        Ok(true) => seen.outcome_rows += 1,
                        _ => seen.missing_rows.push(format!(
                            "SecurityIndicatorRun {}",
                            kube::ResourceExt::name_any(run)
                        )),
                    }
                }
            }
            seen.resources.insert("SecurityIndicatorRun", phases);
        }
        if let Ok(requests) = Api::<AdviceRequest>::all(self.client.clone())
            .list(&params)
            .await
        {
            let mut phases = BTreeMap::new();
            for request in &requests.items {
                *phases
                    .entry(phase_of(request.status.as_ref().and_then(|s| s.phase)))
                    .or_insert(0) += 1;
            }
            seen.resources.insert("AdviceRequest", phases);
        }
        seen.advice_recorded = matches!(self.store.advice_run(&self.job_id).await, Ok(Some(_)));
        seen
    }
}

fn phase_of(phase: Option<Phase>) -> String {
    phase.map_or_else(|| "-".to_string(), |p| p.as_str().to_string())
}

fn key(name: &str, version: Option<&str>, index: &str) -> Option<VersionKey> {
    Some(VersionKey::new(
        PackageName::parse(name).ok()?,
        PackageVersion::parse(version?).ok()?,
        IndexUrl::parse(index).ok()?,
    ))
}

/// The progress lines: messages, resources, Workflows, dead letters.
pub fn progress_lines(seen: &Snapshot, expect: &Expectations) -> [String; 4] {
    let fates = if seen.fates.is_empty() {
        "none yet".to_string()
    } else {
        join(seen.fates.iter().map(|(f, n)| format!("{f} {n}")))
    };
    let resources = join(seen.resources.iter().map(|(kind, phases)| {
        format!(
            "{kind} [{}]",
            join(phases.iter().map(|(p, n)| format!("{p} {n}")))
        )
    }));
    let mut namespaces: Vec<&String> = seen.active.keys().chain(seen.queued.keys()).collect();
    namespaces.sort();
    namespaces.dedup();
    let workflows = if namespaces.is_empty() {
        "none".to_string()
    } else {
        join(namespaces.into_iter().map(|ns| {
            format!(
                "{ns}: {} active, {} queued",
                seen.active.get(ns).copied().unwrap_or(0),
                seen.queued.get(ns).copied().unwrap_or(0)
            )
        }))
    };
    [
        format!(
            "messages  {} of {} with a fate: {fates}",
            seen.fates_total(),
            expect.published + seen.follow_ups
        ),
        format!("resources {resources}"),
        format!("workflows {workflows}"),
        format!(
            "dead letters {} of {} expected; follow-ups published {}",
            seen.dead_letters, expect.dead_letters, seen.follow_ups
        ),
    ]
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

/// The summary tables: messages by fate, resources by kind and phase, and the checks.
pub fn summary(seen: &Snapshot, expect: &Expectations, missing: &[String]) -> String {
    let mut messages = Table::new();
    messages.load_preset(UTF8_FULL_CONDENSED);
    messages.set_header(["messages by fate", "count"]);
    for (fate, n) in &seen.fates {
        messages.add_row([
            Cell::new(fate),
            Cell::new(n).set_alignment(CellAlignment::Right),
        ]);
    }
    messages.add_row([
        Cell::new("published by the demo"),
        Cell::new(expect.published).set_alignment(CellAlignment::Right),
    ]);
    messages.add_row([
        Cell::new("follow-ups published by the operator"),
        Cell::new(seen.follow_ups).set_alignment(CellAlignment::Right),
    ]);
    messages.add_row([
        Cell::new("dead letters"),
        Cell::new(seen.dead_letters).set_alignment(CellAlignment::Right),
    ]);
    // "-": a resource without a phase yet; then every phase, in Phase's order.
    let phases: Vec<&str> = std::iter::once("-")
        .chain(
            <Phase as strum::VariantArray>::VARIANTS
                .iter()
                .map(|p| p.as_str()),
        )
        .collect();
    let mut resources = Table::new();
    resources.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["resource"];
    header.extend(&phases);
    resources.set_header(header);
    for (kind, counts) in &seen.resources {
        let mut row = vec![Cell::new(kind)];
        row.extend(phases.iter().map(|p| {
            Cell::new(counts.get(*p).copied().unwrap_or(0)).set_alignment(CellAlignment::Right)
        }));
        resources.add_row(row);
    }
    let mut out = format!("{messages}\n{resources}\n");
    out.push_str(&format!(
        "outcome rows in the store for succeeded resources: {}\n",
        seen.outcome_rows
    ));
    if missing.is_empty() {
        out.push_str("the loop completed: every message has a fate, every resource finished, the chain ran\n");
    } else {
        out.push_str("the loop did NOT complete:\n");
        for item in missing {
            out.push_str(&format!("  - {item}\n"));
        }
    }
    out
}

/// Shows progress until the verdict is empty and two snapshots in a row agree, or `deadline`
/// passes; returns the last snapshot and what was missing then (empty: success).
pub async fn watch_until_done(
    watch: &Watch,
    expect: &Expectations,
    deadline: Duration,
) -> (Snapshot, Vec<String>) {
    let started = Instant::now();
    let interactive = std::io::stdout().is_terminal();
    let bars = MultiProgress::with_draw_target(if interactive {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let lines: Vec<ProgressBar> = (0..4)
        .map(|_| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
        .collect();
    let mut previous: Option<Snapshot> = None;
    let mut last_plain = String::new();
    loop {
        let seen = watch.snapshot().await;
        let text = progress_lines(&seen, expect);
        if interactive {
            for (bar, line) in lines.iter().zip(&text) {
                bar.set_message(line.clone());
            }
        } else {
            let joined = text.join(" | ");
            if joined != last_plain {
                println!("[{:>5.1}s] {joined}", started.elapsed().as_secs_f64());
                last_plain = joined;
            }
        }
        let missing = verdict(expect, &seen);
        let settled = previous.as_ref() == Some(&seen);
        if (missing.is_empty() && settled) || started.elapsed() >= deadline {
            for bar in &lines {
                bar.finish();
            }
            return (seen, missing);
        }
        previous = Some(seen);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ParseConfig, parse};

    fn demo_stream() -> DemoStream {
        stream(
            &TopicPrefix::new("sandbox").unwrap(),
            &IndexUrl::parse("http://127.0.0.1:1234/simple").unwrap(),
            "261130150000-0a1b2c",
        )
    }

    #[test]
    fn every_message_but_the_malformed_ones_parses_as_the_consumer_will() {
        let demo = demo_stream();
        let config = ParseConfig::with_prefix(TopicPrefix::new("sandbox").unwrap());
        let failures: Vec<&str> = demo
            .messages
            .iter()
            .filter(|m| parse(&m.topic, &m.payload, &config).is_err())
            .map(|m| m.what.as_str())
            .collect();
        // Not JSON, a missing field and an invalid name fail to parse; the unregistered index
        // parses but is dead-lettered by admission.
        assert_eq!(
            failures,
            [
                "malformed: not JSON",
                "malformed: no package_name",
                "malformed: invalid package name"
            ]
        );
        assert_eq!(demo.expect.published, demo.messages.len() as u64);
        assert_eq!(demo.expect.dead_letters, 4);
        assert_eq!(demo.expect.repeats, 5 + 3 + 2 + 2 + 2);
        assert!(
            demo.messages
                .iter()
                .all(|m| m.topic.starts_with("sandbox."))
        );
    }

    #[test]
    fn metrics_are_summed_by_label() {
        let text = "# HELP x\n\
            thoth_operator_ingest_messages_total{message_type=\"a\",fate=\"created\"} 3\n\
            thoth_operator_ingest_messages_total{message_type=\"b\",fate=\"created\"} 2\n\
            thoth_operator_ingest_messages_total{message_type=\"b\",fate=\"duplicate\"} 1\n\
            thoth_operator_ingest_messages_total_other 9\n\
            thoth_operator_ingest_outbox_published_total 4\n";
        let fates = metric_by_label(text, "thoth_operator_ingest_messages_total", "fate");
        assert_eq!(fates["created"], 5.0);
        assert_eq!(fates["duplicate"], 1.0);
        assert_eq!(fates.len(), 2);
        let plain = metric_by_label(text, "thoth_operator_ingest_outbox_published_total", "");
        assert_eq!(plain[""], 4.0);
    }

    fn complete() -> Snapshot {
        let expect = demo_stream().expect;
        let mut seen = Snapshot::default();
        seen.fates.insert("created".into(), expect.published + 3);
        seen.fates.insert("duplicate".into(), expect.repeats);
        seen.fates.insert("flag_set".into(), expect.flags);
        seen.dead_letters = expect.dead_letters;
        seen.follow_ups = 3 + expect.repeats + expect.flags;
        for kind in ["SolverRun", "SecurityIndicatorRun", "AdviceRequest"] {
            seen.resources
                .insert(kind, BTreeMap::from([("Succeeded".to_string(), 2)]));
        }
        seen.advice_follow_up_runs = 3;
        seen.advice_recorded = true;
        seen
    }

    #[test]
    fn a_completed_loop_has_nothing_missing() {
        assert_eq!(
            verdict(&demo_stream().expect, &complete()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_gap_is_named() {
        let expect = demo_stream().expect;
        let mut seen = complete();
        seen.resources
            .get_mut("SolverRun")
            .unwrap()
            .insert("Running".into(), 1);
        seen.resources.remove("SecurityIndicatorRun");
        seen.dead_letters -= 1;
        seen.active.insert("thoth-middletier".into(), 1);
        seen.missing_rows.push("SolverRun x".into());
        seen.follow_ups += 100;
        let missing = verdict(&expect, &seen).join("\n");
        for needle in [
            "1 resources not finished",
            "no SecurityIndicatorRun",
            "3 of 4 malformed",
            "1 Workflows active",
            "SolverRun x",
            "have a durable fate",
        ] {
            assert!(missing.contains(needle), "{needle} in {missing}");
        }
    }

    #[test]
    fn the_summary_says_whether_the_loop_completed() {
        let expect = demo_stream().expect;
        let seen = complete();
        assert!(summary(&seen, &expect, &[]).contains("the loop completed"));
        let text = summary(&seen, &expect, &["no AdviceRequest yet".into()]);
        assert!(text.contains("did NOT complete") && text.contains("no AdviceRequest yet"));
    }
}
