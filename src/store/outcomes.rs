//! Outcomes of analyses: solver runs per (version, index, solver), security indicators per version,
//! and adviser runs with the packages they could not resolve.
//!
//! "Fail only once": a failed solve or security-indicator run is an outcome like a success, so the
//! version counts as done and is not scheduled again, until someone re-arms it explicitly. Re-arming
//! removes the outcome and writes why into `rearm`.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::PgRow;

use super::error::{StoreError, StoreResult};
use super::packages::{
    FlagUpdate, VersionColumns, VersionFlag, VersionKey, ensure_versions, get, version_id_of_t,
};
use super::stats::Sql;
use super::validate::{self, limits};
use super::{Store, StoreTx, autocommit};
use crate::package::{IndexUrl, PackageName, PackageVersion};
use strum::{AsRefStr, EnumString, IntoStaticStr, VariantArray};

/// What the store records for one solver run of one version (`solver_outcome.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsRefStr, EnumString, IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum SolverStatus {
    Success,
    Error,
    Unsolvable,
    Unparseable,
}

impl SolverStatus {
    /// The column's spelling, e.g. `unsolvable`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The status a column value names; `None` for anything else (a corrupt row).
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }

    pub fn is_failure(self) -> bool {
        self != Self::Success
    }
}

/// What the store records for one security-indicator run (`security_indicator_outcome.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsRefStr, EnumString, IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum SecurityIndicatorStatus {
    Aggregated,
    Error,
    /// The version has no source distribution to analyse; also clears `provides_source_distro`.
    NoSourceDistribution,
}

impl SecurityIndicatorStatus {
    /// The column's spelling, e.g. `no_source_distribution`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The status a column value names; `None` for anything else (a corrupt row).
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolverOutcome {
    pub version: VersionKey,
    pub solver: String,
    pub status: SolverStatus,
    pub document_id: Option<String>,
    pub duration: Option<TimeDelta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityIndicatorOutcome {
    pub version: VersionKey,
    pub status: SecurityIndicatorStatus,
    pub document_id: Option<String>,
    pub duration: Option<TimeDelta>,
}

/// An outcome as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedOutcome<S> {
    pub status: S,
    pub document_id: Option<String>,
    pub duration: Option<TimeDelta>,
    pub recorded_at: DateTime<Utc>,
}

/// A package an adviser run could not resolve (a row of `advice_unresolved`): the knowledge
/// graph lacks it, so the chain solves it before the advice re-runs. Not the
/// `UnresolvedPackage` message of Thoth's catalogue, which asks for such a package to be solved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceUnresolved {
    pub name: PackageName,
    pub version: Option<PackageVersion>,
    pub index: Option<IndexUrl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceRun {
    pub document_id: String,
    pub source_type: Option<String>,
    pub error: bool,
    pub need_re_run: bool,
    pub re_run_document_id: Option<String>,
    pub duration: Option<TimeDelta>,
    pub unresolved: Vec<AdviceUnresolved>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceRunAwaitingRerun {
    pub document_id: String,
    pub source_type: Option<String>,
    pub unresolved: Vec<PackageName>,
}

const RECORD_SOLVER_OUTCOMES: Sql = Sql {
    name: "outcomes.record_solver",
    text: concat!(
        "INSERT INTO solver_outcome (version_id, solver_name, status, document_id, duration_ms)
         SELECT s.version_id, s.solver, s.status, s.document_id, s.duration_ms
         FROM (SELECT ",
        version_id_of_t!(),
        " AS version_id, t.solver, t.status, t.document_id, t.duration_ms
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                           $7::int8[])
                    AS t(url, name, version, solver, status, document_id, duration_ms)
               OFFSET 0) s
         WHERE s.version_id IS NOT NULL
         ORDER BY 1, 2
         ON CONFLICT (version_id, solver_name) DO NOTHING"
    ),
};

const SOLVER_OUTCOME: Sql = Sql {
    name: "outcomes.solver_outcome",
    text: "SELECT o.status, o.document_id, o.duration_ms, o.recorded_at
           FROM solver_outcome o
           JOIN package_version v ON v.id = o.version_id
           JOIN package_index i ON i.id = v.index_id
           WHERE i.url = $1 AND v.package_name = $2 AND v.package_version = $3 AND o.solver_name = $4",
};

const REARM_SOLVER: Sql = Sql {
    name: "outcomes.rearm_solver",
    text: "WITH removed AS (
               DELETE FROM solver_outcome o
               USING package_version v, package_index i
               WHERE o.version_id = v.id AND v.index_id = i.id
                 AND i.url = $1 AND v.package_name = $2 AND v.package_version = $3 AND o.solver_name = $4
               RETURNING o.version_id, o.solver_name, o.status, o.document_id, o.duration_ms, o.recorded_at
           ), logged AS (
               INSERT INTO rearm (version_id, analysis, solver_name, previous_status,
                                  previous_document_id, previous_recorded_at, reason)
               SELECT version_id, 'solver', solver_name, status, document_id, recorded_at, $5
               FROM removed
           )
           SELECT status, document_id, duration_ms, recorded_at FROM removed",
};

