//! One reconcile of a SolverRun, SecurityIndicatorRun or AdviceRequest, as a short driver over
//! named steps: start an attempt (admission, create the Workflow), follow it (observe, status),
//! finish it (store, release the Workflow, status), retention; and, when the resource is deleted,
//! clean up its Workflows in the other namespace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::chain::{AWAITING_SOLVERS_CONDITION, ChainStep, SolveState, awaited_solves, next_step};
use super::context::Context;
use super::error::ReconcileError;
use super::kinds::{FollowUps, RunKind};
use super::limit::{Admission, Candidate, ResourceKey};
use super::metrics::{KindLabels, TransitionLabels};
use super::observe::{Observation, Outcome, holds_a_slot, observe};
use super::workflow::{RESOURCE_UID_LABEL, WORKFLOW_FINALIZER, build_workflow, workflow_name};
use crate::api::argo::Workflow;
use crate::api::{
    AdviceRequest, Phase, RunStatus, SecurityIndicatorRun, SecurityIndicatorRunSpec, SolverRun,
    WorkflowRef,
};
use crate::store::{WorkflowAttempt, WorkflowPhase};

pub use crate::api::RESOURCE_FINALIZER;

/// Annotation whose new value asks for a new attempt of a Failed or Errored resource.
pub const RETRY_ANNOTATION: &str = "thoth-station.ninja/retry";

/// Condition remembering the last value of [`RETRY_ANNOTATION`] acted upon (in its message).
const RETRY_CONDITION: &str = "Retried";

/// The kube-runtime entry point: only the leader reconciles; everything else waits for a change.
pub(crate) async fn reconcile<K: RunKind>(
    resource: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let started = Instant::now();
    let kind = K::STORE_KIND.as_str();
    ctx.metrics
        .reconciles
        .get_or_create(&KindLabels { kind })
        .inc();
    if !ctx.is_leader() {
        return Ok(Action::await_change());
    }
    let namespace = resource.namespace().ok_or(ReconcileError::Incomplete {
        resource: describe(&*resource),
        field: "metadata.namespace",
    })?;
    if !ctx.watches_namespace(&namespace) {
        return Ok(Action::await_change());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, RESOURCE_FINALIZER, resource, |event| async {
        match event {
            FinalizerEvent::Apply(resource) => apply(resource, &ctx).await,
            FinalizerEvent::Cleanup(resource) => cleanup(resource, &ctx).await,
        }
    })
    .await;
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind })
        .observe(started.elapsed().as_secs_f64());
    result.map_err(|err| match err {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => ReconcileError::Finalizer {
            resource: String::new(),
            source: Box::new(other),
        },
    })
}

/// The resource as errors and Events name it, e.g. `SolverRun thoth/flask-abc`.
pub(super) fn describe<K: Resource<DynamicType = ()>>(resource: &K) -> String {
    format!(
        "{} {}/{}",
        K::kind(&()),
        resource.meta().namespace.as_deref().unwrap_or("?"),
        resource.meta().name.as_deref().unwrap_or("?")
    )
}

fn key_of<K: RunKind>(resource: &K) -> ResourceKey {
    ResourceKey {
        kind: K::STORE_KIND,
        namespace: resource.namespace().unwrap_or_default(),
        name: resource.name_any(),
    }
}

/// The value of the retry annotation when it asks for a retry not yet acted upon.
fn pending_retry<K: RunKind>(resource: &K, status: &RunStatus) -> Option<String> {
    let wanted = resource.annotations().get(RETRY_ANNOTATION)?;
    let done = status
        .conditions
        .iter()
        .find(|c| c.type_ == RETRY_CONDITION)
        .map(|c| c.message.as_str());
    (done != Some(wanted.as_str())).then(|| wanted.clone())
}

/// What a reconcile of a live resource does, decided from its status alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Move {
    /// Ask for a slot and create the Workflow of this attempt (`retry`: the annotation value
    /// acted upon, whose store outcome is re-armed first).
    Start { attempt: u32, retry: Option<String> },
    /// Follow the Workflow of the current attempt.
    Follow { attempt: u32 },
    /// An AdviceRequest waits for the SolverRuns of its unresolved packages.
    AwaitSolvers,
    /// Finished: delete it once its retention has passed.
    Retention,
}

/// The next move of a resource with `status`; `retry` is a retry annotation not yet acted upon.
fn next_move(status: &RunStatus, retry: Option<String>) -> Move {
    let attempts = status.attempts.unwrap_or(0).max(0) as u32;
    if attempts == 0 {
        return Move::Start {
            attempt: 1,
            retry: None,
        };
    }
    // Queued after an earlier attempt (a retry or the advice's re-run waiting for a slot): the
    // previous Workflow is done, the next one is still to be created.
    if status.phase == Some(Phase::Queued) {
        return Move::Start {
            attempt: attempts + 1,
            retry,
        };
    }
    let awaiting = status
        .conditions
        .iter()
        .any(|c| c.type_ == AWAITING_SOLVERS_CONDITION && c.status == "True");
    if awaiting {
        return Move::AwaitSolvers;
    }
    if status.phase.is_some_and(Phase::is_terminal) {
        return match retry {
            Some(retry) => Move::Start {
                attempt: attempts + 1,
                retry: Some(retry),
            },
            None => Move::Retention,
        };
    }
    Move::Follow { attempt: attempts }
}

