//! The controllers against the in-memory API server (Argo's full Workflow CRD loaded), a real
//! PostgreSQL and a small Argo stand-in that moves Workflows Pending → Running → Succeeded/Failed
//! with outputs per docs/workflow-contract.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use apiserver::{ApiServer, RunningApiServer};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use testkit::TestDatabase;
use thoth_operator::api::argo::{COMPLETED_LABEL, Workflow, WorkflowTemplate};
use thoth_operator::api::{
    AdviceRequest, AdviceRequestSpec, Phase, RecommendationType, SolverRun, SolverRunSpec,
};
use thoth_operator::reconcile::workflow::{MANAGED_SELECTOR, WORKFLOW_FINALIZER};
use thoth_operator::reconcile::{AdmissionLimits, ControllerMetrics, OperatorConfig};
use thoth_operator::sandbox::argo::{ArgoStandIn, ArgoStandInConfig};
use thoth_operator::store::{ResourceKind, SolverStatus, Store, StoreConfig, WorkflowPhase};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(30);

fn argo_workflow_crd() -> CustomResourceDefinition {
    let documents =
        testkit::reference_data::yaml_documents("argo/crds/full/argoproj.io_workflows.yaml")
            .expect("Argo's full Workflow CRD is readable");
    serde_json::from_value(documents.into_iter().next().expect("one document"))
        .expect("Argo's Workflow CRD parses")
}

fn operator_config(limit: usize) -> OperatorConfig {
    let mut config = OperatorConfig {
        limits: AdmissionLimits {
            default: limit,
            per_namespace: BTreeMap::new(),
        },
        finished_retention: None,
        ..OperatorConfig::default()
    };
    config.leader.lease_duration = Duration::from_secs(2);
    config.leader.renew_before = Duration::from_secs(1);
    config
}

fn start_operator(
    client: Client,
    store: Store,
    limit: usize,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    start_replica(
        client,
        store,
        limit,
        stop,
        Arc::new(ControllerMetrics::default()),
    )
}

fn start_replica(
    client: Client,
    store: Store,
    limit: usize,
    stop: watch::Receiver<bool>,
    metrics: Arc<ControllerMetrics>,
) -> tokio::task::JoinHandle<()> {
    start_configured(client, store, operator_config(limit), stop, metrics)
}

fn start_configured(
    client: Client,
    store: Store,
    config: OperatorConfig,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<ControllerMetrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        thoth_operator::reconcile::run(
            client,
            store,
            config,
            metrics,
            Default::default(),
            shutdown,
        )
        .await
        .expect("operator runs");
    })
}

struct Harness {
    server: RunningApiServer,
    client: Client,
    store: Store,
    _db: TestDatabase,
    stop: watch::Sender<bool>,
    standin_stop: watch::Sender<bool>,
    operator: tokio::task::JoinHandle<()>,
    sandbox_argo: Option<ArgoStandIn>,
    /// Set: every request of the first operator's client hangs (a crashed or cut-off replica).
    freeze: Arc<AtomicBool>,
}

/// A client whose requests hang forever once `freeze` is set.
fn freezable_client(server: &RunningApiServer, freeze: Arc<AtomicBool>) -> Client {
    let config = server.kube_config().expect("kube config");
    kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&FreezeLayer { freeze })
        .build()
}

#[derive(Clone)]
struct FreezeLayer {
    freeze: Arc<AtomicBool>,
}

impl<S> tower::Layer<S> for FreezeLayer {
    type Service = Freezable<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Freezable {
            inner,
            freeze: self.freeze.clone(),
        }
    }
}

#[derive(Clone)]
struct Freezable<S> {
    inner: S,
    freeze: Arc<AtomicBool>,
}

impl<S> tower::Service<http::Request<kube::client::Body>> for Freezable<S>
where
    S: tower::Service<http::Request<kube::client::Body>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        if self.freeze.load(Ordering::SeqCst) {
            return Box::pin(futures::future::pending());
        }
        let future = self.inner.call(request);
        let freeze = self.freeze.clone();
        Box::pin(async move {
            let response = future.await;
            // A request answered after the crash is lost with the replica.
            if freeze.load(Ordering::SeqCst) {
                futures::future::pending::<()>().await;
            }
            response
        })
    }
}

/// Argo's minimal WorkflowTemplate CRD: the sandbox's stand-in only asks whether a template exists.
fn workflow_template_crd() -> CustomResourceDefinition {
    let documents = testkit::reference_data::yaml_documents(
        "argo/crds/minimal/argoproj.io_workflowtemplates.yaml",
    )
    .expect("Argo's WorkflowTemplate CRD is readable");
    serde_json::from_value(documents.into_iter().next().expect("one document"))
        .expect("Argo's WorkflowTemplate CRD parses")
}

impl Harness {
    async fn start(limit: usize) -> Self {
        Self::start_with(operator_config(limit), None).await
    }