const RECORD_SI_OUTCOMES: Sql = Sql {
    name: "outcomes.record_security_indicator",
    text: concat!(
        "INSERT INTO security_indicator_outcome (version_id, status, document_id, duration_ms)
         SELECT s.version_id, s.status, s.document_id, s.duration_ms
         FROM (SELECT ",
        version_id_of_t!(),
        " AS version_id, t.status, t.document_id, t.duration_ms
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[])
                    AS t(url, name, version, status, document_id, duration_ms)
               OFFSET 0) s
         WHERE s.version_id IS NOT NULL
         ORDER BY 1
         ON CONFLICT (version_id) DO NOTHING"
    ),
};

const SI_OUTCOME: Sql = Sql {
    name: "outcomes.security_indicator_outcome",
    text: "SELECT o.status, o.document_id, o.duration_ms, o.recorded_at
           FROM security_indicator_outcome o
           JOIN package_version v ON v.id = o.version_id
           JOIN package_index i ON i.id = v.index_id
           WHERE i.url = $1 AND v.package_name = $2 AND v.package_version = $3",
};

const REARM_SI: Sql = Sql {
    name: "outcomes.rearm_security_indicator",
    text: "WITH removed AS (
               DELETE FROM security_indicator_outcome o
               USING package_version v, package_index i
               WHERE o.version_id = v.id AND v.index_id = i.id
                 AND i.url = $1 AND v.package_name = $2 AND v.package_version = $3
               RETURNING o.version_id, o.status, o.document_id, o.duration_ms, o.recorded_at
           ), logged AS (
               INSERT INTO rearm (version_id, analysis, previous_status, previous_document_id,
                                  previous_recorded_at, reason)
               SELECT version_id, 'security_indicator', status, document_id, recorded_at, $4
               FROM removed
           )
           SELECT status, document_id, duration_ms, recorded_at FROM removed",
};

const INSERT_ADVICE_RUN: Sql = Sql {
    name: "outcomes.insert_advice_run",
    text: "INSERT INTO advice_run (document_id, source_type, error, need_re_run, re_run_document_id, duration_ms)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (document_id) DO NOTHING
           RETURNING id",
};

const INSERT_ADVICE_UNRESOLVED: Sql = Sql {
    name: "outcomes.insert_advice_unresolved",
    text: "INSERT INTO advice_unresolved (advice_run_id, package_name, package_version, index_id)
           SELECT $1, t.name, t.version, i.id
           FROM UNNEST($2::text[], $3::text[], $4::text[]) AS t(name, version, url)
           LEFT JOIN package_index i ON i.url = t.url
           ON CONFLICT DO NOTHING",
};

const ENSURE_INDEXES_FOR_ADVICE: Sql = Sql {
    name: "outcomes.ensure_advice_indexes",
    text: "INSERT INTO package_index (url)
           SELECT DISTINCT url FROM UNNEST($1::text[]) AS t(url) ORDER BY url
           ON CONFLICT (url) DO NOTHING",
};

const SET_ADVICE_NEED_RE_RUN: Sql = Sql {
    name: "outcomes.set_advice_need_re_run",
    text: "UPDATE advice_run SET need_re_run = $2, updated_at = now()
           WHERE document_id = $1 AND need_re_run <> $2",
};

const SET_ADVICE_RE_RUN: Sql = Sql {
    name: "outcomes.set_advice_re_run",
    text: "UPDATE advice_run SET re_run_document_id = $2, updated_at = now()
           WHERE document_id = $1 AND re_run_document_id IS DISTINCT FROM $2",
};