async fn apply<K: RunKind>(resource: Arc<K>, ctx: &Context) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let status = resource.run_status().cloned().unwrap_or_default();
    if ctx.is_stale_view(&key_of(&*resource), resource.uid(), &status) {
        // The status written when this resource's latest attempt started has not reached this
        // view yet; its watch event brings it, and with it another reconcile. Acting on the older
        // view would start the attempt again (a create that conflicts, a second status write).
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    let next = next_move(&status, pending_retry(&*resource, &status));
    if !matches!(next, Move::Start { .. }) {
        // A reconcile on a stale view may have asked for a slot this resource no longer needs;
        // left in the queue it would be granted one day and hold that slot for good.
        let target = &K::target(&ctx.config.workflows).namespace;
        ctx.release_unneeded_slot(target, &key_of(&*resource));
    }
    let attempts = match next {
        Move::Start { attempt, retry } => {
            return start_attempt(&*resource, &status, attempt, retry, ctx).await;
        }
        Move::Retention => return retention(&*resource, &status, ctx).await,
        Move::AwaitSolvers => {
            return match resource.as_advice_request() {
                Some(advice) => await_solvers(advice, &status, ctx).await,
                None => Ok(Action::await_change()),
            };
        }
        Move::Follow { attempt } => attempt,
    };
    let name = workflow_name(&*resource, attempts).map_err(|source| ReconcileError::Build {
        resource: describe(&*resource),
        source,
    })?;
    let target = &K::target(&ctx.config.workflows).namespace;
    let workflows: Api<Workflow> = Api::namespaced(ctx.client.clone(), target);
    let workflow =
        workflows
            .get_opt(&name)
            .await
            .map_err(|source| ReconcileError::ReadWorkflow {
                namespace: target.clone(),
                name: name.clone(),
                source,
            })?;
    match workflow {
        None => vanished(&*resource, &status, attempts, &name, ctx).await,
        Some(workflow) => {
            let observation = observe::<K>(&workflow);
            if observation.is_finished() {
                finish(&*resource, &status, attempts, &workflow, observation, ctx).await
            } else {
                follow(&*resource, &status, attempts, &workflow, &observation, ctx).await
            }
        }
    }
}

