//! Store throughput: ledger rows, solver outcomes and flag updates per second through the store's
//! batched API, beside PostgreSQL's own COPY of the same rows (the ceiling) and beside one commit per
//! row (how Thoth's storages wrote).
//!
//! Both sides start warm: the store's pooled connections are open and each path has run one untimed
//! batch; the COPY side runs on an open connection of a pool set up like the store's. Both write into
//! the same tables with the same keys, checks, foreign keys and indexes, each into an empty table
//! (ledger, outcomes) or over the same 20,000 versions (flags). `STORE_BENCH_EXPLAIN=1` turns on
//! auto_explain for slow statements and `STORE_BENCH_LOG_STATEMENTS=1` logs every statement's server
//! time, both in the server's log.

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use sqlx::postgres::PgPool;
use testkit::TestDatabase;
use thoth_operator::package::{IndexUrl, PackageName, PackageVersion};
use thoth_operator::store::{
    Fate, FlagUpdate, LedgerEntry, QueryStat, ResourceKind, ResourceRef, SolverOutcome,
    SolverStatus, Store, StoreConfig, VersionFlag, VersionKey, pool_options,
};

const ROWS: usize = 20_000;
const BATCH: usize = 1_000;
const ONE_BY_ONE: usize = 1_000;
const SOLVER: &str = "solver-fedora-38-py311";

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub fn run() -> BenchResult {
    tokio::runtime::Runtime::new()?.block_on(bench())
}

/// Refuses a phase that did not write as many rows as it was given, by the counts the store or the
/// server returned: no figure may stand for work that did not happen.
fn check(what: &str, expected: usize, done: u64) -> BenchResult {
    if done != expected as u64 {
        return Err(format!("{what}: {done} rows written, expected {expected}").into());
    }
    Ok(())
}

/// Rows per second since `started`, once [`check`] says all `expected` rows were written.
fn rate(what: &str, expected: usize, done: u64, started: Instant) -> BenchResult<f64> {
    let elapsed = started.elapsed().as_secs_f64();
    check(what, expected, done)?;
    Ok(done as f64 / elapsed)
}

/// Per-statement figures of one phase: the statistics gathered since `before`.
fn report_phase(store: &Store, phase: &str, before: &[QueryStat]) {
    for stat in store.query_stats() {
        let (calls, total) = before
            .iter()
            .find(|b| b.name == stat.name)
            .map_or((stat.calls, stat.total), |b| {
                (stat.calls - b.calls, stat.total.saturating_sub(b.total))
            });
        if let Some(mean) = (total.as_micros() as u64).checked_div(calls) {
            println!(
                "store/{phase:<26} {:<34} calls {calls:>5} mean {mean:>7} us total {:>6} ms",
                stat.name,
                total.as_millis()
            );
        }
    }
}

fn report(what: &str, batched: f64, copy: f64, one_by_one: f64) {
    println!(
        "store/{what:<16} batched {batched:>9.0} rows/s | COPY {copy:>9.0} rows/s | ratio {:.2} | one commit per row {one_by_one:>7.0} rows/s",
        batched / copy
    );
}

fn keys(prefix: &str) -> BenchResult<Vec<VersionKey>> {
    let index = IndexUrl::parse("https://pypi.org/simple")?;
    (0..ROWS)
        .map(|i| {
            Ok(VersionKey::new(
                PackageName::parse(&format!("{prefix}-{}", i / 10))?,
                PackageVersion::parse(&format!("1.{}.0", i % 10))?,
                index.clone(),
            ))
        })
        .collect()
}

/// COPY text format: backslash, tab and line breaks escaped, `\N` for NULL.
fn copy_field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_rows<'a>(rows: impl Iterator<Item = Vec<Option<&'a str>>>) -> String {
    let mut out = String::new();
    for row in rows {
        for (i, field) in row.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            copy_field(&mut out, *field);
        }
        out.push('\n');
    }
    out
}

