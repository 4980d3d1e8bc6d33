//! Reading a Workflow: a pure function from the Workflow Argo wrote to what the
//! resource's status and the store need — phase, times, message, failed nodes and,
//! once it has finished, an [`Outcome`]: the results the WorkflowTemplate published
//! (see [`contract`]), a failure of the package, a garbled output, or a fault on the
//! operator's side (a WorkflowTemplate missing from the namespace) that must not be
//! recorded as the package's fate.
//!
//! Nothing here panics on what Argo or a template wrote: every unexpected value is a
//! typed [`OutputProblem`] or [`OperatorProblem`].

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::contract::{
    self, AdviceUnresolvedEntry, SecurityIndicatorsOutcome, SolverVersionResult,
    SolverVersionStatus,
};
use super::workflow::WorkflowKind;
use crate::api::Phase;
use crate::api::argo::{ArgoPhase, COMPLETED_LABEL, Workflow};
use crate::package::{DocumentId, IndexUrl, PackageError, PackageName, PackageVersion};
use crate::store::limits;
use crate::store::{AdviceUnresolved, SecurityIndicatorStatus, SolverStatus};
use crate::terms::WorkflowPhase;

/// Longest part of a garbled value quoted back in a problem's message.
const EXCERPT_LEN: usize = 80;

/// Node types that only group other nodes: they fail because a child failed, so
/// they are not reported among the failed nodes.
const GROUP_NODE_TYPES: [&str; 5] = ["DAG", "Steps", "StepGroup", "TaskGroup", "Retry"];

/// What one look at a Workflow says.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<R> {
    /// `status.phase` as Argo wrote it (absent before Argo picked the Workflow up).
    pub argo_phase: Option<ArgoPhase>,
    /// The phase the resource takes from this Workflow: Pending, Running, Succeeded,
    /// Failed or Error (never Queued).
    pub phase: Phase,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
    /// `status.message`, e.g. `child 'x' failed`.
    pub message: Option<String>,
    /// Display names of the leaf nodes (pods, mostly) that Failed or Errored, sorted.
    pub failed_nodes: Vec<String>,
    /// Set once the Workflow has finished.
    pub outcome: Option<Outcome<R>>,
}

impl<R> Observation<R> {
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// Argo's phase as the store records attempts: no phase (or an empty one) is
    /// Pending; a phase unknown to us is Running until finished, then Error.
    pub fn store_phase(&self) -> WorkflowPhase {
        match &self.argo_phase {
            None => WorkflowPhase::Pending,
            Some(ArgoPhase::Known(phase)) => *phase,
            Some(ArgoPhase::Other(_)) => match self.phase {
                Phase::Pending => WorkflowPhase::Pending,
                Phase::Running | Phase::Queued => WorkflowPhase::Running,
                Phase::Succeeded | Phase::Failed | Phase::Error => WorkflowPhase::Error,
            },
        }
    }

    /// `startedAt` as the store's timestamps.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.started_at.as_ref().and_then(to_chrono)
    }

    /// `finishedAt` as the store's timestamps.
    pub fn finished(&self) -> Option<DateTime<Utc>> {
        self.finished_at.as_ref().and_then(to_chrono)
    }

    /// `finishedAt − startedAt`, when both are set and in order.
    pub fn duration(&self) -> Option<TimeDelta> {
        let elapsed = self.finished()? - self.started()?;
        (elapsed >= TimeDelta::zero()).then_some(elapsed)
    }
}

fn to_chrono(time: &Time) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(time.0.subsec_nanosecond()).ok()?;
    DateTime::from_timestamp(time.0.as_second(), nanos)
}

/// How a finished Workflow ended, from the store's point of view.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<R> {
    /// It published its results as the contract says (Succeeded, or Failed having
    /// reported what failed): record them.
    Results(R),
    /// It Failed or Errored without publishing results: the package's run failed;
    /// record an error outcome.
    Failed,
    /// Its outputs are missing (after Succeeded) or garbled: set a condition naming
    /// the problem and record an error outcome.
    BadOutput(OutputProblem),
    /// It could not run because of how the operator or the cluster is set up: set
    /// the resource to Error with the problem, but record nothing about the package
    /// (it must not count as a sticky failure).
    OperatorSide(OperatorProblem),
}