/// Asks for a slot and, once admitted, creates the Workflow of `attempt`.
async fn start_attempt<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    attempt: u32,
    retry: Option<String>,
    ctx: &Context,
) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let key = key_of(resource);
    let target = K::target(&ctx.config.workflows).namespace.clone();
    let candidate = Candidate {
        key: key.clone(),
        priority: K::priority(&ctx.config),
        created_millis: resource
            .meta()
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_millisecond()),
    };
    // A Workflow of this attempt already counted (created, then the status write failed) keeps
    // its slot; asking again would queue the resource behind its own Workflow.
    let already_counted =
        workflow_name(resource, attempt).is_ok_and(|name| ctx.holds_slot(&target, &name));
    let (admission, others) = if already_counted {
        (Admission::Admitted, Vec::new())
    } else {
        ctx.request_slot(&target, candidate)
    };
    ctx.wake(others);
    if let Admission::Queued { position } = admission {
        if status.phase != Some(Phase::Queued) {
            let mut next = status.clone();
            next.phase = Some(Phase::Queued);
            next.message = Some(format!(
                "waiting for a free slot in namespace {target} ({position} ahead)"
            ));
            set_condition(
                &mut next,
                resource,
                "Admitted",
                false,
                "Queued",
                "the target namespace is at its limit of active Workflows",
            );
            // Only over the status this decision was taken on: a view older than the last
            // admission (a cut watch, a fast wake-up) would otherwise write Queued over a status
            // whose attempt already runs, and the next reconcile would start the attempt after it.
            if !write_status_over(resource, &next, ctx).await? {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            ctx.event(
                resource,
                EventType::Normal,
                "Queued",
                next.message.clone(),
                "Admit",
            )
            .await;
            ctx.transition::<K>(Phase::Queued);
        }
        // A grant wakes the resource; the periodic requeue only guards against a lost wake-up.
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    if let Some(retry) = &retry {
        rearm(resource, retry, ctx).await?;
    }
    let workflow = match build_workflow(resource, attempt, &ctx.config.workflows) {
        Ok(workflow) => workflow,
        Err(source) => {
            ctx.release_slot(&target, &key);
            let mut next = status.clone();
            next.phase = Some(Phase::Error);
            next.message = Some(format!("cannot build its Workflow: {source}"));
            next.finish_time = Some(Time(now()));
            set_condition(
                &mut next,
                resource,
                "Completed",
                true,
                "InvalidResource",
                &format!("{source}"),
            );
            write_status(resource, &next, ctx).await?;
            ctx.event(
                resource,
                EventType::Warning,
                "InvalidResource",
                next.message.clone(),
                "Build",
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let name = workflow.name_any();
    if !ctx.is_leader() {
        ctx.release_slot(&target, &key);
        return Ok(Action::await_change());
    }
    let workflows: Api<Workflow> = Api::namespaced(ctx.client.clone(), &target);
    // Counted under its name before the request: the watch may show the Workflow, even finished,
    // before the create returns.
    ctx.claim_slot(&target, &key, &name);
    // The uid goes into the status with the reference, so following the Workflow later needs
    // no status write of its own (one write fewer per admitted Workflow).
    let uid = match workflows.create(&PostParams::default(), &workflow).await {
        Ok(created) => {
            ctx.metrics
                .workflows_created
                .get_or_create(&KindLabels {
                    kind: K::STORE_KIND.as_str(),
                })
                .inc();
            ctx.slot_used(&target, &name);
            created.uid()
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            // Created before (a status write that failed after it): the watch may have shown it
            // finished before this claim, and would not tell again.
            match workflows.get_metadata_opt(&name).await {
                Ok(Some(existing)) if holds_a_slot(&existing.metadata) => {
                    ctx.slot_used(&target, &name);
                }
                Ok(_) => ctx.slot_freed(&target, &name),
                Err(source) => {
                    ctx.slot_unclaimed(&target, &key, &name);
                    return Err(ReconcileError::ReadWorkflow {
                        namespace: target,
                        name,
                        source,
                    });
                }
            }
            None
        }
        Err(source) => {
            ctx.slot_unclaimed(&target, &key, &name);
            return Err(ReconcileError::CreateWorkflow {
                namespace: target,
                name,
                source,
            });
        }
    };
    // The row of a Workflow just created is written again by every later observation of it, so
    // its commit need not wait for the disk (the hot path of admission).
    let failed = |source| ReconcileError::Store {
        resource: describe(resource),
        source,
    };
    let mut tx = ctx.store.begin().await.map_err(failed)?;
    tx.commit_without_waiting_for_flush()
        .await
        .map_err(failed)?;
    tx.record_attempt(&WorkflowAttempt {
        resource_kind: K::STORE_KIND,
        resource_namespace: key.namespace.clone(),
        resource_name: key.name.clone(),
        attempt,
        workflow_namespace: target.clone(),
        workflow_name: name.clone(),
        phase: WorkflowPhase::Pending,
        created_at: Some(Utc::now()),
        started_at: None,
        finished_at: None,
        message: None,
        result_document_id: None,
    })
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    let mut next = status.clone();
    next.phase = Some(Phase::Pending);
    next.attempts = Some(attempt as i32);
    next.workflow = Some(WorkflowRef {
        namespace: target.clone(),
        name: name.clone(),
        uid,
    });
    next.start_time = None;
    next.finish_time = None;
    next.document_id = None;
    next.message = Some(format!("Workflow {target}/{name} created"));
    set_condition(
        &mut next,
        resource,
        "Admitted",
        true,
        "WorkflowCreated",
        &format!("attempt {attempt} runs as Workflow {target}/{name}"),
    );
    next.conditions.retain(|c| c.type_ != "Completed");
    if let Some(retry) = &retry {
        set_condition(
            &mut next,
            resource,
            RETRY_CONDITION,
            true,
            "RetryAnnotation",
            retry,
        );
    }
    write_status(resource, &next, ctx).await?;
    ctx.attempt_started(key, resource.uid(), attempt);
    ctx.event(
        resource,
        EventType::Normal,
        "WorkflowCreated",
        next.message.clone(),
        "CreateWorkflow",
    )
    .await;
    ctx.transition::<K>(Phase::Pending);
    Ok(Action::await_change())
}

/// Re-arms the store's outcome so a new attempt is recorded as the package's fate.
async fn rearm<K: RunKind>(resource: &K, retry: &str, ctx: &Context) -> Result<(), ReconcileError> {
    let reason = format!("retry requested ({RETRY_ANNOTATION}={retry})");
    let value = serde_json::to_value(resource).unwrap_or(Value::Null);
    let spec = &value["spec"];
    let text = |field: &str| spec.get(field).and_then(Value::as_str);
    let (Some(name), Some(version), Some(index)) = (
        text("packageName"),
        text("packageVersion"),
        text("indexUrl"),
    ) else {
        return Ok(());
    };
    let (Ok(name), Ok(version), Ok(index)) = (
        crate::package::PackageName::parse(name),
        crate::package::PackageVersion::parse(version),
        crate::package::IndexUrl::parse(index),
    ) else {
        return Ok(());
    };
    let key = crate::store::VersionKey::new(name, version, index);
    let result = match K::STORE_KIND {
        crate::store::ResourceKind::SolverRun => match text("solver") {
            Some(solver) => ctx
                .store
                .rearm_solver(&key, solver, &reason)
                .await
                .map(drop),
            None => Ok(()),
        },
        crate::store::ResourceKind::SecurityIndicatorRun => ctx
            .store
            .rearm_security_indicator(&key, &reason)
            .await
            .map(drop),
        crate::store::ResourceKind::AdviceRequest => Ok(()),
    };
    result.map_err(|source| ReconcileError::Store {
        resource: describe(resource),
        source,
    })
}

/// The Workflow runs: mirror its phase, times and message into the status when they changed.
async fn follow<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    attempt: u32,
    workflow: &Workflow,
    observation: &Observation<K::Results>,
    ctx: &Context,
) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let mut next = status.clone();
    next.phase = Some(observation.phase);
    next.start_time = observation.started_at.clone();
    if let Some(workflow_ref) = next.workflow.as_mut() {
        workflow_ref.uid = workflow.uid();
    }
    if observation.message.is_some() {
        next.message = observation.message.clone();
    }
    if next != *status {
        if status.phase != Some(observation.phase) {
            record_attempt(resource, attempt, workflow, observation, ctx)
                .await
                .map_err(|source| ReconcileError::Store {
                    resource: describe(resource),
                    source,
                })?;
        }
        write_status(resource, &next, ctx).await?;
        if status.phase != Some(observation.phase) {
            ctx.event(
                resource,
                EventType::Normal,
                observation.phase.as_str(),
                Some(format!(
                    "Workflow {} is {}",
                    workflow.name_any(),
                    observation.phase
                )),
                "Observe",
            )
            .await;
            ctx.transition::<K>(observation.phase);
        }
    }
    Ok(Action::await_change())
}

fn attempt_row<K: RunKind>(
    resource: &K,
    attempt: u32,
    workflow: &Workflow,
    observation: &Observation<K::Results>,
    document_id: Option<String>,
) -> WorkflowAttempt {
    let phase = observation.phase.attempt_phase();
    WorkflowAttempt {
        resource_kind: K::STORE_KIND,
        resource_namespace: resource.namespace().unwrap_or_default(),
        resource_name: resource.name_any(),
        attempt,
        workflow_namespace: workflow.namespace().unwrap_or_default(),
        workflow_name: workflow.name_any(),
        phase,
        created_at: workflow
            .meta()
            .creation_timestamp
            .as_ref()
            .and_then(|t| to_chrono(&t.0)),
        started_at: observation
            .started_at
            .as_ref()
            .and_then(|t| to_chrono(&t.0)),
        finished_at: observation
            .finished_at
            .as_ref()
            .and_then(|t| to_chrono(&t.0)),
        message: observation.message.clone(),
        result_document_id: document_id,
    }
}

async fn record_attempt<K: RunKind>(
    resource: &K,
    attempt: u32,
    workflow: &Workflow,
    observation: &Observation<K::Results>,
    ctx: &Context,
) -> Result<(), crate::store::StoreError>
where
    K::Results: Send + Sync,
{
    ctx.store
        .record_attempt(&attempt_row(resource, attempt, workflow, observation, None))
        .await
        .map(drop)
}

fn to_chrono(t: &k8s_openapi::jiff::Timestamp) -> Option<chrono::DateTime<Utc>> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Records the finished attempt's outcome (one transaction), starts what it leads to, releases the
/// Workflow (our finalizer) and writes the final status.
async fn finish<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    attempt: u32,
    workflow: &Workflow,
    observation: Observation<K::Results>,
    ctx: &Context,
) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let Some(outcome) = observation.outcome.as_ref() else {
        return Ok(Action::await_change());
    };
    let follow_ups = store_outcome(resource, attempt, workflow, &observation, outcome, ctx).await?;
    start_follow_ups(resource, &follow_ups, ctx).await?;
    release_workflow(workflow, ctx).await?;
    let mut next = status.clone();
    next.phase = Some(observation.phase);
    next.start_time = observation.started_at.clone();
    next.finish_time = observation.finished_at.clone().or(Some(Time(now())));
    next.document_id = results_document_id::<K>(outcome);
    if let Some(workflow_ref) = next.workflow.as_mut() {
        workflow_ref.uid = workflow.uid();
    }
    if !follow_ups.unresolved.is_empty()
        && let Some(advice) = resource.as_advice_request()
    {
        let message = format!(
            "{} unresolved package(s): solving them before the advice runs again",
            follow_ups.unresolved.len()
        );
        next.phase = Some(Phase::Running);
        next.finish_time = None;
        next.message = Some(message.clone());
        set_condition(
            &mut next,
            resource,
            AWAITING_SOLVERS_CONDITION,
            true,
            "UnresolvedPackages",
            &message,
        );
        write_status(resource, &next, ctx).await?;
        ctx.event(
            resource,
            EventType::Normal,
            "AwaitingSolvers",
            Some(message),
            "Observe",
        )
        .await;
        return await_solvers(advice, &next, ctx).await;
    }
    let (reason, message) = match outcome {
        Outcome::Results(_) => (
            observation.phase.as_str().to_string(),
            observation.message.clone().unwrap_or_else(|| {
                format!("Workflow {} {}", workflow.name_any(), observation.phase)
            }),
        ),
        Outcome::Failed => (
            "WorkflowFailed".to_string(),
            observation
                .message
                .clone()
                .unwrap_or_else(|| format!("Workflow {} failed", workflow.name_any())),
        ),
        Outcome::BadOutput(problem) => ("BadOutput".to_string(), problem.to_string()),
        Outcome::OperatorSide(problem) => ("OperatorSide".to_string(), problem.to_string()),
    };
    next.message = Some(message.clone());
    set_condition(&mut next, resource, "Completed", true, &reason, &message);
    write_status(resource, &next, ctx).await?;
    let event_type = if observation.phase == Phase::Succeeded {
        EventType::Normal
    } else {
        EventType::Warning
    };
    ctx.event(resource, event_type, &reason, Some(message), "Observe")
        .await;
    ctx.transition::<K>(observation.phase);
    ctx.wake_waiters(&key_of(resource));
    Ok(retention_action(&next, ctx))
}

