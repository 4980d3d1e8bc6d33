//! What differs per kind at run time: its store kind, priority, and how a finished Workflow's
//! outcome is written to the store (in the caller's transaction, with its follow-up messages).

use std::fmt::Debug;

use chrono::TimeDelta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::OperatorConfig;
use super::controller::describe;
use super::error::ReconcileError;
use super::observe::{AdviceResults, Outcome, SecurityIndicatorsResults, SolverResults};
use super::workflow::WorkflowKind;
use crate::api::{AdviceRequest, RunStatus, SecurityIndicatorRun, SolverRun};
use crate::messages::package_messages::SolvedPackage;
use crate::messages::{Message, TopicPrefix};
use crate::package::{IndexUrl, PackageName, PackageVersion};
use crate::store::{
    AdviceRun, AdviceUnresolved, FlagUpdate, OutboxMessage, ResourceKind, SecurityIndicatorOutcome,
    SecurityIndicatorStatus, SolverOutcome, SolverStatus, StoreError, StoreTx, VersionFlag,
    VersionKey,
};

/// A resource the runtime reconciles into Workflows.
pub(crate) trait RunKind:
    WorkflowKind + Clone + Debug + DeserializeOwned + Serialize + Send + Sync + 'static
{
    const STORE_KIND: ResourceKind;

    fn run_status(&self) -> Option<&RunStatus>;

    fn priority(config: &OperatorConfig) -> u8;

    /// The resource as an AdviceRequest, the one kind whose chain waits for other resources.
    fn as_advice_request(&self) -> Option<&AdviceRequest> {
        None
    }

    /// The result document id a finished Workflow published.
    fn document_id(results: &Self::Results) -> &str;

    /// Writes the package-level outcome of a finished attempt, run as Workflow `workflow_name`,
    /// into `tx`: outcomes, flags and the follow-up messages. Returns what the chain should start
    /// next (solved versions for a SolverRun). An operator-side problem writes nothing here.
    ///
    /// # Errors
    /// [`ReconcileError::Store`] when a write fails, [`ReconcileError::EncodeFollowUp`] when a
    /// follow-up message cannot be encoded; either way `tx` is to be dropped, not committed.
    fn record_outcome(
        &self,
        tx: &mut StoreTx,
        workflow_name: &str,
        outcome: &Outcome<Self::Results>,
        duration: Option<TimeDelta>,
        topics: &TopicPrefix,
    ) -> impl Future<Output = Result<FollowUps, ReconcileError>> + Send;
}

/// What a recorded outcome leads to.
#[derive(Debug, Default)]
pub(crate) struct FollowUps {
    /// Versions a SolverRun solved: each may need a SecurityIndicatorRun.
    pub solved: Vec<VersionKey>,
    /// Packages a first advice run could not resolve: they are solved, then the advice re-runs.
    pub unresolved: Vec<AdviceUnresolved>,
}

fn package_of(
    name: &str,
    version: Option<&str>,
    index: &str,
) -> Option<(PackageName, Option<PackageVersion>, IndexUrl)> {
    let name = PackageName::parse(name).ok()?;
    let index = IndexUrl::parse(index).ok()?;
    let version = match version {
        Some(v) => Some(PackageVersion::parse(v).ok()?),
        None => None,
    };
    Some((name, version, index))
}

impl RunKind for SolverRun {
    const STORE_KIND: ResourceKind = ResourceKind::SolverRun;

    fn document_id(results: &SolverResults) -> &str {
        &results.document_id
    }

    fn run_status(&self) -> Option<&RunStatus> {
        self.status.as_ref()
    }

    fn priority(config: &OperatorConfig) -> u8 {
        config.priorities.solver_run
    }

    async fn record_outcome(
        &self,
        tx: &mut StoreTx,
        _workflow_name: &str,
        outcome: &Outcome<SolverResults>,
        duration: Option<TimeDelta>,
        topics: &TopicPrefix,
    ) -> Result<FollowUps, ReconcileError> {
        let failed = |source: StoreError| ReconcileError::Store {
            resource: describe(self),
            source,
        };
        let Some((name, version, index)) = package_of(
            &self.spec.package_name,
            self.spec.package_version.as_deref(),
            &self.spec.index_url,
        ) else {
            // The API server validated the spec against the same patterns; nothing to key on.
            return Ok(FollowUps::default());
        };
        let solver = self.spec.solver.clone();
        let mut follow = FollowUps::default();
        let outcomes: Vec<SolverOutcome> = match outcome {
            Outcome::Results(results) => results
                .versions
                .iter()
                .map(|v| SolverOutcome {
                    version: VersionKey::new(name.clone(), v.version.clone(), index.clone()),
                    solver: solver.clone(),
                    status: v.status,
                    document_id: Some(results.document_id.clone()),
                    duration,
                })
                .collect(),
            Outcome::Failed | Outcome::BadOutput(_) => version
                .iter()
                .map(|v| SolverOutcome {
                    version: VersionKey::new(name.clone(), v.clone(), index.clone()),
                    solver: solver.clone(),
                    status: SolverStatus::Error,
                    document_id: None,
                    duration,
                })
                .collect(),
            Outcome::OperatorSide(_) => Vec::new(),
        };
        tx.record_solver_outcomes(&outcomes).await.map_err(failed)?;
        let mut messages = Vec::new();
        for solved in outcomes
            .iter()
            .filter(|o| o.status == SolverStatus::Success)
        {
            let key = &solved.version;
            let message = Message::from_operator(SolvedPackage {
                package_name: key.name.as_str().to_string(),
                package_version: key.version.as_str().to_string(),
                index_url: key.index.as_str().to_string(),
                solver: solver.clone(),
            });
            let kind = message.kind().name();
            let payload = message
                .to_json()
                .map_err(|source| ReconcileError::EncodeFollowUp {
                    resource: describe(self),
                    kind,
                    source,
                })?;
            messages.push(OutboxMessage {
                dedup_key: format!(
                    "{kind}/{solver}/{}/{}/{}",
                    key.name.as_str(),
                    key.version.as_str(),
                    key.index.as_str()
                ),
                topic: message.topic(topics),
                key: None,
                payload,
            });
            follow.solved.push(key.clone());
        }
        tx.enqueue(&messages).await.map_err(failed)?;
        Ok(follow)
    }
}

