//! A fresh, uniquely named database per test, dropped afterwards, so tests run in
//! parallel against one PostgreSQL server. The server comes from `DATABASE_URL`
//! (default [`DEFAULT_TEST_DATABASE_URL`]); the database in that URL is only used to
//! create and drop the test databases. What to do with the database (migrate it,
//! open a store on it) is the caller's: this crate knows PostgreSQL, not the store.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Where tests find PostgreSQL when `DATABASE_URL` is unset or empty.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database name of its own on the test server; dropped (with `FORCE`) when this
/// value is dropped.
pub struct TestDatabase {
    /// `thoth_test_<pid>_<counter>_<random hex>`.
    pub name: String,
    admin: PgConnectOptions,
    /// Connection options for this database (the server's, with the database set).
    pub options: PgConnectOptions,
}

/// Written by hand: the derived form would print a password given in `DATABASE_URL`.
impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("host", &self.admin.get_host())
            .field("port", &self.admin.get_port())
            .finish()
    }
}

/// `DATABASE_URL` (or the default) does not parse as a PostgreSQL URL, or the
/// database could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TestDatabaseError {
    #[error("DATABASE_URL is not a PostgreSQL URL")]
    Url(#[source] sqlx::Error),
    #[error("failed to create test database {name}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
}

fn server_options() -> Result<PgConnectOptions, TestDatabaseError> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_string());
    PgConnectOptions::from_str(&url).map_err(TestDatabaseError::Url)
}

/// `name` as a PostgreSQL identifier, quotes doubled.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl TestDatabase {
    /// A name that is not yet taken; the database itself is created by
    /// [`TestDatabase::create`] or, to test creating a missing database, by the caller.
    pub fn unique() -> Result<Self, TestDatabaseError> {
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

    /// A unique name, with an empty database of that name created on the server.
    pub async fn create() -> Result<Self, TestDatabaseError> {
        let db = Self::unique()?;
        let statement = format!("CREATE DATABASE {}", quote_identifier(&db.name));
        let created = async {
            let mut conn = db.admin.connect().await?;
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut conn)
                .await?;
            conn.close().await
        };
        created.await.map_err(|source| TestDatabaseError::Create {
            name: db.name.clone(),
            source,
        })?;
        Ok(db)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("thoth"), "\"thoth\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn unique_names_differ() {
        let a = TestDatabase::unique().unwrap();
        let b = TestDatabase::unique().unwrap();
        assert_ne!(a.name, b.name);
        assert_eq!(a.options.get_database(), Some(a.name.as_str()));
    }
}
