//! What the controllers are told at start: where Workflows run, how many at once, who leads.

use std::collections::BTreeMap;
use std::time::Duration;

use super::workflow::WorkflowConfig;
use crate::messages::topics::TopicPrefix;

/// Settings of the three controllers; `thoth-operator run` builds it from flags, tests directly.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Per kind: target namespace, WorkflowTemplate and service account of its Workflows.
    pub workflows: WorkflowConfig,
    /// Namespaces whose resources are reconciled; empty means all.
    pub watch_namespaces: Vec<String>,
    /// Active Workflows allowed per target namespace.
    pub limits: AdmissionLimits,
    /// Admission priority per kind, lower first: AdviceRequest (a person waits) before background
    /// solving by default.
    pub priorities: Priorities,
    /// Solvers an AdviceRequest's unresolved packages are solved with, e.g. `solver-rhel-8-py38`.
    pub solvers: Vec<String>,
    /// Reconciles running at once per kind.
    pub concurrency: u16,
    /// How long a finished resource stays before it is deleted; `None` keeps it.
    pub finished_retention: Option<Duration>,
    pub leader: LeaderConfig,
    /// Prefix of the topics follow-up messages go to (`THOTH_DEPLOYMENT_NAME`).
    pub topics: TopicPrefix,
}

/// At most `default` active Workflows in any target namespace, or `per_namespace[ns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub default: usize,
    pub per_namespace: BTreeMap<String, usize>,
}

impl Default for AdmissionLimits {
    /// Thoth ran 50 Workflows at once in middletier and 10 in backend.
    fn default() -> Self {
        Self {
            default: 50,
            per_namespace: BTreeMap::from([
                ("thoth-middletier".to_string(), 50),
                ("thoth-backend".to_string(), 10),
            ]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priorities {
    pub advice_request: u8,
    pub solver_run: u8,
    pub security_indicator_run: u8,
}

impl Default for Priorities {
    fn default() -> Self {
        Self {
            advice_request: 0,
            solver_run: 1,
            security_indicator_run: 1,
        }
    }
}

/// The Lease every replica competes for; only its holder writes.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    /// This replica's name in the Lease (the pod name in a cluster).
    pub identity: String,
    /// How long a holder's claim lasts without renewal: a new leader takes over within this.
    pub lease_duration: Duration,
    /// The holder renews this long before its claim would lapse.
    pub renew_before: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            namespace: "default".to_string(),
            lease_name: "thoth-operator".to_string(),
            identity: format!("thoth-operator-{}", uuid::Uuid::new_v4().simple()),
            lease_duration: Duration::from_secs(10),
            renew_before: Duration::from_secs(3),
        }
    }
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            workflows: WorkflowConfig::default(),
            watch_namespaces: Vec::new(),
            limits: AdmissionLimits::default(),
            priorities: Priorities::default(),
            solvers: vec![
                "solver-rhel-8-py38".to_string(),
                "solver-fedora-34-py39".to_string(),
                "solver-fedora-35-py310".to_string(),
            ],
            concurrency: 16,
            finished_retention: Some(Duration::from_secs(24 * 3600)),
            leader: LeaderConfig::default(),
            topics: TopicPrefix::none(),
        }
    }
}
