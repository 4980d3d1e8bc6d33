//! The Argo stand-in: moves the operator's Workflows through their phases the way
//! Argo's workflow controller does, for tests and the sandbox (no pods run).
//!
//! It watches Workflows labelled `app.kubernetes.io/managed-by=thoth-operator` in all
//! namespaces. For each new one it
//!
//! 1. looks up the referenced WorkflowTemplate in the Workflow's namespace; when it is
//!    missing it ends the Workflow in `Error` with Argo's message
//!    (`workflowtemplates.argoproj.io "solver" not found`);
//! 2. otherwise writes `Pending`, then `Running` (with `startedAt` and a DAG node and a
//!    pod node), then after the configured time `Succeeded`, `Failed` or `Error`, drawn
//!    with the configured shares from an RNG seeded per Workflow, with `finishedAt`,
//!    nodes, a message, the `workflows.argoproj.io/completed=true` label and, on
//!    success, output parameters as `docs/workflow-contract.md` defines them
//!    (fabricated, plausible results);
//! 3. after the configured TTL, deletes the Workflow. Like Argo's TTL controller it only
//!    calls delete: a Workflow with finalizers stays, marked for deletion, until they
//!    are removed.
//!
//! Status is written by a JSON merge patch of the main object, as Argo does (its
//! Workflow CRD has no status subresource). A Workflow deleted meanwhile is dropped.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::api::argo::{ArgoPhase, COMPLETED_LABEL, Workflow, WorkflowTemplate};
use crate::reconcile::contract::{
    self, AdviceUnresolvedEntry, SecurityIndicatorsOutcome, SolverVersionResult,
    SolverVersionStatus,
};
use crate::reconcile::workflow::{MANAGED_SELECTOR, RESOURCE_KIND_LABEL};

/// Argo's label giving the Workflow's phase (`workflows.argoproj.io/phase`).
pub use crate::api::argo::PHASE_LABEL;

/// How a Workflow ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finish {
    Succeeded,
    Failed,
    Error,
}

impl Finish {
    fn phase(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Error => "Error",
        }
    }
}

/// Chooses how a given Workflow ends, overriding the configured shares (`None`
/// leaves it to them). Tests use it to make one Workflow fail.
pub type FinishOverride = Arc<dyn Fn(&Workflow) -> Option<Finish> + Send + Sync>;

/// Timing and outcome shares of the stand-in.
#[derive(Clone)]
pub struct ArgoStandInConfig {
    /// Label selector of the Workflows it runs.
    pub label_selector: String,
    /// Time a Workflow stays Pending.
    pub pending_for: Duration,
    /// Time a Workflow stays Running.
    pub running_for: Duration,
    /// Time after finishing before the Workflow is deleted; `None` keeps it.
    /// (Thoth's templates use 25 s for solvers and security indicators.)
    pub ttl_after_finished: Option<Duration>,
    /// Share (0–1) of Workflows that end Failed.
    pub failed_share: f64,
    /// Share (0–1) of Workflows that end Error.
    pub error_share: f64,
    /// Share of solved versions reported unsolvable or unparseable instead.
    pub unsolvable_share: f64,
    /// Share of security-indicator runs reporting no source distribution (and, as
    /// often again, a missing version) instead of done.
    pub no_source_share: f64,
    /// Share of advice runs reporting unresolved packages.
    pub unresolved_share: f64,
    /// Seed of the outcome draws; each Workflow's draw depends on the seed and its
    /// name only, so a run is reproducible whatever the order of events.
    pub seed: u64,
    /// Optional per-Workflow choice of the ending.
    pub finish_override: Option<FinishOverride>,
}

impl Default for ArgoStandInConfig {
    fn default() -> Self {
        Self {
            label_selector: MANAGED_SELECTOR.to_string(),
            pending_for: Duration::from_millis(50),
            running_for: Duration::from_millis(200),
            ttl_after_finished: Some(Duration::from_secs(25)),
            failed_share: 0.0,
            error_share: 0.0,
            unsolvable_share: 0.1,
            no_source_share: 0.1,
            unresolved_share: 0.2,
            seed: 0,
            finish_override: None,
        }
    }
}

impl fmt::Debug for ArgoStandInConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgoStandInConfig")
            .field("label_selector", &self.label_selector)
            .field("pending_for", &self.pending_for)
            .field("running_for", &self.running_for)
            .field("ttl_after_finished", &self.ttl_after_finished)
            .field("failed_share", &self.failed_share)
            .field("error_share", &self.error_share)
            .field("seed", &self.seed)
            .field("finish_override", &self.finish_override.is_some())
            .finish_non_exhaustive()
    }
}

