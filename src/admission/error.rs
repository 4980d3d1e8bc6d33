//! Admission's error: only the API server or the store failing, never a record's content.

use crate::store::StoreError;

/// Why a batch could not be admitted. Nothing was committed for it: the consumer
/// must not commit any of its offsets and should retry the batch.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("failed to read what the store knows about the batch")]
    Knowledge(#[source] StoreError),
    #[error("failed to create {kind} {namespace}/{name}")]
    Create {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to record the batch's fates in the store")]
    Record(#[source] StoreError),
}

impl AdmissionError {
    /// The API server or PostgreSQL was unavailable (5xx, 429, connection lost,
    /// deadlock, serialization failure) even after retries: pause the partitions and
    /// retry the batch later. `false`: a configuration or programming fault (a
    /// forbidden create, a missing namespace, a refused write) that retrying alone
    /// will not fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Knowledge(source) | Self::Record(source) => store_is_transient(source),
            Self::Create { source, .. } => kube_is_transient(source),
        }
    }
}

/// API answers worth retrying: 429, 5xx, and failures to reach the server at all.
pub(crate) fn kube_is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::HttpError(_)
        | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs worth retrying: deadlock, serialization failure, and the
/// connection-exception (08) and operator-intervention (57P0x shutdown) classes.
pub(crate) fn sql_state_is_transient(code: &str) -> bool {
    matches!(
        code,
        "40P01" | "40001" | "57P01" | "57P02" | "57P03" | "53300"
    ) || code.starts_with("08")
}

pub(crate) fn sqlx_is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| sql_state_is_transient(&code)),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        _ => false,
    }
}

pub(crate) fn store_is_transient(err: &StoreError) -> bool {
    match err {
        StoreError::Connect { .. } => true,
        StoreError::Database { source, .. } => sqlx_is_transient(source),
        // The failed statement's cause was reported when it failed; an aborted
        // transaction is only reached after such a failure.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("x", "Reason")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn throttling_and_server_errors_are_transient_refusals_are_not() {
        assert!(kube_is_transient(&api(429)));
        assert!(kube_is_transient(&api(500)));
        assert!(kube_is_transient(&api(503)));
        assert!(!kube_is_transient(&api(403)));
        assert!(!kube_is_transient(&api(404)));
        assert!(!kube_is_transient(&api(422)));
    }

    #[test]
    fn deadlocks_serialization_failures_and_lost_connections_are_transient() {
        for code in ["40P01", "40001", "08006", "08003", "57P01"] {
            assert!(sql_state_is_transient(code), "{code}");
        }
        for code in ["23505", "22001", "42P01"] {
            assert!(!sql_state_is_transient(code), "{code}");
        }
        assert!(sqlx_is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!sqlx_is_transient(&sqlx::Error::RowNotFound));
    }
}