/// Runs a COPY .. FROM STDIN; returns the rows the server says it copied.
async fn copy_in(pool: &PgPool, statement: &str, data: String) -> Result<u64, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await
}

fn ledger_rows(offset_base: i64, count: usize) -> Vec<LedgerEntry> {
    (0..count)
        .map(|i| LedgerEntry {
            topic: "thoth.investigator.unresolved-package".into(),
            partition: (i % 6) as i32,
            offset: offset_base + i as i64,
            message_type: Some("UnresolvedPackageMessage".into()),
            message_version: Some("v1".into()),
            received_at: Utc::now(),
            fate: Fate::Created(ResourceRef {
                kind: ResourceKind::SolverRun,
                namespace: "thoth-infra".into(),
                name: format!("package-{i}-1-0-0-{SOLVER}"),
            }),
        })
        .collect()
}

async fn bench_ledger(store: &Store, pool: &PgPool) -> BenchResult {
    let rows = ledger_rows(0, ROWS);
    // Untimed warm-up through the same call: the pool opens its connections and prepares the
    // statement here, as the COPY side's connection is already open when its clock starts.
    let warm_up = store
        .record_ledger(&ledger_rows(ROWS as i64 * 100, BATCH))
        .await?;
    check("ledger warm-up", BATCH, warm_up)?;
    let before = store.query_stats();
    let started = Instant::now();
    let mut written = 0;
    for chunk in rows.chunks(BATCH) {
        written += store.record_ledger(chunk).await?;
    }
    let batched = rate("ledger batched", ROWS, written, started)?;
    report_phase(store, "ledger batched", &before);

    sqlx::query("TRUNCATE message_ledger").execute(pool).await?;
    let resources: Vec<&ResourceRef> = rows
        .iter()
        .map(|r| match &r.fate {
            Fate::Created(resource) => Ok(resource),
            other => Err(format!("ledger COPY: a row with fate {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let partitions: Vec<String> = rows.iter().map(|r| r.partition.to_string()).collect();
    let offsets: Vec<String> = rows.iter().map(|r| r.offset.to_string()).collect();
    let received: Vec<String> = rows.iter().map(|r| r.received_at.to_rfc3339()).collect();
    let data = copy_rows(rows.iter().enumerate().map(|(i, r)| {
        let resource = resources[i];
        vec![
            Some(r.topic.as_str()),
            Some(partitions[i].as_str()),
            Some(offsets[i].as_str()),
            r.message_type.as_deref(),
            r.message_version.as_deref(),
            Some(received[i].as_str()),
            Some("created"),
            Some(resource.kind.as_str()),
            Some(resource.namespace.as_str()),
            Some(resource.name.as_str()),
            None,
            None,
        ]
    }));
    let copied = copy_in(
        pool,
        "COPY message_ledger (topic, kafka_partition, kafka_offset, message_type, message_version, \
         received_at, fate, resource_kind, resource_namespace, resource_name, flag, reason) FROM STDIN",
        data,
    )
    .await?;
    let copy = rate("ledger COPY", ROWS, copied, started)?;

    let singles = ledger_rows(ROWS as i64 * 10, ONE_BY_ONE);
    let started = Instant::now();
    let mut written = 0;
    for row in &singles {
        written += store.record_ledger(std::slice::from_ref(row)).await?;
    }
    let one_by_one = rate("ledger one by one", ONE_BY_ONE, written, started)?;
    report("ledger", batched, copy, one_by_one);
    Ok(())
}

async fn bench_outcomes(store: &Store, pool: &PgPool) -> BenchResult {
    let versions = keys("solved")?;
    // Versions are known before they are solved (package releases, unresolved messages).
    let mut known = 0;
    for chunk in versions.chunks(BATCH) {
        known += store.ensure_versions(chunk).await?;
    }
    check("solved versions", ROWS, known)?;
    let outcomes: Vec<SolverOutcome> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| SolverOutcome {
            version: v.clone(),
            solver: SOLVER.into(),
            status: if i % 7 == 0 {
                SolverStatus::Unsolvable
            } else {
                SolverStatus::Success
            },
            document_id: Some(format!("solver-{SOLVER}-{i:08}")),
            duration: Some(TimeDelta::milliseconds(1500 + i as i64)),
        })
        .collect();
    let warm_up: Vec<SolverOutcome> = outcomes[..BATCH]
        .iter()
        .map(|o| SolverOutcome {
            solver: format!("{SOLVER}-warm-up"),
            ..o.clone()
        })
        .collect();
    let warmed = store.record_solver_outcomes(&warm_up).await?;
    check("solver outcomes warm-up", BATCH, warmed)?;
    let before = store.query_stats();
    let started = Instant::now();
    let mut written = 0;
    for chunk in outcomes.chunks(BATCH) {
        written += store.record_solver_outcomes(chunk).await?;
    }
    let batched = rate("solver outcomes batched", ROWS, written, started)?;
    report_phase(store, "solver outcomes batched", &before);

    let ids: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, package_name, package_version FROM package_version")
            .fetch_all(pool)
            .await?;
    let id_of: std::collections::HashMap<(String, String), i64> =
        ids.into_iter().map(|(id, n, v)| ((n, v), id)).collect();
    sqlx::query("TRUNCATE solver_outcome").execute(pool).await?;
    let started = Instant::now();
    let fields: Vec<[String; 2]> = outcomes
        .iter()
        .map(|o| {
            let id = id_of
                .get(&(o.version.name.to_string(), o.version.version.to_string()))
                .ok_or_else(|| format!("solver outcomes COPY: no row for {}", o.version))?;
            Ok([
                id.to_string(),
                o.duration
                    .map(|d| d.num_milliseconds())
                    .unwrap_or(0)
                    .to_string(),
            ])
        })
        .collect::<Result<_, String>>()?;
    let data = copy_rows(outcomes.iter().zip(&fields).map(|(o, f)| {
        vec![
            Some(f[0].as_str()),
            Some(o.solver.as_str()),
            Some(o.status.as_str()),
            o.document_id.as_deref(),
            Some(f[1].as_str()),
        ]
    }));
    let copied = copy_in(
        pool,
        "COPY solver_outcome (version_id, solver_name, status, document_id, duration_ms) FROM STDIN",
        data,
    )
    .await?;
    let copy = rate("solver outcomes COPY", ROWS, copied, started)?;

    sqlx::query("TRUNCATE solver_outcome").execute(pool).await?;
    let started = Instant::now();
    let mut written = 0;
    for outcome in &outcomes[..ONE_BY_ONE] {
        written += store
            .record_solver_outcomes(std::slice::from_ref(outcome))
            .await?;
    }
    let one_by_one = rate("solver outcomes one by one", ONE_BY_ONE, written, started)?;
    report("solver outcomes", batched, copy, one_by_one);
    Ok(())
}

async fn bench_flags(store: &Store, pool: &PgPool) -> BenchResult {
    let versions = keys("flagged")?;
    let mut known = 0;
    for chunk in versions.chunks(BATCH) {
        known += store.ensure_versions(chunk).await?;
    }
    check("flagged versions", ROWS, known)?;
    let updates: Vec<FlagUpdate> = versions
        .iter()
        .map(|v| FlagUpdate {
            version: v.clone(),
            flag: VersionFlag::IsMissing,
            value: true,
        })
        .collect();
    // Setting a flag to the value it has changes nothing but runs every statement of the path.
    let warm_up: Vec<FlagUpdate> = versions[..BATCH]
        .iter()
        .map(|v| FlagUpdate {
            version: v.clone(),
            flag: VersionFlag::ProvidesSourceDistro,
            value: true,
        })
        .collect();
    check("flag warm-up", 0, store.set_flags(&warm_up).await?)?;
    let before = store.query_stats();
    let started = Instant::now();
    let mut changed = 0;
    for chunk in updates.chunks(BATCH) {
        changed += store.set_flags(chunk).await?;
    }
    let batched = rate("flag updates batched", ROWS, changed, started)?;
    report_phase(store, "flag updates batched", &before);

    // The ceiling for an update: COPY the same rows into a staging table, then one join UPDATE.
    sqlx::query("UPDATE package_version SET is_missing = false")
        .execute(pool)
        .await?;
    let started = Instant::now();
    let data = copy_rows(updates.iter().map(|u| {
        vec![
            Some(u.version.index.as_str()),
            Some(u.version.name.as_str()),
            Some(u.version.version.as_str()),
            Some("t"),
        ]
    }));
    let mut tx = pool.begin().await?;
    sqlx::query(
        "CREATE TEMP TABLE flag_staging (url text, name text, version text, value bool) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    let mut copy = tx
        .copy_in_raw("COPY flag_staging (url, name, version, value) FROM STDIN")
        .await?;
    copy.send(data.into_bytes()).await?;
    let staged = copy.finish().await?;
    let updated = sqlx::query(
        "UPDATE package_version v SET is_missing = s.value, updated_at = now()
         FROM flag_staging s JOIN package_index i ON i.url = s.url
         WHERE v.index_id = i.id AND v.package_name = s.name AND v.package_version = s.version",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    check("flag updates COPY", ROWS, staged)?;
    let copy = rate("flag updates COPY + UPDATE", ROWS, updated, started)?;

    sqlx::query("UPDATE package_version SET is_missing = false")
        .execute(pool)
        .await?;
    let started = Instant::now();
    let mut changed = 0;
    for update in &updates[..ONE_BY_ONE] {
        changed += store.set_flags(std::slice::from_ref(update)).await?;
    }
    let one_by_one = rate("flag updates one by one", ONE_BY_ONE, changed, started)?;
    report("flag updates", batched, copy, one_by_one);
    Ok(())
}

async fn bench() -> BenchResult {
    let db = TestDatabase::create().await?;
    if std::env::var("STORE_BENCH_EXPLAIN").is_ok() {
        let admin = PgPool::connect_with(db.options.clone()).await?;
        let sql = format!(
            "ALTER DATABASE {} SET session_preload_libraries = 'auto_explain'",
            db.name
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await?;
        let sql = format!(
            "ALTER DATABASE {} SET auto_explain.log_min_duration = '150ms'",
            db.name
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    if std::env::var("STORE_BENCH_LOG_STATEMENTS").is_ok() {
        let admin = PgPool::connect_with(db.options.clone()).await?;
        let sql = format!(
            "ALTER DATABASE {} SET log_min_duration_statement = 0",
            db.name
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    // A small pool, as the tests use: the server's connections are shared.
    let config = StoreConfig {
        log_stats: true,
        max_connections: 4,
        ..StoreConfig::new(db.options.clone())
    };
    let store = Store::open(&config).await?;
    let pool = pool_options(&db.options, config.max_connections)
        .connect_with(db.options.clone())
        .await?;
    println!(
        "store: {ROWS} rows in batches of {BATCH}; one-commit-per-row over {ONE_BY_ONE} rows; database {}",
        db.name
    );
    // Open every pooled connection before any clock starts: sqlx returns a connection to the pool
    // after the next batch may already have asked for one, so batches otherwise pay for opening
    // connections (about 90 ms each here) in the middle of a timed run.
    let mut open = Vec::new();
    for _ in 0..config.max_connections {
        open.push(store.begin().await?);
    }
    for tx in open {
        tx.rollback().await?;
    }
    bench_ledger(&store, &pool).await?;
    bench_outcomes(&store, &pool).await?;
    bench_flags(&store, &pool).await?;
    for stat in store.query_stats() {
        println!(
            "store/query {:<40} calls {:>6} mean {:>8} us max {:>8} us",
            stat.name,
            stat.calls,
            stat.total.as_micros() as u64 / stat.calls.max(1),
            stat.max.as_micros()
        );
    }
    store.close().await;
    pool.close().await;
    Ok(())
}