/// A running stand-in; stops when [`ArgoStandIn::shutdown`] is called or it is dropped.
pub struct ArgoStandIn {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ArgoStandIn {
    /// Starts watching Workflows through `client`.
    pub fn spawn(client: Client, config: ArgoStandInConfig) -> Self {
        Self {
            task: Some(tokio::spawn(run(client, Arc::new(config)))),
        }
    }

    /// Stops the watch and every Workflow still in progress.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The task's own outcome (cancelled) says nothing worth reporting.
            let _ = task.await;
        }
    }
}

impl Drop for ArgoStandIn {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(client: Client, config: Arc<ArgoStandInConfig>) {
    let workflows: Api<Workflow> = Api::all(client.clone());
    let watch_config = watcher::Config::default().labels(&config.label_selector);
    let mut events = watcher::watcher(workflows, watch_config)
        .default_backoff()
        .boxed();
    // Workflows a task has been started for, by uid, until their deletion is seen.
    let mut started: HashSet<String> = HashSet::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            event = events.try_next() => match event {
                Ok(Some(Event::Apply(workflow) | Event::InitApply(workflow))) => {
                    let Some(uid) = workflow.uid() else { continue };
                    if workflow.metadata.deletion_timestamp.is_some() || !started.insert(uid) {
                        continue;
                    }
                    tasks.spawn(drive(client.clone(), config.clone(), workflow));
                }
                Ok(Some(Event::Delete(workflow))) => {
                    if let Some(uid) = workflow.uid() {
                        started.remove(&uid);
                    }
                }
                Ok(Some(Event::Init | Event::InitDone)) => {}
                Ok(None) => return,
                Err(error) => tracing::warn!(error = %error, "Argo stand-in: Workflow watch failed"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// What a step of [`drive`] ran into.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("the Workflow is gone")]
    Gone,
    #[error("failed to write Workflow {name}")]
    Write {
        name: String,
        #[source]
        source: kube::Error,
    },
}

fn now() -> Value {
    json!(Timestamp::now().to_string())
}

/// Moves one Workflow from wherever it is to its end and its TTL deletion.
async fn drive(client: Client, config: Arc<ArgoStandInConfig>, workflow: Workflow) {
    let name = workflow.name_any();
    if let Err(error) = drive_steps(&client, &config, workflow).await {
        match error {
            StepError::Gone => {}
            other => {
                tracing::warn!(workflow = %name, error = %other, "Argo stand-in gave up a Workflow")
            }
        }
    }
}

async fn drive_steps(
    client: &Client,
    config: &ArgoStandInConfig,
    workflow: Workflow,
) -> Result<(), StepError> {
    let namespace = workflow.namespace().unwrap_or_default();
    let name = workflow.name_any();
    let api: Api<Workflow> = Api::namespaced(client.clone(), &namespace);
    let phase = workflow.status.as_ref().and_then(|s| s.phase.clone());
    let finished = phase.as_ref().is_some_and(ArgoPhase::is_finished);
    if !finished {
        if let Some(message) = missing_template(client, &namespace, &workflow).await? {
            let at = now();
            patch(
                &api,
                &name,
                json!({
                    "metadata": {"labels": {COMPLETED_LABEL: "true", PHASE_LABEL: "Error"}},
                    "status": {"phase": "Error", "startedAt": at, "finishedAt": at,
                               "message": message},
                }),
            )
            .await?;
        } else {
            if phase.is_none() || phase == Some(ArgoPhase::Other(String::new())) {
                patch(
                    &api,
                    &name,
                    json!({
                        "metadata": {"labels": {PHASE_LABEL: "Pending"}},
                        "status": {"phase": "Pending"},
                    }),
                )
                .await?;
                tokio::time::sleep(config.pending_for).await;
            }
            let plan = Plan::draw(config, &workflow);
            let started_at = workflow
                .status
                .as_ref()
                .and_then(|s| s.started_at.as_ref())
                .map(|t| json!(t.0.to_string()))
                .unwrap_or_else(now);
            patch(
                &api,
                &name,
                json!({
                    "metadata": {"labels": {PHASE_LABEL: "Running"}},
                    "status": {"phase": "Running", "startedAt": started_at,
                               "nodes": plan.nodes(&name, "Running", &started_at, None)},
                }),
            )
            .await?;
            tokio::time::sleep(config.running_for).await;
            let finished_at = now();
            let phase = plan.finish.phase();
            let mut status = json!({
                "phase": phase,
                "startedAt": started_at,
                "finishedAt": finished_at,
                "nodes": plan.nodes(&name, phase, &started_at, Some(&finished_at)),
            });
            if let Some(message) = plan.message(&name) {
                status["message"] = json!(message);
            }
            if !plan.outputs.is_empty() {
                status["outputs"] = json!({"parameters": plan.outputs});
            }
            patch(
                &api,
                &name,
                json!({
                    "metadata": {"labels": {COMPLETED_LABEL: "true", PHASE_LABEL: phase}},
                    "status": status,
                }),
            )
            .await?;
        }
    }
    if let Some(ttl) = config.ttl_after_finished {
        tokio::time::sleep(ttl).await;
        let params = DeleteParams::default();
        match with_retries(|| api.delete(&name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => return Err(StepError::Write { name, source }),
        }
    }
    Ok(())
}

/// Attempts before a call is given up (about 30 s with the delays below).
const ATTEMPTS: u32 = 20;

/// Whether an answer may change on a later try: throttling, server errors and
/// failed connections, not a 404 or a refusal of the request itself.
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        _ => true,
    }
}

/// Runs `call` until it succeeds, fails for good, or has failed [`ATTEMPTS`] times,
/// waiting 50 ms, doubling up to 2 s, between tries — as Argo's controller requeues
/// a Workflow whose update failed.
async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(50);
    let mut tries = 1;
    loop {
        match call().await {
            Err(error) if tries < ATTEMPTS && is_transient(&error) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn patch(api: &Api<Workflow>, name: &str, body: Value) -> Result<(), StepError> {
    let patch = Patch::Merge(&body);
    let params = PatchParams::default();
    match with_retries(|| api.patch(name, &params, &patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(StepError::Gone),
        Err(source) => Err(StepError::Write {
            name: name.to_string(),
            source,
        }),
    }
}

/// Argo's message when the referenced WorkflowTemplate does not exist, else `None`.
async fn missing_template(
    client: &Client,
    namespace: &str,
    workflow: &Workflow,
) -> Result<Option<String>, StepError> {
    let Some(reference) = workflow.spec.workflow_template_ref.as_ref() else {
        return Ok(None);
    };
    if reference.cluster_scope == Some(true) {
        return Ok(None);
    }
    let templates: Api<WorkflowTemplate> = Api::namespaced(client.clone(), namespace);
    match with_retries(|| templates.get_opt(&reference.name)).await {
        Ok(Some(_)) => Ok(None),
        Ok(None) => Ok(Some(format!(
            "workflowtemplates.argoproj.io \"{}\" not found",
            reference.name
        ))),
        Err(source) => Err(StepError::Write {
            name: workflow.name_any(),
            source,
        }),
    }
}

/// The kind of run a Workflow is, from the operator's label or, failing that, its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    Solver,
    SecurityIndicators,
    Adviser,
    Other,
}

fn parameter<'w>(workflow: &'w Workflow, name: &str) -> Option<&'w str> {
    workflow
        .spec
        .arguments
        .as_ref()?
        .parameters
        .iter()
        .find(|p| p.name == name)?
        .value
        .as_deref()
}

impl RunKind {
    fn of(workflow: &Workflow) -> Self {
        match workflow
            .labels()
            .get(RESOURCE_KIND_LABEL)
            .map(String::as_str)
        {
            Some("SolverRun") => Self::Solver,
            Some("SecurityIndicatorRun") => Self::SecurityIndicators,
            Some("AdviceRequest") => Self::Adviser,
            _ if parameter(workflow, "THOTH_SOLVER_PACKAGES").is_some() => Self::Solver,
            _ if parameter(workflow, "THOTH_SECURITY_INDICATORS_JOB_ID").is_some() => {
                Self::SecurityIndicators
            }
            _ if parameter(workflow, "THOTH_ADVISER_JOB_ID").is_some() => Self::Adviser,
            _ => Self::Other,
        }
    }

