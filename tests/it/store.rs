//! The knowledge store against a real PostgreSQL: each test gets a database of its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sqlx::postgres::PgPool;
use testkit::TestDatabase;
use thoth_operator::package::{IndexUrl, PackageName, PackageVersion};
use thoth_operator::store::{
    AdviceRun, AdviceUnresolved, ArtifactUpdate, AttemptWrite, Fate, FlagUpdate, LedgerEntry,
    OutboxMessage, ResourceKind, ResourceRef, SchemaFormat, SecurityIndicatorOutcome,
    SecurityIndicatorStatus, Sha256, SolverOutcome, SolverStatus, Store, StoreConfig, StoreError,
    VersionFlag, VersionKey, WorkflowAttempt, WorkflowPhase, latest_version,
};

/// A store on a test database.
trait TestStore {
    /// The store's settings for this database: a small pool (the server's connections are
    /// shared by every test), statistics on.
    fn config(&self) -> StoreConfig;
    /// A migrated store on this database.
    async fn store(&self) -> Result<Store, StoreError>;
}

impl TestStore for TestDatabase {
    fn config(&self) -> StoreConfig {
        StoreConfig {
            log_stats: true,
            max_connections: 4,
            ..StoreConfig::new(self.options.clone())
        }
    }

    async fn store(&self) -> Result<Store, StoreError> {
        Store::open(&self.config()).await
    }
}

const SOLVER: &str = "solver-fedora-38-py311";
const PYPI: &str = "https://pypi.org/simple";

fn key(name: &str, version: &str) -> VersionKey {
    VersionKey::new(
        PackageName::parse(name).unwrap(),
        PackageVersion::parse(version).unwrap(),
        IndexUrl::parse(PYPI).unwrap(),
    )
}

async fn fresh() -> (TestDatabase, Store, PgPool) {
    let db = TestDatabase::create().await.unwrap();
    let store = db.store().await.unwrap();
    let pool = PgPool::connect_with(db.options.clone()).await.unwrap();
    (db, store, pool)
}

async fn count(pool: &PgPool, table: &'static str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

fn solver_outcome(name: &str, status: SolverStatus) -> SolverOutcome {
    SolverOutcome {
        version: key(name, "1.0.0"),
        solver: SOLVER.into(),
        status,
        document_id: Some(format!("solver-{name}")),
        duration: Some(TimeDelta::seconds(12)),
    }
}

fn ledger(offset: i64, fate: Fate) -> LedgerEntry {
    LedgerEntry {
        topic: "thoth.investigator.unresolved-package".into(),
        partition: 0,
        offset,
        message_type: Some("UnresolvedPackageMessage".into()),
        message_version: Some("v1".into()),
        received_at: Utc::now(),
        fate,
    }
}

fn solver_run(name: &str) -> ResourceRef {
    ResourceRef {
        kind: ResourceKind::SolverRun,
        namespace: "thoth-backend".into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn migrating_an_empty_database_creates_it_and_every_table() {
    let db = TestDatabase::unique().unwrap();
    // The database does not exist yet: the store creates it, then migrates.
    let store = db.store().await.unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.schema_version, Some(latest_version()));
    let tables: Vec<&str> = status.table_rows.iter().map(|(t, _)| t.as_str()).collect();
    for table in [
        "package_index",
        "package_version",
        "artifact",
        "solver_outcome",
        "security_indicator_outcome",
        "rearm",
        "advice_run",
        "advice_unresolved",
        "workflow_attempt",
        "message_ledger",
        "outbox",
    ] {
        assert!(tables.contains(&table), "{table} missing from {tables:?}");
    }
    assert!(status.table_rows.iter().all(|(_, n)| *n == 0));
    assert!(status.to_string().contains("(up to date)"), "{status}");
}

#[tokio::test]
async fn status_of_an_unmigrated_database_says_to_migrate() {
    let db = TestDatabase::create().await.unwrap();
    let store = Store::connect(&db.config()).await.unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.schema_version, None);
    assert!(
        status.to_string().contains("run `thoth-operator migrate`"),
        "{status}"
    );
    store.close().await;
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    let (_db, store, pool) = fresh().await;
    store
        .ensure_versions(&[key("flask", "2.0.0")])
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied,
        thoth_operator::store::MIGRATOR.iter().count() as i64
    );
    assert_eq!(count(&pool, "package_version").await, 1);
}

