//! thoth-operator: Thoth's continuous-learning loop as a Kubernetes operator.
//!
//! Data flows `ingest` (Kafka I/O) → `messages` (Thoth's vocabulary: typed
//! messages) → `admission` (messages → resources or flags) → `reconcile`
//! (resources → Argo Workflows → status) → `store` (PostgreSQL). `api` holds the
//! custom resource types, `sandbox` (feature `sandbox`) the embedded test and
//! demo infrastructure, `cli` the command line, `terms` the enumerations they
//! share (a leaf every module may use).

pub mod admission;
pub mod api;
pub mod cli;
pub mod ingest;
pub mod messages;
pub mod package;
pub mod reconcile;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod store;
pub mod telemetry;
pub mod terms;