/// An output the contract requires that is missing or not as the contract says.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputProblem {
    #[error("the Workflow succeeded but published none of its output parameters")]
    NothingPublished,
    #[error("output parameter {parameter} is missing")]
    Missing { parameter: &'static str },
    #[error("output parameter {parameter} is empty")]
    Empty { parameter: &'static str },
    #[error("output parameter {parameter} is not the JSON the contract defines")]
    NotJson {
        parameter: &'static str,
        /// serde_json's account of where it went wrong.
        reason: String,
    },
    #[error("output parameter {parameter} has {value:?}, which is not one of: {expected}")]
    UnknownValue {
        parameter: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("output parameter {parameter} has an invalid {field} {value:?}")]
    InvalidField {
        parameter: &'static str,
        field: &'static str,
        value: String,
        #[source]
        source: PackageError,
    },
    #[error("output parameter {parameter} has {value:?}, which is not a document id")]
    InvalidDocumentId {
        parameter: &'static str,
        value: String,
    },
    #[error("output parameter {parameter} lists version {version:?} twice")]
    DuplicateVersion {
        parameter: &'static str,
        version: String,
    },
    #[error("the Workflow finished in phase {phase:?}, which this operator does not know")]
    UnknownPhase { phase: String },
}

/// A Workflow that ended in Error for a reason on the operator's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorProblem {
    /// Argo could not find a WorkflowTemplate (or ClusterWorkflowTemplate) the
    /// Workflow references; Argo says `workflowtemplates.argoproj.io "solver" not found`.
    #[error("{resource} {name:?} does not exist in the Workflow's namespace")]
    TemplateMissing {
        /// `workflowtemplates.argoproj.io` or `clusterworkflowtemplates.argoproj.io`.
        resource: String,
        name: String,
    },
    /// The configured service account does not exist (`serviceaccount "argo" not found`).
    #[error("service account {name:?} does not exist in the Workflow's namespace")]
    ServiceAccountMissing { name: String },
}

impl OperatorProblem {
    /// Recognises Argo's messages for faults on the operator's side. Argo reports a
    /// missing template with the API server's NotFound text
    /// (`workflowtemplates.argoproj.io "solver" not found`), possibly behind a prefix
    /// of its own; pods of a missing service account fail with
    /// `... serviceaccount "argo" not found`.
    pub fn from_message(message: &str) -> Option<Self> {
        for resource in [
            "clusterworkflowtemplates.argoproj.io",
            "workflowtemplates.argoproj.io",
        ] {
            if let Some(name) = quoted_before_not_found(message, resource) {
                return Some(Self::TemplateMissing {
                    resource: resource.to_string(),
                    name,
                });
            }
        }
        for resource in ["serviceaccounts", "serviceaccount"] {
            if let Some(name) = quoted_before_not_found(message, resource) {
                return Some(Self::ServiceAccountMissing { name });
            }
        }
        None
    }
}

/// `NAME` from the first `<resource> "NAME" not found` in `message`, where the
/// resource is a whole word (so `workflowtemplates.argoproj.io` does not match inside
/// `clusterworkflowtemplates.argoproj.io`).
fn quoted_before_not_found(message: &str, resource: &str) -> Option<String> {
    let mut rest = message;
    let mut offset = 0;
    while let Some(at) = rest.find(resource) {
        let start = offset + at;
        let preceded_by_word = message[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        let after = &message[start + resource.len()..];
        if !preceded_by_word
            && let Some(quoted) = after.strip_prefix(" \"")
            && let Some(end) = quoted.find('"')
            && quoted[end + 1..].starts_with(" not found")
        {
            return Some(quoted[..end].to_string());
        }
        offset = start + resource.len();
        rest = &message[offset..];
    }
    None
}

/// Whether a Workflow with `metadata` holds a slot of its namespace's admission limit: admitted and
/// not finished (Pending counts). Finished means Argo's `workflows.argoproj.io/completed` label is
/// `"true"`, which Argo's controller sets with the final phase (Argo's `workflow/common` labels);
/// a Workflow being deleted is finished too, whatever its phase.
pub fn holds_a_slot(metadata: &ObjectMeta) -> bool {
    metadata.deletion_timestamp.is_none()
        && metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(COMPLETED_LABEL))
            .is_none_or(|value| value != "true")
}

