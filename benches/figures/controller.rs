//! The controller against the in-memory API server (Thoth's CRDs and Argo's full Workflow CRD) and
//! a real PostgreSQL, each figure beside its target from issue 9:
//!
//! 1. resources reconciled into Workflows per second, beside the bare create rate of Workflows
//!    measured in the same run (target ≥ 50 %);
//! 2. latency resource created → Workflow seen, p50/p99, with resources created at 500/s
//!    (target p99 < 100 ms);
//! 3. slot freed → next Workflow seen, p99, with a deep queue (target < 1 s);
//! 4. API writes per admitted Workflow with `THOTH_BENCH_QUEUED` (default 10,000) resources queued
//!    (target ≤ 3);
//! 5. RSS growth of the process when the operator starts with `THOTH_BENCH_FINISHED` (default
//!    100,000) finished Workflows present (target < 300 MiB).
//!
//! Sizes: `THOTH_BENCH_QUEUED` and `THOTH_BENCH_FINISHED` shrink 4 and 5 on a slow machine;
//! `THOTH_BENCH_SKIP_THROUGHPUT` skips 1 and 2. The figures then say which sizes they used.
//!
//! No Argo runs: Workflows stay where the operator left them. A slot is freed by putting Argo's
//! `completed` label on a Workflow without a final phase, which the admission index counts as
//! finished while the resource has nothing to record, so the writes counted in 4 are admission's
//! alone. Latencies end when the bench's own watch sees the Workflow (watch delivery included).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::{ApiServer, RunningApiServer};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use testkit::TestDatabase;
use thoth_operator::api::argo::{COMPLETED_LABEL, Workflow};
use thoth_operator::api::{RESOURCE_FINALIZER, SolverRun, SolverRunSpec};
use thoth_operator::reconcile::workflow::{MANAGED_SELECTOR, run_of};
use thoth_operator::reconcile::{AdmissionLimits, ControllerMetrics, OperatorConfig};
use thoth_operator::store::{Store, StoreConfig};
use thoth_operator::telemetry::Readiness;
use tokio::sync::{mpsc, watch};

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const TARGET: &str = "thoth-middletier";
const THROUGHPUT_RESOURCES: usize = 500;
const PACED_RESOURCES: usize = 500;
const PACED_RATE: u64 = 500;
const SLOT_ROUNDS: usize = 200;
const QUEUE_LIMIT: usize = 10;

