//! Workflows whose resource was deleted by force (its finalizer removed by hand, or the namespace
//! torn down): no reconcile can reach them across namespaces, so our finalizer would hold them
//! forever. When the Workflow watch shows one of ours finished or being deleted, and its resource
//! is gone (or is a new resource under the same name), the attempt is recorded as far as the
//! Workflow tells it and the Workflow is released.

use std::sync::Arc;

use chrono::Utc;
use kube::api::ObjectMeta;
use kube::{Api, Resource, ResourceExt};

use super::context::Context;
use super::controller::release_workflow;
use super::error::ReconcileError;
use super::workflow::{RunRef, WORKFLOW_FINALIZER, run_of};
use crate::api::argo::Workflow;
use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
use crate::store::{ResourceKind, WorkflowAttempt, WorkflowPhase};

/// Whether a watched Workflow may be an orphan worth checking: ours, still holding our finalizer,
/// and no longer running (finished or being deleted), so that its resource would normally be
/// finishing it right now.
pub(crate) fn worth_checking(meta: &ObjectMeta, active: bool) -> bool {
    !active
        && meta
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == WORKFLOW_FINALIZER))
}

/// Whether the resource a Workflow ran for is gone: absent, or replaced by a resource with
/// another uid (a Workflow without a uid label is judged by presence alone).
pub(crate) fn resource_is_gone(run: &RunRef, current_uid: Option<Option<String>>) -> bool {
    match current_uid {
        None => true,
        Some(uid) => match (&run.uid, uid) {
            (Some(expected), Some(found)) => *expected != found,
            _ => false,
        },
    }
}

/// Checks one Workflow and adopts it when its resource is gone. Only the leader writes: `Ok(false)`
/// when this replica does not lead and nothing was checked, `Ok(true)` once the Workflow is settled
/// (adopted, or its resource is there to finish it).
pub(crate) async fn check(ctx: Arc<Context>, meta: ObjectMeta) -> Result<bool, ReconcileError> {
    if !ctx.is_leader() {
        return Ok(false);
    }
    let shell = Workflow {
        metadata: meta,
        spec: Default::default(),
        status: None,
    };
    let Some(run) = run_of(&shell) else {
        return Ok(true);
    };
    let Some(kind) = ResourceKind::parse(&run.kind) else {
        return Ok(true);
    };
    let current = match kind {
        ResourceKind::SolverRun => current_uid::<SolverRun>(&ctx, &run).await?,
        ResourceKind::SecurityIndicatorRun => {
            current_uid::<SecurityIndicatorRun>(&ctx, &run).await?
        }
        ResourceKind::AdviceRequest => current_uid::<AdviceRequest>(&ctx, &run).await?,
    };
    if !resource_is_gone(&run, current) {
        return Ok(true);
    }
    let namespace = shell.namespace().unwrap_or_default();
    let name = shell.name_any();
    let api: Api<Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    let workflow = match api.get_opt(&name).await {
        Ok(Some(workflow)) => workflow,
        Ok(None) => return Ok(true),
        Err(source) => {
            return Err(ReconcileError::ReadWorkflow {
                namespace,
                name,
                source,
            });
        }
    };
    let status = workflow.status.as_ref();
    let phase = match status.and_then(|s| s.phase.as_ref()).map(|p| p.as_str()) {
        Some("Succeeded") => WorkflowPhase::Succeeded,
        Some("Failed") => WorkflowPhase::Failed,
        _ => WorkflowPhase::Error,
    };
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0))
    };
    let row = WorkflowAttempt {
        resource_kind: kind,
        resource_namespace: run.namespace.clone(),
        resource_name: run.name.clone(),
        attempt: run.attempt.unwrap_or(1),
        workflow_namespace: namespace.clone(),
        workflow_name: name.clone(),
        phase,
        created_at: time(workflow.meta().creation_timestamp.as_ref()),
        started_at: time(status.and_then(|s| s.started_at.as_ref())),
        finished_at: time(status.and_then(|s| s.finished_at.as_ref())).or(Some(Utc::now())),
        message: Some(
            "its resource was deleted by force; the Workflow's results were not recorded".into(),
        ),
        result_document_id: None,
    };
    ctx.store
        .record_attempt(&row)
        .await
        .map_err(|source| ReconcileError::Store {
            resource: format!("{} {}/{}", run.kind, run.namespace, run.name),
            source,
        })?;
    tracing::info!(
        workflow = %name,
        resource = %format!("{} {}/{}", run.kind, run.namespace, run.name),
        "released a Workflow whose resource was deleted by force"
    );
    release_workflow(&workflow, &ctx).await.map(|()| true)
}

/// `None` when the resource is absent, else its uid.
async fn current_uid<K>(
    ctx: &Context,
    run: &RunRef,
) -> Result<Option<Option<String>>, ReconcileError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &run.namespace);
    match api.get_opt(&run.name).await {
        Ok(found) => Ok(found.map(|r| r.uid())),
        Err(source) => Err(ReconcileError::ReadFollowUp {
            kind: "resource",
            name: run.name.clone(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(uid: Option<&str>) -> RunRef {
        RunRef {
            kind: "SolverRun".into(),
            namespace: "thoth".into(),
            name: "a".into(),
            uid: uid.map(str::to_string),
            attempt: Some(1),
        }
    }

    #[test]
    fn a_resource_is_gone_when_absent_or_replaced_under_its_name() {
        assert!(resource_is_gone(&run(Some("u1")), None));
        assert!(resource_is_gone(&run(Some("u1")), Some(Some("u2".into()))));
        assert!(!resource_is_gone(&run(Some("u1")), Some(Some("u1".into()))));
        assert!(!resource_is_gone(&run(None), Some(Some("u2".into()))));
    }

    #[test]
    fn only_finished_workflows_still_held_by_us_are_checked() {
        let held = ObjectMeta {
            finalizers: Some(vec![WORKFLOW_FINALIZER.to_string()]),
            ..ObjectMeta::default()
        };
        assert!(worth_checking(&held, false));
        assert!(!worth_checking(&held, true));
        assert!(!worth_checking(&ObjectMeta::default(), false));
    }
}