    /// The API server, a store and the operator with `config`; Workflows are run by the
    /// sandbox's Argo stand-in (`sandbox::argo`, with Thoth's three WorkflowTemplates in place)
    /// when `stand_in` is given, else by this file's small one.
    async fn start_with(config: OperatorConfig, stand_in: Option<ArgoStandInConfig>) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut crds = thoth_operator::api::all_crds();
        crds.push(argo_workflow_crd());
        crds.push(workflow_template_crd());
        let server = ApiServer::builder()
            .crds(crds)
            .build()
            .start("127.0.0.1:0")
            .await
            .expect("API server starts");
        let client = server.client().expect("client");
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        for name in ["thoth", "thoth-middletier", "thoth-backend", "default"] {
            let namespace: k8s_openapi::api::core::v1::Namespace =
                serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
            match namespaces.create(&PostParams::default(), &namespace).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(err) => panic!("namespace {name}: {err}"),
            }
        }
        let db = TestDatabase::create().await.expect("test database");
        let store = Store::open(&StoreConfig {
            max_connections: 8,
            ..StoreConfig::new(db.options.clone())
        })
        .await
        .expect("store");
        let (stop, stop_rx) = watch::channel(false);
        let (standin_stop, standin_rx) = watch::channel(false);
        let sandbox_argo = match stand_in {
            Some(stand_in) => {
                for (namespace, name) in [
                    ("thoth-middletier", "solver"),
                    ("thoth-middletier", "security-indicators"),
                    ("thoth-backend", "adviser"),
                ] {
                    let template: WorkflowTemplate = serde_json::from_value(json!({
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "WorkflowTemplate",
                        "metadata": {"name": name},
                        "spec": {"entrypoint": "main", "templates": [{"name": "main"}]}
                    }))
                    .expect("a WorkflowTemplate");
                    Api::<WorkflowTemplate>::namespaced(client.clone(), namespace)
                        .create(&PostParams::default(), &template)
                        .await
                        .expect("template created");
                }
                Some(ArgoStandIn::spawn(client.clone(), stand_in))
            }
            None => {
                tokio::spawn(argo_stand_in(client.clone(), standin_rx));
                None
            }
        };
        let freeze = Arc::new(AtomicBool::new(false));
        let operator = start_configured(
            freezable_client(&server, freeze.clone()),
            store.clone(),
            config,
            stop_rx.clone(),
            Arc::new(ControllerMetrics::default()),
        );
        Self {
            server,
            client,
            store,
            _db: db,
            stop,
            standin_stop,
            operator,
            sandbox_argo,
            freeze,
        }
    }

    async fn stop(self) {
        let _ = self.standin_stop.send(true);
        if let Some(stand_in) = self.sandbox_argo {
            stand_in.shutdown().await;
        }
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(WAIT, self.operator).await;
        self.server.shutdown().await;
    }

    /// Stops the operator alone (the API server, the stand-in and the store stay).
    async fn stop_operator(&mut self) -> watch::Sender<bool> {
        let (stop, stop_rx) = watch::channel(false);
        let old = std::mem::replace(&mut self.stop, stop);
        let _ = old.send(true);
        let finished = std::mem::replace(&mut self.operator, tokio::spawn(async {}));
        tokio::time::timeout(WAIT, finished)
            .await
            .expect("operator stops")
            .expect("operator task");
        let _ = stop_rx;
        old
    }

    fn restart_operator(&mut self, limit: usize) {
        let (stop, stop_rx) = watch::channel(false);
        self.operator = start_operator(self.client.clone(), self.store.clone(), limit, stop_rx);
        self.stop = stop;
    }
}

/// What the store recorded for PyYAML `version` on PyPI solved by `solver-rhel-8-py38`, the
/// identity `solver_run` gives every run of this file.
async fn solver_outcome(store: &Store, version: &str) -> Option<SolverStatus> {
    let key = thoth_operator::store::VersionKey::new(
        thoth_operator::package::PackageName::parse("PyYAML").expect("name"),
        thoth_operator::package::PackageVersion::parse(version).expect("version"),
        thoth_operator::package::IndexUrl::parse("https://pypi.org/simple").expect("index"),
    );
    store
        .solver_outcome(&key, "solver-rhel-8-py38")
        .await
        .expect("outcome read")
        .map(|outcome| outcome.status)
}

fn solver_run(name: &str, version: &str) -> SolverRun {
    SolverRun::new(
        name,
        SolverRunSpec {
            package_name: "PyYAML".into(),
            package_version: Some(version.into()),
            index_url: "https://pypi.org/simple".into(),
            solver: "solver-rhel-8-py38".into(),
            dependency_index_urls: Vec::new(),
            debug: false,
        },
    )
}

