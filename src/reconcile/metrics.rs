//! The controllers' Prometheus metrics (registered under the `thoth_operator_` prefix).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub kind: &'static str,
    pub category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NamespaceLabels {
    pub namespace: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TransitionLabels {
    pub kind: &'static str,
    pub phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ApiLabels {
    pub method: String,
    /// The resource requested, with its subresource (`workflows`, `solverruns/status`, `leases`).
    pub resource: String,
    /// HTTP status class of the answer (`2xx`, `4xx`, `429`, `5xx`) or `error` without one.
    pub code: &'static str,
}

/// Every resource (with subresource) the operator writes, as the `resource` label of
/// `thoth_operator_api_requests_total` names it; the chart's Roles grant exactly these verbs.
pub const WRITTEN_RESOURCES: &[&str] = &[
    "solverruns",
    "solverruns/status",
    "securityindicatorruns",
    "securityindicatorruns/status",
    "advicerequests",
    "advicerequests/status",
    "workflows",
    "events",
    "leases",
];

/// Every metric the controllers export.
#[derive(Debug)]
pub struct ControllerMetrics {
    pub(crate) reconciles: Family<KindLabels, Counter>,
    pub(crate) reconcile_errors: Family<ErrorLabels, Counter>,
    pub(crate) reconcile_duration: Family<KindLabels, Histogram>,
    pub(crate) workflows_created: Family<KindLabels, Counter>,
    pub(crate) phase_transitions: Family<TransitionLabels, Counter>,
    pub(crate) active_workflows: Family<NamespaceLabels, Gauge>,
    pub(crate) queued_resources: Family<NamespaceLabels, Gauge>,
    pub(crate) admission_wait: Histogram,
    pub(crate) api_requests: Family<ApiLabels, Counter>,
    pub(crate) leader: Gauge,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 14))
            }),
            workflows_created: Family::default(),
            phase_transitions: Family::default(),
            active_workflows: Family::default(),
            queued_resources: Family::default(),
            admission_wait: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            api_requests: Family::default(),
            leader: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    /// Creates one zero-valued series in each labelled family (prometheus-client leaves a family
    /// without series out of `/metrics`), so that an encoding names every family the controllers
    /// export: what the chart's dashboard is checked against. The series are examples
    /// (SolverRun, namespace `thoth-middletier`): not for a running operator's metrics.
    pub fn add_example_series(&self) {
        let kind = KindLabels { kind: "SolverRun" };
        let namespace = NamespaceLabels {
            namespace: "thoth-middletier".to_string(),
        };
        let _ = self.reconciles.get_or_create(&kind);
        let _ = self.reconcile_errors.get_or_create(&ErrorLabels {
            kind: "SolverRun",
            category: "transient",
        });
        let _ = self.reconcile_duration.get_or_create(&kind);
        let _ = self.workflows_created.get_or_create(&kind);
        let _ = self.phase_transitions.get_or_create(&TransitionLabels {
            kind: "SolverRun",
            phase: "Queued",
        });
        let _ = self.active_workflows.get_or_create(&namespace);
        let _ = self.queued_resources.get_or_create(&namespace);
        let _ = self.api_requests.get_or_create(&ApiLabels {
            method: "GET".to_string(),
            resource: "solverruns".to_string(),
            code: "2xx",
        });
    }

    /// Workflows this replica created, all kinds together.
    pub fn workflows_created_total(&self) -> u64 {
        ["SolverRun", "SecurityIndicatorRun", "AdviceRequest"]
            .into_iter()
            .map(|kind| {
                self.workflows_created
                    .get_or_create(&KindLabels { kind })
                    .get()
            })
            .sum()
    }

    /// API requests that write (POST, PUT, PATCH, DELETE) this replica sent through a client made
    /// by `build_client`, whatever their answer, to every resource the operator writes
    /// ([`WRITTEN_RESOURCES`]) except those in `except` (e.g. `leases`, whose renewals come with
    /// time rather than work); Events included.
    pub fn api_writes_total(&self, except: &[&str]) -> u64 {
        self.api_writes_by_resource()
            .into_iter()
            .filter(|(resource, _)| !except.contains(resource))
            .map(|(_, writes)| writes)
            .sum()
    }

    /// The writes counted by [`ControllerMetrics::api_writes_total`], per resource.
    pub fn api_writes_by_resource(&self) -> Vec<(&'static str, u64)> {
        WRITTEN_RESOURCES
            .iter()
            .map(|resource| {
                let mut total = 0;
                for method in ["POST", "PUT", "PATCH", "DELETE"] {
                    for code in ["2xx", "4xx", "429", "5xx", "other", "error"] {
                        let labels = ApiLabels {
                            method: method.to_string(),
                            resource: (*resource).to_string(),
                            code,
                        };
                        total += self.api_requests.get(&labels).map_or(0, |c| c.get());
                    }
                }
                (*resource, total)
            })
            .collect()
    }

    /// Reconciles started, all kinds together.
    pub fn reconciles_total(&self) -> u64 {
        ["SolverRun", "SecurityIndicatorRun", "AdviceRequest"]
            .into_iter()
            .map(|kind| self.reconciles.get_or_create(&KindLabels { kind }).get())
            .sum()
    }

    /// Resources waiting for a slot in `namespace`, as last published.
    pub fn queued_in(&self, namespace: &str) -> i64 {
        self.queued_resources
            .get_or_create(&NamespaceLabels {
                namespace: namespace.to_string(),
            })
            .get()
    }

    /// Workflows counted active in `namespace` (as the `active_workflows` gauge shows).
    pub fn active_in(&self, namespace: &str) -> i64 {
        self.active_workflows
            .get_or_create(&NamespaceLabels {
                namespace: namespace.to_string(),
            })
            .get()
    }

    /// Whether this replica holds the Lease (and so may write).
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "reconciles",
            "Reconciles run, by resource kind",
            self.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by resource kind and error category",
            self.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by resource kind",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "workflows_created",
            "Argo Workflows created, by resource kind",
            self.workflows_created.clone(),
        );
        registry.register(
            "phase_transitions",
            "Resources entering a phase, by kind and phase",
            self.phase_transitions.clone(),
        );
        registry.register(
            "active_workflows",
            "Active (admitted, not finished) Workflows per target namespace",
            self.active_workflows.clone(),
        );
        registry.register(
            "queued_resources",
            "Resources waiting in phase Queued per target namespace",
            self.queued_resources.clone(),
        );
        registry.register(
            "admission_wait_seconds",
            "Time a resource waited in the queue before a slot was free",
            self.admission_wait.clone(),
        );
        registry.register(
            "api_requests",
            "Requests to the Kubernetes API by method and answer (429 = throttled by the server)",
            self.api_requests.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease and writes",
            self.leader.clone(),
        );
    }
}
