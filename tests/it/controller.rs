//! The controllers against the in-memory API server (Argo's full Workflow CRD loaded), a real
//! PostgreSQL and a small Argo stand-in that moves Workflows Pending → Running → Succeeded/Failed
//! with outputs per docs/workflow-contract.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use thoth_operator::api::argo::{COMPLETED_LABEL, Workflow};
use thoth_operator::api::{Phase, SolverRun, SolverRunSpec};
use thoth_operator::reconcile::workflow::{MANAGED_SELECTOR, WORKFLOW_FINALIZER};
use thoth_operator::reconcile::{AdmissionLimits, ControllerMetrics, OperatorConfig};
use apiserver::{ApiServer, RunningApiServer};
use testkit::TestDatabase;
use thoth_operator::store::{ResourceKind, SolverStatus, Store, StoreConfig, WorkflowPhase};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(30);

fn argo_workflow_crd() -> CustomResourceDefinition {
    let documents = testkit::reference_data::yaml_documents(
        "argo/crds/full/argoproj.io_workflows.yaml",
    )
    .expect("Argo's full Workflow CRD is readable");
    serde_json::from_value(documents.into_iter().next().expect("one document"))
        .expect("Argo's Workflow CRD parses")
}

struct Harness {
    server: RunningApiServer,
    client: Client,
    store: Store,
    _db: TestDatabase,
    stop: watch::Sender<bool>,
    operator: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(limit: usize) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut crds = thoth_operator::api::all_crds();
        crds.push(argo_workflow_crd());
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
        tokio::spawn(argo_stand_in(client.clone(), stop_rx.clone()));
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
        let operator = {
            let client = client.clone();
            let store = store.clone();
            let mut stop_rx = stop_rx.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                };
                thoth_operator::reconcile::run(
                    client,
                    store,
                    config,
                    Arc::new(ControllerMetrics::default()),
                    Default::default(),
                    shutdown,
                )
                .await
                .expect("operator runs");
            })
        };
        Self {
            server,
            client,
            store,
            _db: db,
            stop,
            operator,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(WAIT, self.operator).await;
        self.server.shutdown().await;
    }
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
                if resource.contains("fails") {
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
        let _ = namespaced
            .patch(
                &workflow.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await;
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
async fn a_solver_run_becomes_a_workflow_whose_success_reaches_status_store_and_outbox() {
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
    let key = thoth_operator::store::VersionKey::new(
        thoth_operator::package::PackageName::parse("PyYAML").expect("name"),
        thoth_operator::package::PackageVersion::parse("5.3.1").expect("version"),
        thoth_operator::package::IndexUrl::parse("https://pypi.org/simple").expect("index"),
    );
    let outcome = harness
        .store
        .solver_outcome(&key, "solver-rhel-8-py38")
        .await
        .expect("outcome read")
        .expect("outcome recorded");
    assert_eq!(outcome.status, SolverStatus::Success);

    // Events were published on the resource.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(harness.client.clone(), "thoth");
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.contains(&"WorkflowCreated".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"Succeeded".to_string()), "{reasons:?}");
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
async fn thirty_resources_with_a_limit_of_three_never_have_more_than_three_active_and_all_finish() {
    const RESOURCES: usize = 30;
    const LIMIT: usize = 3;
    let harness = Harness::start(LIMIT).await;
    // The independent watcher: counts Workflows that exist, are not completed and not deleting.
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher_task = {
        let api: Api<Workflow> = Api::namespaced(harness.client.clone(), "thoth-middletier");
        let peak = peak.clone();
        tokio::spawn(async move {
            let mut active: BTreeMap<String, bool> = BTreeMap::new();
            let stream = watcher(api, watcher::Config::default());
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                match event {
                    watcher::Event::Apply(wf) | watcher::Event::InitApply(wf) => {
                        let is_active =
                            wf.metadata.deletion_timestamp.is_none() && !wf.is_labelled_completed();
                        active.insert(wf.name_any(), is_active);
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
    for i in 0..RESOURCES {
        await_phase(&runs, &format!("pyyaml-{i}"), Phase::Succeeded).await;
    }
    watcher_task.abort();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= LIMIT, "{peak} Workflows were active at once");
    assert!(peak >= 1);
    harness.stop().await;
}
