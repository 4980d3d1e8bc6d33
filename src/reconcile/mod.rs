//! Controllers: SolverRun, SecurityIndicatorRun and AdviceRequest become Argo Workflows in their
//! target namespaces, followed to the end and recorded in the store.
//!
//! Pure parts: [`workflow`] (resource + attempt + configuration → Workflow), [`observe`] (Workflow
//! → phase, times, outcome), `limit` (the admission index). The runtime (`context`, `controller`)
//! fetches, calls them and applies what they decide.

pub mod chain;
mod client;
pub mod config;
mod context;
pub mod contract;
mod controller;
mod error;
mod kinds;
pub(crate) mod limit;
mod metrics;
mod names;
pub mod observe;
mod orphans;
pub mod workflow;

pub use client::{ClientError, build_client};
pub use config::{AdmissionLimits, LeaderConfig, OperatorConfig, Priorities};
pub use context::{Context, RunError, run};
pub use controller::{RESOURCE_FINALIZER, RETRY_ANNOTATION};
pub use error::ReconcileError;
pub use metrics::ControllerMetrics;
