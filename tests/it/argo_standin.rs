//! The Argo stand-in against the in-memory API server with Argo's full Workflow CRD
//! (and its minimal WorkflowTemplate CRD): Workflows built by the operator's pure builder move through
//! Argo's phases, publish outputs the operator's observer accepts, and are deleted after
//! their TTL only once their finalizers are gone. Every wait is on a watch.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apiserver::{ApiServer, FaultConfig, RunningApiServer};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use thoth_operator::api::argo::{ArgoPhase, Workflow, WorkflowTemplate};
use thoth_operator::api::{
    AdviceRequest, AdviceRequestSpec, Phase, RecommendationType, SecurityIndicatorRun,
    SecurityIndicatorRunSpec, SolverRun, SolverRunSpec,
};
use thoth_operator::reconcile::contract::SecurityIndicatorsOutcome;
use thoth_operator::reconcile::observe::{OperatorProblem, Outcome, observe};
use thoth_operator::reconcile::workflow::{WorkflowConfig, WorkflowKind, build_workflow};
use thoth_operator::sandbox::argo::{ArgoStandIn, ArgoStandInConfig, Finish};
use thoth_operator::sandbox::argo_crds::argo_crds;
use thoth_operator::store::SolverStatus;
use thoth_operator::terms::WorkflowPhase;

use testkit::reference_data::shared_dir;

const WAIT: Duration = Duration::from_secs(20);

/// Argo's full Workflow CRD, parsed once per test process (it is 2.8 MB of YAML).
fn workflow_crd() -> CustomResourceDefinition {
    static CRD: OnceLock<CustomResourceDefinition> = OnceLock::new();
    CRD.get_or_init(|| {
        let documents =
            testkit::reference_data::yaml_documents("argo/crds/full/argoproj.io_workflows.yaml")
                .expect("Argo's Workflow CRD reads");
        serde_json::from_value(documents[0].clone()).expect("Argo's Workflow CRD parses")
    })
    .clone()
}

/// Argo's minimal WorkflowTemplate CRD: the stand-in only reads whether a template
/// exists, so the full schema would only slow every test down.
fn workflow_template_crd() -> CustomResourceDefinition {
    let path = shared_dir().join("argo/crds/minimal/argoproj.io_workflowtemplates.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("Argo's WorkflowTemplate CRD parses")
}

struct Cluster {
    server: RunningApiServer,
    client: Client,
    stand_in: ArgoStandIn,
}

impl Cluster {
    /// The API server with Argo's CRDs, Thoth's two worker namespaces (plus `empty`,
    /// which has no templates), the three WorkflowTemplates, and the stand-in.
    async fn start(config: ArgoStandInConfig) -> Self {
        Self::start_with(config, vec![workflow_crd(), workflow_template_crd()]).await
    }

    async fn start_with(config: ArgoStandInConfig, crds: Vec<CustomResourceDefinition>) -> Self {
        let server = ApiServer::builder()
            .crds(crds)
            .build()
            .start("127.0.0.1:0")
            .await
            .expect("server starts");
        let client = server.client().expect("client");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for name in ["thoth", "thoth-middletier", "thoth-backend", "empty"] {
            let namespace = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            };
            namespaces
                .create(&PostParams::default(), &namespace)
                .await
                .expect("namespace created");
        }
        for (namespace, name) in [
            ("thoth-middletier", "solver"),
            ("thoth-middletier", "security-indicators"),
            ("thoth-backend", "adviser"),
        ] {
            let template: WorkflowTemplate = serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowTemplate",
                "metadata": {"name": name},
                "spec": {
                    "entrypoint": "main",
                    "templates": [{"name": "main", "container": {"image": "quay.io/thoth-station/x"}}]
                }
            }))
            .expect("a WorkflowTemplate");
            Api::<WorkflowTemplate>::namespaced(client.clone(), namespace)
                .create(&PostParams::default(), &template)
                .await
                .expect("template created");
        }
        let stand_in = ArgoStandIn::spawn(client.clone(), config);
        Self {
            server,
            client,
            stand_in,
        }
    }

    fn workflows(&self, namespace: &str) -> Api<Workflow> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates the Workflow and returns it as stored.
    async fn create(&self, workflow: &Workflow) -> Workflow {
        let namespace = workflow.namespace().expect("namespaced");
        self.workflows(&namespace)
            .create(&PostParams::default(), workflow)
            .await
            .expect("Workflow created")
    }

    async fn until(
        &self,
        workflow: &Workflow,
        condition: impl Condition<Workflow>,
    ) -> Option<Workflow> {
        self.until_within(workflow, condition, WAIT).await
    }

    async fn until_within(
        &self,
        workflow: &Workflow,
        condition: impl Condition<Workflow>,
        wait: Duration,
    ) -> Option<Workflow> {
        let namespace = workflow.namespace().expect("namespaced");
        let name = workflow.name_any();
        tokio::time::timeout(
            wait,
            await_condition(self.workflows(&namespace), &name, condition),
        )
        .await
        .unwrap_or_else(|_| panic!("{name} did not reach the condition within {wait:?}"))
        .expect("watch works")
    }

    async fn until_completed(&self, workflow: &Workflow) -> Workflow {
        self.until(workflow, |w: Option<&Workflow>| {
            w.is_some_and(Workflow::is_labelled_completed)
        })
        .await
        .expect("the Workflow exists")
    }

    async fn stop(self) {
        self.stand_in.shutdown().await;
        self.server.shutdown().await;
    }
}

