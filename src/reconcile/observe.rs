//! Reading a Workflow: a pure function from the Workflow Argo wrote to what the
//! resource's status and the store need — phase, times, message, failed nodes and,
//! once it has finished, an [`Outcome`]: the results the WorkflowTemplate published
//! (see [`contract`]), a failure of the package, a garbled output, or a fault on the
//! operator's side (a WorkflowTemplate missing from the namespace) that must not be
//! recorded as the package's fate.
//!
//! Nothing here panics on what Argo or a template wrote: every unexpected value is a
//! typed [`OutputProblem`] or [`OperatorProblem`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::contract::{
    self, SecurityIndicatorsOutcome, SolverVersionResult, SolverVersionStatus,
    UnresolvedPackageEntry,
};
use super::workflow::WorkflowKind;
use crate::api::Phase;
use crate::api::argo::{Workflow, WorkflowPhase};
use crate::package::{IndexUrl, PackageError, PackageName, PackageVersion};
use crate::store::limits;
use crate::store::{SecurityIndicatorStatus, SolverStatus, UnresolvedPackage};

/// Longest part of a garbled value quoted back in a problem's message.
const EXCERPT_LEN: usize = 80;

/// Node types that only group other nodes: they fail because a child failed, so
/// they are not reported among the failed nodes.
const GROUP_NODE_TYPES: [&str; 5] = ["DAG", "Steps", "StepGroup", "TaskGroup", "Retry"];

/// What one look at a Workflow says.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<R> {
    /// `status.phase` as Argo wrote it (absent before Argo picked the Workflow up).
    pub argo_phase: Option<WorkflowPhase>,
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
        Some(WorkflowPhase::Pending) => (Phase::Pending, None),
        Some(WorkflowPhase::Running) => (Phase::Running, None),
        Some(WorkflowPhase::Other(other)) if other.is_empty() && !completed => {
            (Phase::Pending, None)
        }
        Some(WorkflowPhase::Other(_)) if !completed => (Phase::Running, None),
        Some(WorkflowPhase::Other(other)) => (
            Phase::Error,
            Some(Outcome::BadOutput(OutputProblem::UnknownPhase {
                phase: other.clone(),
            })),
        ),
        Some(WorkflowPhase::Succeeded) => match K::published_results(workflow) {
            Ok(Some(results)) => (Phase::Succeeded, Some(Outcome::Results(results))),
            Ok(None) => (
                Phase::Error,
                Some(Outcome::BadOutput(OutputProblem::NothingPublished)),
            ),
            Err(problem) => (Phase::Error, Some(Outcome::BadOutput(problem))),
        },
        Some(ended @ (WorkflowPhase::Failed | WorkflowPhase::Error)) => {
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
                Some(WorkflowPhase::Failed | WorkflowPhase::Error)
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
    pub unresolved: Vec<UnresolvedPackage>,
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

/// Thoth's document ids are object-store keys and Workflow names: letters, digits,
/// `-`, `_` and `.`, at most the store's column length.
fn parse_document_id(raw: &str) -> Result<String, OutputProblem> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(OutputProblem::Empty {
            parameter: contract::DOCUMENT_ID,
        });
    }
    let valid = value.chars().count() <= limits::DOCUMENT_ID
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(OutputProblem::InvalidDocumentId {
            parameter: contract::DOCUMENT_ID,
            value: excerpt(value),
        });
    }
    Ok(value.to_string())
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
    let entries: Vec<UnresolvedPackageEntry> = parse_json(PARAMETER, value)?;
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
        let package = UnresolvedPackage {
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
