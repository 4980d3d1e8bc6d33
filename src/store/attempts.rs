//! Every Argo Workflow attempt of every resource, kept after Argo and retention delete the objects.

use chrono::{DateTime, Utc};

use super::error::{StoreError, StoreResult};
use super::packages::get;
use super::stats::Sql;
use super::validate::{self, limits};
use super::{Store, StoreTx, autocommit};
use crate::terms::{ResourceKind, WorkflowPhase};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowAttempt {
    pub resource_kind: ResourceKind,
    pub resource_namespace: String,
    pub resource_name: String,
    /// 1 for the first Workflow of a resource.
    pub attempt: u32,
    pub workflow_namespace: String,
    pub workflow_name: String,
    pub phase: WorkflowPhase,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Argo's message; cut to [`limits::MESSAGE`] characters, as Argo's can be arbitrarily long.
    pub message: Option<String>,
    pub result_document_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptWrite {
    Inserted,
    Updated,
    /// Nothing new, or the write would have moved a finished attempt's phase or gone back from
    /// Running to Pending (a stale observation).
    Unchanged,
}

const RECORD_ATTEMPT: Sql = Sql {
    name: "attempts.record",
    text: "INSERT INTO workflow_attempt AS a
               (resource_kind, resource_namespace, resource_name, attempt, workflow_namespace,
                workflow_name, phase, created_at, started_at, finished_at, message, result_document_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (resource_kind, resource_namespace, resource_name, attempt) DO UPDATE
           SET workflow_namespace = EXCLUDED.workflow_namespace,
               workflow_name = EXCLUDED.workflow_name,
               phase = EXCLUDED.phase,
               created_at = COALESCE(EXCLUDED.created_at, a.created_at),
               started_at = COALESCE(EXCLUDED.started_at, a.started_at),
               finished_at = COALESCE(EXCLUDED.finished_at, a.finished_at),
               message = COALESCE(EXCLUDED.message, a.message),
               result_document_id = COALESCE(EXCLUDED.result_document_id, a.result_document_id),
               updated_at = now()
           WHERE (a.phase = EXCLUDED.phase
                  OR (a.phase NOT IN ('Succeeded', 'Failed', 'Error')
                      AND NOT (a.phase = 'Running' AND EXCLUDED.phase = 'Pending')))
             AND (a.workflow_namespace, a.workflow_name, a.phase, a.created_at, a.started_at,
                  a.finished_at, a.message, a.result_document_id)
                 IS DISTINCT FROM
                 (EXCLUDED.workflow_namespace, EXCLUDED.workflow_name, EXCLUDED.phase,
                  COALESCE(EXCLUDED.created_at, a.created_at), COALESCE(EXCLUDED.started_at, a.started_at),
                  COALESCE(EXCLUDED.finished_at, a.finished_at), COALESCE(EXCLUDED.message, a.message),
                  COALESCE(EXCLUDED.result_document_id, a.result_document_id))
           RETURNING (xmax = 0) AS inserted",
};

const ATTEMPTS: Sql = Sql {
    name: "attempts.of_resource",
    text: "SELECT attempt, workflow_namespace, workflow_name, phase, created_at, started_at,
                  finished_at, message, result_document_id
           FROM workflow_attempt
           WHERE resource_kind = $1 AND resource_namespace = $2 AND resource_name = $3
           ORDER BY attempt",
};

/// Cuts free-form text to the column's limit instead of refusing it: losing the tail of a
/// human-readable message is better than losing the record.
pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

impl StoreTx {
    /// Records what is known of a Workflow attempt; the same observation twice changes nothing, and a
    /// finished attempt keeps its phase.
    pub async fn record_attempt(&mut self, attempt: &WorkflowAttempt) -> StoreResult<AttemptWrite> {
        validate::text(
            "resource namespace",
            &attempt.resource_namespace,
            limits::NAMESPACE,
        )?;
        validate::text("resource name", &attempt.resource_name, limits::OBJECT_NAME)?;
        validate::text(
            "workflow namespace",
            &attempt.workflow_namespace,
            limits::NAMESPACE,
        )?;
        validate::text("workflow name", &attempt.workflow_name, limits::OBJECT_NAME)?;
        validate::optional_text(
            "result document id",
            attempt.result_document_id.as_deref(),
            limits::DOCUMENT_ID,
        )?;
        let message = attempt
            .message
            .as_deref()
            .map(|m| truncate(&m.replace('\0', ""), limits::MESSAGE));
        let number = i32::try_from(attempt.attempt)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| StoreError::OutOfRange {
                field: "attempt number",
                reason: format!("{} is not between 1 and {}", attempt.attempt, i32::MAX),
            })?;
        let inserted = self
            .observer
            .run(
                RECORD_ATTEMPT,
                sqlx::query_scalar::<_, bool>(RECORD_ATTEMPT.text)
                    .bind(attempt.resource_kind.as_str())
                    .bind(&attempt.resource_namespace)
                    .bind(&attempt.resource_name)
                    .bind(number)
                    .bind(&attempt.workflow_namespace)
                    .bind(&attempt.workflow_name)
                    .bind(attempt.phase.as_str())
                    .bind(attempt.created_at)
                    .bind(attempt.started_at)
                    .bind(attempt.finished_at)
                    .bind(message)
                    .bind(attempt.result_document_id.as_deref())
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        Ok(match inserted {
            Some(true) => AttemptWrite::Inserted,
            Some(false) => AttemptWrite::Updated,
            None => AttemptWrite::Unchanged,
        })
    }
}

autocommit! {
    /// [`StoreTx::record_attempt`] in a transaction of its own.
    fn record_attempt(attempt: &WorkflowAttempt) -> AttemptWrite;
}

impl Store {
    /// Every recorded attempt of a resource, oldest first.
    pub async fn attempts(
        &self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
    ) -> StoreResult<Vec<WorkflowAttempt>> {
        let rows = self
            .observer()
            .run(
                ATTEMPTS,
                sqlx::query(ATTEMPTS.text)
                    .bind(kind.as_str())
                    .bind(namespace)
                    .bind(name)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let number: i32 = get(row, ATTEMPTS, "attempt")?;
                let phase: String = get(row, ATTEMPTS, "phase")?;
                Ok(WorkflowAttempt {
                    resource_kind: kind,
                    resource_namespace: namespace.to_string(),
                    resource_name: name.to_string(),
                    attempt: u32::try_from(number).map_err(|_| StoreError::CorruptRow {
                        query: ATTEMPTS.name,
                        reason: format!("attempt number {number}"),
                    })?,
                    workflow_namespace: get(row, ATTEMPTS, "workflow_namespace")?,
                    workflow_name: get(row, ATTEMPTS, "workflow_name")?,
                    phase: WorkflowPhase::parse(&phase).ok_or_else(|| StoreError::CorruptRow {
                        query: ATTEMPTS.name,
                        reason: format!("unknown phase {phase:?}"),
                    })?,
                    created_at: get(row, ATTEMPTS, "created_at")?,
                    started_at: get(row, ATTEMPTS, "started_at")?,
                    finished_at: get(row, ATTEMPTS, "finished_at")?,
                    message: get(row, ATTEMPTS, "message")?,
                    result_document_id: get(row, ATTEMPTS, "result_document_id")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("abc", 5), "abc");
    }

    #[test]
    fn phases_and_kinds_round_trip() {
        for p in ["Pending", "Running", "Succeeded", "Failed", "Error"] {
            assert_eq!(WorkflowPhase::parse(p).map(WorkflowPhase::as_str), Some(p));
        }
        assert!(WorkflowPhase::Failed.is_finished() && !WorkflowPhase::Running.is_finished());
        assert_eq!(
            ResourceKind::parse("SolverRun"),
            Some(ResourceKind::SolverRun)
        );
        assert_eq!(ResourceKind::parse("Pod"), None);
    }
}