fn results_document_id<K: RunKind>(outcome: &Outcome<K::Results>) -> Option<String>
where
    K::Results: Send + Sync,
{
    match outcome {
        Outcome::Results(results) => Some(K::document_id(results).to_string()),
        _ => None,
    }
}

async fn store_outcome<K: RunKind>(
    resource: &K,
    attempt: u32,
    workflow: &Workflow,
    observation: &Observation<K::Results>,
    outcome: &Outcome<K::Results>,
    ctx: &Context,
) -> Result<FollowUps, ReconcileError>
where
    K::Results: Send + Sync,
{
    let failed = |source| ReconcileError::Store {
        resource: describe(resource),
        source,
    };
    let duration = match (&observation.started_at, &observation.finished_at) {
        (Some(start), Some(end)) => {
            let millis = end.0.as_millisecond() - start.0.as_millisecond();
            Some(chrono::TimeDelta::milliseconds(millis.max(0)))
        }
        _ => None,
    };
    let row = attempt_row(
        resource,
        attempt,
        workflow,
        observation,
        results_document_id::<K>(outcome),
    );
    let mut tx = ctx.store.begin().await.map_err(failed)?;
    tx.record_attempt(&row).await.map_err(failed)?;
    let follow_ups = resource
        .record_outcome(
            &mut tx,
            &workflow.name_any(),
            outcome,
            duration,
            &ctx.config.topics,
        )
        .await?;
    tx.commit().await.map_err(failed)?;
    Ok(follow_ups)
}

