//! Controllers: SolverRun, SecurityIndicatorRun and AdviceRequest become Argo Workflows in their
//! target namespaces, followed to the end and recorded in the store.

pub(crate) mod limit;