/// Looks at `workflow` as a Workflow of kind `K`.
///
/// Phases: no phase (or an empty one) is Pending; Pending and Running are kept; a
/// phase this operator does not know counts as Running until Argo marks the
/// Workflow completed, then as Error with [`OutputProblem::UnknownPhase`].
/// Succeeded, Failed and Error finish the Workflow; see [`Outcome`] for what each
/// becomes.
pub fn observe<K: WorkflowKind>(workflow: &Workflow) -> Observation<K::Results> {
    let status = workflow.status.as_ref();
    let argo_phase = status.and_then(|s| s.phase.clone());
    let message = status
        .and_then(|s| s.message.clone())
        .filter(|m| !m.is_empty());
    let completed = workflow.is_labelled_completed();
    let (phase, outcome) = match &argo_phase {
        None => (Phase::Pending, None),
        Some(ArgoPhase::Known(WorkflowPhase::Pending)) => (Phase::Pending, None),
        Some(ArgoPhase::Known(WorkflowPhase::Running)) => (Phase::Running, None),
        Some(ArgoPhase::Other(other)) if other.is_empty() && !completed => (Phase::Pending, None),
        Some(ArgoPhase::Other(_)) if !completed => (Phase::Running, None),
        Some(ArgoPhase::Other(other)) => (
            Phase::Error,
            Some(Outcome::BadOutput(OutputProblem::UnknownPhase {
                phase: other.clone(),
            })),
        ),
        Some(ArgoPhase::Known(WorkflowPhase::Succeeded)) => match K::published_results(workflow) {
            Ok(Some(results)) => (Phase::Succeeded, Some(Outcome::Results(results))),
            Ok(None) => (
                Phase::Error,
                Some(Outcome::BadOutput(OutputProblem::NothingPublished)),
            ),
            Err(problem) => (Phase::Error, Some(Outcome::BadOutput(problem))),
        },
        Some(ArgoPhase::Known(ended @ (WorkflowPhase::Failed | WorkflowPhase::Error))) => {
            let failed_phase = if *ended == WorkflowPhase::Failed {
                Phase::Failed
            } else {
                Phase::Error
            };
            match message.as_deref().and_then(OperatorProblem::from_message) {
                Some(problem) => (Phase::Error, Some(Outcome::OperatorSide(problem))),
                None => match K::published_results(workflow) {
                    Ok(Some(results)) => (failed_phase, Some(Outcome::Results(results))),
                    Ok(None) => (failed_phase, Some(Outcome::Failed)),
                    Err(problem) => (Phase::Error, Some(Outcome::BadOutput(problem))),
                },
            }
        }
    };
    Observation {
        argo_phase,
        phase,
        started_at: status.and_then(|s| s.started_at.clone()),
        finished_at: status.and_then(|s| s.finished_at.clone()),
        message,
        failed_nodes: failed_nodes(workflow),
        outcome,
    }
}

fn failed_nodes(workflow: &Workflow) -> Vec<String> {
    let Some(status) = workflow.status.as_ref() else {
        return Vec::new();
    };
    let mut names: Vec<String> = status
        .nodes
        .values()
        .filter(|node| {
            matches!(
                node.phase,
                Some(ArgoPhase::Known(
                    WorkflowPhase::Failed | WorkflowPhase::Error
                ))
            ) && !GROUP_NODE_TYPES.contains(&node.type_.as_str())
        })
        .map(|node| {
            node.display_name
                .clone()
                .unwrap_or_else(|| node.name.clone())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What a solver Workflow published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolverResults {
    pub document_id: String,
    /// One entry per version the solver looked at, in the order published.
    pub versions: Vec<SolvedVersion>,
}

/// The solver's finding for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolvedVersion {
    pub version: PackageVersion,
    pub status: SolverStatus,
    /// What went wrong, as the solver said it (at most the store's message length).
    pub message: Option<String>,
}

/// What a security-indicator Workflow published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityIndicatorsResults {
    pub document_id: String,
    pub outcome: SecurityIndicatorsOutcome,
}

impl SecurityIndicatorsResults {
    /// The outcome as the store records it. A missing version has no status of its
    /// own there: it is an error outcome, and the caller also sets the version's
    /// `is_missing` flag (see [`SecurityIndicatorsResults::version_is_missing`]).
    pub fn store_status(&self) -> SecurityIndicatorStatus {
        match self.outcome {
            SecurityIndicatorsOutcome::Done => SecurityIndicatorStatus::Aggregated,
            SecurityIndicatorsOutcome::NoSourceDistribution => {
                SecurityIndicatorStatus::NoSourceDistribution
            }
            SecurityIndicatorsOutcome::MissingVersion | SecurityIndicatorsOutcome::Error => {
                SecurityIndicatorStatus::Error
            }
        }
    }

    /// The index no longer serves the version (Thoth's MissingVersion message).
    pub fn version_is_missing(&self) -> bool {
        self.outcome == SecurityIndicatorsOutcome::MissingVersion
    }
}

/// What an adviser Workflow published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceResults {
    pub document_id: String,
    /// Packages the adviser could not resolve; empty when it resolved everything.
    pub unresolved: Vec<AdviceUnresolved>,
}

fn excerpt(value: &str) -> String {
    if value.chars().count() <= EXCERPT_LEN {
        value.to_string()
    } else {
        let mut cut: String = value.chars().take(EXCERPT_LEN).collect();
        cut.push('…');
        cut
    }
}

fn truncate_chars(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// The document id and the kind's own output, both present or both absent.
fn published_pair<'w>(
    workflow: &'w Workflow,
    parameter: &'static str,
) -> Result<Option<(String, &'w str)>, OutputProblem> {
    let document_id = workflow.output_parameter(contract::DOCUMENT_ID);
    let value = workflow.output_parameter(parameter);
    match (document_id, value) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OutputProblem::Missing {
            parameter: contract::DOCUMENT_ID,
        }),
        (Some(_), None) => Err(OutputProblem::Missing { parameter }),
        (Some(document_id), Some(value)) => Ok(Some((parse_document_id(document_id)?, value))),
    }
}