    /// Names of the DAG's template and its one step, after Thoth's templates.
    fn templates(self) -> (&'static str, &'static str) {
        match self {
            Self::Solver => ("solve-and-sync", "solve"),
            Self::SecurityIndicators => ("security-indicators", "aggregator"),
            Self::Adviser => ("adviser", "advise"),
            Self::Other => ("main", "main"),
        }
    }
}

/// How one Workflow will run, drawn once.
struct Plan {
    kind: RunKind,
    finish: Finish,
    outputs: Vec<Value>,
}

impl Plan {
    fn draw(config: &ArgoStandInConfig, workflow: &Workflow) -> Self {
        let mut hasher = DefaultHasher::new();
        config.seed.hash(&mut hasher);
        workflow.name_any().hash(&mut hasher);
        let mut rng = StdRng::seed_from_u64(hasher.finish());
        let roll: f64 = rng.random();
        let drawn = if roll < config.failed_share {
            Finish::Failed
        } else if roll < config.failed_share + config.error_share {
            Finish::Error
        } else {
            Finish::Succeeded
        };
        let finish = config
            .finish_override
            .as_ref()
            .and_then(|choose| choose(workflow))
            .unwrap_or(drawn);
        let kind = RunKind::of(workflow);
        let outputs = if finish == Finish::Succeeded {
            fabricate_outputs(config, kind, workflow, &mut rng)
        } else {
            Vec::new()
        };
        Self {
            kind,
            finish,
            outputs,
        }
    }