/// Starts the next link of the chain: a SecurityIndicatorRun per solved version, unless the store
/// says it is analysed, has no source distribution or is missing.
async fn start_follow_ups<K: RunKind>(
    resource: &K,
    follow_ups: &FollowUps,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<SecurityIndicatorRun> = Api::namespaced(ctx.client.clone(), &namespace);
    for key in &follow_ups.solved {
        let failed = |source| ReconcileError::Store {
            resource: describe(resource),
            source,
        };
        if ctx.store.is_analysed(key).await.map_err(failed)? {
            continue;
        }
        if let Some(record) = ctx.store.version(key).await.map_err(failed)?
            && (record.is_missing || !record.provides_source_distro)
        {
            continue;
        }
        let name = super::names::security_indicator_run_name(key);
        let mut run = SecurityIndicatorRun::new(
            &name,
            SecurityIndicatorRunSpec {
                package_name: key.name.as_str().to_string(),
                package_version: key.version.as_str().to_string(),
                index_url: key.index.as_str().to_string(),
                aggregation_function: "process_data".to_string(),
            },
        );
        run.metadata.finalizers = Some(vec![RESOURCE_FINALIZER.to_string()]);
        match api.create(&PostParams::default(), &run).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => {
                return Err(ReconcileError::CreateFollowUp {
                    kind: "SecurityIndicatorRun",
                    name,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// How often a waiting advice looks at its SolverRuns even without a wake-up (a wake-up can be
/// lost when this replica was not the leader as the SolverRun finished).
const AWAIT_RECHECK: Duration = Duration::from_secs(30);

/// An AdviceRequest waits for the SolverRuns of the packages its first run could not resolve
/// (kept in the store with the run): creates those missing, waits for the others, and once all
/// finished starts the re-run.
async fn await_solvers(
    advice: &AdviceRequest,
    status: &RunStatus,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let failed = |source| ReconcileError::Store {
        resource: describe(advice),
        source,
    };
    let document_id = status
        .document_id
        .clone()
        .unwrap_or_else(|| advice.spec.job_id.clone());
    let unresolved = ctx
        .store
        .advice_run(&document_id)
        .await
        .map_err(failed)?
        .map(|run| run.unresolved)
        .unwrap_or_default();
    let solves = awaited_solves(&unresolved, &ctx.config.solvers);
    let namespace = advice.namespace().unwrap_or_default();
    let waiter = key_of(advice);
    // Registered before looking, so a SolverRun finishing meanwhile still wakes the advice.
    for solve in &solves {
        ctx.await_resource(
            ResourceKey {
                kind: crate::store::ResourceKind::SolverRun,
                namespace: namespace.clone(),
                name: solve.name.clone(),
            },
            waiter.clone(),
        );
    }
    let api: Api<SolverRun> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut states = Vec::with_capacity(solves.len());
    for solve in &solves {
        let found =
            api.get_opt(&solve.name)
                .await
                .map_err(|source| ReconcileError::ReadFollowUp {
                    kind: "SolverRun",
                    name: solve.name.clone(),
                    source,
                })?;
        let state = match found {
            Some(run) => {
                let finished = run
                    .status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(Phase::is_terminal);
                if finished {
                    SolveState::Finished
                } else {
                    SolveState::Unfinished
                }
            }
            None => match &solve.version {
                Some(key)
                    if ctx
                        .store
                        .is_solved(key, &solve.spec.solver)
                        .await
                        .map_err(failed)? =>
                {
                    SolveState::Finished
                }
                _ => SolveState::Missing,
            },
        };
        states.push(state);
    }
    let step = next_step(&states);
    if step == ChainStep::ReRun {
        return re_run(advice, status, &document_id, ctx).await;
    }
    if let ChainStep::Create(missing) = &step {
        for &position in missing {
            let solve = &solves[position];
            let mut run = SolverRun::new(&solve.name, solve.spec.clone());
            run.metadata.finalizers = Some(vec![RESOURCE_FINALIZER.to_string()]);
            match api.create(&PostParams::default(), &run).await {
                Ok(_) => {}
                // Created meanwhile (by the ingestion, another replica or an earlier step).
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(source) => {
                    return Err(ReconcileError::CreateFollowUp {
                        kind: "SolverRun",
                        name: solve.name.clone(),
                        source,
                    });
                }
            }
        }
    }
    Ok(Action::requeue(AWAIT_RECHECK))
}

/// Every SolverRun of the unresolved packages finished: the advice runs again as a new attempt
/// with `reRunAdviserId` naming its first result.
async fn re_run(
    advice: &AdviceRequest,
    status: &RunStatus,
    document_id: &str,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    // The spec field is a DNS label; a document id that is not one cannot be named there.
    let first = if crate::admission::names::is_dns_label(document_id) {
        document_id.to_string()
    } else {
        advice.spec.job_id.clone()
    };
    let patched = if advice.spec.re_run_adviser_id.as_deref() == Some(first.as_str()) {
        advice.clone()
    } else {
        let api: Api<AdviceRequest> =
            Api::namespaced(ctx.client.clone(), &advice.namespace().unwrap_or_default());
        match api
            .patch(
                &advice.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"reRunAdviserId": first}})),
            )
            .await
        {
            Ok(patched) => patched,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Ok(Action::await_change());
            }
            Err(source) => {
                return Err(ReconcileError::WriteSpec {
                    resource: describe(advice),
                    source,
                });
            }
        }
    };
    let mut next = status.clone();
    set_condition(
        &mut next,
        advice,
        AWAITING_SOLVERS_CONDITION,
        false,
        "Solved",
        "the SolverRuns of its unresolved packages finished; the advice runs again",
    );
    let attempts = status.attempts.unwrap_or(0).max(0) as u32;
    start_attempt(&patched, &next, attempts + 1, None, ctx).await
}

