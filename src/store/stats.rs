//! Statement instrumentation: `THOTH_STORAGES_DEBUG_QUERIES` logs each statement as it completes,
//! `THOTH_STORAGES_LOG_STATS` keeps per-query counts and timings and logs them at shutdown.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::StoreError;

/// A statement the store runs, under a stable name used in logs, statistics and errors.
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub name: &'static str,
    pub text: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStat {
    pub name: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub total: Duration,
    pub max: Duration,
}

#[derive(Debug, Default)]
pub struct Observer {
    debug_queries: bool,
    keep_stats: bool,
    stats: Mutex<BTreeMap<&'static str, QueryStat>>,
}

impl Observer {
    pub fn new(debug_queries: bool, keep_stats: bool) -> Self {
        Self {
            debug_queries,
            keep_stats,
            stats: Mutex::default(),
        }
    }

    /// Runs `statement` (already bound to `sql`), timing and logging it as configured, and names the
    /// query in the error it may return.
    pub async fn run<T>(
        &self,
        sql: Sql,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        if !self.debug_queries && !self.keep_stats {
            return statement.await.map_err(|source| StoreError::Database {
                query: sql.name,
                source,
            });
        }
        let started = Instant::now();
        let result = statement.await;
        let elapsed = started.elapsed();
        if self.debug_queries {
            tracing::info!(
                query = sql.name,
                elapsed_us = elapsed.as_micros() as u64,
                ok = result.is_ok(),
                "store statement"
            );
        }
        if self.keep_stats {
            self.record(sql.name, elapsed, result.is_err());
        }
        result.map_err(|source| StoreError::Database {
            query: sql.name,
            source,
        })
    }

    fn record(&self, name: &'static str, elapsed: Duration, failed: bool) {
        // A poisoned lock only means another thread panicked mid-update; the counters stay usable.
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let stat = stats.entry(name).or_insert_with(|| QueryStat {
            name,
            ..QueryStat::default()
        });
        stat.calls += 1;
        stat.errors += u64::from(failed);
        stat.total += elapsed;
        stat.max = stat.max.max(elapsed);
    }

    pub fn snapshot(&self) -> Vec<QueryStat> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.values().cloned().collect()
    }

    pub fn log_stats(&self) {
        if !self.keep_stats {
            return;
        }
        for stat in self.snapshot() {
            let mean_us = stat.total.as_micros() as u64 / stat.calls.max(1);
            tracing::info!(
                query = stat.name,
                calls = stat.calls,
                errors = stat.errors,
                total_ms = stat.total.as_millis() as u64,
                mean_us,
                max_us = stat.max.as_micros() as u64,
                "store query statistics"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: Sql = Sql {
        name: "probe",
        text: "SELECT 1",
    };

    #[tokio::test]
    async fn statistics_count_calls_and_errors_per_query() {
        let observer = Observer::new(false, true);
        observer.run(PROBE, async { Ok(()) }).await.unwrap();
        let err = observer
            .run(PROBE, async { Err::<(), _>(sqlx::Error::RowNotFound) })
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("query probe failed"), "{err}");
        let stats = observer.snapshot();
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].calls, stats[0].errors), (2, 1));
    }

    #[tokio::test]
    async fn nothing_is_kept_when_statistics_are_off() {
        let observer = Observer::new(false, false);
        observer.run(PROBE, async { Ok(()) }).await.unwrap();
        assert!(observer.snapshot().is_empty());
    }
}
