//! The one error type of the store: it names the field, value or query that was wrong.
//!
//! A variant's message says what failed; its cause (sqlx's error, the package parser's) is in
//! the source chain only, so that a report of the whole chain (anyhow's `{:#}`) names it once.

use crate::package::PackageError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store configuration: {variable} {reason}")]
    Config {
        variable: &'static str,
        reason: String,
    },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} exceeds {max} characters (it has {actual})")]
    TooLong {
        field: &'static str,
        max: usize,
        actual: usize,
    },
    #[error("{field} contains a NUL character, which PostgreSQL text cannot store")]
    NulCharacter { field: &'static str },
    #[error("{field} is not valid UTF-8")]
    NotUtf8 {
        field: &'static str,
        source: std::str::Utf8Error,
    },
    #[error("duration must not be negative ({field} is {millis} ms)")]
    NegativeDuration { field: &'static str, millis: i64 },
    #[error("{field} is out of range: {reason}")]
    OutOfRange { field: &'static str, reason: String },
    #[error("{field} {value:?} is invalid: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("the batch has {actual} rows; at most {max} fit in one statement")]
    BatchTooLarge { max: usize, actual: usize },
    #[error("cannot connect to PostgreSQL at {target}")]
    Connect { target: String, source: sqlx::Error },
    #[error("cannot create database {database:?}")]
    CreateDatabase {
        database: String,
        source: sqlx::Error,
    },
    #[error("migrating the schema failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("query {query} failed")]
    Database {
        query: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "the transaction was rolled back, nothing it wrote is stored: query {query} failed in it"
    )]
    TransactionAborted { query: &'static str },
    #[error("query {query} returned a row the store cannot read: {reason}")]
    CorruptRow { query: &'static str, reason: String },
    #[error("a stored package identity is no longer valid")]
    StoredPackage(#[from] PackageError),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each level of a report (`{:#}` of anyhow, which joins the source chain) names its cause
    /// once: the store's message says what failed, sqlx's says why.
    #[test]
    fn a_report_names_the_cause_once() {
        let error = StoreError::Connect {
            target: "db.example:5432/thoth".into(),
            source: sqlx::Error::PoolTimedOut,
        };
        let cause = sqlx::Error::PoolTimedOut.to_string();
        assert_eq!(
            error.to_string(),
            "cannot connect to PostgreSQL at db.example:5432/thoth"
        );
        let report = format!("{:#}", anyhow::Error::new(error));
        assert_eq!(
            report,
            format!("cannot connect to PostgreSQL at db.example:5432/thoth: {cause}")
        );
        assert_eq!(report.matches(&cause).count(), 1, "{report}");

        let error = StoreError::StoredPackage(PackageError::Empty {
            what: "package name",
        });
        let report = format!("{:#}", anyhow::Error::new(error));
        assert_eq!(
            report,
            "a stored package identity is no longer valid: package name is empty"
        );
    }
}