/// Removes our finalizer from the Workflow, guarded by a JSON-patch test so a concurrent change of
/// the list is not clobbered; a Workflow already gone is released.
pub(crate) async fn release_workflow(
    workflow: &Workflow,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let Some(position) = workflow
        .finalizers()
        .iter()
        .position(|f| f == WORKFLOW_FINALIZER)
    else {
        return Ok(());
    };
    let namespace = workflow.namespace().unwrap_or_default();
    let name = workflow.name_any();
    let api: Api<Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    let path = format!("/metadata/finalizers/{position}");
    let patch: json_patch::Patch = match serde_json::from_value(json!([
        {"op": "test", "path": path, "value": WORKFLOW_FINALIZER},
        {"op": "remove", "path": path},
    ])) {
        Ok(patch) => patch,
        Err(_) => return Ok(()),
    };
    match api
        .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::ReleaseWorkflow {
            namespace,
            name,
            source,
        }),
    }
}

/// The Workflow of the current attempt is gone. If its outcome reached the store (we released it
/// and stopped before writing the status), adopt it; otherwise it was deleted by force or never
/// seen: record it as lost and put the resource in Error.
async fn vanished<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    attempt: u32,
    name: &str,
    ctx: &Context,
) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let key = key_of(resource);
    let failed = |source| ReconcileError::Store {
        resource: describe(resource),
        source,
    };
    let attempts = ctx
        .store
        .attempts(K::STORE_KIND, &key.namespace, &key.name)
        .await
        .map_err(failed)?;
    let recorded = attempts
        .iter()
        .find(|a| a.attempt == attempt && a.phase.is_finished());
    let target = K::target(&ctx.config.workflows).namespace.clone();
    let mut next = status.clone();
    let (phase, reason, message) = match recorded {
        Some(row) => {
            let phase = match row.phase {
                WorkflowPhase::Succeeded => Phase::Succeeded,
                WorkflowPhase::Failed => Phase::Failed,
                _ => Phase::Error,
            };
            next.document_id = row.result_document_id.clone();
            (
                phase,
                phase.as_str().to_string(),
                row.message
                    .clone()
                    .unwrap_or_else(|| format!("Workflow {target}/{name} {phase}")),
            )
        }
        None => {
            let message =
                format!("Workflow {target}/{name} was deleted before its outcome was recorded");
            ctx.store
                .record_attempt(&WorkflowAttempt {
                    resource_kind: K::STORE_KIND,
                    resource_namespace: key.namespace.clone(),
                    resource_name: key.name.clone(),
                    attempt,
                    workflow_namespace: target.clone(),
                    workflow_name: name.to_string(),
                    phase: WorkflowPhase::Error,
                    created_at: None,
                    started_at: None,
                    finished_at: Some(Utc::now()),
                    message: Some(message.clone()),
                    result_document_id: None,
                })
                .await
                .map_err(failed)?;
            (Phase::Error, "WorkflowLost".to_string(), message)
        }
    };
    next.phase = Some(phase);
    next.finish_time = Some(Time(now()));
    next.message = Some(message.clone());
    set_condition(&mut next, resource, "Completed", true, &reason, &message);
    write_status(resource, &next, ctx).await?;
    let event_type = if phase == Phase::Succeeded {
        EventType::Normal
    } else {
        EventType::Warning
    };
    ctx.event(resource, event_type, &reason, Some(message), "Observe")
        .await;
    ctx.transition::<K>(phase);
    ctx.wake_waiters(&key_of(resource));
    Ok(retention_action(&next, ctx))
}