/// Thoth's document ids are object-store keys and Workflow names, read by the document
/// id's rule ([`DocumentId`]: the store's column and the CRD's status field take the same).
fn parse_document_id(raw: &str) -> Result<String, OutputProblem> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(OutputProblem::Empty {
            parameter: contract::DOCUMENT_ID,
        });
    }
    DocumentId::parse(value)
        .map(|id| id.as_str().to_string())
        .map_err(|_| OutputProblem::InvalidDocumentId {
            parameter: contract::DOCUMENT_ID,
            value: excerpt(value),
        })
}

fn parse_json<T: serde::de::DeserializeOwned>(
    parameter: &'static str,
    value: &str,
) -> Result<T, OutputProblem> {
    if value.trim().is_empty() {
        return Err(OutputProblem::Empty { parameter });
    }
    serde_json::from_str(value).map_err(|e| OutputProblem::NotJson {
        parameter,
        reason: e.to_string(),
    })
}

/// The `document-id` and `solver-results` outputs; `Ok(None)` when neither exists.
pub fn solver_results(workflow: &Workflow) -> Result<Option<SolverResults>, OutputProblem> {
    const PARAMETER: &str = contract::SOLVER_RESULTS;
    let Some((document_id, value)) = published_pair(workflow, PARAMETER)? else {
        return Ok(None);
    };
    let entries: Vec<SolverVersionResult> = parse_json(PARAMETER, value)?;
    if entries.is_empty() {
        return Err(OutputProblem::Empty {
            parameter: PARAMETER,
        });
    }
    let mut versions: Vec<SolvedVersion> = Vec::with_capacity(entries.len());
    for entry in entries {
        let version = PackageVersion::parse(&entry.version).map_err(|source| {
            OutputProblem::InvalidField {
                parameter: PARAMETER,
                field: "version",
                value: excerpt(&entry.version),
                source,
            }
        })?;
        if versions.iter().any(|v| v.version == version) {
            return Err(OutputProblem::DuplicateVersion {
                parameter: PARAMETER,
                version: version.to_string(),
            });
        }
        let status = match entry.status {
            SolverVersionStatus::Solved => SolverStatus::Success,
            SolverVersionStatus::Unsolvable => SolverStatus::Unsolvable,
            SolverVersionStatus::Unparseable => SolverStatus::Unparseable,
            SolverVersionStatus::Error => SolverStatus::Error,
        };
        versions.push(SolvedVersion {
            version,
            status,
            message: entry
                .message
                .filter(|m| !m.is_empty())
                .map(|m| truncate_chars(&m, limits::MESSAGE)),
        });
    }
    Ok(Some(SolverResults {
        document_id,
        versions,
    }))
}

/// The `document-id` and `security-indicators-result` outputs; `Ok(None)` when neither exists.
pub fn security_indicators_results(
    workflow: &Workflow,
) -> Result<Option<SecurityIndicatorsResults>, OutputProblem> {
    const PARAMETER: &str = contract::SECURITY_INDICATORS_RESULT;
    let Some((document_id, value)) = published_pair(workflow, PARAMETER)? else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(OutputProblem::Empty {
            parameter: PARAMETER,
        });
    }
    let outcome =
        value
            .parse::<SecurityIndicatorsOutcome>()
            .map_err(|_| OutputProblem::UnknownValue {
                parameter: PARAMETER,
                value: excerpt(value),
                expected: "done, no_source_distribution, missing_version, error",
            })?;
    Ok(Some(SecurityIndicatorsResults {
        document_id,
        outcome,
    }))
}

