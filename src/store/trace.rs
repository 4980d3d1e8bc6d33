//! Reads for `thoth-operator trace` and index management: what the store holds
//! about one message, one resource or one package.

use chrono::{DateTime, Utc};

use super::error::{StoreError, StoreResult};
use super::outcomes::{RecordedOutcome, SolverStatus};
use super::packages::{VersionKey, get};
use super::stats::Sql;
use super::{Store, StoreTx, autocommit};
use crate::package::{IndexUrl, PackageName};
use crate::terms::ResourceKind;

/// Most rows a trace query returns.
pub const TRACE_LIMIT: i64 = 1000;

/// A message waiting in or published from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub dedup_key: String,
    pub topic: String,
    pub payload: serde_json::Value,
    pub enqueued_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

const REGISTER_INDEX: Sql = Sql {
    name: "trace.register_index",
    text: "INSERT INTO package_index (url, enabled) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING",
};

const LEDGER_KEYS_FOR_RESOURCES: Sql = Sql {
    name: "trace.ledger_keys_for_resources",
    text: "SELECT topic, kafka_partition, kafka_offset FROM message_ledger
           WHERE resource_kind = $1 AND resource_namespace = $2 AND resource_name = ANY($3)
           ORDER BY recorded_at, topic, kafka_partition, kafka_offset
           LIMIT $4",
};

const SOLVER_OUTCOMES_OF: Sql = Sql {
    name: "trace.solver_outcomes_of",
    text: "SELECT o.solver_name, o.status, o.document_id, o.duration_ms, o.recorded_at
           FROM solver_outcome o
           JOIN package_version v ON v.id = o.version_id
           JOIN package_index i ON i.id = v.index_id
           WHERE i.url = $1 AND v.package_name = $2 AND v.package_version = $3
           ORDER BY o.solver_name",
};

const OUTBOX_FOR_PACKAGE: Sql = Sql {
    name: "trace.outbox_for_package",
    text: "SELECT id, dedup_key, topic, payload, enqueued_at, published_at, attempts, last_error
           FROM outbox
           WHERE lower(replace(replace(payload->>'package_name', '_', '-'), '.', '-')) = $1
             AND ($2::text IS NULL OR payload->>'package_version' = $2)
           ORDER BY id
           LIMIT $3",
};

impl StoreTx {
    /// Registers an index if it is unknown (an existing index keeps its `enabled`
    /// flag); says whether it was new.
    pub async fn register_index(&mut self, index: &IndexUrl, enabled: bool) -> StoreResult<bool> {
        let inserted = self
            .observer
            .run(
                REGISTER_INDEX,
                sqlx::query(REGISTER_INDEX.text)
                    .bind(index.as_str())
                    .bind(enabled)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(inserted.rows_affected() > 0)
    }
}

autocommit! {
    /// [`StoreTx::register_index`] in a transaction of its own.
    fn register_index(index: &IndexUrl, enabled: bool) -> bool;
}

impl Store {
    /// The (topic, partition, offset) of ledger rows whose fate names one of these
    /// resources, oldest first, at most [`TRACE_LIMIT`].
    pub async fn ledger_keys_for_resources(
        &self,
        kind: ResourceKind,
        namespace: &str,
        names: &[String],
    ) -> StoreResult<Vec<(String, i32, i64)>> {
        let rows = self
            .observer()
            .run(
                LEDGER_KEYS_FOR_RESOURCES,
                sqlx::query(LEDGER_KEYS_FOR_RESOURCES.text)
                    .bind(kind.as_str())
                    .bind(namespace)
                    .bind(names)
                    .bind(TRACE_LIMIT)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, LEDGER_KEYS_FOR_RESOURCES, "topic")?,
                    get(row, LEDGER_KEYS_FOR_RESOURCES, "kafka_partition")?,
                    get(row, LEDGER_KEYS_FOR_RESOURCES, "kafka_offset")?,
                ))
            })
            .collect()
    }

    /// Every solver's recorded outcome for a version, by solver name.
    pub async fn solver_outcomes_of(
        &self,
        key: &VersionKey,
    ) -> StoreResult<Vec<(String, RecordedOutcome<SolverStatus>)>> {
        let rows = self
            .observer()
            .run(
                SOLVER_OUTCOMES_OF,
                sqlx::query(SOLVER_OUTCOMES_OF.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let status: String = get(row, SOLVER_OUTCOMES_OF, "status")?;
                let status =
                    SolverStatus::parse(&status).ok_or_else(|| StoreError::CorruptRow {
                        query: SOLVER_OUTCOMES_OF.name,
                        reason: format!("unknown status {status:?}"),
                    })?;
                let duration_ms: Option<i64> = get(row, SOLVER_OUTCOMES_OF, "duration_ms")?;
                Ok((
                    get(row, SOLVER_OUTCOMES_OF, "solver_name")?,
                    RecordedOutcome {
                        status,
                        document_id: get(row, SOLVER_OUTCOMES_OF, "document_id")?,
                        duration: duration_ms.map(chrono::TimeDelta::milliseconds),
                        recorded_at: get(row, SOLVER_OUTCOMES_OF, "recorded_at")?,
                    },
                ))
            })
            .collect()
    }

    /// Outbox messages about a package (by the `package_name` field of their payload,
    /// PEP 503-normalised) and, when given, version; at most [`TRACE_LIMIT`].
    pub async fn outbox_for_package(
        &self,
        name: &PackageName,
        version: Option<&str>,
    ) -> StoreResult<Vec<OutboxRow>> {
        let rows = self
            .observer()
            .run(
                OUTBOX_FOR_PACKAGE,
                sqlx::query(OUTBOX_FOR_PACKAGE.text)
                    .bind(name.as_str())
                    .bind(version)
                    .bind(TRACE_LIMIT)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let payload: sqlx::types::Json<serde_json::Value> =
                    get(row, OUTBOX_FOR_PACKAGE, "payload")?;
                Ok(OutboxRow {
                    id: get(row, OUTBOX_FOR_PACKAGE, "id")?,
                    dedup_key: get(row, OUTBOX_FOR_PACKAGE, "dedup_key")?,
                    topic: get(row, OUTBOX_FOR_PACKAGE, "topic")?,
                    payload: payload.0,
                    enqueued_at: get(row, OUTBOX_FOR_PACKAGE, "enqueued_at")?,
                    published_at: get(row, OUTBOX_FOR_PACKAGE, "published_at")?,
                    attempts: get(row, OUTBOX_FOR_PACKAGE, "attempts")?,
                    last_error: get(row, OUTBOX_FOR_PACKAGE, "last_error")?,
                })
            })
            .collect()
    }
}