fn meta(name: &str, uid: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some("thoth".into()),
        name: Some(name.into()),
        uid: Some(uid.into()),
        ..ObjectMeta::default()
    }
}

/// A uid as the API server would assign, distinct per name.
fn uid_for(name: &str) -> String {
    let hash = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("00000000-0000-4000-8000-{:012x}", hash % 0x1_0000_0000_0000)
}

fn solver_run(name: &str, version: Option<&str>) -> SolverRun {
    SolverRun {
        metadata: meta(name, &uid_for(name)),
        spec: SolverRunSpec {
            package_name: "PyYAML".into(),
            package_version: version.map(str::to_string),
            index_url: "https://pypi.org/simple".into(),
            solver: "solver-rhel-8-py38".into(),
            dependency_index_urls: Vec::new(),
            debug: false,
        },
        status: None,
    }
}

fn security_indicator_run() -> SecurityIndicatorRun {
    SecurityIndicatorRun {
        metadata: meta("si-crossbar", "11111111-0000-4000-8000-000000000001"),
        spec: SecurityIndicatorRunSpec {
            package_name: "crossbar".into(),
            package_version: "0.10.0".into(),
            index_url: "https://pypi.org/simple".into(),
            aggregation_function: "process_data".into(),
        },
        status: None,
    }
}

fn advice_request(job_id: &str, re_run: Option<&str>) -> AdviceRequest {
    AdviceRequest {
        metadata: meta(job_id, &uid_for(job_id)),
        spec: AdviceRequestSpec {
            job_id: job_id.into(),
            recommendation_type: RecommendationType::Latest,
            origin: None,
            source_type: None,
            count: None,
            limit: None,
            limit_latest_versions: None,
            dev: false,
            debug: false,
            authenticated: false,
            re_run_adviser_id: re_run.map(str::to_string),
            kebechet_metadata: None,
            justification: None,
            stack_info: None,
        },
        status: None,
    }
}

fn built<K: WorkflowKind>(resource: &K) -> Workflow {
    build_workflow(resource, 1, &WorkflowConfig::default()).expect("builds")
}

fn quick() -> ArgoStandInConfig {
    ArgoStandInConfig {
        pending_for: Duration::from_millis(20),
        running_for: Duration::from_millis(50),
        ttl_after_finished: None,
        unsolvable_share: 0.0,
        no_source_share: 0.0,
        unresolved_share: 0.0,
        ..ArgoStandInConfig::default()
    }
}

fn phase_of(workflow: &Workflow) -> Option<String> {
    workflow
        .status
        .as_ref()?
        .phase
        .as_ref()
        .map(|p| p.as_str().to_string())
}

