//! The PostgreSQL knowledge store: the only module that speaks SQL.
//!
//! Everything the operator learns lives here, because Argo deletes Workflows seconds after they end and
//! resources are deleted by retention: package indexes and versions with their flags, solver,
//! security-indicator and advice outcomes, every Workflow attempt, the ledger of consumed Kafka messages
//! and the outbox of messages to publish.
//!
//! Every write is keyed by a natural unique key, so a redelivered identical write changes nothing.
//! Writes happen on a [`StoreTx`]; several writes (a flag, its ledger row, the follow-up message in the
//! outbox) commit together or not at all. [`Store`] offers each write as its own transaction too.
//! Queries are runtime-checked (`sqlx::query` with static SQL), so building needs no database.

mod attempts;
mod config;
mod diagram;
mod error;
mod knowledge;
mod ledger;
mod migrate;
mod nodelay;
mod outbox;
mod outcomes;
mod packages;
mod stats;
mod status;
mod trace;
mod validate;

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};

pub use crate::terms::{ResourceKind, WorkflowPhase};
pub use attempts::{AttemptWrite, WorkflowAttempt};
pub use config::StoreConfig;
pub use diagram::SchemaFormat;
pub use error::{StoreError, StoreResult};
pub use knowledge::VersionKnowledge;
pub use ledger::{Fate, FateKind, LedgerEntry, ResourceRef};
pub use migrate::{MIGRATOR, create_database, latest_version};
pub use outbox::{ClaimedMessage, OutboxMessage};
pub use outcomes::{
    AdviceRun, AdviceRunAwaitingRerun, AdviceUnresolved, RecordedOutcome, SecurityIndicatorOutcome,
    SecurityIndicatorStatus, SolverOutcome, SolverStatus,
};
pub use packages::{ArtifactUpdate, FlagUpdate, Sha256, VersionFlag, VersionKey, VersionRecord};
pub use stats::QueryStat;
pub use status::StoreStatus;
pub use trace::{OutboxRow, TRACE_LIMIT};
pub use validate::{MAX_BATCH, limits, text_from_bytes};

use stats::{Observer, Sql};

/// A pool of connections to the knowledge store.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    options: PgConnectOptions,
    observer: Arc<Observer>,
}

/// Written by hand: the derived form would print the password held in the connect options.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &config::describe(&self.options))
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// A transaction on the store: writes made through it become durable together at [`StoreTx::commit`],
/// or not at all when it is dropped or rolled back.
#[derive(Debug)]
pub struct StoreTx {
    tx: Transaction<'static, Postgres>,
    observer: TxObserver,
}

/// The observer of one transaction, which also remembers the first statement that failed in it.
///
/// PostgreSQL aborts a transaction at its first failed statement and answers a later `COMMIT` with
/// `ROLLBACK` rather than an error; without this, [`StoreTx::commit`] would report success for writes
/// that were thrown away, and a caller would commit a Kafka offset whose fate is not durable.
#[derive(Debug)]
pub(crate) struct TxObserver {
    observer: Arc<Observer>,
    failed: Option<&'static str>,
}

impl TxObserver {
    pub(crate) async fn run<T>(
        &mut self,
        sql: Sql,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> StoreResult<T> {
        let result = self.observer.run(sql, statement).await;
        if result.is_err() && self.failed.is_none() {
            self.failed = Some(sql.name);
        }
        result
    }
}

const BEGIN: Sql = Sql {
    name: "begin",
    text: "BEGIN",
};
const COMMIT: Sql = Sql {
    name: "commit",
    text: "COMMIT",
};
const ASYNCHRONOUS_COMMIT: Sql = Sql {
    name: "asynchronous_commit",
    text: "SET LOCAL synchronous_commit = off",
};
const ROLLBACK: Sql = Sql {
    name: "rollback",
    text: "ROLLBACK",
};

impl Store {
    /// Connects, creating the database when it does not exist; does not migrate.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let (probe, created) = migrate::connect_creating_database(&config.connect).await?;
        let _ = probe.close().await;
        if created {
            tracing::info!(
                database = config.database_name(),
                "created the store's database"
            );
        }
        let pool = pool_options(&config.connect, config.max_connections)
            .connect_with(config.connect.clone())
            .await
            .map_err(|source| StoreError::Connect {
                target: config.describe(),
                source,
            })?;
        Ok(Self {
            pool,
            options: config.connect.clone(),
            observer: Arc::new(Observer::new(config.debug_queries, config.log_stats)),
        })
    }

