//! An in-memory Kubernetes API server over real HTTP, faithful where the operator depends on it.

pub mod apply;
pub mod patch;
pub mod schema;
pub mod selector;