#[tokio::test]
async fn a_solver_workflow_goes_pending_running_succeeded_with_outputs_the_operator_accepts() {
    let cluster = Cluster::start(quick()).await;
    let workflow = built(&solver_run("solver-pyyaml", Some("5.3.1")));
    let name = workflow.name_any();
    // Watch before creating, so every phase the stand-in writes is seen.
    let watched = cluster.workflows("thoth-middletier");
    let phases = tokio::spawn(async move {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut phases: Vec<String> = Vec::new();
        let mut stream = watcher::watcher(watched, config).boxed();
        while let Some(event) = stream.try_next().await.expect("watch works") {
            if let watcher::Event::Apply(w) | watcher::Event::InitApply(w) = event {
                if let Some(phase) = phase_of(&w)
                    && phases.last() != Some(&phase)
                {
                    phases.push(phase);
                }
                if w.is_labelled_completed() {
                    return phases;
                }
            }
        }
        phases
    });
    cluster.create(&workflow).await;
    let phases = tokio::time::timeout(WAIT, phases)
        .await
        .expect("finished in time")
        .expect("watch task");
    assert_eq!(phases, ["Pending", "Running", "Succeeded"]);

    let done = cluster.until_completed(&workflow).await;
    let status = done.status.clone().expect("status");
    let (started, finished) = (
        status.started_at.expect("startedAt"),
        status.finished_at.expect("finishedAt"),
    );
    assert!(started.0 <= finished.0);
    assert_eq!(status.nodes.len(), 2);
    assert!(
        status
            .nodes
            .values()
            .all(|n| n.phase == Some(ArgoPhase::Known(WorkflowPhase::Succeeded)))
    );
    assert_eq!(
        done.labels()
            .get("workflows.argoproj.io/phase")
            .map(String::as_str),
        Some("Succeeded")
    );

    let observation = observe::<SolverRun>(&done);
    assert_eq!(observation.phase, Phase::Succeeded);
    let Some(Outcome::Results(results)) = observation.outcome else {
        panic!("results expected: {:?}", observation.outcome)
    };
    assert_eq!(results.document_id, workflow.name_any());
    assert_eq!(results.versions.len(), 1);
    assert_eq!(results.versions[0].version.as_str(), "5.3.1");
    assert_eq!(results.versions[0].status, SolverStatus::Success);
    cluster.stop().await;
}