    fn pod_id(name: &str) -> String {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        format!("{name}-{}", hasher.finish() % 10_000_000_000)
    }

    fn nodes(
        &self,
        name: &str,
        phase: &str,
        started_at: &Value,
        finished_at: Option<&Value>,
    ) -> Value {
        let (dag, step) = self.kind.templates();
        let pod = Self::pod_id(name);
        let mut root = json!({
            "id": name, "name": name, "displayName": name, "type": "DAG",
            "templateName": dag, "phase": phase, "startedAt": started_at,
            "children": [pod],
        });
        let mut leaf = json!({
            "id": pod, "name": format!("{name}.{step}"), "displayName": step, "type": "Pod",
            "templateName": step, "phase": phase, "startedAt": started_at,
            "boundaryID": name,
        });
        if let Some(finished_at) = finished_at {
            root["finishedAt"] = finished_at.clone();
            leaf["finishedAt"] = finished_at.clone();
            match self.finish {
                Finish::Succeeded => {}
                Finish::Failed => leaf["message"] = json!("Error (exit code 1)"),
                Finish::Error => leaf["message"] = json!("pod deleted"),
            }
        }
        json!({ name: root, pod: leaf })
    }

    fn message(&self, name: &str) -> Option<String> {
        match self.finish {
            Finish::Succeeded => None,
            Finish::Failed => Some(format!("child '{}' failed", Self::pod_id(name))),
            Finish::Error => Some("pod deleted".to_string()),
        }
    }
}

fn output(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into(), "globalName": name})
}