fn size(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn run() -> BenchResult {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> BenchResult {
    let db = TestDatabase::create().await?;
    let store = Store::open(&StoreConfig {
        max_connections: 8,
        ..StoreConfig::new(db.options.clone())
    })
    .await?;
    if std::env::var("THOTH_BENCH_SKIP_THROUGHPUT").is_err() {
        throughput_and_latency(&store).await?;
    }
    admission(&store, size("THOTH_BENCH_QUEUED", 10_000)).await?;
    memory(&store, size("THOTH_BENCH_FINISHED", 100_000)).await?;
    Ok(())
}

fn workflow_crd() -> BenchResult<CustomResourceDefinition> {
    let documents =
        testkit::reference_data::yaml_documents("argo/crds/full/argoproj.io_workflows.yaml")?;
    let first = documents
        .into_iter()
        .next()
        .ok_or("Argo's Workflow CRD file is empty")?;
    Ok(serde_json::from_value(first)?)
}

async fn cluster() -> BenchResult<(RunningApiServer, Client)> {
    let mut crds = thoth_operator::api::all_crds();
    crds.push(workflow_crd()?);
    let server = ApiServer::builder()
        .crds(crds)
        .build()
        .start("127.0.0.1:0")
        .await?;
    let client = server.client()?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["thoth", TARGET, "thoth-backend", "default"] {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok((server, client))
}

struct Operator {
    metrics: Arc<ControllerMetrics>,
    readiness: Readiness,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// The operator on its own counting client (no client-side rate limit).
    fn start(server: &RunningApiServer, store: &Store, limit: usize) -> BenchResult<Self> {
        let metrics = Arc::new(ControllerMetrics::default());
        let client =
            thoth_operator::reconcile::build_client(server.kube_config()?, 0, metrics.clone())?;
        let config = OperatorConfig {
            limits: AdmissionLimits {
                default: limit,
                per_namespace: Default::default(),
            },
            finished_retention: None,
            ..OperatorConfig::default()
        };
        // The default Lease timing (10 s, renewed 3 s early): a loaded machine must not make the
        // only replica lose its leadership mid-measurement.
        let readiness = Readiness::default();
        let (stop, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn({
            let (store, metrics, readiness) = (store.clone(), metrics.clone(), readiness.clone());
            async move {
                let shutdown = async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                };
                if let Err(err) = thoth_operator::reconcile::run(
                    client, store, config, metrics, readiness, shutdown,
                )
                .await
                {
                    eprintln!("controller: the operator stopped: {err}");
                }
            }
        });
        Ok(Self {
            metrics,
            readiness,
            stop,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// A SolverRun as the ingestion creates one: with the resource finalizer already set.
fn solver_run(name: &str, i: usize) -> SolverRun {
    let mut run = SolverRun::new(
        name,
        SolverRunSpec {
            package_name: "pyyaml".into(),
            package_version: Some(format!("{}.{}.{}", i / 10_000, (i / 100) % 100, i % 100)),
            index_url: "https://pypi.org/simple".into(),
            solver: "solver-rhel-8-py38".into(),
            dependency_index_urls: Vec::new(),
            debug: false,
        },
    );
    run.metadata.finalizers = Some(vec![RESOURCE_FINALIZER.to_string()]);
    run
}

/// Reports each new Workflow of ours in the target namespace: (resource name, when seen).
fn watch_new_workflows(client: &Client) -> mpsc::UnboundedReceiver<(String, String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let api: Api<Workflow> = Api::namespaced(client.clone(), TARGET);
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default().labels(MANAGED_SELECTOR))
            .default_backoff()
            .touched_objects();
        let mut stream = std::pin::pin!(stream);
        let mut seen = std::collections::HashSet::new();
        while let Some(next) = stream.next().await {
            let Ok(workflow) = next else { continue };
            let now = Instant::now();
            if seen.insert(workflow.name_any())
                && let Some(run) = run_of(&workflow)
                && tx.send((run.name, workflow.name_any(), now)).is_err()
            {
                break;
            }
        }
    });
    rx
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The writes one resource costs end to end (its own create, as the ingestion does it, then what
/// the controller writes for it: the Workflow, the resource's status and an Event), issued by the
/// bench itself with 16 resources in flight: the rate a controller with no overhead of its own
/// could reach on this server and machine.
async fn bare_write_mix(client: &Client) -> BenchResult<f64> {
    let runs: Api<SolverRun> = Api::namespaced(client.clone(), "thoth");
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), TARGET);
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "thoth");
    let started = Instant::now();
    let done = futures::stream::iter(0..THROUGHPUT_RESOURCES)
        .map(|i| {
            let (runs, workflows, events) = (runs.clone(), workflows.clone(), events.clone());
            async move {
                let name = format!("mix-{i}");
                let run = runs
                    .create(&PostParams::default(), &solver_run(&name, i))
                    .await?;
                let workflow: Workflow = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                    "metadata": {"name": format!("solver-{name}")},
                    "spec": {"workflowTemplateRef": {"name": "solver"},
                             "arguments": {"parameters": [{"name": "x", "value": "y"}]}}
                }))?;
                workflows.create(&PostParams::default(), &workflow).await?;
                runs.patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"phase": "Pending", "attempts": 1}})),
                )
                .await?;
                let event: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
                    "metadata": {"name": format!("{name}.workflow-created")},
                    "eventTime": k8s_openapi::jiff::Timestamp::now().to_string(),
                    "reportingController": "thoth-operator",
                    "reportingInstance": "bench",
                    "action": "CreateWorkflow",
                    "reason": "WorkflowCreated",
                    "type": "Normal",
                    "regarding": {"apiVersion": "thoth-station.ninja/v1alpha1", "kind": "SolverRun",
                                  "namespace": "thoth", "name": name, "uid": run.uid()},
                }))?;
                events.create(&PostParams::default(), &event).await?;
                Ok::<(), Box<dyn std::error::Error>>(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let rate = done.len() as f64 / started.elapsed().as_secs_f64();
    for result in done {
        result.map_err(|err| format!("the bare write mix failed: {err}"))?;
    }
    // Gone again, so the operator started next has only its own resources to reconcile.
    runs.delete_collection(&Default::default(), &Default::default())
        .await?;
    for i in 0..THROUGHPUT_RESOURCES {
        runs.patch(
            &format!("mix-{i}"),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
    }
    Ok(rate)
}

/// Figures 1 and 2.
async fn throughput_and_latency(store: &Store) -> BenchResult {
    let (server, client) = cluster().await?;
    // The bare rate: Workflows created directly, 16 in flight, same CRD, same server.
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), TARGET);
    let started = Instant::now();
    let created = futures::stream::iter(0..THROUGHPUT_RESOURCES)
        .map(|i| {
            let workflows = workflows.clone();
            async move {
                let workflow: Workflow = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                    "metadata": {"name": format!("bare-{i}")},
                    "spec": {"workflowTemplateRef": {"name": "solver"},
                             "arguments": {"parameters": [{"name": "x", "value": "y"}]}}
                }))
                .expect("a Workflow");
                workflows.create(&PostParams::default(), &workflow).await
            }
        })
        .buffer_unordered(16)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    let bare_rate = created as f64 / started.elapsed().as_secs_f64();
    if created != THROUGHPUT_RESOURCES {
        return Err(
            format!("only {created} of {THROUGHPUT_RESOURCES} bare creates succeeded").into(),
        );
    }

    let mix_rate = bare_write_mix(&client).await?;

    let operator = Operator::start(&server, store, 1_000_000)?;
    let mut seen = watch_new_workflows(&client);
    let runs: Api<SolverRun> = Api::namespaced(client.clone(), "thoth");
    let started = Instant::now();
    let creating = {
        let runs = runs.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..THROUGHPUT_RESOURCES)
                .map(|i| {
                    let runs = runs.clone();
                    async move {
                        runs.create(&PostParams::default(), &solver_run(&format!("tp-{i}"), i))
                            .await
                    }
                })
                .buffer_unordered(16)
                .filter(|r| futures::future::ready(r.is_ok()))
                .count()
                .await
        })
    };
    let mut workflows_seen = 0;
    while workflows_seen < THROUGHPUT_RESOURCES {
        match tokio::time::timeout(Duration::from_secs(120), seen.recv()).await {
            Ok(Some(_)) => workflows_seen += 1,
            _ => break,
        }
    }
    let took = started.elapsed();
    if creating.await? != THROUGHPUT_RESOURCES || workflows_seen != THROUGHPUT_RESOURCES {
        return Err(format!(
            "throughput: {workflows_seen} Workflows for {THROUGHPUT_RESOURCES} resources"
        )
        .into());
    }
    let rate = workflows_seen as f64 / took.as_secs_f64();
    println!(
        "controller: resources → Workflows: {rate:.0}/s ({workflows_seen} in {:.2} s) beside bare Workflow creates {bare_rate:.0}/s = {:.0} % (target ≥ 50 %)",
        took.as_secs_f64(),
        100.0 * rate / bare_rate
    );
    println!(
        "controller: ... and beside the same writes without a controller (resource create, Workflow create, status patch, Event per resource) {mix_rate:.0}/s = {:.0} %",
        100.0 * rate / mix_rate
    );

    // Paced at 500/s: each resource's create time against its Workflow's arrival on the watch.
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut arrived: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut creates = tokio::task::JoinSet::new();
    let paced_started = Instant::now();
    for i in 0..PACED_RESOURCES {
        ticker.tick().await;
        let name = format!("lat-{i}");
        sent.insert(name.clone(), Instant::now());
        let runs = runs.clone();
        creates.spawn(async move {
            runs.create(&PostParams::default(), &solver_run(&name, 100_000 + i))
                .await
        });
        while let Ok((resource, _, at)) = seen.try_recv() {
            arrived.insert(resource, at);
        }
    }
    let offered = PACED_RESOURCES as f64 / paced_started.elapsed().as_secs_f64();
    let mut failed = 0;
    while let Some(result) = creates.join_next().await {
        if !matches!(result, Ok(Ok(_))) {
            failed += 1;
        }
    }
    while arrived.len() < PACED_RESOURCES - failed {
        match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
            Ok(Some((resource, _, at))) => {
                arrived.insert(resource, at);
            }
            _ => break,
        }
    }
    if failed > 0 || arrived.len() != PACED_RESOURCES {
        return Err(format!(
            "latency: {failed} creates failed, {} of {PACED_RESOURCES} Workflows seen",
            arrived.len()
        )
        .into());
    }
    let mut latencies: Vec<Duration> = arrived
        .iter()
        .filter_map(|(name, at)| sent.get(name).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    println!(
        "controller: resource created → Workflow seen at {offered:.0} resources/s offered: p50 {:.1} ms, p99 {:.1} ms (target p99 < 100 ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    operator.stop().await;
    server.shutdown().await;
    Ok(())
}

/// Figures 3 and 4.
async fn admission(store: &Store, queued: usize) -> BenchResult {
    let (server, client) = cluster().await?;
    let operator = Operator::start(&server, store, QUEUE_LIMIT)?;
    let mut seen = watch_new_workflows(&client);
    let runs: Api<SolverRun> = Api::namespaced(client.clone(), "thoth");
    let total = queued + QUEUE_LIMIT;
    let started = Instant::now();
    let created = futures::stream::iter(0..total)
        .map(|i| {
            let runs = runs.clone();
            async move {
                runs.create(&PostParams::default(), &solver_run(&format!("q-{i}"), i))
                    .await
            }
        })
        .buffer_unordered(16)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    if created != total {
        return Err(format!("admission: {created} of {total} resources created").into());
    }
    // Wait until the operator has queued every resource beyond the limit.
    let deadline = Instant::now() + Duration::from_secs(600);
    while operator.metrics.queued_in(TARGET) < queued as i64 {
        if Instant::now() > deadline {
            return Err(format!(
                "admission: only {} of {queued} resources queued after 10 min",
                operator.metrics.queued_in(TARGET)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queued_after = started.elapsed();
    // Then until the operator is idle (no reconcile for 2 s), so the figures below measure
    // admission, not a backlog of reconciles left from queueing.
    let mut last = operator.metrics.reconciles_total();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        if Instant::now() > deadline {
            return Err("admission: the operator never went idle".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = operator.metrics.reconciles_total();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let mut active: Vec<String> = Vec::new();
    while active.len() < QUEUE_LIMIT {
        match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
            Ok(Some((_, workflow, _))) => active.push(workflow),
            _ => return Err("admission: the first Workflows never appeared".into()),
        }
    }
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), TARGET);
    // Lease renewals are left out: they come with time (one every few seconds), not with work.
    let writes_before = operator.metrics.api_writes_total(&["leases"]);
    let by_resource_before = operator.metrics.api_writes_by_resource();
    let rounds = SLOT_ROUNDS.min(queued);
    let mut waits = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let finished = active.remove(0);
        let freed = Instant::now();
        workflows
            .patch(
                &finished,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {COMPLETED_LABEL: "true"}}})),
            )
            .await?;
        match tokio::time::timeout(Duration::from_secs(120), seen.recv()).await {
            Ok(Some((_, workflow, at))) => {
                waits.push(at.saturating_duration_since(freed));
                active.push(workflow);
            }
            _ => {
                return Err(format!(
                    "admission: a freed slot was never filled ({} admitted before; {} active, {} queued, {} Workflows created)",
                    waits.len(),
                    operator.metrics.active_in(TARGET),
                    operator.metrics.queued_in(TARGET),
                    operator.metrics.workflows_created_total()
                )
                .into());
            }
        }
    }
    // Let the last admissions' status writes and Events land before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes = operator.metrics.api_writes_total(&["leases"]) - writes_before;
    let by_resource: Vec<String> = operator
        .metrics
        .api_writes_by_resource()
        .into_iter()
        .zip(by_resource_before)
        .filter(|((_, after), (_, before))| after > before)
        .map(|((resource, after), (_, before))| format!("{resource} {}", after - before))
        .collect();
    waits.sort();
    println!(
        "controller: {queued} resources queued in {:.1} s; slot freed → next Workflow seen: p50 {:.1} ms, p99 {:.1} ms (target p99 < 1000 ms)",
        queued_after.as_secs_f64(),
        ms(percentile(&waits, 50.0)),
        ms(percentile(&waits, 99.0))
    );
    println!(
        "controller: API writes per admitted Workflow with {queued} queued: {:.2} ({writes} writes for {rounds} admissions: {}; target ≤ 3)",
        writes as f64 / rounds as f64,
        by_resource.join(", ")
    );
    operator.stop().await;
    server.shutdown().await;
    Ok(())
}

