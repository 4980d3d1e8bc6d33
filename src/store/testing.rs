//! Test support: a fresh, uniquely named database per test, dropped afterwards, so tests run in
//! parallel against one PostgreSQL server. The server comes from `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); the database in that URL is only used to create and
//! drop the test databases.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::config::{DEFAULT_MAX_CONNECTIONS, StoreConfig};
use super::error::StoreError;
use super::migrate::quote_identifier;
use super::{Store, StoreResult};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDatabase {
    pub name: String,
    admin: PgConnectOptions,
    pub options: PgConnectOptions,
}

/// Written by hand: the derived form would print a password given in `DATABASE_URL`.
impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("server", &super::config::describe(&self.admin))
            .finish()
    }
}

fn server_options() -> StoreResult<PgConnectOptions> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_string());
    PgConnectOptions::from_str(&url).map_err(|e| StoreError::Config {
        variable: "DATABASE_URL",
        reason: format!("is not a PostgreSQL URL: {e}"),
    })
}

impl TestDatabase {
    /// A name that is not yet taken; the database itself is created by [`TestDatabase::create`] or,
    /// to test creating a missing database, by the store.
    pub fn unique() -> StoreResult<Self> {
        let admin = server_options()?;
        let name = format!(
            "thoth_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let options = admin.clone().database(&name);
        Ok(Self {
            name,
            admin,
            options,
        })
    }

    pub async fn create() -> StoreResult<Self> {
        let db = Self::unique()?;
        super::migrate::create_database(&db.admin, &db.name).await?;
        Ok(db)
    }

    /// Settings for this database (a small pool: the server's connections are shared).
    pub fn config(&self) -> StoreConfig {
        StoreConfig {
            connect: self.options.clone(),
            debug_queries: false,
            log_stats: true,
            migrate_on_start: true,
            max_connections: DEFAULT_MAX_CONNECTIONS.min(4),
        }
    }

    /// A pool on this database with the store's connection settings, for tools that bypass the store
    /// (the benchmark's COPY ceiling must run over connections set up the same way).
    pub async fn pool(&self) -> StoreResult<sqlx::PgPool> {
        super::pool_options(&self.options, DEFAULT_MAX_CONNECTIONS.min(4))
            .connect_with(self.options.clone())
            .await
            .map_err(|source| StoreError::Connect {
                target: self.name.clone(),
                source,
            })
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> StoreResult<Store> {
        Store::open(&self.config()).await
    }
}

async fn drop_database(admin: PgConnectOptions, name: String) -> Result<(), sqlx::Error> {
    let mut conn = admin.connect().await?;
    let statement = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(&name)
    );
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await; a short-lived runtime on its own thread works inside or outside tokio.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(drop_database(admin, name))
                .map_err(|e| e.to_string())
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}