#[tokio::test]
async fn security_indicator_and_advice_workflows_publish_results_by_the_contract() {
    let cluster = Cluster::start(ArgoStandInConfig {
        unresolved_share: 1.0,
        ..quick()
    })
    .await;
    let si = built(&security_indicator_run());
    let first = built(&advice_request("adviser-1", None));
    let re_run = built(&advice_request("adviser-2", Some("adviser-1")));
    let unversioned = built(&solver_run("solver-pyyaml-all", None));
    for workflow in [&si, &first, &re_run, &unversioned] {
        cluster.create(workflow).await;
    }

    let si_done = cluster.until_completed(&si).await;
    match observe::<SecurityIndicatorRun>(&si_done).outcome {
        Some(Outcome::Results(results)) => {
            assert_eq!(results.outcome, SecurityIndicatorsOutcome::Done);
            assert_eq!(results.document_id, si.name_any());
        }
        other => panic!("{other:?}"),
    }

    let first_done = cluster.until_completed(&first).await;
    match observe::<AdviceRequest>(&first_done).outcome {
        Some(Outcome::Results(results)) => {
            assert_eq!(results.document_id, "adviser-1");
            assert!(
                !results.unresolved.is_empty(),
                "first runs report unresolved"
            );
        }
        other => panic!("{other:?}"),
    }
    let re_run_done = cluster.until_completed(&re_run).await;
    match observe::<AdviceRequest>(&re_run_done).outcome {
        Some(Outcome::Results(results)) => {
            assert!(
                results.unresolved.is_empty(),
                "a re-run resolves everything"
            );
        }
        other => panic!("{other:?}"),
    }

    let unversioned_done = cluster.until_completed(&unversioned).await;
    match observe::<SolverRun>(&unversioned_done).outcome {
        Some(Outcome::Results(results)) => assert!(!results.versions.is_empty()),
        other => panic!("{other:?}"),
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_missing_workflow_template_ends_the_workflow_in_error_with_argos_message() {
    let cluster = Cluster::start(quick()).await;
    let config = WorkflowConfig {
        solver: thoth_operator::reconcile::workflow::WorkflowTarget {
            namespace: "empty".into(),
            ..WorkflowConfig::default().solver
        },
        ..WorkflowConfig::default()
    };
    let workflow =
        build_workflow(&solver_run("solver-pyyaml", Some("5.3.1")), 1, &config).expect("builds");
    cluster.create(&workflow).await;
    let done = cluster.until_completed(&workflow).await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.phase, Some(ArgoPhase::Known(WorkflowPhase::Error)));
    assert_eq!(
        status.message.as_deref(),
        Some(r#"workflowtemplates.argoproj.io "solver" not found"#)
    );
    let observation = observe::<SolverRun>(&done);
    assert_eq!(observation.phase, Phase::Error);
    assert_eq!(
        observation.outcome,
        Some(Outcome::OperatorSide(OperatorProblem::TemplateMissing {
            resource: "workflowtemplates.argoproj.io".into(),
            name: "solver".into(),
        }))
    );
    cluster.stop().await;
}

#[tokio::test]
async fn failed_and_errored_workflows_name_their_failed_node_and_publish_nothing() {
    let cluster = Cluster::start(ArgoStandInConfig {
        finish_override: Some(Arc::new(|w: &Workflow| {
            let packages = w
                .spec
                .arguments
                .as_ref()?
                .parameters
                .iter()
                .find(|p| p.name == "THOTH_SOLVER_PACKAGES")?
                .value
                .clone()?;
            Some(if packages.ends_with("===2.0") {
                Finish::Error
            } else {
                Finish::Failed
            })
        })),
        ..quick()
    })
    .await;
    let failed = built(&solver_run("solver-failing", Some("1.0")));
    let errored = built(&solver_run("solver-broken", Some("2.0")));
    cluster.create(&failed).await;
    cluster.create(&errored).await;

    let failed_done = cluster.until_completed(&failed).await;
    let observation = observe::<SolverRun>(&failed_done);
    assert_eq!(observation.phase, Phase::Failed);
    assert_eq!(observation.outcome, Some(Outcome::Failed));
    assert_eq!(observation.failed_nodes, ["solve"]);
    assert!(
        observation
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("child '")),
        "{:?}",
        observation.message
    );

    let errored_done = cluster.until_completed(&errored).await;
    let observation = observe::<SolverRun>(&errored_done);
    assert_eq!(observation.phase, Phase::Error);
    assert_eq!(observation.outcome, Some(Outcome::Failed));
    assert_eq!(observation.failed_nodes, ["solve"]);
    cluster.stop().await;
}

#[tokio::test]
async fn ttl_deletion_waits_for_the_operators_finalizer() {
    let cluster = Cluster::start(ArgoStandInConfig {
        ttl_after_finished: Some(Duration::ZERO),
        ..quick()
    })
    .await;
    let workflow = built(&solver_run("solver-pyyaml", Some("5.3.1")));
    assert!(
        !workflow.finalizers().is_empty(),
        "built with our finalizer"
    );
    let created = cluster.create(&workflow).await;

    let marked = cluster
        .until(&workflow, |w: Option<&Workflow>| {
            w.is_some_and(|w| w.metadata.deletion_timestamp.is_some())
        })
        .await
        .expect("still there, marked for deletion");
    assert!(marked.is_labelled_completed());
    assert!(!marked.finalizers().is_empty());

    cluster
        .workflows("thoth-middletier")
        .patch(
            &workflow.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    let uid = created.uid().expect("uid");
    let gone = cluster.until(&workflow, conditions::is_deleted(&uid)).await;
    assert!(gone.is_none());
    cluster.stop().await;
}

#[tokio::test]
async fn workflows_without_the_operators_label_are_left_alone() {
    let cluster = Cluster::start(quick()).await;
    let mut foreign = built(&solver_run("solver-foreign", Some("1.0")));
    foreign.metadata.name = Some("foreign".into());
    foreign.metadata.labels = None;
    foreign.metadata.finalizers = None;
    let ours = built(&solver_run("solver-pyyaml", Some("5.3.1")));
    // Created first, so a stand-in that saw it would have started on it first.
    cluster.create(&foreign).await;
    cluster.create(&ours).await;
    cluster.until_completed(&ours).await;
    let foreign_now = cluster
        .workflows("thoth-middletier")
        .get("foreign")
        .await
        .expect("still there");
    assert_eq!(foreign_now.status, None);
    cluster.stop().await;
}

#[tokio::test]
async fn the_sandboxs_own_argo_crds_accept_what_the_operator_builds_and_the_stand_in_writes() {
    let cluster = Cluster::start_with(
        ArgoStandInConfig {
            unresolved_share: 1.0,
            finish_override: Some(Arc::new(|w: &Workflow| {
                w.name_any().contains("-failing-").then_some(Finish::Failed)
            })),
            ..quick()
        },
        argo_crds().expect("our Argo CRDs"),
    )
    .await;
    let solver = built(&solver_run("solver-pyyaml", Some("5.3.1")));
    let mut failing_run = solver_run("solver-failing", Some("1.0"));
    failing_run.spec.package_name = "failing".into();
    let failing = built(&failing_run);
    let si = built(&security_indicator_run());
    let advice = built(&advice_request("adviser-1", None));
    for workflow in [&solver, &failing, &si, &advice] {
        cluster.create(workflow).await;
    }
    let solver_done = cluster.until_completed(&solver).await;
    assert!(matches!(
        observe::<SolverRun>(&solver_done).outcome,
        Some(Outcome::Results(_))
    ));
    let failing_done = cluster.until_completed(&failing).await;
    let observation = observe::<SolverRun>(&failing_done);
    assert_eq!(observation.outcome, Some(Outcome::Failed));
    assert_eq!(observation.failed_nodes, ["solve"]);
    let si_done = cluster.until_completed(&si).await;
    assert!(matches!(
        observe::<SecurityIndicatorRun>(&si_done).outcome,
        Some(Outcome::Results(_))
    ));
    let advice_done = cluster.until_completed(&advice).await;
    match observe::<AdviceRequest>(&advice_done).outcome {
        Some(Outcome::Results(results)) => assert!(!results.unresolved.is_empty()),
        other => panic!("{other:?}"),
    }

    // The schema is enforced where it types fields: a node without its id is refused.
    let mut malformed = built(&solver_run("solver-malformed", Some("1.0")));
    malformed.metadata.name = Some("malformed".into());
    let mut body = serde_json::to_value(&malformed).expect("serialises");
    body["status"] = json!({"phase": "Running", "nodes": {"x": {"name": "x", "type": "Pod"}}});
    let raw: Api<kube::core::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        "thoth-middletier",
        &kube::core::ApiResource::erase::<Workflow>(&()),
    );
    let object: kube::core::DynamicObject = serde_json::from_value(body).expect("object");
    match raw.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("a node without id should be refused: {other:?}"),
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_restarted_stand_in_finishes_what_its_predecessor_left_running() {
    // The first stand-in would keep the Workflow Running for an hour.
    let mut cluster = Cluster::start(ArgoStandInConfig {
        running_for: Duration::from_secs(3600),
        ..quick()
    })
    .await;
    let workflow = built(&solver_run("solver-pyyaml", Some("5.3.1")));
    cluster.create(&workflow).await;
    let running = cluster
        .until(&workflow, |w: Option<&Workflow>| {
            w.and_then(phase_of).as_deref() == Some("Running")
        })
        .await
        .expect("exists");
    let started_at = running
        .status
        .and_then(|s| s.started_at)
        .expect("startedAt");

    let first = std::mem::replace(
        &mut cluster.stand_in,
        ArgoStandIn::spawn(cluster.client.clone(), quick()),
    );
    first.shutdown().await;
    let done = cluster.until_completed(&workflow).await;
    let status = done.status.clone().expect("status");
    assert_eq!(
        status.phase,
        Some(ArgoPhase::Known(WorkflowPhase::Succeeded))
    );
    assert_eq!(
        status.started_at,
        Some(started_at),
        "the start time is kept"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn workflows_finish_through_throttling_server_errors_and_cut_watches() {
    let cluster = Cluster::start(quick()).await;
    let workflows: Vec<Workflow> = (0..8)
        .map(|i| built(&solver_run(&format!("solver-faulty-{i}"), Some("1.0"))))
        .collect();
    // Every request meets the faults from here on; the test's own creates retry them.
    cluster.server.faults().set(FaultConfig {
        throttle_share: 0.2,
        error_share: 0.2,
        cut_watches_after: Some(3),
        ..FaultConfig::default()
    });
    let api = cluster.workflows("thoth-middletier");
    for workflow in &workflows {
        loop {
            match api.create(&PostParams::default(), workflow).await {
                Ok(_) => break,
                Err(kube::Error::Api(status)) if status.code == 429 || status.code == 500 => {}
                Err(other) => panic!("create failed: {other}"),
            }
        }
    }
    // The stand-in meets some faults too. A condition polled with a timeout: the server
    // offers no event for its counter.
    let after_creates = cluster.server.faults().injected_errors();
    let faulty_period = async {
        while cluster.server.faults().injected_errors() < after_creates + 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, faulty_period)
        .await
        .expect("the stand-in met faults");
    cluster.server.faults().clear();
    // A watch that failed several times in a row waits before it watches again, up to 30 s
    // (kube's default backoff, client-go's reflector's too): a Workflow created while the
    // stand-in's watch was down is seen only then.
    let after_faults = WAIT + Duration::from_secs(30);
    for workflow in &workflows {
        let done = cluster
            .until_within(
                workflow,
                |w: Option<&Workflow>| w.is_some_and(Workflow::is_labelled_completed),
                after_faults,
            )
            .await
            .expect("the Workflow exists");
        assert!(matches!(
            observe::<SolverRun>(&done).outcome,
            Some(Outcome::Results(_))
        ));
    }
    cluster.stop().await;
}