fn retention_action(status: &RunStatus, ctx: &Context) -> Action {
    match (ctx.config.finished_retention, &status.finish_time) {
        (Some(retention), Some(finished)) => {
            let age = now().duration_since(finished.0).unsigned_abs();
            Action::requeue(retention.saturating_sub(age).max(Duration::from_millis(10)))
        }
        _ => Action::await_change(),
    }
}

/// A finished resource past its retention is deleted (its outcome stays in the store).
async fn retention<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let (Some(retention), Some(finished)) = (ctx.config.finished_retention, &status.finish_time)
    else {
        return Ok(Action::await_change());
    };
    let age = now().duration_since(finished.0).unsigned_abs();
    if age < retention {
        return Ok(Action::requeue(retention - age));
    }
    let api: Api<K> = Api::namespaced(
        ctx.client.clone(),
        &resource.namespace().unwrap_or_default(),
    );
    match api
        .delete(&resource.name_any(), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(source) => Err(ReconcileError::DeleteResource {
            resource: describe(resource),
            source,
        }),
    }
}

/// The resource is being deleted: record what its Workflows did, release and delete them (they
/// live in another namespace, beyond owner references), and free its slot or queue place.
async fn cleanup<K: RunKind>(resource: Arc<K>, ctx: &Context) -> Result<Action, ReconcileError>
where
    K::Results: Send + Sync,
{
    let resource = &*resource;
    let key = key_of(resource);
    let target = K::target(&ctx.config.workflows).namespace.clone();
    ctx.release_slot(&target, &key);
    ctx.forget_started(&key);
    let Some(uid) = resource.uid() else {
        return Ok(Action::await_change());
    };
    let api: Api<Workflow> = Api::namespaced(ctx.client.clone(), &target);
    let list = api
        .list(&ListParams::default().labels(&format!("{RESOURCE_UID_LABEL}={uid}")))
        .await
        .map_err(|source| ReconcileError::ListWorkflows {
            resource: describe(resource),
            source,
        })?;
    for workflow in list.items {
        let attempt = workflow
            .labels()
            .get(super::workflow::ATTEMPT_LABEL)
            .and_then(|a| a.parse::<u32>().ok())
            .unwrap_or(1);
        if workflow
            .finalizers()
            .iter()
            .any(|f| f == WORKFLOW_FINALIZER)
        {
            let observation = observe::<K>(&workflow);
            match observation.outcome.as_ref() {
                Some(outcome) => {
                    store_outcome(resource, attempt, &workflow, &observation, outcome, ctx).await?;
                }
                None => {
                    let mut row = attempt_row(resource, attempt, &workflow, &observation, None);
                    row.phase = WorkflowPhase::Error;
                    row.finished_at = Some(Utc::now());
                    row.message = Some("deleted with its resource before it finished".into());
                    ctx.store.record_attempt(&row).await.map_err(|source| {
                        ReconcileError::Store {
                            resource: describe(resource),
                            source,
                        }
                    })?;
                }
            }
            release_workflow(&workflow, ctx).await?;
        }
        let name = workflow.name_any();
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(ReconcileError::DeleteWorkflow {
                    namespace: target.clone(),
                    name,
                    source,
                });
            }
        }
    }
    Ok(Action::await_change())
}

fn set_condition<K: RunKind>(
    status: &mut RunStatus,
    resource: &K,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
) {
    let value = if value { "True" } else { "False" };
    let reason: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let reason = if reason.is_empty() {
        "Unknown".to_string()
    } else {
        reason
    };
    let generation = resource.meta().generation;
    if let Some(existing) = status.conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status != value {
            existing.last_transition_time = Time(now());
        }
        existing.status = value.to_string();
        existing.reason = reason;
        existing.message = message.to_string();
        existing.observed_generation = generation;
    } else {
        status.conditions.push(Condition {
            type_: type_.to_string(),
            status: value.to_string(),
            reason,
            message: message.to_string(),
            observed_generation: generation,
            last_transition_time: Time(now()),
        });
    }
    status.observed_generation = generation;
}