fn fabricate_outputs(
    config: &ArgoStandInConfig,
    kind: RunKind,
    workflow: &Workflow,
    rng: &mut StdRng,
) -> Vec<Value> {
    let name = workflow.name_any();
    match kind {
        RunKind::Solver => {
            let requested = parameter(workflow, "THOTH_SOLVER_PACKAGES").unwrap_or_default();
            let versions: Vec<String> = match requested.split_once("===") {
                Some((_, version)) => vec![version.to_string()],
                // No version asked for: the index lists a few.
                None => ["1.0.0", "1.1.0", "2.0.0"]
                    .into_iter()
                    .take(rng.random_range(1..=3))
                    .map(str::to_string)
                    .collect(),
            };
            let results: Vec<SolverVersionResult> = versions
                .into_iter()
                .map(|version| {
                    let status = if rng.random::<f64>() < config.unsolvable_share {
                        if rng.random::<bool>() {
                            SolverVersionStatus::Unsolvable
                        } else {
                            SolverVersionStatus::Unparseable
                        }
                    } else {
                        SolverVersionStatus::Solved
                    };
                    SolverVersionResult {
                        version,
                        status,
                        message: None,
                    }
                })
                .collect();
            vec![
                output(contract::DOCUMENT_ID, name),
                output(
                    contract::SOLVER_RESULTS,
                    serde_json::to_string(&results).unwrap_or_default(),
                ),
            ]
        }
        RunKind::SecurityIndicators => {
            let roll: f64 = rng.random();
            let outcome = if roll < config.no_source_share {
                SecurityIndicatorsOutcome::NoSourceDistribution
            } else if roll < 2.0 * config.no_source_share {
                SecurityIndicatorsOutcome::MissingVersion
            } else {
                SecurityIndicatorsOutcome::Done
            };
            vec![
                output(contract::DOCUMENT_ID, name),
                output(
                    contract::SECURITY_INDICATORS_RESULT,
                    <&'static str>::from(outcome),
                ),
            ]
        }
        RunKind::Adviser => {
            let document_id = parameter(workflow, "THOTH_ADVISER_JOB_ID")
                .map(str::to_string)
                .unwrap_or(name);
            // A re-run (after the solvers ran) resolves everything, so the chain ends.
            let is_re_run = parameter(workflow, "THOTH_ADVISER_METADATA")
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .is_some_and(|m| !m["re_run_adviser_id"].is_null());
            let unresolved: Vec<AdviceUnresolvedEntry> =
                if !is_re_run && rng.random::<f64>() < config.unresolved_share {
                    [("flask", "2.0.1"), ("werkzeug", "2.0.2")]
                        .into_iter()
                        .take(rng.random_range(1..=2))
                        .map(|(name, version)| AdviceUnresolvedEntry {
                            name: name.to_string(),
                            version: Some(version.to_string()),
                            index: Some("https://pypi.org/simple".to_string()),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
            vec![
                output(contract::DOCUMENT_ID, document_id),
                output(
                    contract::UNRESOLVED_PACKAGES,
                    serde_json::to_string(&unresolved).unwrap_or_default(),
                ),
            ]
        }
        RunKind::Other => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SolverRun;
    use crate::reconcile::observe::{Outcome, observe};
    use crate::reconcile::workflow::fixtures::solver_run;
    use crate::reconcile::workflow::{WorkflowConfig, build_workflow};

    fn named(name: &str) -> Workflow {
        let mut workflow = build_workflow(
            &solver_run("flask", Some("2.0.1")),
            1,
            &WorkflowConfig::default(),
        )
        .expect("builds");
        workflow.metadata.name = Some(name.to_string());
        workflow
    }

    #[test]
    fn draws_depend_on_seed_and_name_only_and_follow_the_shares() {
        let config = ArgoStandInConfig {
            failed_share: 0.3,
            error_share: 0.2,
            seed: 7,
            ..ArgoStandInConfig::default()
        };
        let workflows: Vec<Workflow> = (0..2000).map(|i| named(&format!("wf-{i}"))).collect();
        let finishes: Vec<Finish> = workflows
            .iter()
            .map(|w| Plan::draw(&config, w).finish)
            .collect();
        let again: Vec<Finish> = workflows
            .iter()
            .rev()
            .map(|w| Plan::draw(&config, w).finish)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert_eq!(finishes, again, "order of drawing does not matter");
        let share = |finish| {
            finishes.iter().filter(|f| **f == finish).count() as f64 / finishes.len() as f64
        };
        assert!(
            (share(Finish::Failed) - 0.3).abs() < 0.05,
            "{}",
            share(Finish::Failed)
        );
        assert!(
            (share(Finish::Error) - 0.2).abs() < 0.05,
            "{}",
            share(Finish::Error)
        );
        let other_seed = ArgoStandInConfig { seed: 8, ..config };
        let reseeded: Vec<Finish> = workflows
            .iter()
            .map(|w| Plan::draw(&other_seed, w).finish)
            .collect();
        assert_ne!(finishes, reseeded);
    }

    #[test]
    fn an_override_decides_the_finish() {
        let config = ArgoStandInConfig {
            finish_override: Some(Arc::new(|_: &Workflow| Some(Finish::Error))),
            ..ArgoStandInConfig::default()
        };
        let plan = Plan::draw(&config, &named("wf"));
        assert_eq!(plan.finish, Finish::Error);
        assert!(plan.outputs.is_empty());
        assert_eq!(plan.message("wf").as_deref(), Some("pod deleted"));
    }

    #[test]
    fn fabricated_solver_outputs_satisfy_the_observer() {
        let config = ArgoStandInConfig {
            unsolvable_share: 0.5,
            ..ArgoStandInConfig::default()
        };
        for i in 0..50 {
            let mut workflow = named(&format!("solver-{i}"));
            let plan = Plan::draw(&config, &workflow);
            workflow.status = Some(
                serde_json::from_value(json!({
                    "phase": "Succeeded",
                    "outputs": {"parameters": plan.outputs},
                    "nodes": plan.nodes("solver", "Succeeded", &now(), Some(&now())),
                }))
                .expect("status"),
            );
            match observe::<SolverRun>(&workflow).outcome {
                Some(Outcome::Results(results)) => {
                    assert_eq!(results.versions.len(), 1);
                    assert_eq!(results.versions[0].version.as_str(), "2.0.1");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