/// Moves each of our Workflows one phase per watch event, as Argo's controller would: Running,
/// then Succeeded with the solver's outputs (or Failed when the resource name says so), with the
/// completed label.
async fn argo_stand_in(client: Client, mut stop: watch::Receiver<bool>) {
    let api: Api<Workflow> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default().labels(MANAGED_SELECTOR))
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    loop {
        let workflow = tokio::select! {
            _ = stop.changed() => return,
            next = stream.next() => match next {
                Some(Ok(workflow)) => workflow,
                Some(Err(_)) => continue,
                None => return,
            },
        };
        let phase = workflow
            .status
            .as_ref()
            .and_then(|s| s.phase.as_ref())
            .map(|p| p.as_str().to_string());
        let namespaced: Api<Workflow> =
            Api::namespaced(client.clone(), &workflow.namespace().unwrap_or_default());
        let now = jiff_now();
        let resource_name = workflow
            .annotations()
            .get("thoth-station.ninja/resource-name")
            .cloned()
            .unwrap_or_default();
        if resource_name.contains("hold") {
            continue;
        }
        let patch = match phase.as_deref() {
            None => json!({"status": {"phase": "Running", "startedAt": now}}),
            Some("Running") => {
                let resource = workflow
                    .annotations()
                    .get("thoth-station.ninja/resource-name")
                    .cloned()
                    .unwrap_or_default();
                let version = workflow
                    .spec
                    .arguments
                    .as_ref()
                    .and_then(|a| {
                        a.parameters
                            .iter()
                            .find(|p| p.name == "THOTH_SOLVER_PACKAGES")
                    })
                    .and_then(|p| p.value.clone())
                    .and_then(|v| v.split("===").nth(1).map(str::to_string))
                    .unwrap_or_else(|| "5.3.1".into());
                let first_attempt = workflow
                    .labels()
                    .get("thoth-station.ninja/attempt")
                    .is_none_or(|a| a == "1");
                if resource.contains("fails") && first_attempt {
                    json!({
                        "metadata": {"labels": {COMPLETED_LABEL: "true"}},
                        "status": {"phase": "Failed", "finishedAt": now, "message": "child 'solve' failed"}
                    })
                } else {
                    json!({
                        "metadata": {"labels": {COMPLETED_LABEL: "true"}},
                        "status": {
                            "phase": "Succeeded",
                            "finishedAt": now,
                            "outputs": {"parameters": [
                                {"name": "document-id", "value": workflow.name_any()},
                                {"name": "solver-results", "value": json!([{"version": version, "status": "solved"}]).to_string()},
                            ]},
                        }
                    })
                }
            }
            _ => continue,
        };
        // Argo retries its writes; so does the stand-in (the API server may inject faults).
        for _ in 0..100 {
            match namespaced
                .patch(
                    &workflow.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(patch.clone()),
                )
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(status)) if status.code == 404 => break,
                Err(_) => continue,
            }
        }
    }
}

fn jiff_now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

