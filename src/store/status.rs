//! `thoth-operator db status`: schema version, row counts, flags set, outcomes and the ledger by fate.

use std::fmt;

use super::Store;
use super::error::StoreResult;
use super::migrate::latest_version;
use super::packages::get;
use super::stats::Sql;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// Newest applied migration, `None` when the database was never migrated.
    pub schema_version: Option<i64>,
    /// Newest migration this build carries.
    pub latest_known_version: i64,
    pub table_rows: Vec<(String, i64)>,
    pub flags: Vec<(String, i64)>,
    pub outcomes: Vec<(String, i64)>,
    pub ledger_by_fate: Vec<(String, i64)>,
    pub outbox_unpublished: i64,
}

// Two statements, because PostgreSQL resolves table names when it parses a
// statement: a guarded subquery on a missing table still fails.
const MIGRATIONS_TABLE_EXISTS: Sql = Sql {
    name: "status.migrations_table_exists",
    text: "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
};

const SCHEMA_VERSION: Sql = Sql {
    name: "status.schema_version",
    text: "SELECT max(version) FROM _sqlx_migrations WHERE success",
};

const TABLE_ROWS: Sql = Sql {
    name: "status.table_rows",
    text: "SELECT 'package_index' AS label, count(*) AS n FROM package_index
           UNION ALL SELECT 'package_version', count(*) FROM package_version
           UNION ALL SELECT 'artifact', count(*) FROM artifact
           UNION ALL SELECT 'solver_outcome', count(*) FROM solver_outcome
           UNION ALL SELECT 'security_indicator_outcome', count(*) FROM security_indicator_outcome
           UNION ALL SELECT 'rearm', count(*) FROM rearm
           UNION ALL SELECT 'advice_run', count(*) FROM advice_run
           UNION ALL SELECT 'advice_unresolved', count(*) FROM advice_unresolved
           UNION ALL SELECT 'workflow_attempt', count(*) FROM workflow_attempt
           UNION ALL SELECT 'message_ledger', count(*) FROM message_ledger
           UNION ALL SELECT 'outbox', count(*) FROM outbox",
};

const FLAGS: Sql = Sql {
    name: "status.flags",
    text: "SELECT 'package_index.enabled' AS label, count(*) AS n FROM package_index WHERE enabled
           UNION ALL SELECT 'package_version.is_missing', count(*) FROM package_version WHERE is_missing
           UNION ALL SELECT 'package_version.provides_source_distro = false', count(*)
                     FROM package_version WHERE NOT provides_source_distro
           UNION ALL SELECT 'artifact.present = false', count(*) FROM artifact WHERE NOT present
           UNION ALL SELECT 'advice_run.need_re_run', count(*) FROM advice_run
                     WHERE need_re_run AND re_run_document_id IS NULL",
};

const OUTCOMES: Sql = Sql {
    name: "status.outcomes",
    text: "SELECT label, n FROM (
               SELECT 'solver ' || status AS label, count(*) AS n FROM solver_outcome GROUP BY status
               UNION ALL
               SELECT 'security indicator ' || status, count(*) FROM security_indicator_outcome
               GROUP BY status) s
           ORDER BY label",
};

const LEDGER_BY_FATE: Sql = Sql {
    name: "status.ledger_by_fate",
    text: "SELECT fate AS label, count(*) AS n FROM message_ledger GROUP BY fate ORDER BY fate",
};

const OUTBOX_UNPUBLISHED: Sql = Sql {
    name: "status.outbox_unpublished",
    text: "SELECT count(*) FROM outbox WHERE published_at IS NULL",
};

impl Store {
    pub async fn status(&self) -> StoreResult<StoreStatus> {
        let migrated: bool = self
            .observer()
            .run(
                MIGRATIONS_TABLE_EXISTS,
                sqlx::query_scalar(MIGRATIONS_TABLE_EXISTS.text).fetch_one(self.pool()),
            )
            .await?;
        let schema_version: Option<i64> = if migrated {
            self.observer()
                .run(
                    SCHEMA_VERSION,
                    sqlx::query_scalar(SCHEMA_VERSION.text).fetch_one(self.pool()),
                )
                .await?
        } else {
            None
        };
        let mut status = StoreStatus {
            schema_version,
            latest_known_version: latest_version(),
            table_rows: Vec::new(),
            flags: Vec::new(),
            outcomes: Vec::new(),
            ledger_by_fate: Vec::new(),
            outbox_unpublished: 0,
        };
        if schema_version.is_none() {
            return Ok(status);
        }
        status.table_rows = self.counts(TABLE_ROWS).await?;
        status.flags = self.counts(FLAGS).await?;
        status.outcomes = self.counts(OUTCOMES).await?;
        status.ledger_by_fate = self.counts(LEDGER_BY_FATE).await?;
        status.outbox_unpublished = self
            .observer()
            .run(
                OUTBOX_UNPUBLISHED,
                sqlx::query_scalar(OUTBOX_UNPUBLISHED.text).fetch_one(self.pool()),
            )
            .await?;
        Ok(status)
    }

    async fn counts(&self, sql: Sql) -> StoreResult<Vec<(String, i64)>> {
        let rows = self
            .observer()
            .run(sql, sqlx::query(sql.text).fetch_all(self.pool()))
            .await?;
        rows.iter()
            .map(|row| Ok((get(row, sql, "label")?, get(row, sql, "n")?)))
            .collect()
    }
}

impl fmt::Display for StoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.schema_version {
            None => {
                return writeln!(
                    f,
                    "schema: not migrated (this build carries version {}); run `thoth-operator migrate`",
                    self.latest_known_version
                );
            }
            Some(v) if v == self.latest_known_version => {
                writeln!(f, "schema: version {v} (up to date)")?
            }
            Some(v) if v < self.latest_known_version => writeln!(
                f,
                "schema: version {v}, behind this build's {}; run `thoth-operator migrate`",
                self.latest_known_version
            )?,
            Some(v) => writeln!(
                f,
                "schema: version {v}, newer than this build's {}",
                self.latest_known_version
            )?,
        }
        let sections = [
            ("rows", &self.table_rows),
            ("flags set", &self.flags),
            ("outcomes", &self.outcomes),
            ("ledger by fate", &self.ledger_by_fate),
        ];
        for (title, rows) in sections {
            writeln!(f, "{title}:")?;
            if rows.is_empty() {
                writeln!(f, "  (none)")?;
            }
            for (label, n) in rows.iter() {
                writeln!(f, "  {label:<48} {n:>12}")?;
            }
        }
        writeln!(f, "outbox unpublished: {}", self.outbox_unpublished)
    }
}
