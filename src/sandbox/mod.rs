//! Test and demo infrastructure (feature `sandbox`, on by default): wires the in-memory
//! Kubernetes API server (the `apiserver` crate) to this operator's CRDs, and runs the
//! Argo stand-in ([`argo`]); later the embedded Kafka. The operator's other modules never import it
//! (a test in `tests/it/layout.rs` checks), and a build with `--no-default-features`
//! leaves it out.

pub mod argo;
pub mod argo_crds;
pub mod kafka;

use apiserver::{ApiServer, ApiServerBuilder};

/// An in-memory API server that serves this operator's CustomResourceDefinitions
/// ([`crate::api::all_crds`]) from its start.
pub fn apiserver_with_crds() -> ApiServerBuilder {
    ApiServer::builder().crds(crate::api::all_crds())
}
