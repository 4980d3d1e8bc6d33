//! The one error type of the store: it names the field, value or query that was wrong.

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
    #[error("{field} is not valid UTF-8: {source}")]
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
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("cannot create database {database:?}: {source}")]
    CreateDatabase {
        database: String,
        source: sqlx::Error,
    },
    #[error("migrating the schema failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("query {query} failed: {source}")]
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
    #[error("a stored package identity is no longer valid: {0}")]
    StoredPackage(#[from] PackageError),
}

pub type StoreResult<T> = Result<T, StoreError>;
