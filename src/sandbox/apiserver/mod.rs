//! An in-memory Kubernetes API server over real HTTP, faithful where the operator depends on it.