/// The `document-id` and `unresolved-packages` outputs; `Ok(None)` when neither exists.
pub fn advice_results(workflow: &Workflow) -> Result<Option<AdviceResults>, OutputProblem> {
    const PARAMETER: &str = contract::UNRESOLVED_PACKAGES;
    let Some((document_id, value)) = published_pair(workflow, PARAMETER)? else {
        return Ok(None);
    };
    let entries: Vec<AdviceUnresolvedEntry> = parse_json(PARAMETER, value)?;
    let invalid = |field: &'static str, value: &str| {
        let value = excerpt(value);
        move |source| OutputProblem::InvalidField {
            parameter: PARAMETER,
            field,
            value,
            source,
        }
    };
    let mut unresolved = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = PackageName::parse(&entry.name).map_err(invalid("name", &entry.name))?;
        let version = match entry.version.as_deref() {
            Some(raw) => Some(PackageVersion::parse(raw).map_err(invalid("version", raw))?),
            None => None,
        };
        let index = match entry.index.as_deref() {
            Some(raw) => Some(IndexUrl::parse(raw).map_err(invalid("index", raw))?),
            None => None,
        };
        let package = AdviceUnresolved {
            name,
            version,
            index,
        };
        if !unresolved.contains(&package) {
            unresolved.push(package);
        }
    }
    Ok(Some(AdviceResults {
        document_id,
        unresolved,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_workflow_holds_a_slot_until_completed_or_deleted() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        use std::collections::BTreeMap;
        let labelled = |value: &str| ObjectMeta {
            labels: Some(BTreeMap::from([(
                COMPLETED_LABEL.to_string(),
                value.to_string(),
            )])),
            ..ObjectMeta::default()
        };
        assert!(holds_a_slot(&ObjectMeta::default()));
        assert!(holds_a_slot(&labelled("false")));
        assert!(!holds_a_slot(&labelled("true")));
        let deleting = ObjectMeta {
            deletion_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            ..ObjectMeta::default()
        };
        assert!(!holds_a_slot(&deleting));
    }

    use serde_json::{Value, json};

    use super::*;
    use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};

    /// A Workflow as Argo leaves it: `status` and labels as given.
    fn workflow(status: Value, completed: bool) -> Workflow {
        let mut labels = json!({"app.kubernetes.io/managed-by": "thoth-operator"});
        if completed {
            labels["workflows.argoproj.io/completed"] = json!("true");
        }
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "thoth-middletier", "labels": labels},
            "spec": {"workflowTemplateRef": {"name": "solver"}},
            "status": status,
        }))
        .expect("a Workflow")
    }

    fn finished(phase: &str, outputs: &[(&str, &str)]) -> Workflow {
        let parameters: Vec<Value> = outputs
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        workflow(
            json!({
                "phase": phase,
                "startedAt": "2026-11-30T12:00:00Z",
                "finishedAt": "2026-11-30T12:05:00Z",
                "outputs": {"parameters": parameters},
            }),
            true,
        )
    }

    fn solver_outcome(workflow: &Workflow) -> (Phase, Option<Outcome<SolverResults>>) {
        let observation = observe::<SolverRun>(workflow);
        (observation.phase, observation.outcome)
    }

    fn bad_output<R: std::fmt::Debug>(outcome: Option<Outcome<R>>) -> OutputProblem {
        match outcome {
            Some(Outcome::BadOutput(problem)) => problem,
            other => panic!("expected a bad output, got {other:?}"),
        }
    }

    #[test]
    fn a_workflow_argo_has_not_seen_is_pending() {
        let mut fresh = workflow(json!({}), false);
        fresh.status = None;
        for candidate in [fresh, workflow(json!({"phase": ""}), false)] {
            let observation = observe::<SolverRun>(&candidate);
            assert_eq!(observation.phase, Phase::Pending);
            assert_eq!(observation.argo_phase.is_some(), candidate.status.is_some());
            assert!(!observation.is_finished());
        }
    }

    #[test]
    fn pending_and_running_are_kept_with_the_start_time() {
        let pending = observe::<SolverRun>(&workflow(json!({"phase": "Pending"}), false));
        assert_eq!(pending.phase, Phase::Pending);
        let running = observe::<SolverRun>(&workflow(
            json!({"phase": "Running", "startedAt": "2026-11-30T12:00:00Z", "finishedAt": null}),
            false,
        ));
        assert_eq!(running.phase, Phase::Running);
        assert!(!running.is_finished());
        assert_eq!(
            running.started_at.map(|t| t.0.to_string()),
            Some("2026-11-30T12:00:00Z".to_string())
        );
        assert_eq!(running.finished_at, None);
        assert_eq!(running.outcome, None);
    }

    #[test]
    fn an_unknown_phase_is_running_until_argo_marks_the_workflow_completed() {
        let running = observe::<SolverRun>(&workflow(json!({"phase": "Paused"}), false));
        assert_eq!(running.phase, Phase::Running);
        assert_eq!(running.store_phase(), WorkflowPhase::Running);
        assert_eq!(running.outcome, None);
        let done = observe::<SolverRun>(&workflow(json!({"phase": "Paused"}), true));
        assert_eq!(done.phase, Phase::Error);
        assert_eq!(done.store_phase(), WorkflowPhase::Error);
        assert_eq!(done.duration(), None);
        assert_eq!(
            bad_output(done.outcome),
            OutputProblem::UnknownPhase {
                phase: "Paused".into()
            }
        );
    }

    #[test]
    fn a_succeeded_solver_workflow_yields_a_status_per_version() {
        let workflow = finished(
            "Succeeded",
            &[
                ("document-id", "solver-rhel-8-py38-flask-abc-1"),
                (
                    "solver-results",
                    r#"[{"version":"2.0.1","status":"solved"},
                        {"version":"2.0.2","status":"unsolvable","message":"no werkzeug>=9"},
                        {"version":"2.0.3","status":"unparseable"},
                        {"version":"2.0.4","status":"error","message":""}]"#,
                ),
            ],
        );
        let observation = observe::<SolverRun>(&workflow);
        assert!(observation.is_finished());
        assert_eq!(observation.phase, Phase::Succeeded);
        assert_eq!(observation.store_phase(), WorkflowPhase::Succeeded);
        assert_eq!(observation.duration(), Some(TimeDelta::minutes(5)));
        assert_eq!(
            observation.started().map(|t| t.to_rfc3339()),
            Some("2026-11-30T12:00:00+00:00".to_string())
        );
        let Some(Outcome::Results(results)) = observation.outcome else {
            panic!("results expected: {:?}", observation.outcome)
        };
        assert_eq!(results.document_id, "solver-rhel-8-py38-flask-abc-1");
        let statuses: Vec<(&str, SolverStatus, Option<&str>)> = results
            .versions
            .iter()
            .map(|v| (v.version.as_str(), v.status, v.message.as_deref()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("2.0.1", SolverStatus::Success, None),
                ("2.0.2", SolverStatus::Unsolvable, Some("no werkzeug>=9")),
                ("2.0.3", SolverStatus::Unparseable, None),
                ("2.0.4", SolverStatus::Error, None),
            ]
        );
    }

    #[test]
    fn garbled_solver_outputs_are_typed_problems() {
        let doc = ("document-id", "solver-x-1");
        let cases: Vec<(Vec<(&str, &str)>, OutputProblem)> = vec![
            (vec![], OutputProblem::NothingPublished),
            (
                vec![doc],
                OutputProblem::Missing {
                    parameter: "solver-results",
                },
            ),
            (
                vec![("solver-results", "[]")],
                OutputProblem::Missing {
                    parameter: "document-id",
                },
            ),
            (
                vec![doc, ("solver-results", "[]")],
                OutputProblem::Empty {
                    parameter: "solver-results",
                },
            ),
            (
                vec![doc, ("solver-results", "  ")],
                OutputProblem::Empty {
                    parameter: "solver-results",
                },
            ),
            (
                vec![("document-id", " "), ("solver-results", "[]")],
                OutputProblem::Empty {
                    parameter: "document-id",
                },
            ),
            (
                vec![("document-id", "../../etc"), ("solver-results", "[]")],
                OutputProblem::InvalidDocumentId {
                    parameter: "document-id",
                    value: "../../etc".into(),
                },
            ),
            (
                vec![("document-id", "-adviser-1"), ("solver-results", "[]")],
                OutputProblem::InvalidDocumentId {
                    parameter: "document-id",
                    value: "-adviser-1".into(),
                },
            ),
            (
                vec![("document-id", "adviser-1."), ("solver-results", "[]")],
                OutputProblem::InvalidDocumentId {
                    parameter: "document-id",
                    value: "adviser-1.".into(),
                },
            ),
            (
                vec![("document-id", "_x"), ("solver-results", "[]")],
                OutputProblem::InvalidDocumentId {
                    parameter: "document-id",
                    value: "_x".into(),
                },
            ),
            (
                vec![("document-id", "x_"), ("solver-results", "[]")],
                OutputProblem::InvalidDocumentId {
                    parameter: "document-id",
                    value: "x_".into(),
                },
            ),
            (
                vec![
                    doc,
                    (
                        "solver-results",
                        r#"[{"version":"1.0","status":"solved"},{"version":"1.0","status":"error"}]"#,
                    ),
                ],
                OutputProblem::DuplicateVersion {
                    parameter: "solver-results",
                    version: "1.0".into(),
                },
            ),
        ];
        for (outputs, expected) in cases {
            let (phase, outcome) = solver_outcome(&finished("Succeeded", &outputs));
            assert_eq!(phase, Phase::Error, "{outputs:?}");
            assert_eq!(bad_output(outcome), expected, "{outputs:?}");
        }
        for garbled in [
            "{not json",
            r#"{"version":"1.0","status":"solved"}"#,
            r#"[{"version":"1.0","status":"maybe"}]"#,
            r#"[{"status":"solved"}]"#,
            r#"[{"version":1,"status":"solved"}]"#,
        ] {
            let (phase, outcome) =
                solver_outcome(&finished("Succeeded", &[doc, ("solver-results", garbled)]));
            assert_eq!(phase, Phase::Error);
            assert!(
                matches!(
                    bad_output(outcome),
                    OutputProblem::NotJson {
                        parameter: "solver-results",
                        ..
                    }
                ),
                "{garbled}"
            );
        }
        let (_, outcome) = solver_outcome(&finished(
            "Succeeded",
            &[
                doc,
                (
                    "solver-results",
                    r#"[{"version":"1.0; rm -rf","status":"solved"}]"#,
                ),
            ],
        ));
        let problem = bad_output(outcome);
        assert!(
            matches!(
                problem,
                OutputProblem::InvalidField {
                    field: "version",
                    ..
                }
            ),
            "{problem:?}"
        );
    }

    #[test]
    fn a_long_garbled_value_is_quoted_only_in_part() {
        let long = "x".repeat(10_000);
        let (_, outcome) = solver_outcome(&finished(
            "Succeeded",
            &[
                ("document-id", "d"),
                (
                    "solver-results",
                    &format!("[{{\"version\":\"{long}\",\"status\":\"solved\"}}]"),
                ),
            ],
        ));
        let message = bad_output(outcome).to_string();
        assert!(message.len() < 300, "{} characters", message.len());
    }

    #[test]
    fn a_failed_workflow_without_outputs_is_a_failure_of_the_package() {
        let (phase, outcome) = solver_outcome(&finished("Failed", &[]));
        assert_eq!(phase, Phase::Failed);
        assert_eq!(outcome, Some(Outcome::Failed));
        let (phase, outcome) = solver_outcome(&finished("Error", &[]));
        assert_eq!(phase, Phase::Error);
        assert_eq!(outcome, Some(Outcome::Failed));
    }

    #[test]
    fn a_failed_workflow_that_reported_its_versions_yields_them() {
        let (phase, outcome) = solver_outcome(&finished(
            "Failed",
            &[
                ("document-id", "solver-x-1"),
                (
                    "solver-results",
                    r#"[{"version":"1.0","status":"error","message":"OOM"}]"#,
                ),
            ],
        ));
        assert_eq!(phase, Phase::Failed);
        let Some(Outcome::Results(results)) = outcome else {
            panic!("results expected")
        };
        assert_eq!(results.versions[0].status, SolverStatus::Error);
        assert_eq!(results.versions[0].message.as_deref(), Some("OOM"));
        // Half a report after a failure is garbled, not a plain failure.
        let (phase, outcome) =
            solver_outcome(&finished("Failed", &[("document-id", "solver-x-1")]));
        assert_eq!(phase, Phase::Error);
        assert!(matches!(bad_output(outcome), OutputProblem::Missing { .. }));
    }

    fn with_message(phase: &str, message: &str) -> Workflow {
        workflow(json!({"phase": phase, "message": message}), true)
    }

    #[test]
    fn a_missing_workflow_template_is_an_operator_side_error() {
        for message in [
            r#"workflowtemplates.argoproj.io "solver" not found"#,
            r#"error in entry template execution: workflowtemplates.argoproj.io "solver" not found"#,
        ] {
            let observation = observe::<SolverRun>(&with_message("Error", message));
            assert_eq!(observation.phase, Phase::Error);
            assert_eq!(observation.message.as_deref(), Some(message));
            assert_eq!(
                observation.outcome,
                Some(Outcome::OperatorSide(OperatorProblem::TemplateMissing {
                    resource: "workflowtemplates.argoproj.io".into(),
                    name: "solver".into(),
                }))
            );
        }
        let cluster = observe::<AdviceRequest>(&with_message(
            "Error",
            r#"clusterworkflowtemplates.argoproj.io "adviser" not found"#,
        ));
        assert_eq!(
            cluster.outcome,
            Some(Outcome::OperatorSide(OperatorProblem::TemplateMissing {
                resource: "clusterworkflowtemplates.argoproj.io".into(),
                name: "adviser".into(),
            }))
        );
        let account = observe::<SecurityIndicatorRun>(&with_message(
            "Failed",
            r#"pods "x" is forbidden: error looking up service account thoth-middletier/argo: serviceaccount "argo" not found"#,
        ));
        assert_eq!(account.phase, Phase::Error);
        assert_eq!(
            account.outcome,
            Some(Outcome::OperatorSide(
                OperatorProblem::ServiceAccountMissing {
                    name: "argo".into()
                }
            ))
        );
    }

    #[test]
    fn messages_that_only_resemble_a_missing_template_are_failures_of_the_package() {
        for message in [
            "child 'solver-x-1-123' failed",
            r#"workflowtemplates.argoproj.io "solver" is forbidden"#,
            r#"myworkflowtemplates.argoproj.io "solver" not found"#,
            r#"package "workflowtemplates.argoproj.io" not found"#,
            "workflowtemplates.argoproj.io \"unterminated",
        ] {
            let observation = observe::<SolverRun>(&with_message("Error", message));
            assert_eq!(observation.outcome, Some(Outcome::Failed), "{message}");
        }
    }

    #[test]
    fn security_indicator_outcomes_map_to_the_store() {
        for (value, outcome, status, missing) in [
            (
                "done",
                SecurityIndicatorsOutcome::Done,
                SecurityIndicatorStatus::Aggregated,
                false,
            ),
            (
                "no_source_distribution",
                SecurityIndicatorsOutcome::NoSourceDistribution,
                SecurityIndicatorStatus::NoSourceDistribution,
                false,
            ),
            (
                " missing_version\n",
                SecurityIndicatorsOutcome::MissingVersion,
                SecurityIndicatorStatus::Error,
                true,
            ),
            (
                "error",
                SecurityIndicatorsOutcome::Error,
                SecurityIndicatorStatus::Error,
                false,
            ),
        ] {
            let observation = observe::<SecurityIndicatorRun>(&finished(
                "Succeeded",
                &[
                    ("document-id", "security-indicators-x-1"),
                    ("security-indicators-result", value),
                ],
            ));
            let Some(Outcome::Results(results)) = observation.outcome else {
                panic!("results expected for {value:?}")
            };
            assert_eq!(results.outcome, outcome);
            assert_eq!(results.store_status(), status);
            assert_eq!(results.version_is_missing(), missing);
            assert_eq!(results.document_id, "security-indicators-x-1");
        }
    }

    #[test]
    fn garbled_security_indicator_outputs_are_typed_problems() {
        for (value, expected) in [
            (
                "Done!",
                OutputProblem::UnknownValue {
                    parameter: "security-indicators-result",
                    value: "Done!".into(),
                    expected: "done, no_source_distribution, missing_version, error",
                },
            ),
            (
                "",
                OutputProblem::Empty {
                    parameter: "security-indicators-result",
                },
            ),
        ] {
            let observation = observe::<SecurityIndicatorRun>(&finished(
                "Succeeded",
                &[("document-id", "d"), ("security-indicators-result", value)],
            ));
            assert_eq!(observation.phase, Phase::Error);
            assert_eq!(bad_output(observation.outcome), expected);
        }
    }

    #[test]
    fn the_advisers_unresolved_packages_are_validated_and_normalised() {
        let observation = observe::<AdviceRequest>(&finished(
            "Succeeded",
            &[
                ("document-id", "adviser-210312182025-5e8c8f2a1b3c4d5e"),
                (
                    "unresolved-packages",
                    r#"[{"name":"Flask","version":"2.0.1","index":"https://pypi.python.org/simple/"},
                        {"name":"numpy","version":null,"index":null},
                        {"name":"flask","version":"2.0.1","index":"https://pypi.org/simple"},
                        {"name":"six"}]"#,
                ),
            ],
        ));
        assert_eq!(observation.phase, Phase::Succeeded);
        let Some(Outcome::Results(results)) = observation.outcome else {
            panic!("results expected")
        };
        let unresolved: Vec<(String, Option<String>, Option<String>)> = results
            .unresolved
            .iter()
            .map(|p| {
                (
                    p.name.to_string(),
                    p.version.as_ref().map(|v| v.to_string()),
                    p.index.as_ref().map(|i| i.to_string()),
                )
            })
            .collect();
        assert_eq!(
            unresolved,
            [
                (
                    "flask".to_string(),
                    Some("2.0.1".to_string()),
                    Some("https://pypi.org/simple".to_string())
                ),
                ("numpy".to_string(), None, None),
                ("six".to_string(), None, None),
            ]
        );
        let none = observe::<AdviceRequest>(&finished(
            "Succeeded",
            &[("document-id", "a"), ("unresolved-packages", "[]")],
        ));
        let Some(Outcome::Results(results)) = none.outcome else {
            panic!("results expected")
        };
        assert!(results.unresolved.is_empty());
    }

    #[test]
    fn garbled_adviser_outputs_are_typed_problems() {
        for (value, field) in [
            (r#"[{"name":"-x"}]"#, "name"),
            (r#"[{"name":"x","version":"1 0"}]"#, "version"),
            (r#"[{"name":"x","index":"ftp://example.com"}]"#, "index"),
        ] {
            let observation = observe::<AdviceRequest>(&finished(
                "Succeeded",
                &[("document-id", "a"), ("unresolved-packages", value)],
            ));
            match bad_output(observation.outcome) {
                OutputProblem::InvalidField { field: got, .. } => assert_eq!(got, field),
                other => panic!("{value}: {other:?}"),
            }
        }
        for value in [r#"{"name":"x"}"#, "[1,2]", r#"[{"version":"1"}]"#, "null"] {
            let observation = observe::<AdviceRequest>(&finished(
                "Succeeded",
                &[("document-id", "a"), ("unresolved-packages", value)],
            ));
            assert!(
                matches!(
                    bad_output(observation.outcome),
                    OutputProblem::NotJson { .. }
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn failed_nodes_are_the_failed_leaves_by_display_name() {
        let workflow = workflow(
            json!({
                "phase": "Failed",
                "message": "child 'wf-2' failed",
                "nodes": {
                    "wf": {"id": "wf", "name": "wf", "type": "DAG", "phase": "Failed"},
                    "wf-2": {"id": "wf-2", "name": "wf.solve", "displayName": "solve",
                             "type": "Pod", "phase": "Failed", "message": "Error (exit code 1)"},
                    "wf-3": {"id": "wf-3", "name": "wf.sync", "type": "Pod", "phase": "Error"},
                    "wf-4": {"id": "wf-4", "name": "wf.parse", "displayName": "parse",
                             "type": "Pod", "phase": "Succeeded"},
                    "wf-5": {"id": "wf-5", "name": "wf.retry", "type": "Retry", "phase": "Failed"}
                }
            }),
            true,
        );
        let observation = observe::<SolverRun>(&workflow);
        assert_eq!(observation.failed_nodes, ["solve", "wf.sync"]);
        assert_eq!(observation.message.as_deref(), Some("child 'wf-2' failed"));
    }
}