const ADVICE_RUN: Sql = Sql {
    name: "outcomes.advice_run",
    text: "SELECT r.source_type, r.error, r.need_re_run, r.re_run_document_id, r.duration_ms,
                  COALESCE(array_agg(u.package_name ORDER BY u.package_name, u.package_version, i.url)
                           FILTER (WHERE u.package_name IS NOT NULL), '{}') AS names,
                  COALESCE(array_agg(u.package_version ORDER BY u.package_name, u.package_version, i.url)
                           FILTER (WHERE u.package_name IS NOT NULL), '{}') AS versions,
                  COALESCE(array_agg(i.url ORDER BY u.package_name, u.package_version, i.url)
                           FILTER (WHERE u.package_name IS NOT NULL), '{}') AS urls
           FROM advice_run r
           LEFT JOIN advice_unresolved u ON u.advice_run_id = r.id
           LEFT JOIN package_index i ON i.id = u.index_id
           WHERE r.document_id = $1
           GROUP BY r.id",
};

const ADVICE_AWAITING_RERUN: Sql = Sql {
    name: "outcomes.advice_awaiting_rerun",
    text: "SELECT r.document_id, r.source_type,
                  COALESCE(array_agg(DISTINCT u.package_name) FILTER (WHERE u.package_name IS NOT NULL),
                           '{}') AS unresolved
           FROM advice_run r
           LEFT JOIN advice_unresolved u ON u.advice_run_id = r.id
           WHERE r.need_re_run AND r.re_run_document_id IS NULL
             AND ($1::text IS NULL OR r.source_type = $1)
           GROUP BY r.id
           ORDER BY r.id",
};

fn check_outcome_fields(
    document_id: Option<&str>,
    duration: Option<TimeDelta>,
) -> StoreResult<Option<i64>> {
    validate::optional_text("document id", document_id, limits::DOCUMENT_ID)?;
    validate::duration_millis("duration", duration)
}

fn read_outcome<S>(
    row: &PgRow,
    sql: Sql,
    parse: fn(&str) -> Option<S>,
) -> StoreResult<RecordedOutcome<S>> {
    let status: String = get(row, sql, "status")?;
    let status = parse(&status).ok_or_else(|| StoreError::CorruptRow {
        query: sql.name,
        reason: format!("unknown status {status:?}"),
    })?;
    let duration_ms: Option<i64> = get(row, sql, "duration_ms")?;
    Ok(RecordedOutcome {
        status,
        document_id: get(row, sql, "document_id")?,
        duration: duration_ms.map(TimeDelta::milliseconds),
        recorded_at: get(row, sql, "recorded_at")?,
    })
}

impl StoreTx {
    /// Records solver outcomes (creating the version rows they need). The first outcome recorded for a
    /// (version, index, solver) stands; recording it again, or a different one, changes nothing until
    /// [`StoreTx::rearm_solver`]. Returns how many outcomes were new. All rows are checked before any
    /// is written.
    pub async fn record_solver_outcomes(&mut self, outcomes: &[SolverOutcome]) -> StoreResult<u64> {
        validate::batch_size(outcomes.len())?;
        if outcomes.is_empty() {
            return Ok(0);
        }
        let mut millis = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            validate::text("solver name", &outcome.solver, limits::SOLVER_NAME)?;
            millis.push(check_outcome_fields(
                outcome.document_id.as_deref(),
                outcome.duration,
            )?);
        }
        let columns = VersionColumns::from_keys(outcomes.iter().map(|o| &o.version))?;
        ensure_versions(&mut self.tx, &mut self.observer, &columns).await?;
        let solvers: Vec<&str> = outcomes.iter().map(|o| o.solver.as_str()).collect();
        let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
        let documents: Vec<Option<&str>> =
            outcomes.iter().map(|o| o.document_id.as_deref()).collect();
        let inserted = self
            .observer
            .run(
                RECORD_SOLVER_OUTCOMES,
                sqlx::query(RECORD_SOLVER_OUTCOMES.text)
                    .bind(&columns.urls)
                    .bind(&columns.names)
                    .bind(&columns.versions)
                    .bind(&solvers)
                    .bind(&statuses)
                    .bind(&documents)
                    .bind(&millis)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(inserted.rows_affected())
    }