    /// Connects as [`Store::connect`] and, unless `THOTH_STORE_MIGRATE=0`, migrates: what the operator
    /// does at start-up.
    pub async fn open(config: &StoreConfig) -> StoreResult<Self> {
        let store = Self::connect(config).await?;
        if config.migrate_on_start {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations; safe to run twice and from several replicas at once.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::migrate(&self.options).await
    }

    pub async fn begin(&self) -> StoreResult<StoreTx> {
        let tx = self.observer.run(BEGIN, self.pool.begin()).await?;
        Ok(StoreTx {
            tx,
            observer: TxObserver {
                observer: self.observer.clone(),
                failed: None,
            },
        })
    }

    /// Per-query counts and timings gathered so far (empty unless statistics are on).
    pub fn query_stats(&self) -> Vec<QueryStat> {
        self.observer.snapshot()
    }

    /// Logs the statistics when `THOTH_STORAGES_LOG_STATS=1` and closes every connection.
    pub async fn close(&self) {
        self.observer.log_stats();
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }
}

impl StoreTx {
    /// Makes every write of the transaction durable; refused, with everything rolled back, when a
    /// statement failed in it.
    pub async fn commit(self) -> StoreResult<()> {
        let StoreTx { tx, observer } = self;
        if let Some(query) = observer.failed {
            if let Err(err) = observer.observer.run(ROLLBACK, tx.rollback()).await {
                tracing::warn!(error = %err, "rolling back an aborted transaction failed");
            }
            return Err(StoreError::TransactionAborted { query });
        }
        observer.observer.run(COMMIT, tx.commit()).await
    }

    /// Lets this transaction's commit return before its WAL record is flushed to disk
    /// (`synchronous_commit = off` for this transaction only; PostgreSQL manual, "Asynchronous
    /// Commit"): a server crash within about three times `wal_writer_delay` after the commit may
    /// lose it, never corrupt anything. Only for writes that are re-derived when lost — the row of
    /// a Workflow just created, which every later observation of that Workflow writes again — so
    /// that they do not wait on a disk flush (milliseconds, on the operator's hot path).
    pub async fn commit_without_waiting_for_flush(&mut self) -> StoreResult<()> {
        self.observer
            .run(
                ASYNCHRONOUS_COMMIT,
                sqlx::query(ASYNCHRONOUS_COMMIT.text).execute(&mut *self.tx),
            )
            .await
            .map(|_| ())
    }

    pub async fn rollback(self) -> StoreResult<()> {
        self.observer
            .observer
            .run(ROLLBACK, self.tx.rollback())
            .await
    }
}

/// The pool settings every store connection gets: Nagle's algorithm off (see `nodelay`).
/// The pool settings every store connection uses (Nagle's algorithm off on each); public so
/// tools that bypass the store, such as the benchmark's COPY ceiling, connect the same way.
pub fn pool_options(connect: &PgConnectOptions, max_connections: u32) -> PgPoolOptions {
    let server_port = connect.get_port();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(move |conn, _| Box::pin(nodelay::disable_nagle(conn, server_port)))
}

/// Offers writes defined on [`StoreTx`] on [`Store`] as well, each in a transaction of its own. A
/// write declared with `= <value> if <condition>` answers `value` without opening a transaction when
/// the condition holds (an empty batch needs no round trip).
macro_rules! autocommit {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty
        $(= $noop:expr, if $skip:expr)?; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    $(if $skip {
                        return Ok($noop);
                    })?
                    let mut tx = self.begin().await?;
                    let out = tx.$name($($arg),*).await?;
                    tx.commit().await?;
                    Ok(out)
                }
            )*
        }
    };
}
use autocommit;