async fn await_phase(api: &Api<SolverRun>, name: &str, phase: Phase) -> SolverRun {
    let condition = move |run: Option<&SolverRun>| {
        run.and_then(|r| r.status.as_ref())
            .and_then(|s| s.phase)
            .is_some_and(|p| p == phase)
    };
    let Ok(found) = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(api.clone(), name, condition),
    )
    .await
    else {
        let now = api.get(name).await.ok();
        panic!("{name} did not reach {phase} within {WAIT:?}: {now:?}");
    };
    let found = found.expect("watch works");
    found.expect("resource exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_solver_run_becomes_a_workflow_whose_success_reaches_status_store_outbox_and_the_next_link()
 {
    let harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    runs.create(&PostParams::default(), &solver_run("pyyaml-5-3-1", "5.3.1"))
        .await
        .expect("created");
    let done = await_phase(&runs, "pyyaml-5-3-1", Phase::Succeeded).await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.attempts, Some(1));
    let workflow_ref = status.workflow.expect("workflow reference");
    assert_eq!(workflow_ref.namespace, "thoth-middletier");
    assert_eq!(
        status.document_id.as_deref(),
        Some(workflow_ref.name.as_str())
    );
    let completed = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Completed")
        .expect("Completed condition");
    assert_eq!(completed.observed_generation, done.metadata.generation);
    assert!(
        done.finalizers()
            .contains(&thoth_operator::reconcile::RESOURCE_FINALIZER.to_string())
    );

    // The Workflow is released: our finalizer is gone once the outcome is durable.
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), &workflow_ref.namespace);
    let workflow = workflows.get(&workflow_ref.name).await.expect("workflow");
    assert!(
        !workflow
            .finalizers()
            .contains(&WORKFLOW_FINALIZER.to_string())
    );

    // The store has the attempt and the solver's outcome.
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "pyyaml-5-3-1")
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].phase, WorkflowPhase::Succeeded);
    assert_eq!(attempts[0].workflow_name, workflow_ref.name);
    assert_eq!(
        solver_outcome(&harness.store, "5.3.1").await,
        Some(SolverStatus::Success)
    );

    // The follow-up message is in the outbox (same transaction as the outcome)...
    let outbox = harness
        .store
        .claim_outbox(10, Duration::from_secs(60))
        .await
        .expect("outbox");
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].topic, "thoth.solver.solved-package");
    assert_eq!(outbox[0].payload["package_name"], "pyyaml");
    assert_eq!(outbox[0].payload["package_version"], "5.3.1");
    assert_eq!(outbox[0].payload["solver"], "solver-rhel-8-py38");
    // It is the vocabulary's SolvedPackage: it parses back, with the operator's envelope.
    let bytes = serde_json::to_vec(&outbox[0].payload).expect("payload serialises");
    let message = thoth_operator::messages::parse(&outbox[0].topic, &bytes, &Default::default())
        .expect("the follow-up parses");
    assert_eq!(
        message.kind(),
        thoth_operator::messages::MessageKind::SolvedPackage
    );
    assert_eq!(message.envelope.component_name, "thoth-operator");
    assert_eq!(message.envelope.service_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(message.envelope.version, "v1");
    // ...and the next link of the chain exists: a SecurityIndicatorRun for the solved version.
    let security: Api<thoth_operator::api::SecurityIndicatorRun> =
        Api::namespaced(harness.client.clone(), "thoth");
    let chained = security
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    assert_eq!(chained.len(), 1);
    assert_eq!(chained[0].spec.package_name, "pyyaml");
    assert_eq!(chained[0].spec.package_version, "5.3.1");

    // Events were published on the resource (beside the reconciles, so they may trail the status).
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(harness.client.clone(), "thoth");
    let mut reasons: Vec<String> = Vec::new();
    let mut stream = watcher::watcher(events, watcher::Config::default())
        .applied_objects()
        .boxed();
    let published = tokio::time::timeout(WAIT, async {
        while let Some(event) = stream.next().await {
            if let Some(reason) = event.expect("watch works").reason {
                reasons.push(reason);
            }
            if ["WorkflowCreated", "Succeeded"]
                .iter()
                .all(|r| reasons.iter().any(|seen| seen == r))
            {
                return;
            }
        }
    })
    .await;
    assert!(published.is_ok(), "{reasons:?}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_workflow_leaves_the_resource_failed_with_an_error_outcome() {
    let harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    runs.create(&PostParams::default(), &solver_run("pyyaml-fails", "5.4.0"))
        .await
        .expect("created");
    let failed = await_phase(&runs, "pyyaml-fails", Phase::Failed).await;
    let status = failed.status.expect("status");
    assert_eq!(status.message.as_deref(), Some("child 'solve' failed"));
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "pyyaml-fails")
        .await
        .expect("attempts");
    assert_eq!(attempts[0].phase, WorkflowPhase::Failed);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_resources_with_a_limit_of_ten_never_have_more_than_ten_active_and_all_finish()
{
    const RESOURCES: usize = 500;
    const LIMIT: usize = 10;
    let stand_in = ArgoStandInConfig {
        pending_for: Duration::from_millis(10),
        running_for: Duration::from_millis(30),
        ttl_after_finished: Some(Duration::from_millis(100)),
        ..ArgoStandInConfig::default()
    };
    let harness = Harness::start_with(operator_config(LIMIT), Some(stand_in)).await;
    // The independent watcher: its own watch on the target namespace, counting Workflows that
    // exist, are not completed and not being deleted (SolverRuns' and the chain's
    // SecurityIndicatorRuns' alike: they share the namespace and its limit).
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let watcher_task = {
        let api: Api<Workflow> = Api::namespaced(harness.client.clone(), "thoth-middletier");
        let (peak, seen) = (peak.clone(), seen.clone());
        tokio::spawn(async move {
            let mut active: BTreeMap<String, bool> = BTreeMap::new();
            let stream = watcher(api, watcher::Config::default());
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                match event {
                    watcher::Event::Apply(wf) | watcher::Event::InitApply(wf) => {
                        let is_active =
                            wf.metadata.deletion_timestamp.is_none() && !wf.is_labelled_completed();
                        if active.insert(wf.name_any(), is_active).is_none() {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    watcher::Event::Delete(wf) => {
                        active.remove(&wf.name_any());
                    }
                    _ => {}
                }
                let count = active.values().filter(|a| **a).count();
                peak.fetch_max(count, Ordering::SeqCst);
            }
        })
    };
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    for i in 0..RESOURCES {
        runs.create(
            &PostParams::default(),
            &solver_run(&format!("pyyaml-{i}"), &format!("5.{i}.0")),
        )
        .await
        .expect("created");
    }
    // Every SolverRun reaches a final phase, seen through a watch.
    let all_done = async {
        let stream = watcher(runs.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        let mut done = std::collections::BTreeSet::new();
        while done.len() < RESOURCES {
            match stream.next().await {
                Some(Ok(run)) => {
                    if run
                        .status
                        .as_ref()
                        .and_then(|s| s.phase)
                        .is_some_and(Phase::is_terminal)
                    {
                        done.insert(run.name_any());
                    }
                }
                Some(Err(_)) => continue,
                None => break,
            }
        }
        done.len()
    };
    let done = tokio::time::timeout(Duration::from_secs(120), all_done)
        .await
        .expect("every resource finished within 2 minutes");
    assert_eq!(done, RESOURCES);
    watcher_task.abort();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= LIMIT, "{peak} Workflows were active at once");
    // The queue was deep enough to fill every slot: the limit was reached, not just respected.
    assert_eq!(peak, LIMIT);
    assert!(seen.load(Ordering::SeqCst) >= RESOURCES);
    harness.stop().await;
}

async fn await_workflow_ref(api: &Api<SolverRun>, name: &str) -> (String, String) {
    let condition = |run: Option<&SolverRun>| {
        run.and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.workflow.is_some())
    };
    let run = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(api.clone(), name, condition),
    )
    .await
    .expect("a Workflow was created in time")
    .expect("watch works")
    .expect("resource exists");
    let workflow = run.status.and_then(|s| s.workflow).expect("workflow ref");
    (workflow.namespace, workflow.name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflow_deleted_while_the_operator_is_stopped_is_recorded_as_lost() {
    let mut harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    runs.create(&PostParams::default(), &solver_run("hold-lost", "6.0.0"))
        .await
        .expect("created");
    let (namespace, name) = await_workflow_ref(&runs, "hold-lost").await;
    harness.stop_operator().await;
    // Deleted by force: our finalizer is removed by hand, then the Workflow deleted.
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), &namespace);
    workflows
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    workflows
        .delete(&name, &Default::default())
        .await
        .expect("deleted");
    harness.restart_operator(10);
    let lost = await_phase(&runs, "hold-lost", Phase::Error).await;
    let message = lost.status.and_then(|s| s.message).unwrap_or_default();
    assert!(
        message.contains("deleted before its outcome was recorded"),
        "{message}"
    );
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "hold-lost")
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].phase, WorkflowPhase::Error);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_annotation_starts_a_second_attempt_whose_success_replaces_the_failure() {
    let harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    runs.create(&PostParams::default(), &solver_run("retry-fails", "6.1.0"))
        .await
        .expect("created");
    await_phase(&runs, "retry-fails", Phase::Failed).await;
    thoth_operator::cli::retry::request_retry(
        harness.client.clone(),
        thoth_operator::cli::retry::RetryKind::SolverRun,
        "thoth",
        "retry-fails",
        "first",
    )
    .await
    .expect("annotated");
    let done = await_phase(&runs, "retry-fails", Phase::Succeeded).await;
    let status = done.status.expect("status");
    assert_eq!(status.attempts, Some(2));
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "retry-fails")
        .await
        .expect("attempts");
    let phases: Vec<WorkflowPhase> = attempts.iter().map(|a| a.phase).collect();
    assert_eq!(phases, [WorkflowPhase::Failed, WorkflowPhase::Succeeded]);
    assert_ne!(attempts[0].workflow_name, attempts[1].workflow_name);
    let key = thoth_operator::store::VersionKey::new(
        thoth_operator::package::PackageName::parse("PyYAML").expect("name"),
        thoth_operator::package::PackageVersion::parse("6.1.0").expect("version"),
        thoth_operator::package::IndexUrl::parse("https://pypi.org/simple").expect("index"),
    );
    let outcome = harness
        .store
        .solver_outcome(&key, "solver-rhel-8-py38")
        .await
        .expect("outcome read")
        .expect("outcome recorded");
    assert_eq!(outcome.status, SolverStatus::Success);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_resource_records_releases_and_deletes_its_workflow_in_the_other_namespace() {
    let harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    runs.create(&PostParams::default(), &solver_run("hold-cleanup", "6.2.0"))
        .await
        .expect("created");
    let (namespace, name) = await_workflow_ref(&runs, "hold-cleanup").await;
    let uid = runs
        .get("hold-cleanup")
        .await
        .expect("resource")
        .uid()
        .expect("uid");
    runs.delete("hold-cleanup", &Default::default())
        .await
        .expect("delete requested");
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(
            runs.clone(),
            "hold-cleanup",
            kube::runtime::wait::conditions::is_deleted(&uid),
        ),
    )
    .await
    .expect("resource gone in time")
    .expect("watch works");
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), &namespace);
    assert!(
        workflows.get_opt(&name).await.expect("read").is_none(),
        "the Workflow in {namespace} is deleted with its resource"
    );
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "hold-cleanup")
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].phase, WorkflowPhase::Error);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_replica_never_writes_while_the_first_leads_and_takes_over_within_fifteen_seconds()
{
    leader_handover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_leader_that_never_releases_its_lease_is_replaced_within_fifteen_seconds() {
    leader_handover(true).await;
}

/// A standby never writes while the first replica leads; when the leader stops (`crash`: dies
/// without releasing the Lease) the standby finishes new work within 15 s.
async fn leader_handover(crash: bool) {
    let mut harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    // The first replica leads once it has reconciled something.
    runs.create(&PostParams::default(), &solver_run("leader-a", "7.0.0"))
        .await
        .expect("created");
    await_phase(&runs, "leader-a", Phase::Succeeded).await;
    let standby_metrics = Arc::new(ControllerMetrics::default());
    let (standby_stop, standby_rx) = watch::channel(false);
    let standby = start_replica(
        harness.client.clone(),
        harness.store.clone(),
        10,
        standby_rx,
        standby_metrics.clone(),
    );
    for i in 0..3 {
        runs.create(
            &PostParams::default(),
            &solver_run(&format!("leader-b-{i}"), &format!("7.1.{i}")),
        )
        .await
        .expect("created");
    }
    for i in 0..3 {
        await_phase(&runs, &format!("leader-b-{i}"), Phase::Succeeded).await;
    }
    assert!(!standby_metrics.is_leader());
    assert_eq!(standby_metrics.workflows_created_total(), 0);

    // The leader goes away; the standby takes over and finishes new work within 15 s.
    if crash {
        // A crash: the leader's connection dies mid-flight (every request hangs), so it neither
        // renews nor releases the Lease; its task is then aborted.
        harness.freeze.store(true, Ordering::SeqCst);
        let frozen = std::mem::replace(&mut harness.operator, tokio::spawn(async {}));
        frozen.abort();
    } else {
        harness.stop_operator().await;
    }
    let started = std::time::Instant::now();
    runs.create(
        &PostParams::default(),
        &solver_run(&format!("leader-c-{crash}"), "7.2.0"),
    )
    .await
    .expect("created");
    let condition = |run: Option<&SolverRun>| {
        run.and_then(|r| r.status.as_ref())
            .and_then(|s| s.phase)
            .is_some_and(|p| p == Phase::Succeeded)
    };
    tokio::time::timeout(
        Duration::from_secs(15),
        kube::runtime::wait::await_condition(runs.clone(), &format!("leader-c-{crash}"), condition),
    )
    .await
    .expect("the standby took over within 15 s")
    .expect("watch works");
    assert!(standby_metrics.is_leader());
    assert!(standby_metrics.workflows_created_total() >= 1);
    assert!(started.elapsed() < Duration::from_secs(15));
    let _ = standby_stop.send(true);
    let _ = tokio::time::timeout(WAIT, standby).await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_server_errors_and_cut_watches_are_survived_with_nothing_created_twice() {
    const RESOURCES: usize = 10;
    let harness = Harness::start(4).await;
    harness.server.faults().set(apiserver::FaultConfig {
        throttle_share: 0.1,
        error_share: 0.1,
        cut_watches_after: Some(15),
        ..Default::default()
    });
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    let names: Vec<String> = (0..RESOURCES).map(|i| format!("faulty-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        // The test's own requests meet the faults too: create until it exists.
        loop {
            match runs
                .create(
                    &PostParams::default(),
                    &solver_run(name, &format!("8.{i}.0")),
                )
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(status)) if status.code == 409 => break,
                Err(_) => continue,
            }
        }
    }
    // Await every resource Succeeded through a watch that restarts after cuts and errors.
    let all_done = async {
        let stream = watcher(runs.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        let mut done = std::collections::BTreeSet::new();
        while done.len() < RESOURCES {
            match stream.next().await {
                Some(Ok(run)) => {
                    if run.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded) {
                        done.insert(run.name_any());
                    }
                }
                Some(Err(_)) => continue,
                None => break,
            }
        }
        done.len()
    };
    let Ok(done) = tokio::time::timeout(Duration::from_secs(60), all_done).await else {
        harness.server.faults().clear();
        let phases: Vec<_> = runs
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|r| (r.name_any(), r.status.and_then(|s| s.phase)))
            .collect();
        let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), "thoth-middletier");
        let wfs: Vec<_> = workflows
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|w| {
                (
                    w.name_any(),
                    w.status.and_then(|s| s.phase).map(|p| p.to_string()),
                )
            })
            .collect();
        panic!("not every resource succeeded despite the faults: {phases:?} {wfs:?}");
    };
    assert_eq!(done, RESOURCES);
    assert!(harness.server.faults().injected_errors() > 0);
    harness.server.faults().clear();
    // One Workflow per resource: a retried create found the existing one.
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), "thoth-middletier");
    // Workflow names (they carry the attempt) per resource, so that a failure says which attempts ran.
    let mut per_resource: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for workflow in workflows
        .list(&Default::default())
        .await
        .expect("list")
        .items
    {
        let owner = workflow
            .annotations()
            .get("thoth-station.ninja/resource-name")
            .cloned()
            .unwrap_or_default();
        per_resource
            .entry(owner)
            .or_default()
            .push(workflow.name_any());
    }
    for name in &names {
        assert_eq!(
            per_resource.get(name).map(Vec::len),
            Some(1),
            "{name}: {per_resource:?}"
        );
    }
    for name in &names {
        let attempts = harness
            .store
            .attempts(ResourceKind::SolverRun, "thoth", name)
            .await
            .expect("attempts");
        assert_eq!(attempts.len(), 1, "{name}");
        assert_eq!(attempts[0].phase, WorkflowPhase::Succeeded, "{name}");
    }
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_advice_with_unresolved_packages_solves_them_then_re_runs_once_with_re_run_adviser_id() {
    const JOB: &str = "adviser-210312182025-5e8c8f2a1b3c4d5e";
    let mut config = operator_config(10);
    config.solvers = vec!["solver-rhel-8-py38".into(), "solver-fedora-35-py310".into()];
    let stand_in = ArgoStandInConfig {
        pending_for: Duration::from_millis(20),
        running_for: Duration::from_millis(50),
        ttl_after_finished: Some(Duration::from_millis(200)),
        unresolved_share: 1.0,
        ..ArgoStandInConfig::default()
    };
    let harness = Harness::start_with(config.clone(), Some(stand_in)).await;
    let solver_runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    // The ingestion already created one of the solves: the chain must find it, not make another.
    let flask = thoth_operator::store::VersionKey::new(
        thoth_operator::package::PackageName::parse("flask").expect("name"),
        thoth_operator::package::PackageVersion::parse("2.0.1").expect("version"),
        thoth_operator::package::IndexUrl::parse("https://pypi.org/simple").expect("index"),
    );
    let rhel = thoth_operator::messages::SolverName::parse("solver-rhel-8-py38").expect("solver");
    let existing = thoth_operator::admission::names::solver_run(&flask, &rhel);
    let mut early = solver_run(&existing, "2.0.1");
    early.spec.package_name = "flask".into();
    solver_runs
        .create(&PostParams::default(), &early)
        .await
        .expect("created");

    let advice: Api<AdviceRequest> = Api::namespaced(harness.client.clone(), "thoth");
    advice
        .create(&PostParams::default(), &advice_request(JOB))
        .await
        .expect("created");
    let done = await_second_attempt(&advice, JOB, Phase::Succeeded).await;
    let status = done.status.clone().expect("status");

    // The first run's unresolved packages, as the store recorded them...
    let first = harness
        .store
        .advice_run(JOB)
        .await
        .expect("read")
        .expect("the first run is recorded");
    assert!(!first.unresolved.is_empty());
    // ...each became a SolverRun per configured solver (one found, the rest created), and every
    // one finished before the re-run started.
    let expected =
        thoth_operator::reconcile::chain::awaited_solves(&first.unresolved, &config.solvers);
    assert_eq!(expected.len(), 2 * first.unresolved.len());
    assert!(expected.iter().any(|s| s.name == existing));
    let all_runs = solver_runs
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    assert_eq!(
        all_runs.len(),
        expected.len(),
        "nothing beyond the awaited solves"
    );
    let re_run_started = status.start_time.clone().expect("the re-run started").0;
    for solve in &expected {
        let run = all_runs
            .iter()
            .find(|r| r.name_any() == solve.name)
            .unwrap_or_else(|| panic!("{} exists", solve.name));
        let run_status = run.status.clone().expect("solver status");
        assert!(
            run_status.phase.is_some_and(Phase::is_terminal),
            "{run_status:?}"
        );
        let finished = run_status.finish_time.expect("finished").0;
        assert!(
            finished <= re_run_started,
            "{} finished after the re-run began",
            solve.name
        );
    }
    // The re-run is a second attempt with reRunAdviserId naming the first result; its own result
    // is a new document linked to the first.
    assert_eq!(done.spec.re_run_adviser_id.as_deref(), Some(JOB));
    let re_run_workflow = status.workflow.clone().expect("workflow").name;
    assert!(re_run_workflow.ends_with("-2"), "{re_run_workflow}");
    assert_eq!(
        status.document_id.as_deref(),
        Some(re_run_workflow.as_str())
    );
    assert_eq!(
        first.re_run_document_id.as_deref(),
        Some(re_run_workflow.as_str())
    );
    let second = harness
        .store
        .advice_run(&re_run_workflow)
        .await
        .expect("read")
        .expect("the re-run is recorded");
    assert!(second.unresolved.is_empty());
    assert!(!second.need_re_run);
    let attempts = harness
        .store
        .attempts(ResourceKind::AdviceRequest, "thoth", JOB)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let conditions: Vec<(String, String)> = status
        .conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    assert!(
        conditions.contains(&("AwaitingSolvers".to_string(), "False".to_string())),
        "{conditions:?}"
    );
    harness.stop().await;
}