/// Figure 5.
async fn memory(store: &Store, finished: usize) -> BenchResult {
    let (server, client) = cluster().await?;
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), TARGET);
    // Finished Workflows as Argo leaves them: labelled ours and completed, with a status whose
    // nodes make each object a few kilobytes (what a metadata-only watch must not keep).
    let nodes: serde_json::Map<String, serde_json::Value> = (0..8)
        .map(|n| {
            (
                format!("node-{n}"),
                json!({"id": format!("node-{n}"), "name": format!("step-{n}"), "type": "Pod",
                       "phase": "Succeeded", "message": "x".repeat(200)}),
            )
        })
        .collect();
    let made = futures::stream::iter(0..finished)
        .map(|i| {
            let workflows = workflows.clone();
            let nodes = nodes.clone();
            async move {
                let workflow: Workflow = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                    "metadata": {"name": format!("done-{i}"), "labels": {
                        "app.kubernetes.io/managed-by": "thoth-operator",
                        "thoth-station.ninja/resource-kind": "SolverRun",
                        COMPLETED_LABEL: "true"}},
                    "spec": {"workflowTemplateRef": {"name": "solver"}},
                    "status": {"phase": "Succeeded", "nodes": nodes}
                }))
                .expect("a Workflow");
                workflows.create(&PostParams::default(), &workflow).await
            }
        })
        .buffer_unordered(16)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    if made != finished {
        return Err(format!("memory: {made} of {finished} finished Workflows created").into());
    }
    let before = rss_bytes()?;
    let operator = Operator::start(&server, store, 50)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !operator.readiness.is_ready() {
        if Instant::now() > deadline {
            return Err("memory: the operator did not list the Workflows within 5 min".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = rss_bytes()?;
    let growth = after.saturating_sub(before) as f64 / (1024.0 * 1024.0);
    println!(
        "controller: RSS growth when the operator starts beside {finished} finished Workflows: {growth:.1} MiB (process {:.0} MiB, API server included; target < 300 MiB)",
        after as f64 / (1024.0 * 1024.0)
    );
    operator.stop().await;
    server.shutdown().await;
    Ok(())
}

fn rss_bytes() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}
