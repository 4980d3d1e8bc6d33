//! Schema migrations (embedded from `migrations/` at compile time) and creating a missing database.
//!
//! sqlx's migrator holds a PostgreSQL advisory lock while it works, so two replicas starting at once
//! apply each migration exactly once; running it again is a no-op.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::config::describe;
use super::error::StoreError;

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// SQLSTATE for "database does not exist".
const INVALID_CATALOG_NAME: &str = "3D000";
/// SQLSTATE for "database already exists".
const DUPLICATE_DATABASE: &str = "42P04";
/// Two concurrent `CREATE DATABASE` of one name may also collide on pg_database's unique index.
const UNIQUE_VIOLATION: &str = "23505";

/// The newest migration this build knows.
pub fn latest_version() -> i64 {
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Applies every pending migration on a connection of its own, closed afterwards so that the
/// migrator's session-level advisory lock can never stay behind in a pool.
pub async fn migrate(options: &PgConnectOptions) -> Result<(), StoreError> {
    let mut conn = connect_one(options).await?;
    let result = MIGRATOR.run_direct(None, &mut conn, false).await;
    // Closing ends the session and with it the lock, even when migrating failed half-way.
    let _ = conn.close().await;
    result.map_err(StoreError::from)
}

/// Connects once; when the database does not exist yet, creates it through the `postgres`
/// maintenance database and connects again. Says whether it created the database.
pub async fn connect_creating_database(
    options: &PgConnectOptions,
) -> Result<(PgConnection, bool), StoreError> {
    match options.connect().await {
        Ok(conn) => Ok((conn, false)),
        Err(err) if sqlstate(&err).as_deref() == Some(INVALID_CATALOG_NAME) => {
            let database = options.get_database().unwrap_or_default().to_string();
            create_database(options, &database).await?;
            let conn = connect_one(options).await?;
            Ok((conn, true))
        }
        Err(source) => Err(StoreError::Connect {
            target: describe(options),
            source,
        }),
    }
}

async fn connect_one(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    options
        .connect()
        .await
        .map_err(|source| StoreError::Connect {
            target: describe(options),
            source,
        })
}

/// `CREATE DATABASE`, treating "already exists" (another replica won the race) as success.
pub async fn create_database(options: &PgConnectOptions, database: &str) -> Result<(), StoreError> {
    if database.is_empty() {
        return Err(StoreError::Empty {
            field: "database name",
        });
    }
    let maintenance = options.clone().database("postgres");
    let mut conn = connect_one(&maintenance).await?;
    let statement = format!("CREATE DATABASE {}", quote_identifier(database));
    // The only dynamic part is the database name, quoted as an identifier above.
    let result = sqlx::query(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    match result {
        Ok(_) => Ok(()),
        Err(err)
            if matches!(
                sqlstate(&err).as_deref(),
                Some(DUPLICATE_DATABASE) | Some(UNIQUE_VIOLATION)
            ) =>
        {
            Ok(())
        }
        Err(source) => Err(StoreError::CreateDatabase {
            database: database.to_string(),
            source,
        }),
    }
}

pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|db| db.code())
        .map(|code| code.into_owned())
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
    fn the_embedded_migrations_are_ordered_and_present() {
        assert!(latest_version() > 0);
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted);
    }
}