/// Waits until the advice `job`'s second attempt (the chain's re-run) ends in `phase`.
async fn await_second_attempt(
    advice: &Api<AdviceRequest>,
    job: &str,
    phase: Phase,
) -> AdviceRequest {
    let reached = move |request: Option<&AdviceRequest>| {
        request
            .and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.attempts == Some(2) && s.phase == Some(phase))
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        kube::runtime::wait::await_condition(advice.clone(), job, reached),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the advice's re-run did not end {phase:?} (RUST_LOG=thoth_operator=debug shows why)"
        )
    })
    .expect("watch works")
    .expect("the request exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflow_whose_resource_was_deleted_by_force_is_recorded_and_released() {
    let mut harness = Harness::start(10).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    // "hold": this file's stand-in leaves the Workflow alone; the test finishes it.
    runs.create(&PostParams::default(), &solver_run("orphan-hold", "9.0.0"))
        .await
        .expect("created");
    let (namespace, workflow_name) = await_workflow_ref(&runs, "orphan-hold").await;
    // Deleted by force while the operator is down (as it happens: nobody is there to remove the
    // finalizer): it is stripped, so the operator's cleanup never runs.
    harness.stop_operator().await;
    runs.delete("orphan-hold", &Default::default())
        .await
        .expect("deleted");
    runs.patch(
        "orphan-hold",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizers stripped");
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), &namespace);
    workflows
        .patch(
            &workflow_name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"labels": {COMPLETED_LABEL: "true"}},
                "status": {"phase": "Succeeded", "startedAt": jiff_now(), "finishedAt": jiff_now()}
            })),
        )
        .await
        .expect("finished");
    harness.restart_operator(10);
    let released = |workflow: Option<&Workflow>| {
        workflow.is_some_and(|w| !w.finalizers().contains(&WORKFLOW_FINALIZER.to_string()))
    };
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(workflows.clone(), &workflow_name, released),
    )
    .await
    .expect("the orphaned Workflow was released")
    .expect("watch works");
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "orphan-hold")
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].phase, WorkflowPhase::Succeeded);
    assert!(
        attempts[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("deleted by force")),
        "{attempts:?}"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_resource_is_deleted_after_its_retention_with_its_workflow_and_its_outcome_stays()
 {
    const RETENTION: Duration = Duration::from_secs(2);
    let mut config = operator_config(10);
    config.finished_retention = Some(RETENTION);
    let harness = Harness::start_with(config, None).await;
    let runs: Api<SolverRun> = Api::namespaced(harness.client.clone(), "thoth");
    let created = runs
        .create(
            &PostParams::default(),
            &solver_run("pyyaml-retained", "5.3.1"),
        )
        .await
        .expect("created");
    let uid = created.uid().expect("uid");
    // Watched from its creation, so neither its end nor its deletion can be missed.
    let mut events = watcher::watcher(
        runs.clone(),
        watcher::Config::default().fields("metadata.name=pyyaml-retained"),
    )
    .default_backoff()
    .boxed();
    let mut finished: Option<SolverRun> = None;
    let deleted = tokio::time::timeout(WAIT + RETENTION, async {
        while let Some(event) = events.next().await {
            match event.expect("watch works") {
                watcher::Event::Apply(run) | watcher::Event::InitApply(run) => {
                    let phase = run.status.as_ref().and_then(|s| s.phase);
                    if phase == Some(Phase::Succeeded) && finished.is_none() {
                        finished = Some(run);
                    }
                }
                watcher::Event::Delete(run) if run.uid().as_deref() == Some(&uid) => {
                    return chrono::Utc::now();
                }
                _ => {}
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the finished resource is deleted after its retention");
    let finished = finished.expect("seen Succeeded before its deletion");
    // The retention runs from the finish time the status shows (Argo's finishedAt, whole
    // seconds); the deletion was seen no earlier than it happened.
    let finish_time = finished
        .status
        .as_ref()
        .and_then(|s| s.finish_time.clone())
        .expect("finish time");
    let finished_at =
        chrono::DateTime::<chrono::Utc>::from_timestamp_micros(finish_time.0.as_microsecond())
            .expect("a time");
    let kept = (deleted - finished_at).to_std().unwrap_or_default();
    assert!(
        kept >= RETENTION,
        "deleted {kept:?} after its finish time: before its retention of {RETENTION:?}"
    );
    // Its Workflow went with it (the resource's finalizer deletes across namespaces)...
    let workflow_ref = finished
        .status
        .as_ref()
        .and_then(|s| s.workflow.clone())
        .expect("workflow reference");
    let workflows: Api<Workflow> = Api::namespaced(harness.client.clone(), &workflow_ref.namespace);
    let gone = kube::runtime::wait::await_condition(
        workflows,
        &workflow_ref.name,
        |w: Option<&Workflow>| w.is_none(),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("the Workflow is deleted with its resource")
        .expect("watch works");
    // ...and the outcome stays in the store.
    assert_eq!(
        solver_outcome(&harness.store, "5.3.1").await,
        Some(SolverStatus::Success),
        "the outcome outlives its resource"
    );
    let attempts = harness
        .store
        .attempts(ResourceKind::SolverRun, "thoth", "pyyaml-retained")
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].phase, WorkflowPhase::Succeeded);
    harness.stop().await;
}

/// An AdviceRequest for `job` as the ingestion makes one from an AdviserTrigger.
fn advice_request(job: &str) -> AdviceRequest {
    AdviceRequest::new(
        job,
        AdviceRequestSpec {
            job_id: job.into(),
            recommendation_type: RecommendationType::Stable,
            origin: None,
            source_type: None,
            count: None,
            limit: None,
            limit_latest_versions: None,
            dev: false,
            debug: false,
            authenticated: false,
            re_run_adviser_id: None,
            kebechet_metadata: None,
            justification: None,
            stack_info: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_advice_whose_re_run_fails_records_the_failure_as_a_run_of_its_own() {
    const JOB: &str = "adviser-210312182025-0f1e2d3c4b5a6978";
    let mut config = operator_config(10);
    config.solvers = vec!["solver-rhel-8-py38".into()];
    // The first run reports unresolved packages; the chain's re-run (attempt 2) fails.
    let stand_in = ArgoStandInConfig {
        pending_for: Duration::from_millis(20),
        running_for: Duration::from_millis(50),
        unresolved_share: 1.0,
        finish_override: Some(Arc::new(|workflow: &Workflow| {
            let name = workflow.name_any();
            (name.starts_with("adviser-") && name.ends_with("-2"))
                .then_some(thoth_operator::sandbox::argo::Finish::Failed)
        })),
        ..ArgoStandInConfig::default()
    };
    let harness = Harness::start_with(config, Some(stand_in)).await;
    let advice: Api<AdviceRequest> = Api::namespaced(harness.client.clone(), "thoth");
    advice
        .create(&PostParams::default(), &advice_request(JOB))
        .await
        .expect("created");
    let done = await_second_attempt(&advice, JOB, Phase::Failed).await;
    let re_run_workflow = done
        .status
        .as_ref()
        .and_then(|s| s.workflow.clone())
        .expect("workflow")
        .name;
    // The first run keeps its row; the failed re-run has its own, under the id its Workflow had.
    let first = harness
        .store
        .advice_run(JOB)
        .await
        .expect("read")
        .expect("the first run is recorded");
    assert!(!first.error);
    assert!(first.need_re_run);
    let second = harness
        .store
        .advice_run(&re_run_workflow)
        .await
        .expect("read")
        .expect("the failed re-run is recorded");
    assert!(second.error);
    harness.stop().await;
}
