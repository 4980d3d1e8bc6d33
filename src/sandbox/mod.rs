//! Test and demo infrastructure: the in-memory Kubernetes API server (and, later,
//! embedded Kafka and the Argo stand-in). Operator code never depends on it.

pub mod apiserver;
pub mod kafka;
pub mod reference_data;