impl RunKind for SecurityIndicatorRun {
    const STORE_KIND: ResourceKind = ResourceKind::SecurityIndicatorRun;

    fn document_id(results: &SecurityIndicatorsResults) -> &str {
        &results.document_id
    }

    fn run_status(&self) -> Option<&RunStatus> {
        self.status.as_ref()
    }

    fn priority(config: &OperatorConfig) -> u8 {
        config.priorities.security_indicator_run
    }

    async fn record_outcome(
        &self,
        tx: &mut StoreTx,
        _workflow_name: &str,
        outcome: &Outcome<SecurityIndicatorsResults>,
        duration: Option<TimeDelta>,
        _topics: &TopicPrefix,
    ) -> Result<FollowUps, ReconcileError> {
        let failed = |source: StoreError| ReconcileError::Store {
            resource: describe(self),
            source,
        };
        let Some((name, Some(version), index)) = package_of(
            &self.spec.package_name,
            Some(&self.spec.package_version),
            &self.spec.index_url,
        ) else {
            return Ok(FollowUps::default());
        };
        let key = VersionKey::new(name, version, index);
        let (status, document_id) = match outcome {
            Outcome::Results(results) => {
                if results.version_is_missing() {
                    tx.set_flags(&[FlagUpdate {
                        version: key.clone(),
                        flag: VersionFlag::IsMissing,
                        value: true,
                    }])
                    .await
                    .map_err(failed)?;
                }
                (results.store_status(), Some(results.document_id.clone()))
            }
            Outcome::Failed | Outcome::BadOutput(_) => (SecurityIndicatorStatus::Error, None),
            Outcome::OperatorSide(_) => return Ok(FollowUps::default()),
        };
        tx.record_security_indicator_outcomes(&[SecurityIndicatorOutcome {
            version: key,
            status,
            document_id,
            duration,
        }])
        .await
        .map_err(failed)?;
        Ok(FollowUps::default())
    }
}

impl RunKind for AdviceRequest {
    const STORE_KIND: ResourceKind = ResourceKind::AdviceRequest;

    fn document_id(results: &AdviceResults) -> &str {
        &results.document_id
    }

    fn run_status(&self) -> Option<&RunStatus> {
        self.status.as_ref()
    }

    fn priority(config: &OperatorConfig) -> u8 {
        config.priorities.advice_request
    }

    fn as_advice_request(&self) -> Option<&AdviceRequest> {
        Some(self)
    }

    async fn record_outcome(
        &self,
        tx: &mut StoreTx,
        workflow_name: &str,
        outcome: &Outcome<AdviceResults>,
        duration: Option<TimeDelta>,
        _topics: &TopicPrefix,
    ) -> Result<FollowUps, ReconcileError> {
        let failed = |source: StoreError| ReconcileError::Store {
            resource: describe(self),
            source,
        };
        let source_type = self
            .spec
            .source_type
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| v.as_str().map(str::to_string));
        let (document_id, error, unresolved) = match outcome {
            Outcome::Results(results) => (
                results.document_id.clone(),
                false,
                results.unresolved.clone(),
            ),
            // The id the Workflow was given for its document: a re-run of the chain has its own,
            // so its failure does not collide with the first run's row.
            Outcome::Failed | Outcome::BadOutput(_) => (
                super::workflow::adviser_job_id(&self.spec, workflow_name).to_string(),
                true,
                Vec::new(),
            ),
            Outcome::OperatorSide(_) => return Ok(FollowUps::default()),
        };
        let needs_solvers = super::chain::needs_solvers(self, &unresolved);
        tx.record_advice_run(&AdviceRun {
            document_id: document_id.clone(),
            source_type,
            error,
            need_re_run: needs_solvers,
            re_run_document_id: None,
            duration,
            unresolved: unresolved.clone(),
        })
        .await
        .map_err(failed)?;
        // A re-run (the chain's, or one Thoth's investigator asked for) links the run it re-did.
        if let Some(original) = &self.spec.re_run_adviser_id
            && *original != document_id
            && matches!(outcome, Outcome::Results(_))
        {
            tx.set_advice_re_run(original, &document_id)
                .await
                .map_err(failed)?;
        }
        Ok(FollowUps {
            solved: Vec::new(),
            unresolved: if needs_solvers {
                unresolved
            } else {
                Vec::new()
            },
        })
    }
}
