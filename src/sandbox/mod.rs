//! Test and demo infrastructure: the in-memory Kubernetes API server, the Argo
//! stand-in (and, later, embedded Kafka). Operator code never depends on it.

pub mod apiserver;
pub mod argo;
pub mod reference_data;
