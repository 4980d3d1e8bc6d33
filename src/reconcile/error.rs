//! What can make one reconcile fail; each variant names the step that failed.

use std::time::Duration;

use super::workflow::BuildError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("failed to create Workflow {namespace}/{name}")]
    CreateWorkflow {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read Workflow {namespace}/{name}")]
    ReadWorkflow {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to list the Workflows of {resource}")]
    ListWorkflows {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to release Workflow {namespace}/{name} (remove our finalizer)")]
    ReleaseWorkflow {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete Workflow {namespace}/{name}")]
    DeleteWorkflow {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write the status of {resource}")]
    WriteStatus {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete finished {resource} after its retention")]
    DeleteResource {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to create follow-up {kind} {name}")]
    CreateFollowUp {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read {kind} {name}, a link of the chain")]
    ReadFollowUp {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to update the spec of {resource}")]
    WriteSpec {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to record the outcome of {resource} in the store")]
    Store {
        resource: String,
        #[source]
        source: StoreError,
    },
    #[error("failed to encode the follow-up {kind} message of {resource}")]
    EncodeFollowUp {
        resource: String,
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to build the Workflow of {resource}")]
    Build {
        resource: String,
        #[source]
        source: BuildError,
    },
    #[error("failed to add or remove the finalizer of {resource}")]
    Finalizer {
        resource: String,
        #[source]
        source: Box<kube::runtime::finalizer::Error<ReconcileError>>,
    },
    #[error("{resource} has no {field}")]
    Incomplete {
        resource: String,
        field: &'static str,
    },
}

impl ReconcileError {
    /// A short name for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::CreateWorkflow { .. } => "create_workflow",
            Self::ReadWorkflow { .. } | Self::ListWorkflows { .. } => "read_workflow",
            Self::ReleaseWorkflow { .. } | Self::DeleteWorkflow { .. } => "release_workflow",
            Self::WriteStatus { .. } => "write_status",
            Self::DeleteResource { .. } => "delete_resource",
            Self::CreateFollowUp { .. } => "create_follow_up",
            Self::ReadFollowUp { .. } => "read_follow_up",
            Self::WriteSpec { .. } => "write_spec",
            Self::Store { .. } => "store",
            Self::EncodeFollowUp { .. } => "encode_follow_up",
            Self::Build { .. } => "build",
            Self::Finalizer { .. } => "finalizer",
            Self::Incomplete { .. } => "incomplete",
        }
    }

    /// Whether trying again can help: a resource that cannot be built, whose follow-up message
    /// cannot be encoded or that lacks metadata waits for a change instead of being retried.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::Build { .. } | Self::EncodeFollowUp { .. } | Self::Incomplete { .. }
        )
    }
}

/// Per-object backoff for transient errors: `base * 2^failures`, capped, with ±20 % jitter.
/// Hand-written because kube-runtime's `error_policy` has no per-object backoff (kube-rs#1916).
pub(crate) fn backoff(failures: u32) -> Duration {
    const BASE_MILLIS: u64 = 500;
    const CAP_MILLIS: u64 = 300_000;
    let exp = BASE_MILLIS.saturating_mul(1u64 << failures.min(20));
    let capped = exp.min(CAP_MILLIS);
    let jitter = rand::random_range(0.8..1.2);
    Duration::from_millis((capped as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_at_five_minutes() {
        assert!(backoff(0) < Duration::from_millis(700));
        assert!(backoff(3) > Duration::from_millis(3_000));
        assert!(backoff(30) <= Duration::from_secs(360));
        assert!(backoff(30) >= Duration::from_secs(240));
    }
}