/// Writes the whole status with a merge patch on `/status`; fields now unset are sent as `null`
/// so they are cleared (a merge patch leaves absent fields alone).
/// Writes `status` only if the resource is still at the resourceVersion it was read at (a merge
/// patch carrying `metadata.resourceVersion` is refused with 409 otherwise, as on any update).
/// `Ok(false)`: the view was stale and nothing was written; the watch brings the newer one.
async fn write_status_over<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    ctx: &Context,
) -> Result<bool, ReconcileError> {
    match patch_status(resource, status, resource.resource_version(), ctx).await {
        Err(ReconcileError::WriteStatus {
            source: kube::Error::Api(answer),
            ..
        }) if answer.code == 409 => Ok(false),
        other => other.map(|()| true),
    }
}

async fn write_status<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    patch_status(resource, status, None, ctx).await
}

async fn patch_status<K: RunKind>(
    resource: &K,
    status: &RunStatus,
    resource_version: Option<String>,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let mut body = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        for field in [
            "phase",
            "workflow",
            "startTime",
            "finishTime",
            "message",
            "documentId",
        ] {
            map.entry(field).or_insert(Value::Null);
        }
    }
    let api: Api<K> = Api::namespaced(
        ctx.client.clone(),
        &resource.namespace().unwrap_or_default(),
    );
    match api
        .patch_status(
            &resource.name_any(),
            &PatchParams::default(),
            &Patch::Merge(match resource_version {
                Some(version) => {
                    json!({ "metadata": { "resourceVersion": version }, "status": body })
                }
                None => json!({ "status": body }),
            }),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Deleted meanwhile: nothing left to describe.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::WriteStatus {
            resource: describe(resource),
            source,
        }),
    }
}

impl Context {
    pub(crate) async fn event<K: RunKind>(
        &self,
        resource: &K,
        type_: EventType,
        reason: &str,
        note: Option<String>,
        action: &str,
    ) {
        let reference = resource.object_ref(&());
        let event = KubeEvent {
            type_,
            reason: reason.to_string(),
            note: note.map(|n| n.chars().take(1000).collect()),
            action: action.to_string(),
            secondary: None,
        };
        // Published beside the reconcile rather than in it: an Event is a notice, and waiting for
        // its write would lengthen every reconcile by a round trip. Bounded, as client-go's event
        // broadcaster is: beyond EVENTS_IN_FLIGHT unpublished Events (an API server that does not
        // answer) new ones are dropped.
        let Ok(permit) = self.events_in_flight.clone().try_acquire_owned() else {
            tracing::debug!(reason, "too many Events in flight; one dropped");
            return;
        };
        let recorder = self.recorder.clone();
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(err) = recorder.publish(&event, &reference).await {
                tracing::warn!(error = %err, reason, "failed to publish an Event");
            }
            drop(permit);
        });
    }

    pub(crate) fn transition<K: RunKind>(&self, phase: Phase) {
        self.metrics
            .phase_transitions
            .get_or_create(&TransitionLabels {
                kind: K::STORE_KIND.as_str(),
                phase: phase.as_str(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: Option<Phase>, attempts: i32) -> RunStatus {
        RunStatus {
            phase,
            attempts: Some(attempts),
            ..RunStatus::default()
        }
    }

    fn condition(type_: &str, value: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: value.into(),
            reason: "R".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(now()),
        }
    }

    #[test]
    fn a_new_resource_starts_its_first_attempt_and_a_running_one_is_followed() {
        assert_eq!(
            next_move(&RunStatus::default(), Some("x".into())),
            Move::Start {
                attempt: 1,
                retry: None
            }
        );
        assert_eq!(
            next_move(&status(Some(Phase::Running), 2), None),
            Move::Follow { attempt: 2 }
        );
    }

    #[test]
    fn a_finished_resource_waits_for_retention_unless_a_retry_is_asked() {
        assert_eq!(
            next_move(&status(Some(Phase::Failed), 1), None),
            Move::Retention
        );
        assert_eq!(
            next_move(&status(Some(Phase::Failed), 1), Some("2".into())),
            Move::Start {
                attempt: 2,
                retry: Some("2".into())
            }
        );
    }

    #[test]
    fn a_queued_later_attempt_is_started_not_followed() {
        // Queued for attempt 2 (a retry or the advice's re-run): attempt 1's Workflow is done.
        assert_eq!(
            next_move(&status(Some(Phase::Queued), 1), Some("2".into())),
            Move::Start {
                attempt: 2,
                retry: Some("2".into())
            }
        );
    }

    #[test]
    fn an_advice_awaiting_its_solvers_neither_follows_nor_retires() {
        let mut waiting = status(Some(Phase::Running), 1);
        waiting
            .conditions
            .push(condition(AWAITING_SOLVERS_CONDITION, "True"));
        assert_eq!(next_move(&waiting, None), Move::AwaitSolvers);
        waiting.conditions[0].status = "False".into();
        assert_eq!(next_move(&waiting, None), Move::Follow { attempt: 1 });
    }
}