#[tokio::test]
async fn two_replicas_starting_at_once_on_a_missing_database_both_succeed() {
    let db = TestDatabase::unique().unwrap();
    let config = db.config();
    let (a, b, c) = tokio::join!(
        Store::open(&config),
        Store::open(&config),
        Store::open(&config)
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(
        a.status().await.unwrap().schema_version,
        Some(latest_version())
    );
}

#[tokio::test]
async fn created_replaces_duplicate_in_the_ledger_and_nothing_else_replaces_a_fate() {
    let (_db, store, _pool) = fresh().await;
    let fate_at = |offset| {
        let store = store.clone();
        async move {
            let topic = ledger(offset, Fate::Skipped { reason: "r".into() }).topic;
            let entry = store.ledger_entry(&topic, 0, offset).await.unwrap();
            entry.expect("a ledger row").fate
        }
    };
    // Two replicas raced on message 9: the one that only found the resource committed first.
    let found = Fate::Duplicate(solver_run("flask-a"));
    let made = Fate::Created(solver_run("flask-a"));
    assert_eq!(
        store
            .record_ledger(&[ledger(9, found.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_ledger(&[ledger(9, made.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(fate_at(9).await, made);
    // Neither a later duplicate nor any other fate replaces it.
    assert_eq!(
        store
            .record_ledger(&[ledger(9, found.clone())])
            .await
            .unwrap(),
        0
    );
    let skipped = Fate::Skipped {
        reason: "later".into(),
    };
    assert_eq!(
        store
            .record_ledger(&[ledger(9, skipped.clone())])
            .await
            .unwrap(),
        0
    );
    assert_eq!(fate_at(9).await, made);
    // Nor does created replace anything but duplicate.
    assert_eq!(
        store
            .record_ledger(&[ledger(10, skipped.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_ledger(&[ledger(10, made.clone())])
            .await
            .unwrap(),
        0
    );
    assert_eq!(fate_at(10).await, skipped);
    // Within one batch the same order holds, whatever the caller's order.
    let batch = [ledger(11, found.clone()), ledger(11, made.clone())];
    assert_eq!(store.record_ledger(&batch).await.unwrap(), 1);
    assert_eq!(fate_at(11).await, made);
    let batch = [ledger(12, skipped.clone()), ledger(12, found.clone())];
    assert_eq!(store.record_ledger(&batch).await.unwrap(), 1);
    assert_eq!(fate_at(12).await, skipped);
}

#[tokio::test]
async fn a_ledger_row_is_written_once_and_keeps_its_first_fate() {
    let (_db, store, pool) = fresh().await;
    let rows = vec![
        ledger(1, Fate::Created(solver_run("flask-2-0-0-abc"))),
        ledger(2, Fate::Duplicate(solver_run("flask-2-0-0-abc"))),
        ledger(
            3,
            Fate::FlagSet {
                flag: "is_missing".into(),
            },
        ),
        ledger(
            4,
            Fate::Skipped {
                reason: "already solved".into(),
            },
        ),
        ledger(
            5,
            Fate::DeadLettered {
                reason: "unknown message version v9".into(),
            },
        ),
    ];
    assert_eq!(store.record_ledger(&rows).await.unwrap(), 5);
    let before: Vec<(i64, chrono::DateTime<Utc>)> =
        sqlx::query_as("SELECT kafka_offset, recorded_at FROM message_ledger ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();

    // Redelivery, even with a different decision, changes nothing.
    let mut redelivered = rows.clone();
    redelivered[0].fate = Fate::Skipped {
        reason: "second thoughts".into(),
    };
    assert_eq!(store.record_ledger(&redelivered).await.unwrap(), 0);
    let after: Vec<(i64, chrono::DateTime<Utc>)> =
        sqlx::query_as("SELECT kafka_offset, recorded_at FROM message_ledger ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(before, after);

    for row in &rows {
        let stored = store
            .ledger_entry(&row.topic, row.partition, row.offset)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.fate, row.fate);
        assert_eq!(stored.message_type, row.message_type);
    }
    assert!(store.ledger_entry("other", 0, 1).await.unwrap().is_none());
    let status = store.status().await.unwrap();
    assert_eq!(status.ledger_by_fate.len(), 5);
    assert!(status.ledger_by_fate.iter().all(|(_, n)| *n == 1));
}

#[tokio::test]
async fn a_failed_solve_counts_as_solved_until_re_armed() {
    let (_db, store, pool) = fresh().await;
    let failed = solver_outcome("tensorflow", SolverStatus::Unsolvable);
    let k = failed.version.clone();
    assert!(!store.is_solved(&k, SOLVER).await.unwrap());
    assert_eq!(
        store
            .record_solver_outcomes(std::slice::from_ref(&failed))
            .await
            .unwrap(),
        1
    );
    assert!(store.is_solved(&k, SOLVER).await.unwrap());
    assert!(!store.is_solved(&k, "solver-rhel-9-py39").await.unwrap());

    // Redelivered, or a later success: the failure stands ("fail only once").
    let recorded = store.solver_outcome(&k, SOLVER).await.unwrap().unwrap();
    let success = SolverOutcome {
        status: SolverStatus::Success,
        ..failed.clone()
    };
    assert_eq!(
        store
            .record_solver_outcomes(&[failed.clone(), success.clone()])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.solver_outcome(&k, SOLVER).await.unwrap().unwrap(),
        recorded
    );
    assert_eq!(recorded.status, SolverStatus::Unsolvable);
    assert_eq!(recorded.duration, Some(TimeDelta::seconds(12)));

    // Re-arming is explicit and recorded; then the version may be solved again.
    let removed = store
        .rearm_solver(&k, SOLVER, "storages#2308: wrongly unsolvable")
        .await
        .unwrap();
    assert_eq!(removed.map(|r| r.status), Some(SolverStatus::Unsolvable));
    assert!(!store.is_solved(&k, SOLVER).await.unwrap());
    let reason: String = sqlx::query_scalar("SELECT reason FROM rearm")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reason, "storages#2308: wrongly unsolvable");
    assert_eq!(store.rearm_solver(&k, SOLVER, "again").await.unwrap(), None);
    assert_eq!(store.record_solver_outcomes(&[success]).await.unwrap(), 1);
    assert_eq!(
        store
            .solver_outcome(&k, SOLVER)
            .await
            .unwrap()
            .unwrap()
            .status,
        SolverStatus::Success
    );
}

#[tokio::test]
async fn security_indicator_errors_count_as_analysed_and_no_sdist_clears_the_flag() {
    let (_db, store, _pool) = fresh().await;
    let errored = SecurityIndicatorOutcome {
        version: key("numpy", "1.26.0"),
        status: SecurityIndicatorStatus::Error,
        document_id: Some("security-indicator-1".into()),
        duration: None,
    };
    let no_sdist = SecurityIndicatorOutcome {
        version: key("torch", "2.1.0"),
        status: SecurityIndicatorStatus::NoSourceDistribution,
        document_id: None,
        duration: Some(TimeDelta::milliseconds(1)),
    };
    assert_eq!(
        store
            .record_security_indicator_outcomes(&[errored.clone(), no_sdist.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .record_security_indicator_outcomes(&[errored.clone(), no_sdist.clone()])
            .await
            .unwrap(),
        0
    );
    assert!(store.is_analysed(&errored.version).await.unwrap());
    assert!(!store.is_analysed(&key("numpy", "2.0.0")).await.unwrap());
    let torch = store.version(&no_sdist.version).await.unwrap().unwrap();
    assert!(!torch.provides_source_distro);
    let removed = store
        .rearm_security_indicator(&errored.version, "bandit upgraded")
        .await
        .unwrap();
    assert_eq!(
        removed.map(|r| r.status),
        Some(SecurityIndicatorStatus::Error)
    );
    assert!(!store.is_analysed(&errored.version).await.unwrap());
}

#[tokio::test]
async fn every_flag_is_set_once_and_an_identical_set_changes_nothing() {
    let (_db, store, pool) = fresh().await;
    let k = key("Django", "4.2.0");
    assert!(!store.is_missing(&k).await.unwrap());
    let updates = [
        FlagUpdate {
            version: k.clone(),
            flag: VersionFlag::IsMissing,
            value: true,
        },
        FlagUpdate {
            version: k.clone(),
            flag: VersionFlag::ProvidesSourceDistro,
            value: false,
        },
    ];
    assert_eq!(store.set_flags(&updates).await.unwrap(), 1);
    let record = store.version(&k).await.unwrap().unwrap();
    assert!(record.is_missing && !record.provides_source_distro && !record.index_enabled);
    let stamp = || async {
        sqlx::query_scalar::<_, chrono::DateTime<Utc>>("SELECT updated_at FROM package_version")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = stamp().await;
    assert_eq!(store.set_flags(&updates).await.unwrap(), 0);
    assert_eq!(stamp().await, before);
    assert_eq!(count(&pool, "package_version").await, 1);

    // Last update of a flag in a batch wins; the other flag is left alone.
    let flip = [
        FlagUpdate {
            version: k.clone(),
            flag: VersionFlag::IsMissing,
            value: true,
        },
        FlagUpdate {
            version: k.clone(),
            flag: VersionFlag::IsMissing,
            value: false,
        },
    ];
    assert_eq!(store.set_flags(&flip).await.unwrap(), 1);
    let record = store.version(&k).await.unwrap().unwrap();
    assert!(!record.is_missing && !record.provides_source_distro);

    // Index enabled flag.
    let index = IndexUrl::parse("https://pypi.python.org/simple/").unwrap();
    assert!(store.set_index_enabled(&index, true).await.unwrap());
    assert!(!store.set_index_enabled(&index, true).await.unwrap());
    assert_eq!(
        store.indexes(true).await.unwrap(),
        vec![(index.clone(), true)]
    );
    let other = IndexUrl::parse("https://download.pytorch.org/whl").unwrap();
    assert!(store.set_index_enabled(&other, false).await.unwrap());
    assert_eq!(
        store.indexes(false).await.unwrap(),
        vec![(other, false), (index.clone(), true)]
    );
    assert!(store.version(&k).await.unwrap().unwrap().index_enabled);

    // Artifact present flag.
    let sha = Sha256::parse(&"AB".repeat(32)).unwrap();
    let artifact = ArtifactUpdate {
        version: k.clone(),
        sha256: sha.clone(),
        artifact_name: Some("Django-4.2.0-py3-none-any.whl".into()),
        present: true,
    };
    assert_eq!(
        store
            .record_artifacts(std::slice::from_ref(&artifact))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_artifacts(std::slice::from_ref(&artifact))
            .await
            .unwrap(),
        0
    );
    let gone = ArtifactUpdate {
        present: false,
        artifact_name: None,
        ..artifact
    };
    assert_eq!(
        store
            .record_artifacts(std::slice::from_ref(&gone))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.record_artifacts(&[gone]).await.unwrap(), 0);
    assert_eq!(store.artifact_present(&k, &sha).await.unwrap(), Some(false));

    let status = store.status().await.unwrap();
    let flag = |label: &str| {
        status
            .flags
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, n)| *n)
    };
    assert_eq!(flag("package_index.enabled"), Some(1));
    assert_eq!(flag("package_version.is_missing"), Some(0));
    assert_eq!(
        flag("package_version.provides_source_distro = false"),
        Some(1)
    );
    assert_eq!(flag("artifact.present = false"), Some(1));
    assert_eq!(store.versions_of(&k.name).await.unwrap().len(), 1);
}

#[tokio::test]
async fn advice_runs_keep_their_unresolved_packages_until_re_run() {
    let (_db, store, _pool) = fresh().await;
    let run = AdviceRun {
        document_id: "adviser-210101000000-abc".into(),
        source_type: Some("KEBECHET".into()),
        error: true,
        need_re_run: true,
        re_run_document_id: None,
        duration: Some(TimeDelta::seconds(30)),
        unresolved: vec![
            AdviceUnresolved {
                name: PackageName::parse("flask").unwrap(),
                version: Some(PackageVersion::parse("2.0.0").unwrap()),
                index: Some(IndexUrl::parse(PYPI).unwrap()),
            },
            AdviceUnresolved {
                name: PackageName::parse("Werkzeug").unwrap(),
                version: None,
                index: None,
            },
        ],
    };
    assert!(store.record_advice_run(&run).await.unwrap());
    assert!(!store.record_advice_run(&run).await.unwrap());
    let stored = store.advice_run(&run.document_id).await.unwrap().unwrap();
    assert_eq!(stored, run);
    let awaiting = store
        .advice_runs_awaiting_rerun(Some("KEBECHET"))
        .await
        .unwrap();
    assert_eq!(awaiting.len(), 1);
    let names: Vec<&str> = awaiting[0].unresolved.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["flask", "werkzeug"]);
    assert!(
        store
            .advice_runs_awaiting_rerun(Some("USER"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .set_advice_re_run(&run.document_id, "adviser-210101000001-def")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_advice_re_run(&run.document_id, "adviser-210101000001-def")
            .await
            .unwrap()
    );
    assert!(
        store
            .advice_runs_awaiting_rerun(None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .set_advice_need_re_run(&run.document_id, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_advice_need_re_run(&run.document_id, false)
            .await
            .unwrap()
    );
}

fn attempt(n: u32, phase: WorkflowPhase) -> WorkflowAttempt {
    WorkflowAttempt {
        resource_kind: ResourceKind::SolverRun,
        resource_namespace: "thoth-infra".into(),
        resource_name: "flask-2-0-0-abc".into(),
        attempt: n,
        workflow_namespace: "thoth-backend".into(),
        workflow_name: format!("flask-2-0-0-abc-{n}"),
        phase,
        created_at: Some(Utc::now()),
        started_at: None,
        finished_at: None,
        message: None,
        result_document_id: None,
    }
}

#[tokio::test]
async fn workflow_attempts_are_recorded_and_a_finished_phase_stays() {
    let (_db, store, pool) = fresh().await;
    let pending = attempt(1, WorkflowPhase::Pending);
    assert_eq!(
        store.record_attempt(&pending).await.unwrap(),
        AttemptWrite::Inserted
    );
    assert_eq!(
        store.record_attempt(&pending).await.unwrap(),
        AttemptWrite::Unchanged
    );
    let running = WorkflowAttempt {
        phase: WorkflowPhase::Running,
        started_at: Some(Utc::now()),
        ..pending.clone()
    };
    assert_eq!(
        store.record_attempt(&running).await.unwrap(),
        AttemptWrite::Updated
    );
    // A stale Pending observation does not move it back.
    assert_eq!(
        store.record_attempt(&pending).await.unwrap(),
        AttemptWrite::Unchanged
    );
    let failed = WorkflowAttempt {
        phase: WorkflowPhase::Failed,
        finished_at: Some(Utc::now()),
        message: Some("x".repeat(5000)),
        ..running.clone()
    };
    assert_eq!(
        store.record_attempt(&failed).await.unwrap(),
        AttemptWrite::Updated
    );
    assert_eq!(
        store.record_attempt(&running).await.unwrap(),
        AttemptWrite::Unchanged
    );
    let second = attempt(2, WorkflowPhase::Succeeded);
    let second = WorkflowAttempt {
        result_document_id: Some("solver-flask-1".into()),
        ..second
    };
    assert_eq!(
        store.record_attempt(&second).await.unwrap(),
        AttemptWrite::Inserted
    );

    let attempts = store
        .attempts(ResourceKind::SolverRun, "thoth-infra", "flask-2-0-0-abc")
        .await
        .unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].phase, WorkflowPhase::Failed);
    assert_eq!(
        attempts[0].message.as_ref().map(|m| m.chars().count()),
        Some(2000)
    );
    assert!(attempts[0].started_at.is_some());
    assert_eq!(
        attempts[1].result_document_id.as_deref(),
        Some("solver-flask-1")
    );
    assert_eq!(count(&pool, "workflow_attempt").await, 2);
}

#[tokio::test]
async fn the_outbox_commits_with_the_decision_and_hands_each_message_to_one_publisher() {
    let (_db, store, pool) = fresh().await;
    let message = |i: usize| OutboxMessage {
        dedup_key: format!("SolvedPackage/{SOLVER}/flask/{i}"),
        topic: "thoth.solved-package".into(),
        key: Some(format!("flask-{i}")),
        payload: serde_json::json!({"package_name": "flask", "package_version": i.to_string()}),
    };

    // A rolled-back decision leaves neither its ledger row nor its message.
    let mut tx = store.begin().await.unwrap();
    let recorded = tx
        .record_ledger(&[ledger(7, Fate::Created(solver_run("flask")))])
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    assert_eq!(tx.enqueue(&[message(0)]).await.unwrap(), 1);
    tx.rollback().await.unwrap();
    assert_eq!(count(&pool, "outbox").await, 0);
    assert_eq!(count(&pool, "message_ledger").await, 0);

    let mut tx = store.begin().await.unwrap();
    let recorded = tx
        .record_ledger(&[ledger(7, Fate::Created(solver_run("flask")))])
        .await
        .unwrap();
    assert_eq!(recorded, 1, "the rolled-back row is not there any more");
    let batch: Vec<OutboxMessage> = (0..10).map(message).collect();
    assert_eq!(tx.enqueue(&batch).await.unwrap(), 10);
    tx.commit().await.unwrap();
    assert_eq!(store.enqueue(&batch).await.unwrap(), 0);

    // Two publishers claim at once and get disjoint sets.
    let (a, b) = tokio::join!(
        store.claim_outbox(6, Duration::from_secs(60)),
        store.claim_outbox(6, Duration::from_secs(60))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let ids: HashSet<i64> = a.iter().chain(b.iter()).map(|m| m.id).collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(a.len() + b.len(), 10);
    assert!(
        store
            .claim_outbox(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(a[0].attempts, 1);
    assert_eq!(a[0].payload["package_name"], "flask");

    // Released messages come back with their attempt count; published ones never do.
    assert!(store.release_outbox(&a[0], "broker down").await.unwrap());
    let published: Vec<i64> = a.iter().skip(1).chain(b.iter()).map(|m| m.id).collect();
    assert_eq!(store.mark_published(&published).await.unwrap(), 9);
    assert_eq!(store.mark_published(&published).await.unwrap(), 0);
    let again = store
        .claim_outbox(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (a[0].id, 2));
    // An expired lease makes a message claimable again.
    assert!(store.release_outbox(&again[0], "retry").await.unwrap());
    let short = store
        .claim_outbox(1, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(short.len(), 1);
    sqlx::query("SELECT pg_sleep(0.01)")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_outbox(1, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.status().await.unwrap().outbox_unpublished, 1);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_reason_and_nothing_is_written() {
    let (_db, store, pool) = fresh().await;

    // A name over the column limit in the middle of a batch.
    let mut rows: Vec<LedgerEntry> = (0..3)
        .map(|i| ledger(i, Fate::Created(solver_run("ok"))))
        .collect();
    rows[1].fate = Fate::Created(solver_run(&"n".repeat(254)));
    let err = store.record_ledger(&rows).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource name exceeds 253 characters (it has 254)"
    );
    assert_eq!(count(&pool, "message_ledger").await, 0);

    // A solver name over its limit: no outcome and no version row either.
    let mut outcomes = vec![solver_outcome("flask", SolverStatus::Success)];
    outcomes.push(SolverOutcome {
        solver: "s".repeat(64),
        ..solver_outcome("django", SolverStatus::Error)
    });
    let err = store.record_solver_outcomes(&outcomes).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLong {
                field: "solver name",
                max: 63,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(&pool, "package_version").await, 0);

    // A negative duration.
    let negative = SolverOutcome {
        duration: Some(TimeDelta::seconds(-3)),
        ..solver_outcome("flask", SolverStatus::Success)
    };
    let err = store.record_solver_outcomes(&[negative]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "duration must not be negative (duration is -3000 ms)"
    );

    // Text PostgreSQL cannot store, and bytes that are not UTF-8.
    let err = store
        .record_ledger(&[ledger(
            9,
            Fate::FlagSet {
                flag: "is\0missing".into(),
            },
        )])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NulCharacter { field: "flag" }),
        "{err}"
    );
    let err = thoth_operator::store::text_from_bytes("message type", b"Unresolved\xffPackage")
        .unwrap_err();
    assert!(
        err.to_string().contains("message type is not valid UTF-8"),
        "{err}"
    );
    let err = store
        .enqueue(&[OutboxMessage {
            dedup_key: "k".into(),
            topic: "t".into(),
            key: None,
            payload: serde_json::json!({"a": "b\u{0}"}),
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NulCharacter { .. }), "{err}");

    // Negative offsets and attempt 0.
    let err = store
        .record_ledger(&[ledger(-1, Fate::Skipped { reason: "r".into() })])
        .await;
    assert!(matches!(
        err,
        Err(StoreError::OutOfRange {
            field: "offset",
            ..
        })
    ));
    let err = store
        .record_attempt(&attempt(0, WorkflowPhase::Pending))
        .await;
    assert!(matches!(
        err,
        Err(StoreError::OutOfRange {
            field: "attempt number",
            ..
        })
    ));

    // A failing statement inside a transaction rolls back the rows written before it.
    let mut tx = store.begin().await.unwrap();
    tx.record_ledger(&[ledger(10, Fate::Skipped { reason: "r".into() })])
        .await
        .unwrap();
    let bad = tx.rearm_solver(&key("flask", "1.0.0"), SOLVER, "").await;
    assert!(matches!(bad, Err(StoreError::Empty { .. })));
    drop(tx);
    assert_eq!(count(&pool, "message_ledger").await, 0);
    let status = store.status().await.unwrap();
    assert!(status.table_rows.iter().all(|(_, n)| *n == 0), "{status}");
}

#[tokio::test]
async fn statistics_count_each_query() {
    let (_db, store, _pool) = fresh().await;
    store
        .ensure_versions(&[key("flask", "1.0.0")])
        .await
        .unwrap();
    store
        .is_solved(&key("flask", "1.0.0"), SOLVER)
        .await
        .unwrap();
    store
        .is_solved(&key("flask", "1.0.0"), SOLVER)
        .await
        .unwrap();
    let stats = store.query_stats();
    let calls = |name: &str| stats.iter().find(|s| s.name == name).map(|s| s.calls);
    assert_eq!(calls("outcomes.solver_outcome"), Some(2));
    assert_eq!(calls("packages.ensure_versions"), Some(1));
    assert_eq!(calls("commit"), Some(1));
    store.close().await;
}

#[tokio::test]
async fn the_committed_schema_diagram_matches_the_migrations() {
    let (_db, store, _pool) = fresh().await;
    let live = store.schema(SchemaFormat::Markdown).await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        live == committed,
        "docs/schema.md is out of date with migrations/. Regenerate it against a fresh database:\n  \
         DATABASE_URL=postgres://postgres@127.0.0.1:5432/thoth_schema cargo run -- migrate && \
         DATABASE_URL=postgres://postgres@127.0.0.1:5432/thoth_schema cargo run -- db schema \
         --format markdown > docs/schema.md\n--- live schema ---\n{live}"
    );
    let dot = store.schema(SchemaFormat::Dot).await.unwrap();
    assert!(
        dot.contains("package_version -> package_index [label=\"index_id\"]"),
        "{dot}"
    );
    let mermaid = store.schema(SchemaFormat::Mermaid).await.unwrap();
    assert!(
        mermaid.contains("package_index ||--o{ package_version : \"index_id\""),
        "{mermaid}"
    );
}

/// The Thoth-style switches work on the real binary: every statement logged
/// (migrations included), and statistics per query at shutdown.
#[tokio::test]
async fn debug_queries_and_statistics_are_logged_by_the_binary() {
    use sqlx::ConnectOptions;
    let db = TestDatabase::create().await.unwrap();
    let url = db.options.to_url_lossy().to_string();
    let run = |args: &'static [&'static str], debug: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_thoth-operator"));
        command
            .args(["--log-format", "json"])
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "info");
        if debug {
            command
                .env("THOTH_STORAGES_DEBUG_QUERIES", "1")
                .env("THOTH_STORAGES_LOG_STATS", "1");
        } else {
            command
                .env_remove("THOTH_STORAGES_DEBUG_QUERIES")
                .env_remove("THOTH_STORAGES_LOG_STATS");
        }
        command.output()
    };
    let log_lines = |stderr: &str| -> Vec<serde_json::Value> {
        stderr
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };

    let migrate = run(&["migrate"], true).await.unwrap();
    let stderr = String::from_utf8_lossy(&migrate.stderr);
    assert!(migrate.status.success(), "migrate failed: {stderr}");
    let statements: Vec<String> = log_lines(&stderr)
        .iter()
        .filter(|line| line["target"] == "sqlx::query")
        .filter_map(|line| line["fields"]["db.statement"].as_str().map(str::to_string))
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.contains("CREATE TABLE message_ledger")),
        "the migration's statements are not logged:\n{stderr}"
    );

    let status = run(&["db", "status"], true).await.unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "db status failed: {stderr}");
    let lines = log_lines(&stderr);
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"store statement"),
        "no named statement logged:\n{stderr}"
    );
    let statistics: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "store query statistics")
        .collect();
    assert!(
        statistics
            .iter()
            .any(|line| line["fields"]["query"] == "status.schema_version"
                && line["fields"]["calls"] == 1),
        "no statistics at shutdown:\n{stderr}"
    );

    let quiet = run(&["db", "status"], false).await.unwrap();
    let quiet_stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(quiet.status.success(), "db status failed: {quiet_stderr}");
    assert!(
        log_lines(&quiet_stderr).is_empty(),
        "logs without the switches:\n{quiet_stderr}"
    );
    assert!(String::from_utf8_lossy(&quiet.stdout).contains("(up to date)"));
}

// ---- Review: concurrency, idempotence, identity and failure handling ----

fn ledger_on(topic: &str, offset: i64) -> LedgerEntry {
    LedgerEntry {
        topic: topic.into(),
        ..ledger(offset, Fate::Created(solver_run(&format!("r-{offset}"))))
    }
}

/// Two replicas record the same ledger rows at once, one batch in the opposite order of the other:
/// both succeed, every row is written once.
#[tokio::test]
async fn replicas_recording_overlapping_ledger_batches_in_opposite_orders_both_succeed() {
    let (db, first, pool) = fresh().await;
    let second = db.store().await.unwrap();
    for round in 0..5_i64 {
        let forward: Vec<LedgerEntry> =
            (0..400).map(|i| ledger_on("t", round * 1000 + i)).collect();
        let backward: Vec<LedgerEntry> = forward.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(
            first.record_ledger(&forward),
            second.record_ledger(&backward)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a + b, 400, "round {round}");
    }
    assert_eq!(count(&pool, "message_ledger").await, 2000);

    // Sorting the batch keeps the caller's first fate for a key repeated within it.
    let twice = [
        ledger(
            1,
            Fate::Skipped {
                reason: "first".into(),
            },
        ),
        ledger(
            1,
            Fate::DeadLettered {
                reason: "second".into(),
            },
        ),
    ];
    assert_eq!(first.record_ledger(&twice).await.unwrap(), 1);
    let kept = first
        .ledger_entry(&twice[0].topic, 0, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.fate, twice[0].fate);
}

#[tokio::test]
async fn replicas_enqueueing_overlapping_outbox_batches_in_opposite_orders_both_succeed() {
    let (db, first, pool) = fresh().await;
    let second = db.store().await.unwrap();
    let message = |i: i64| OutboxMessage {
        dedup_key: format!("k/{i}"),
        topic: "thoth.solved-package".into(),
        key: None,
        payload: serde_json::json!({"i": i}),
    };
    for round in 0..5_i64 {
        let forward: Vec<OutboxMessage> = (0..400).map(|i| message(round * 1000 + i)).collect();
        let backward: Vec<OutboxMessage> = forward.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(first.enqueue(&forward), second.enqueue(&backward));
        assert_eq!(a.unwrap() + b.unwrap(), 400, "round {round}");
    }
    assert_eq!(count(&pool, "outbox").await, 2000);
    // Within one batch the queue keeps the caller's order, whatever the order of the dedup keys.
    let everything = first
        .claim_outbox(5000, Duration::from_secs(60))
        .await
        .unwrap();
    let ids: Vec<i64> = everything.iter().map(|m| m.id).collect();
    assert_eq!(first.mark_published(&ids).await.unwrap(), 2000);
    let unsorted: Vec<OutboxMessage> = ["z", "a", "m"]
        .into_iter()
        .map(|k| OutboxMessage {
            dedup_key: k.into(),
            ..message(0)
        })
        .collect();
    assert_eq!(first.enqueue(&unsorted).await.unwrap(), 3);
    let claimed = first
        .claim_outbox(10, Duration::from_secs(60))
        .await
        .unwrap();
    let keys: Vec<&str> = claimed.iter().map(|m| m.dedup_key.as_str()).collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[tokio::test]
async fn replicas_recording_overlapping_outcomes_and_flags_in_opposite_orders_both_succeed() {
    let (db, first, pool) = fresh().await;
    let second = db.store().await.unwrap();
    for round in 0..3 {
        let outcomes: Vec<SolverOutcome> = (0..300)
            .map(|i| SolverOutcome {
                version: key(&format!("p{round}-{i}"), "1.0"),
                ..solver_outcome("x", SolverStatus::Success)
            })
            .collect();
        let reversed: Vec<SolverOutcome> = outcomes.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(
            first.record_solver_outcomes(&outcomes),
            second.record_solver_outcomes(&reversed)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 300);
        let flags: Vec<FlagUpdate> = outcomes
            .iter()
            .map(|o| FlagUpdate {
                version: o.version.clone(),
                flag: VersionFlag::IsMissing,
                value: true,
            })
            .collect();
        let reversed: Vec<FlagUpdate> = flags.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(first.set_flags(&flags), second.set_flags(&reversed));
        assert_eq!(a.unwrap() + b.unwrap(), 300);
    }
    assert_eq!(count(&pool, "solver_outcome").await, 900);
}

/// Out-of-order observations of one attempt from two writers always end at the finished phase.
#[tokio::test]
async fn racing_running_and_succeeded_observations_end_succeeded() {
    let (db, first, _pool) = fresh().await;
    let second = db.store().await.unwrap();
    for n in 1..=20 {
        let running = WorkflowAttempt {
            started_at: Some(Utc::now()),
            ..attempt(n, WorkflowPhase::Running)
        };
        let succeeded = WorkflowAttempt {
            finished_at: Some(Utc::now()),
            ..running.clone()
        };
        let succeeded = WorkflowAttempt {
            phase: WorkflowPhase::Succeeded,
            ..succeeded
        };
        let (a, b) = tokio::join!(
            first.record_attempt(&running),
            second.record_attempt(&succeeded)
        );
        a.unwrap();
        b.unwrap();
    }
    let attempts = first
        .attempts(ResourceKind::SolverRun, "thoth-infra", "flask-2-0-0-abc")
        .await
        .unwrap();
    assert_eq!(attempts.len(), 20);
    assert!(
        attempts
            .iter()
            .all(|a| a.phase == WorkflowPhase::Succeeded && a.finished_at.is_some())
    );
}

/// A statement that failed inside a transaction aborts it in PostgreSQL; committing it afterwards
/// must not report success, or the caller would commit a Kafka offset for a ledger row that is gone.
#[tokio::test]
async fn committing_a_transaction_after_a_failed_statement_is_an_error() {
    let (_db, store, pool) = fresh().await;
    let mut tx = store.begin().await.unwrap();
    tx.record_ledger(&[ledger(1, Fate::Skipped { reason: "r".into() })])
        .await
        .unwrap();
    // Valid input, but a constraint the server enforces makes the statement fail.
    let outcome = solver_outcome("flask", SolverStatus::Success);
    sqlx::query("ALTER TABLE solver_outcome ADD CONSTRAINT review_no_rows CHECK (false)")
        .execute(&pool)
        .await
        .unwrap();
    let failed = tx.record_solver_outcomes(&[outcome]).await;
    assert!(
        matches!(
            failed,
            Err(StoreError::Database {
                query: "outcomes.record_solver",
                ..
            })
        ),
        "{failed:?}"
    );
    let committed = tx.commit().await;
    assert!(
        matches!(
            committed,
            Err(StoreError::TransactionAborted {
                query: "outcomes.record_solver"
            })
        ),
        "{committed:?}"
    );
    assert_eq!(count(&pool, "message_ledger").await, 0);
    // The connection went back to the pool usable.
    for offset in 2..10 {
        store
            .record_ledger(&[ledger(offset, Fate::Skipped { reason: "r".into() })])
            .await
            .unwrap();
    }
    assert_eq!(count(&pool, "message_ledger").await, 8);
}

/// A URL whose canonical form would be longer than what was sent (percent-encoding) never
/// becomes an `IndexUrl`: the index URL's rule admits only characters that need no encoding,
/// so the canonical form always fits the `package_index.url` column.
#[test]
fn an_index_url_longer_than_its_column_once_canonical_is_refused_at_the_boundary() {
    let raw = format!("https://example.org/{}", "é".repeat(100));
    assert!(raw.chars().count() <= 500);
    let err = IndexUrl::parse(&raw).unwrap_err();
    assert!(err.to_string().contains("%XX escapes"), "{err}");
    let longest = format!("https://example.org/{}", "a".repeat(480));
    assert_eq!(IndexUrl::parse(&longest).unwrap().as_str(), longest);
}

/// Empty batches are no-ops that do not even reach the server.
#[tokio::test]
async fn empty_batches_do_not_reach_the_server() {
    let (_db, store, _pool) = fresh().await;
    assert_eq!(store.record_ledger(&[]).await.unwrap(), 0);
    assert_eq!(store.enqueue(&[]).await.unwrap(), 0);
    assert_eq!(store.record_solver_outcomes(&[]).await.unwrap(), 0);
    assert_eq!(
        store.record_security_indicator_outcomes(&[]).await.unwrap(),
        0
    );
    assert_eq!(store.set_flags(&[]).await.unwrap(), 0);
    assert_eq!(store.record_artifacts(&[]).await.unwrap(), 0);
    assert_eq!(store.ensure_versions(&[]).await.unwrap(), 0);
    assert_eq!(store.mark_published(&[]).await.unwrap(), 0);
    let stats = store.query_stats();
    assert!(stats.is_empty(), "{stats:?}");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.record_ledger(&[]).await.unwrap(), 0);
    assert_eq!(tx.enqueue(&[]).await.unwrap(), 0);
    assert_eq!(tx.record_solver_outcomes(&[]).await.unwrap(), 0);
    assert_eq!(tx.set_flags(&[]).await.unwrap(), 0);
    assert_eq!(tx.record_artifacts(&[]).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let names: Vec<&str> = store.query_stats().iter().map(|s| s.name).collect();
    assert_eq!(names, ["begin", "commit"]);
}

/// Issue 8, row 1 in the store: two spellings of one release (`1.0beta2`, then `1.0b2`, in
/// one batch and in later ones) are one `package_version` row, keyed by the normal form, that
/// keeps the first spelling (`version_as_sent`, what the solver asks the index for); a solved
/// outcome recorded under one spelling is found under the other.
#[tokio::test]
async fn two_spellings_of_one_release_are_one_row_that_keeps_the_first_spelling() {
    let (_db, store, pool) = fresh().await;
    store
        .ensure_versions(&[
            key("textdistance", "1.0beta2"),
            key("TextDistance", "1.0B2"),
        ])
        .await
        .unwrap();
    store
        .ensure_versions(&[key("textdistance", "1.0b2")])
        .await
        .unwrap();
    store
        .ensure_versions(&[key("textdistance", "1.0-beta.2")])
        .await
        .unwrap();
    assert_eq!(count(&pool, "package_version").await, 1);
    let (normal, as_sent): (String, String) =
        sqlx::query_as("SELECT package_version, version_as_sent FROM package_version")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((normal.as_str(), as_sent.as_str()), ("1.0b2", "1.0beta2"));
    let versions = store
        .versions_of(&PackageName::parse("textdistance").unwrap())
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].key.version.as_sent(), "1.0beta2");
    assert_eq!(versions[0].key.version.as_str(), "1.0b2");
    store
        .record_solver_outcomes(&[SolverOutcome {
            version: key("textdistance", "1.0-beta.2"),
            ..solver_outcome("x", SolverStatus::Error)
        }])
        .await
        .unwrap();
    assert!(
        store
            .is_solved(&key("textdistance", "1.0b2"), SOLVER)
            .await
            .unwrap()
    );
    assert_eq!(count(&pool, "package_version").await, 1);
}

/// Every column that holds a constrained value is at least as wide as the longest value its
/// rule admits (`store::limits`, which come from the rules), read from the migrated database
/// itself (information_schema), so that no value the parser accepts can fail in PostgreSQL.
/// Each constrained value is found in at least one column, so a renamed column cannot make
/// the check vacuous.
#[tokio::test]
async fn every_column_of_a_constrained_value_is_as_wide_as_its_rule_allows() {
    use thoth_operator::package::{
        DocumentIdRule, Domain, IndexUrlRule, NamespaceRule, PackageNameRule, PackageVersionRule,
        SolverNameRule,
    };
    use thoth_operator::store::limits;

    // The limits are the rules' (a normal form is never longer than the rule's limit).
    assert_eq!(limits::PACKAGE_NAME, PackageNameRule::RULE.max_len);
    assert_eq!(limits::PACKAGE_VERSION, PackageVersionRule::RULE.max_len);
    assert_eq!(limits::VERSION_AS_SENT, PackageVersionRule::RULE.max_len);
    assert_eq!(limits::INDEX_URL, IndexUrlRule::RULE.max_len);
    assert_eq!(limits::SOLVER_NAME, SolverNameRule::RULE.max_len);
    assert_eq!(limits::DOCUMENT_ID, DocumentIdRule::RULE.max_len);
    assert_eq!(limits::NAMESPACE, NamespaceRule::RULE.max_len);

    let (_db, _store, pool) = fresh().await;
    let columns: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, character_maximum_length
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Which value each column holds, by its name.
    let value_of = |table: &str, column: &str| -> Option<(&'static str, usize)> {
        Some(match column {
            "url" if table == "package_index" => ("index URL", limits::INDEX_URL),
            "package_name" => ("package name", limits::PACKAGE_NAME),
            "package_version" => ("package version", limits::PACKAGE_VERSION),
            "version_as_sent" => ("package version as sent", limits::VERSION_AS_SENT),
            "solver_name" => ("solver name", limits::SOLVER_NAME),
            c if c == "document_id" || c.ends_with("_document_id") => {
                ("document id", limits::DOCUMENT_ID)
            }
            c if c.ends_with("namespace") => ("namespace", limits::NAMESPACE),
            "resource_name" | "workflow_name" => ("object name", limits::OBJECT_NAME),
            _ => return None,
        })
    };
    let mut seen = HashSet::new();
    for (table, column, width) in &columns {
        let Some((what, limit)) = value_of(table, column) else {
            continue;
        };
        seen.insert(what);
        let width = width.unwrap_or_else(|| panic!("{table}.{column} has no width"));
        assert!(
            width as usize >= limit,
            "{table}.{column} is VARCHAR({width}) but a {what} may have {limit} characters"
        );
    }
    for what in [
        "index URL",
        "package name",
        "package version",
        "package version as sent",
        "solver name",
        "document id",
        "namespace",
        "object name",
    ] {
        assert!(seen.contains(what), "no column holds a {what}: {columns:?}");
    }
}

#[tokio::test]
async fn identity_is_normalised_at_the_boundary() {
    let (_db, store, pool) = fresh().await;
    let spelled = |name: &str, index: &str| {
        VersionKey::new(
            PackageName::parse(name).unwrap(),
            PackageVersion::parse("6.0").unwrap(),
            IndexUrl::parse(index).unwrap(),
        )
    };
    let keys = [
        spelled("PyYAML", "https://pypi.org/simple"),
        spelled("pyyaml", "https://pypi.python.org/simple/"),
        spelled("py.yaml", "HTTPS://PYPI.ORG:443/simple"),
        spelled("Py_YAML", "https://pypi.org/simple#frag"),
    ];
    store.ensure_versions(&keys).await.unwrap();
    assert_eq!(count(&pool, "package_index").await, 1);
    assert_eq!(count(&pool, "package_version").await, 2);
    assert_eq!(
        store
            .record_solver_outcomes(&[SolverOutcome {
                version: keys[1].clone(),
                ..solver_outcome("x", SolverStatus::Error)
            }])
            .await
            .unwrap(),
        1
    );
    assert!(store.is_solved(&keys[0], SOLVER).await.unwrap());
}

#[tokio::test]
async fn a_second_outcome_waits_for_a_re_arm_and_re_arming_nothing_changes_nothing() {
    let (_db, store, pool) = fresh().await;
    let v = key("flask", "2.0");
    let never = store.rearm_solver(&v, SOLVER, "why").await.unwrap();
    assert!(never.is_none());
    assert!(
        store
            .rearm_security_indicator(&v, "why")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&pool, "rearm").await, 0);
    let first = SolverOutcome {
        version: v.clone(),
        ..solver_outcome("x", SolverStatus::Error)
    };
    let second = SolverOutcome {
        status: SolverStatus::Success,
        ..first.clone()
    };
    assert_eq!(
        store
            .record_solver_outcomes(std::slice::from_ref(&first))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_solver_outcomes(std::slice::from_ref(&second))
            .await
            .unwrap(),
        0
    );
    let kept = store.solver_outcome(&v, SOLVER).await.unwrap().unwrap();
    assert_eq!(kept.status, SolverStatus::Error);
    let removed = store
        .rearm_solver(&v, SOLVER, "retry")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.status, SolverStatus::Error);
    assert_eq!(store.record_solver_outcomes(&[second]).await.unwrap(), 1);
    let now = store.solver_outcome(&v, SOLVER).await.unwrap().unwrap();
    assert_eq!(now.status, SolverStatus::Success);
    assert_eq!(count(&pool, "rearm").await, 1);
}

/// Repeating every write identically changes no row, not even `updated_at`.
#[tokio::test]
async fn identical_writes_leave_updated_at_alone() {
    let (_db, store, pool) = fresh().await;
    let v = key("flask", "3.0");
    let flags = [FlagUpdate {
        version: v.clone(),
        flag: VersionFlag::IsMissing,
        value: true,
    }];
    let artifacts = [ArtifactUpdate {
        version: v.clone(),
        sha256: Sha256::parse(&"a".repeat(64)).unwrap(),
        artifact_name: Some("flask-3.0.tar.gz".into()),
        present: true,
    }];
    let run = attempt(1, WorkflowPhase::Running);
    let snapshot = || async {
        let v: Vec<String> = sqlx::query_scalar(
            "SELECT updated_at::text FROM package_version
             UNION ALL SELECT updated_at::text FROM artifact
             UNION ALL SELECT updated_at::text FROM package_index
             UNION ALL SELECT updated_at::text FROM workflow_attempt",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        v
    };
    store.set_flags(&flags).await.unwrap();
    store.record_artifacts(&artifacts).await.unwrap();
    store.set_index_enabled(&v.index, true).await.unwrap();
    store.record_attempt(&run).await.unwrap();
    let before = snapshot().await;
    assert_eq!(store.set_flags(&flags).await.unwrap(), 0);
    assert_eq!(store.record_artifacts(&artifacts).await.unwrap(), 0);
    assert!(!store.set_index_enabled(&v.index, true).await.unwrap());
    assert_eq!(
        store.record_attempt(&run).await.unwrap(),
        AttemptWrite::Unchanged
    );
    assert_eq!(snapshot().await, before);
}

/// One claim of an outbox message as a publisher saw it: it holds the message from the moment the
/// claim returned until `sent + lease`, the earliest its lease can end (the server's `now()`, from
/// which the lease runs, is later than the moment the request was sent).
#[derive(Debug, Clone, Copy)]
struct Hold {
    claimer: usize,
    id: i64,
    attempts: i32,
    from: Instant,
    until: Instant,
}

impl Hold {
    fn overlaps(&self, other: &Hold) -> bool {
        self.from < other.until && other.from < self.until
    }
}

/// Publishers on a multi-threaded runtime claim, each over its own pool, in a loop and never give
/// a message back, so every message is claimed again only once a lease ran out. No two claims of
/// one message may be held at once while a lease is valid, and every message is claimed again
/// after its lease expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_claimers_with_expiring_leases_never_share_a_claim() {
    const MESSAGES: usize = 20;
    // Many expiries with many claimers waiting make claims of one message race often: without
    // `SKIP LOCKED` (or the lease check) two claimers hold one message within a few expiries.
    const CLAIMERS: usize = 8;
    const CLAIMS_EACH: i32 = 10;
    const LEASE: Duration = Duration::from_millis(100);
    let (db, store, _pool) = fresh().await;
    let batch: Vec<OutboxMessage> = (0..MESSAGES)
        .map(|i| OutboxMessage {
            dedup_key: format!("m/{i}"),
            topic: "t".into(),
            key: None,
            payload: serde_json::json!(i),
        })
        .collect();
    assert_eq!(store.enqueue(&batch).await.unwrap(), MESSAGES as u64);

    let holds: Arc<Mutex<Vec<Hold>>> = Arc::default();
    let mut claimers = Vec::new();
    for claimer in 0..CLAIMERS {
        let store = db.store().await.unwrap();
        let holds = holds.clone();
        claimers.push(tokio::spawn(async move {
            loop {
                let sent = Instant::now();
                let claimed = store.claim_outbox(7, LEASE).await.unwrap();
                let from = Instant::now();
                let mut holds = holds.lock().unwrap();
                holds.extend(claimed.iter().map(|m| Hold {
                    claimer,
                    id: m.id,
                    attempts: m.attempts,
                    from,
                    until: sent + LEASE,
                }));
                let mut most: HashMap<i64, i32> = HashMap::new();
                for hold in holds.iter() {
                    let n = most.entry(hold.id).or_default();
                    *n = (*n).max(hold.attempts);
                }
                if most.len() == MESSAGES && most.values().all(|n| *n >= CLAIMS_EACH) {
                    break;
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        for claimer in claimers {
            claimer.await.unwrap();
        }
    })
    .await
    .expect("every message claimed again and again within a minute");

    let holds = holds.lock().unwrap();
    let mut by_message: HashMap<i64, Vec<Hold>> = HashMap::new();
    for hold in holds.iter() {
        by_message.entry(hold.id).or_default().push(*hold);
    }
    assert_eq!(by_message.len(), MESSAGES);
    for (id, claims) in &mut by_message {
        claims.sort_by_key(|h| h.attempts);
        let attempts: Vec<i32> = claims.iter().map(|h| h.attempts).collect();
        let expected: Vec<i32> = (1..=attempts.len() as i32).collect();
        assert_eq!(attempts, expected, "message {id}: one attempt per claim");
        assert!(
            attempts.len() >= CLAIMS_EACH as usize,
            "message {id} was not claimed again after its lease expired: {claims:?}"
        );
        for (i, a) in claims.iter().enumerate() {
            for b in &claims[i + 1..] {
                assert!(
                    !a.overlaps(b),
                    "message {id} held twice at once: claimer {} (attempt {}) and claimer {} \
                     (attempt {}) while a lease was valid",
                    a.claimer,
                    a.attempts,
                    b.claimer,
                    b.attempts
                );
            }
        }
    }
}

/// A batch over the limit is refused before the store sends anything for it: inside a transaction
/// no statement runs at all, and on its own the write gets no further than its transaction's BEGIN.
/// Every statement the store sends goes through its statistics, so they show what reached the
/// server.
#[tokio::test]
async fn over_limit_batches_are_refused_before_any_statement() {
    let (_db, store, pool) = fresh().await;
    let over = thoth_operator::store::MAX_BATCH + 1;
    let rows: Vec<LedgerEntry> = (0..over as i64).map(|i| ledger_on("t", i)).collect();
    let is_too_large = |err: &StoreError| {
        matches!(
            err,
            StoreError::BatchTooLarge {
                max: 10_000,
                actual: 10_001
            }
        )
    };

    let mut tx = store.begin().await.unwrap();
    let before = store.query_stats();
    let err = tx.record_ledger(&rows).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    assert!(err.to_string().contains("10001"), "{err}");
    let messages: Vec<OutboxMessage> = (0..over)
        .map(|i| OutboxMessage {
            dedup_key: format!("k/{i}"),
            topic: "t".into(),
            key: None,
            payload: serde_json::json!(i),
        })
        .collect();
    let err = tx.enqueue(&messages).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    let versions: Vec<VersionKey> = (0..over).map(|i| key(&format!("p{i}"), "1.0")).collect();
    let err = tx.ensure_versions(&versions).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    let flags: Vec<FlagUpdate> = versions
        .iter()
        .map(|v| FlagUpdate {
            version: v.clone(),
            flag: VersionFlag::IsMissing,
            value: true,
        })
        .collect();
    let err = tx.set_flags(&flags).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    let outcomes: Vec<SolverOutcome> = versions
        .iter()
        .map(|v| SolverOutcome {
            version: v.clone(),
            ..solver_outcome("x", SolverStatus::Success)
        })
        .collect();
    let err = tx.record_solver_outcomes(&outcomes).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    assert_eq!(
        store.query_stats(),
        before,
        "a statement reached the server before the batch was refused"
    );
    // The refusals left the transaction usable.
    tx.commit().await.unwrap();

    let before = store.query_stats();
    let err = store.record_ledger(&rows).await.unwrap_err();
    assert!(is_too_large(&err), "{err}");
    let ran: Vec<&str> = store
        .query_stats()
        .iter()
        .filter(|s| !before.contains(s))
        .map(|s| s.name)
        .collect();
    assert_eq!(ran, ["begin"], "statements sent for a refused batch");
    assert_eq!(count(&pool, "message_ledger").await, 0);
}

#[tokio::test]
async fn a_store_does_not_print_its_password() {
    let db = TestDatabase::create().await.unwrap();
    let mut config = db.config();
    config.connect = config.connect.password("s3cr3t");
    let store = Store::open(&config).await.unwrap();
    for printed in [
        format!("{store:?}"),
        format!("{config:?}"),
        format!("{db:?}"),
    ] {
        assert!(!printed.contains("s3cr3t"), "{printed}");
    }
    assert!(format!("{store:?}").contains(&db.name));
}

/// A publisher whose lease ran out and whose message another publisher claimed since must not give
/// the message back: that would let a third publisher claim it while the second is publishing it.
#[tokio::test]
async fn a_publisher_with_an_expired_lease_cannot_release_the_new_holders_claim() {
    let (_db, store, pool) = fresh().await;
    store
        .enqueue(&[OutboxMessage {
            dedup_key: "only".into(),
            topic: "t".into(),
            key: None,
            payload: serde_json::json!({}),
        }])
        .await
        .unwrap();
    let late = store
        .claim_outbox(1, Duration::from_millis(1))
        .await
        .unwrap();
    sqlx::query("SELECT pg_sleep(0.01)")
        .execute(&pool)
        .await
        .unwrap();
    let current = store
        .claim_outbox(1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!((late.len(), current.len()), (1, 1));
    assert_eq!(current[0].attempts, 2);
    assert!(
        !store
            .release_outbox(&late[0], "late failure")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox(1, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "the message was handed out while its current holder still held it"
    );
    assert!(
        store
            .release_outbox(&current[0], "broker down")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_outbox(1, Duration::from_secs(60))
            .await
            .unwrap()[0]
            .attempts,
        3
    );
}

/// Two replicas setting different flags of the same versions at once: neither write is lost.
#[tokio::test]
async fn concurrent_writes_of_different_flags_of_one_version_both_stay() {
    let (db, first, _pool) = fresh().await;
    let second = db.store().await.unwrap();
    let versions: Vec<VersionKey> = (0..200).map(|i| key(&format!("p{i}"), "1.0")).collect();
    first.ensure_versions(&versions).await.unwrap();
    let missing: Vec<FlagUpdate> = versions
        .iter()
        .map(|v| FlagUpdate {
            version: v.clone(),
            flag: VersionFlag::IsMissing,
            value: true,
        })
        .collect();
    let no_sdist: Vec<SecurityIndicatorOutcome> = versions
        .iter()
        .rev()
        .map(|v| SecurityIndicatorOutcome {
            version: v.clone(),
            status: SecurityIndicatorStatus::NoSourceDistribution,
            document_id: None,
            duration: None,
        })
        .collect();
    let (a, b) = tokio::join!(
        first.set_flags(&missing),
        second.record_security_indicator_outcomes(&no_sdist)
    );
    assert_eq!((a.unwrap(), b.unwrap()), (200, 200));
    for v in &versions {
        let record = first.version(v).await.unwrap().unwrap();
        assert!(record.is_missing && !record.provides_source_distro, "{v}");
    }
}