    /// Removes the solver outcome so the version may be solved again, recording why in `rearm`.
    /// Returns the removed outcome, or `None` when there was none.
    pub async fn rearm_solver(
        &mut self,
        key: &VersionKey,
        solver: &str,
        reason: &str,
    ) -> StoreResult<Option<RecordedOutcome<SolverStatus>>> {
        validate::text("solver name", solver, limits::SOLVER_NAME)?;
        validate::text("re-arm reason", reason, limits::REASON)?;
        let row = self
            .observer
            .run(
                REARM_SOLVER,
                sqlx::query(REARM_SOLVER.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .bind(solver)
                    .bind(reason)
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        row.map(|row| read_outcome(&row, REARM_SOLVER, SolverStatus::parse))
            .transpose()
    }

    /// Records security-indicator outcomes; as for solvers, the first outcome per version stands
    /// until re-armed. `NoSourceDistribution` also clears the version's `provides_source_distro`.
    pub async fn record_security_indicator_outcomes(
        &mut self,
        outcomes: &[SecurityIndicatorOutcome],
    ) -> StoreResult<u64> {
        validate::batch_size(outcomes.len())?;
        if outcomes.is_empty() {
            return Ok(0);
        }
        let mut millis = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            millis.push(check_outcome_fields(
                outcome.document_id.as_deref(),
                outcome.duration,
            )?);
        }
        let columns = VersionColumns::from_keys(outcomes.iter().map(|o| &o.version))?;
        ensure_versions(&mut self.tx, &mut self.observer, &columns).await?;
        let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
        let documents: Vec<Option<&str>> =
            outcomes.iter().map(|o| o.document_id.as_deref()).collect();
        let inserted = self
            .observer
            .run(
                RECORD_SI_OUTCOMES,
                sqlx::query(RECORD_SI_OUTCOMES.text)
                    .bind(&columns.urls)
                    .bind(&columns.names)
                    .bind(&columns.versions)
                    .bind(&statuses)
                    .bind(&documents)
                    .bind(&millis)
                    .execute(&mut *self.tx),
            )
            .await?;
        let no_sdist: Vec<FlagUpdate> = outcomes
            .iter()
            .filter(|o| o.status == SecurityIndicatorStatus::NoSourceDistribution)
            .map(|o| FlagUpdate {
                version: o.version.clone(),
                flag: VersionFlag::ProvidesSourceDistro,
                value: false,
            })
            .collect();
        if !no_sdist.is_empty() {
            self.set_flags(&no_sdist).await?;
        }
        Ok(inserted.rows_affected())
    }

    /// Removes the security-indicator outcome so the version may be analysed again, recording why.
    pub async fn rearm_security_indicator(
        &mut self,
        key: &VersionKey,
        reason: &str,
    ) -> StoreResult<Option<RecordedOutcome<SecurityIndicatorStatus>>> {
        validate::text("re-arm reason", reason, limits::REASON)?;
        let row = self
            .observer
            .run(
                REARM_SI,
                sqlx::query(REARM_SI.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .bind(reason)
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        row.map(|row| read_outcome(&row, REARM_SI, SecurityIndicatorStatus::parse))
            .transpose()
    }

    /// Records an adviser run with its unresolved packages; a run already recorded (same document id)
    /// is left as it is. Says whether the run was new.
    pub async fn record_advice_run(&mut self, run: &AdviceRun) -> StoreResult<bool> {
        validate::text("advice document id", &run.document_id, limits::DOCUMENT_ID)?;
        validate::optional_text(
            "advice re-run document id",
            run.re_run_document_id.as_deref(),
            limits::DOCUMENT_ID,
        )?;
        validate::optional_text(
            "advice source type",
            run.source_type.as_deref(),
            limits::SOURCE_TYPE,
        )?;
        validate::batch_size(run.unresolved.len())?;
        let millis = validate::duration_millis("duration", run.duration)?;
        let inserted = self
            .observer
            .run(
                INSERT_ADVICE_RUN,
                sqlx::query_scalar::<_, i64>(INSERT_ADVICE_RUN.text)
                    .bind(&run.document_id)
                    .bind(run.source_type.as_deref())
                    .bind(run.error)
                    .bind(run.need_re_run)
                    .bind(run.re_run_document_id.as_deref())
                    .bind(millis)
                    .fetch_optional(&mut *self.tx),
            )
            .await?;
        let Some(run_id) = inserted else {
            return Ok(false);
        };
        if run.unresolved.is_empty() {
            return Ok(true);
        }
        let urls: Vec<Option<&str>> = run
            .unresolved
            .iter()
            .map(|u| u.index.as_ref().map(IndexUrl::as_str))
            .collect();
        let known_urls: Vec<&str> = urls.iter().flatten().copied().collect();
        if !known_urls.is_empty() {
            self.observer
                .run(
                    ENSURE_INDEXES_FOR_ADVICE,
                    sqlx::query(ENSURE_INDEXES_FOR_ADVICE.text)
                        .bind(&known_urls)
                        .execute(&mut *self.tx),
                )
                .await?;
        }
        let names: Vec<&str> = run.unresolved.iter().map(|u| u.name.as_str()).collect();
        let versions: Vec<Option<&str>> = run
            .unresolved
            .iter()
            .map(|u| u.version.as_ref().map(PackageVersion::as_str))
            .collect();
        self.observer
            .run(
                INSERT_ADVICE_UNRESOLVED,
                sqlx::query(INSERT_ADVICE_UNRESOLVED.text)
                    .bind(run_id)
                    .bind(&names)
                    .bind(&versions)
                    .bind(&urls)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(true)
    }

    /// Sets or clears `need_re_run` on an adviser run; says whether it changed.
    pub async fn set_advice_need_re_run(
        &mut self,
        document_id: &str,
        need_re_run: bool,
    ) -> StoreResult<bool> {
        validate::text("advice document id", document_id, limits::DOCUMENT_ID)?;
        let changed = self
            .observer
            .run(
                SET_ADVICE_NEED_RE_RUN,
                sqlx::query(SET_ADVICE_NEED_RE_RUN.text)
                    .bind(document_id)
                    .bind(need_re_run)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(changed.rows_affected() > 0)
    }

    /// Links an adviser run to the run that re-did it; says whether it changed.
    pub async fn set_advice_re_run(
        &mut self,
        document_id: &str,
        re_run_document_id: &str,
    ) -> StoreResult<bool> {
        validate::text("advice document id", document_id, limits::DOCUMENT_ID)?;
        validate::text(
            "advice re-run document id",
            re_run_document_id,
            limits::DOCUMENT_ID,
        )?;
        let changed = self
            .observer
            .run(
                SET_ADVICE_RE_RUN,
                sqlx::query(SET_ADVICE_RE_RUN.text)
                    .bind(document_id)
                    .bind(re_run_document_id)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(changed.rows_affected() > 0)
    }
}

autocommit! {
    /// [`StoreTx::record_solver_outcomes`] in a transaction of its own.
    fn record_solver_outcomes(outcomes: &[SolverOutcome]) -> u64 = 0, if outcomes.is_empty();
    /// [`StoreTx::rearm_solver`] in a transaction of its own.
    fn rearm_solver(key: &VersionKey, solver: &str, reason: &str) -> Option<RecordedOutcome<SolverStatus>>;
    /// [`StoreTx::record_security_indicator_outcomes`] in a transaction of its own.
    fn record_security_indicator_outcomes(outcomes: &[SecurityIndicatorOutcome]) -> u64 = 0, if outcomes.is_empty();
    /// [`StoreTx::rearm_security_indicator`] in a transaction of its own.
    fn rearm_security_indicator(key: &VersionKey, reason: &str) -> Option<RecordedOutcome<SecurityIndicatorStatus>>;
    /// [`StoreTx::record_advice_run`] in a transaction of its own.
    fn record_advice_run(run: &AdviceRun) -> bool;
    /// [`StoreTx::set_advice_need_re_run`] in a transaction of its own.
    fn set_advice_need_re_run(document_id: &str, need_re_run: bool) -> bool;
    /// [`StoreTx::set_advice_re_run`] in a transaction of its own.
    fn set_advice_re_run(document_id: &str, re_run_document_id: &str) -> bool;
}

impl Store {
    pub async fn solver_outcome(
        &self,
        key: &VersionKey,
        solver: &str,
    ) -> StoreResult<Option<RecordedOutcome<SolverStatus>>> {
        let row = self
            .observer()
            .run(
                SOLVER_OUTCOME,
                sqlx::query(SOLVER_OUTCOME.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .bind(solver)
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.map(|row| read_outcome(&row, SOLVER_OUTCOME, SolverStatus::parse))
            .transpose()
    }

    /// "Is this version solved by this solver": true for any recorded outcome, failures included
    /// (fail only once), until re-armed.
    pub async fn is_solved(&self, key: &VersionKey, solver: &str) -> StoreResult<bool> {
        Ok(self.solver_outcome(key, solver).await?.is_some())
    }

    pub async fn security_indicator_outcome(
        &self,
        key: &VersionKey,
    ) -> StoreResult<Option<RecordedOutcome<SecurityIndicatorStatus>>> {
        let row = self
            .observer()
            .run(
                SI_OUTCOME,
                sqlx::query(SI_OUTCOME.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.map(|row| read_outcome(&row, SI_OUTCOME, SecurityIndicatorStatus::parse))
            .transpose()
    }

    /// "Is this version analysed by the security indicators": true for any recorded outcome, errors
    /// included, until re-armed.
    pub async fn is_analysed(&self, key: &VersionKey) -> StoreResult<bool> {
        Ok(self.security_indicator_outcome(key).await?.is_some())
    }

    pub async fn advice_run(&self, document_id: &str) -> StoreResult<Option<AdviceRun>> {
        let row = self
            .observer()
            .run(
                ADVICE_RUN,
                sqlx::query(ADVICE_RUN.text)
                    .bind(document_id)
                    .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let names: Vec<String> = get(&row, ADVICE_RUN, "names")?;
        let versions: Vec<Option<String>> = get(&row, ADVICE_RUN, "versions")?;
        let urls: Vec<Option<String>> = get(&row, ADVICE_RUN, "urls")?;
        let unresolved = names
            .iter()
            .zip(versions.iter().zip(urls.iter()))
            .map(|(name, (version, url))| {
                Ok(AdviceUnresolved {
                    name: PackageName::parse(name)?,
                    version: version.as_deref().map(PackageVersion::parse).transpose()?,
                    index: url.as_deref().map(IndexUrl::parse).transpose()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let duration_ms: Option<i64> = get(&row, ADVICE_RUN, "duration_ms")?;
        Ok(Some(AdviceRun {
            document_id: document_id.to_string(),
            source_type: get(&row, ADVICE_RUN, "source_type")?,
            error: get(&row, ADVICE_RUN, "error")?,
            need_re_run: get(&row, ADVICE_RUN, "need_re_run")?,
            re_run_document_id: get(&row, ADVICE_RUN, "re_run_document_id")?,
            duration: duration_ms.map(TimeDelta::milliseconds),
            unresolved,
        }))
    }

    /// Adviser runs that need a re-run and have none yet, with the package names they could not
    /// resolve (Thoth's `get_unsolved_python_packages_all_per_adviser_run`).
    pub async fn advice_runs_awaiting_rerun(
        &self,
        source_type: Option<&str>,
    ) -> StoreResult<Vec<AdviceRunAwaitingRerun>> {
        let rows = self
            .observer()
            .run(
                ADVICE_AWAITING_RERUN,
                sqlx::query(ADVICE_AWAITING_RERUN.text)
                    .bind(source_type)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let mut names: Vec<String> = get(row, ADVICE_AWAITING_RERUN, "unresolved")?;
                names.sort();
                Ok(AdviceRunAwaitingRerun {
                    document_id: get(row, ADVICE_AWAITING_RERUN, "document_id")?,
                    source_type: get(row, ADVICE_AWAITING_RERUN, "source_type")?,
                    unresolved: names
                        .iter()
                        .map(|n| PackageName::parse(n))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_column_values() {
        for s in SolverStatus::VARIANTS {
            assert_eq!(SolverStatus::parse(s.as_str()), Some(*s));
        }
        for s in SecurityIndicatorStatus::VARIANTS {
            assert_eq!(SecurityIndicatorStatus::parse(s.as_str()), Some(*s));
        }
        // The spellings the migration's CHECK constraints and existing rows use.
        assert_eq!(SolverStatus::Unparseable.as_str(), "unparseable");
        assert_eq!(
            SecurityIndicatorStatus::NoSourceDistribution.as_str(),
            "no_source_distribution"
        );
        assert_eq!(SolverStatus::parse("weird"), None);
        assert!(SolverStatus::Unsolvable.is_failure() && !SolverStatus::Success.is_failure());
    }
}
