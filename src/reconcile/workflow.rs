//! Building the Argo Workflow for one attempt of a SolverRun, SecurityIndicatorRun or
//! AdviceRequest: a pure function of the resource, its attempt number and the
//! [`WorkflowConfig`].
//!
//! - The Workflow references the kind's WorkflowTemplate (`workflowTemplateRef`) and
//!   passes Thoth's parameters (`THOTH_SOLVER_*`, `THOTH_SECURITY_INDICATORS_*`,
//!   `THOTH_ADVISER_*`, as thoth-application's templates declare them).
//! - Namespace, template and service account come from the configuration, never
//!   from the resource (design invariant 5).
//! - The name is a DNS-1123 label of at most 63 characters, a function of the
//!   resource (kind, namespace, name, uid) and the attempt, so a repeated reconcile
//!   or a second replica creates the same object, and "already exists" means done
//!   (invariant 2). See [`workflow_name`].
//! - Labels and annotations link the Workflow back to its resource ([`run_of`]); the
//!   operator's finalizer is set at creation so Argo's TTL cannot delete the Workflow
//!   before its outcome is stored (invariant 3).

use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::ObjectMeta;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::observe::{
    self, AdviceResults, OutputProblem, SecurityIndicatorsResults, SolverResults,
};
use crate::api::argo::{
    ARGO_LABEL_PREFIX, Arguments, Parameter, Workflow, WorkflowSpec, WorkflowTemplateRef,
};
use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
use crate::package::{
    IndexUrl, JobId, Namespace, PackageError, PackageName, PackageVersion, ServiceAccountName,
    SolverName, TemplateName,
};

/// Longest name a Workflow may have: Argo copies it into the label
/// `workflows.argoproj.io/workflow`, whose values are limited to 63 characters.
pub const MAX_WORKFLOW_NAME_LEN: usize = 63;

/// `app.kubernetes.io/managed-by`; its value [`MANAGED_BY`] selects our Workflows.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "thoth-operator";
/// Label selector matching every Workflow this operator created.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=thoth-operator";
/// `app.kubernetes.io/component`: Thoth's component (`solver`, `security-indicators`,
/// `adviser`), by which Thoth's dashboards group Workflows.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Kind of the resource a Workflow runs, e.g. `SolverRun`.
pub const RESOURCE_KIND_LABEL: &str = "thoth-station.ninja/resource-kind";
/// Namespace of that resource (a label for selection; also an annotation).
pub const RESOURCE_NAMESPACE_LABEL: &str = "thoth-station.ninja/resource-namespace";
/// Name of that resource, set only when it fits a label value (≤ 63 characters);
/// the annotation [`RESOURCE_NAME_ANNOTATION`] always holds it.
pub const RESOURCE_NAME_LABEL: &str = "thoth-station.ninja/resource-name";
/// uid of that resource: tells a Workflow of a deleted and re-created resource apart.
pub const RESOURCE_UID_LABEL: &str = "thoth-station.ninja/resource-uid";
/// Attempt number (1, 2, ...) of the resource this Workflow runs.
pub const ATTEMPT_LABEL: &str = "thoth-station.ninja/attempt";
/// Namespace of the resource, as an annotation (the source [`run_of`] reads).
pub const RESOURCE_NAMESPACE_ANNOTATION: &str = "thoth-station.ninja/resource-namespace";
/// Name of the resource, as an annotation (names may exceed a label value's 63 characters).
pub const RESOURCE_NAME_ANNOTATION: &str = "thoth-station.ninja/resource-name";
/// Finalizer the operator puts on each Workflow at creation and removes once the
/// attempt's outcome is in the store.
pub const WORKFLOW_FINALIZER: &str = "thoth-station.ninja/record-outcome";

/// Where and how Workflows of one kind run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowTarget {
    /// Namespace the Workflows are created in, e.g. `thoth-middletier`.
    pub namespace: String,
    /// Name of the WorkflowTemplate in that namespace, e.g. `solver`.
    pub template: String,
    /// Service account the Workflows' pods run as.
    pub service_account: String,
}

/// Service account of Thoth's Workflows (thoth-application runs them as `argo`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "argo";

/// Per kind, where its Workflows run. Defaults as Thoth deploys them: solvers and
/// security indicators in `thoth-middletier`, advice in `thoth-backend`, templates
/// `solver`, `security-indicators` and `adviser`, service account `argo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowConfig {
    pub solver: WorkflowTarget,
    pub security_indicators: WorkflowTarget,
    pub adviser: WorkflowTarget,
}

impl WorkflowConfig {
    /// The namespaces Workflows run in (each kind's target), without repeats, sorted.
    pub fn target_namespaces(&self) -> Vec<String> {
        let mut namespaces: Vec<String> = [&self.solver, &self.security_indicators, &self.adviser]
            .iter()
            .map(|target| target.namespace.clone())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    }
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        let target = |namespace: &str, template: &str| WorkflowTarget {
            namespace: namespace.to_string(),
            template: template.to_string(),
            service_account: DEFAULT_SERVICE_ACCOUNT.to_string(),
        };
        Self {
            solver: target("thoth-middletier", "solver"),
            security_indicators: target("thoth-middletier", "security-indicators"),
            adviser: target("thoth-backend", "adviser"),
        }
    }
}

/// A configured target the API server would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{component} {field} {value:?} is not a {rule}")]
pub struct ConfigError {
    pub component: &'static str,
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl WorkflowConfig {
    /// Checks every namespace is a DNS-1123 label and every template and service
    /// account name a DNS-1123 subdomain, as the API server will require.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (component, target) in [
            ("solver", &self.solver),
            ("security-indicators", &self.security_indicators),
            ("adviser", &self.adviser),
        ] {
            let fail = |field, value: &str, rule| ConfigError {
                component,
                field,
                value: value.to_string(),
                rule,
            };
            if Namespace::parse(&target.namespace).is_err() {
                return Err(fail("namespace", &target.namespace, "DNS-1123 label"));
            }
            if TemplateName::parse(&target.template).is_err() {
                return Err(fail("template", &target.template, "DNS-1123 subdomain"));
            }
            if ServiceAccountName::parse(&target.service_account).is_err() {
                return Err(fail(
                    "service account",
                    &target.service_account,
                    "DNS-1123 subdomain",
                ));
            }
        }
        Ok(())
    }
}

/// Why no Workflow could be built for a resource.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{kind} has no metadata.{field}")]
    MissingMetadata {
        kind: &'static str,
        field: &'static str,
    },
    #[error("attempt numbers start at 1, not 0")]
    AttemptZero,
    #[error("{field} of {kind} {name} is not valid")]
    InvalidField {
        kind: &'static str,
        name: String,
        field: &'static str,
        #[source]
        source: PackageError,
    },
    #[error(
        "parameter {parameter} of {kind} {name} would contain Argo's `{{{{` substitution marker"
    )]
    SubstitutionMarker {
        kind: &'static str,
        name: String,
        parameter: String,
    },
    #[error("{field} of {kind} {name} cannot become a Workflow parameter: {reason}")]
    UnsafeValue {
        kind: &'static str,
        name: String,
        field: &'static str,
        reason: &'static str,
    },
}

/// A resource kind that runs as an Argo Workflow: what differs between SolverRun,
/// SecurityIndicatorRun and AdviceRequest when building and observing Workflows.
pub trait WorkflowKind: Resource<DynamicType = (), Scope = NamespaceResourceScope> {
    /// The resource's kind, e.g. `SolverRun` (the same as [`Resource::kind`]).
    const KIND: &'static str;
    /// Thoth's component name, e.g. `solver` (the `app.kubernetes.io/component` label).
    const COMPONENT: &'static str;
    /// What a finished Workflow of this kind publishes (see [`crate::reconcile::contract`]).
    type Results: std::fmt::Debug + Clone + PartialEq;

    /// This kind's namespace, template and service account.
    fn target(config: &WorkflowConfig) -> &WorkflowTarget;

    /// The readable part of Workflow names before sanitising, starting with Thoth's
    /// prefix for the kind (`solver-rhel-8-py38-pyyaml-5.3.1`).
    fn name_stem(&self) -> String;

    /// `arguments.parameters`, validated; `workflow_name` is the name the Workflow
    /// will have (Thoth's workflow id).
    fn parameters(&self, workflow_name: &str) -> Result<Vec<Parameter>, BuildError>;

    /// The results a finished Workflow published: `Ok(None)` when it published none
    /// of this kind's output parameters.
    fn published_results(workflow: &Workflow) -> Result<Option<Self::Results>, OutputProblem>;
}

fn field_error<K: WorkflowKind>(
    resource: &K,
    field: &'static str,
) -> impl FnOnce(PackageError) -> BuildError {
    let name = resource.meta().name.clone().unwrap_or_default();
    move |source| BuildError::InvalidField {
        kind: K::KIND,
        name,
        field,
        source,
    }
}

fn unsafe_value<K: WorkflowKind>(
    resource: &K,
    field: &'static str,
    reason: &'static str,
) -> BuildError {
    BuildError::UnsafeValue {
        kind: K::KIND,
        name: resource.meta().name.clone().unwrap_or_default(),
        field,
        reason,
    }
}

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

fn log_level(debug: bool) -> &'static str {
    if debug { "DEBUG" } else { "INFO" }
}

impl WorkflowKind for SolverRun {
    const KIND: &'static str = "SolverRun";
    const COMPONENT: &'static str = "solver";
    type Results = SolverResults;

    fn target(config: &WorkflowConfig) -> &WorkflowTarget {
        &config.solver
    }

    fn name_stem(&self) -> String {
        let spec = &self.spec;
        // The solver name already starts with `solver-`, Thoth's prefix.
        match &spec.package_version {
            Some(version) => format!("{}-{}-{}", spec.solver, spec.package_name, version),
            None => format!("{}-{}", spec.solver, spec.package_name),
        }
    }

    fn parameters(&self, workflow_name: &str) -> Result<Vec<Parameter>, BuildError> {
        let spec = &self.spec;
        let name = PackageName::parse(&spec.package_name)
            .map_err(field_error(self, "spec.packageName"))?;
        let version = spec
            .package_version
            .as_deref()
            .map(PackageVersion::parse)
            .transpose()
            .map_err(field_error(self, "spec.packageVersion"))?;
        let index = IndexUrl::parse(&spec.index_url).map_err(field_error(self, "spec.indexUrl"))?;
        SolverName::parse(&spec.solver).map_err(field_error(self, "spec.solver"))?;
        let mut dependency_indexes = Vec::with_capacity(spec.dependency_index_urls.len());
        for url in &spec.dependency_index_urls {
            let url =
                IndexUrl::parse(url).map_err(field_error(self, "spec.dependencyIndexUrls"))?;
            if url.as_str().contains(',') {
                // The parameter is a comma-separated list.
                return Err(unsafe_value(
                    self,
                    "spec.dependencyIndexUrls",
                    "an index URL in a comma-separated list may not contain a comma",
                ));
            }
            dependency_indexes.push(url.to_string());
        }
        if dependency_indexes.is_empty() {
            dependency_indexes.push(index.to_string());
        }
        let packages = match &version {
            // `===` compares strings: the index's own spelling, not the PEP 440 normal form.
            Some(version) => format!("{name}==={}", version.as_sent()),
            None => name.to_string(),
        };
        Ok(vec![
            Parameter::new("THOTH_SOLVER_WORKFLOW_ID", workflow_name),
            Parameter::new("THOTH_SOLVER_NAME", spec.solver.as_str()),
            Parameter::new("THOTH_SOLVER_PACKAGES", packages),
            // One package per Workflow, without its dependencies' dependencies, as
            // Thoth's investigator always asks.
            Parameter::new("THOTH_SOLVER_NO_TRANSITIVE", "1"),
            Parameter::new("THOTH_SOLVER_INDEXES", index.as_str()),
            Parameter::new(
                "THOTH_SOLVER_DEPENDENCY_INDEXES",
                dependency_indexes.join(","),
            ),
            Parameter::new("THOTH_FORCE_SYNC", "0"),
            Parameter::new("THOTH_LOG_SOLVER", log_level(spec.debug)),
        ])
    }

    fn published_results(workflow: &Workflow) -> Result<Option<SolverResults>, OutputProblem> {
        observe::solver_results(workflow)
    }
}

impl WorkflowKind for SecurityIndicatorRun {
    const KIND: &'static str = "SecurityIndicatorRun";
    const COMPONENT: &'static str = "security-indicators";
    type Results = SecurityIndicatorsResults;

    fn target(config: &WorkflowConfig) -> &WorkflowTarget {
        &config.security_indicators
    }

    fn name_stem(&self) -> String {
        format!(
            "security-indicators-{}-{}",
            self.spec.package_name, self.spec.package_version
        )
    }

    fn parameters(&self, workflow_name: &str) -> Result<Vec<Parameter>, BuildError> {
        let spec = &self.spec;
        let name = PackageName::parse(&spec.package_name)
            .map_err(field_error(self, "spec.packageName"))?;
        let version = PackageVersion::parse(&spec.package_version)
            .map_err(field_error(self, "spec.packageVersion"))?;
        let index = IndexUrl::parse(&spec.index_url).map_err(field_error(self, "spec.indexUrl"))?;
        if !is_function_name(&spec.aggregation_function) {
            return Err(unsafe_value(
                self,
                "spec.aggregationFunction",
                "not a lower-case Python identifier",
            ));
        }
        Ok(vec![
            Parameter::new("THOTH_SECURITY_INDICATORS_JOB_ID", workflow_name),
            Parameter::new("THOTH_SECURITY_INDICATORS_PACKAGE_NAME", name.as_str()),
            Parameter::new(
                "THOTH_SECURITY_INDICATORS_PACKAGE_VERSION",
                version.as_sent(),
            ),
            Parameter::new("THOTH_SECURITY_INDICATORS_PACKAGE_INDEX", index.as_str()),
            Parameter::new(
                "THOTH_SECURITY_INDICATORS_AGGREGATION_FUNCTION",
                spec.aggregation_function.as_str(),
            ),
            Parameter::new("THOTH_FORCE_SYNC", "0"),
            Parameter::new("THOTH_DOCUMENT_ID", workflow_name),
        ])
    }

    fn published_results(
        workflow: &Workflow,
    ) -> Result<Option<SecurityIndicatorsResults>, OutputProblem> {
        observe::security_indicators_results(workflow)
    }
}

/// Adviser settings Thoth's investigator sends unless the request says otherwise.
const ADVISER_DEFAULT_LIMIT: i64 = 100_000;
const ADVISER_DEFAULT_COUNT: i64 = 1;

impl WorkflowKind for AdviceRequest {
    const KIND: &'static str = "AdviceRequest";
    const COMPONENT: &'static str = "adviser";
    type Results = AdviceResults;

    fn target(config: &WorkflowConfig) -> &WorkflowTarget {
        &config.adviser
    }

    fn name_stem(&self) -> String {
        // Thoth's job ids already carry the prefix (`adviser-210312182025-5e8c…`).
        if self.spec.job_id.starts_with("adviser-") {
            self.spec.job_id.clone()
        } else {
            format!("adviser-{}", self.spec.job_id)
        }
    }

    fn parameters(&self, workflow_name: &str) -> Result<Vec<Parameter>, BuildError> {
        let spec = &self.spec;
        JobId::parse(&spec.job_id).map_err(field_error(self, "spec.jobId"))?;
        if let Some(re_run) = &spec.re_run_adviser_id {
            JobId::parse(re_run).map_err(field_error(self, "spec.reRunAdviserId"))?;
        }
        let metadata = json!({
            "origin": spec.origin,
            "re_run_adviser_id": spec.re_run_adviser_id,
            "source_type": spec.source_type,
            "kebechet_metadata": spec.kebechet_metadata,
            "justification": spec.justification,
            "stack_info": spec.stack_info,
        });
        let recommendation_type = match serde_json::to_value(spec.recommendation_type) {
            Ok(Value::String(value)) => value,
            _ => {
                return Err(unsafe_value(
                    self,
                    "spec.recommendationType",
                    "not a string",
                ));
            }
        };
        let mut parameters = vec![
            // The job id is also the result document's id, whatever the attempt; except for
            // the chain's re-run of this very request (`reRunAdviserId` = its own job id),
            // whose result is a new document (the Workflow's name) linked to the first, as
            // Thoth's re-runs are.
            Parameter::new("THOTH_ADVISER_JOB_ID", adviser_job_id(spec, workflow_name)),
            Parameter::new("THOTH_ADVISER_REQUIREMENTS_FORMAT", "pipenv"),
            Parameter::new("THOTH_ADVISER_RECOMMENDATION_TYPE", recommendation_type),
            Parameter::new("THOTH_ADVISER_METADATA", argo_safe_json(&metadata)),
            Parameter::new("THOTH_ADVISER_PREDICTOR_CONFIG", "{}"),
            Parameter::new("THOTH_ADVISER_SEED", "42"),
            Parameter::new("THOTH_ADVISER_DEV", flag(spec.dev)),
            Parameter::new("THOTH_ADVISER_BEAM_WIDTH", "25000"),
            Parameter::new("THOTH_LOG_ADVISER", log_level(spec.debug)),
            Parameter::new(
                "THOTH_ADVISER_LIMIT",
                spec.limit.unwrap_or(ADVISER_DEFAULT_LIMIT).to_string(),
            ),
            Parameter::new(
                "THOTH_ADVISER_COUNT",
                spec.count.unwrap_or(ADVISER_DEFAULT_COUNT).to_string(),
            ),
            Parameter::new("THOTH_ADVISER_TIMEOUT_SECONDS", "1500"),
            Parameter::new("THOTH_FORCE_SYNC", "0"),
            Parameter::new("THOTH_AUTHENTICATED_ADVISE", flag(spec.authenticated)),
        ];
        if let Some(latest) = spec.limit_latest_versions {
            parameters.push(Parameter::new(
                "THOTH_ADVISER_LIMIT_LATEST_VERSIONS",
                latest.to_string(),
            ));
        }
        Ok(parameters)
    }

    fn published_results(workflow: &Workflow) -> Result<Option<AdviceResults>, OutputProblem> {
        observe::advice_results(workflow)
    }
}

/// The adviser's job id (its result document's id): the request's own, or for the chain's re-run
/// of this request the Workflow's name.
pub(crate) fn adviser_job_id<'a>(
    spec: &'a crate::api::AdviceRequestSpec,
    workflow_name: &'a str,
) -> &'a str {
    if spec.re_run_adviser_id.as_deref() == Some(spec.job_id.as_str()) {
        workflow_name
    } else {
        &spec.job_id
    }
}

/// JSON text in which no `{{` occurs, so Argo's `{{...}}` substitution cannot act on
/// a value taken from a resource. Outside strings JSON never has `{{` (an object's
/// first token is a key or `}`), so escaping the second brace inside strings as
/// `\u007b` keeps the decoded value unchanged.
fn argo_safe_json(value: &Value) -> String {
    value.to_string().replace("{{", "{\\u007b")
}

/// The name of the Workflow running `attempt` of `resource`:
/// `<stem>-<hash>-<attempt>`, at most 63 characters, e.g.
/// `solver-rhel-8-py38-pyyaml-5-3-1-3f9a1c02de-1`.
///
/// - `stem` is [`WorkflowKind::name_stem`] in lower case with every run of other
///   characters than `a-z0-9` turned into one `-`, cut to fit.
/// - `hash` is the first 10 hex digits of SHA-256 over kind, namespace, name and uid
///   of the resource. Sanitising and cutting make stems collide (`1.0-1` and
///   `1-0.1`, `PyYAML` and `pyyaml`, long names, equal names in two namespaces); the
///   hash keeps such resources apart. Including the uid gives a deleted and
///   re-created resource new Workflows instead of its predecessor's.
pub fn workflow_name<K: WorkflowKind>(resource: &K, attempt: u32) -> Result<String, BuildError> {
    if attempt == 0 {
        return Err(BuildError::AttemptZero);
    }
    let identity = Identity::of(resource)?;
    let mut hasher = Sha256::new();
    for part in [
        identity.kind,
        identity.namespace.as_str(),
        identity.name.as_str(),
        identity.uid.as_str(),
    ] {
        hasher.update(part.as_bytes());
        // A separator no part can contain, so ("a", "bc") and ("ab", "c") differ.
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let hash: String = digest
        .iter()
        .take(5)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let suffix = format!("-{hash}-{attempt}");
    let mut stem = sanitize(&resource.name_stem());
    stem.truncate(MAX_WORKFLOW_NAME_LEN.saturating_sub(suffix.len()));
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        Ok(format!("{}{suffix}", K::COMPONENT))
    } else {
        Ok(format!("{stem}{suffix}"))
    }
}

/// Lower case, every run of characters outside `a-z0-9` as one `-`, no `-` at the ends.
fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

struct Identity {
    kind: &'static str,
    namespace: String,
    name: String,
    uid: String,
}

impl Identity {
    fn of<K: WorkflowKind>(resource: &K) -> Result<Self, BuildError> {
        let kind = K::KIND;
        let meta = resource.meta();
        let missing = |field| BuildError::MissingMetadata { kind, field };
        Ok(Self {
            kind,
            namespace: meta.namespace.clone().ok_or(missing("namespace"))?,
            name: meta.name.clone().ok_or(missing("name"))?,
            uid: meta.uid.clone().ok_or(missing("uid"))?,
        })
    }
}

/// The Workflow for `attempt` (1, 2, ...) of `resource`: named by [`workflow_name`],
/// in the kind's configured namespace, referencing its configured WorkflowTemplate,
/// running as its configured service account, labelled and annotated with the
/// resource's kind, namespace, name, uid and attempt, and carrying
/// [`WORKFLOW_FINALIZER`].
///
/// Errors: the resource lacks a namespace, name or uid (it was not read from the API
/// server), `attempt` is 0, or a spec value is invalid or would break a parameter.
pub fn build_workflow<K: WorkflowKind>(
    resource: &K,
    attempt: u32,
    config: &WorkflowConfig,
) -> Result<Workflow, BuildError> {
    let name = workflow_name(resource, attempt)?;
    let identity = Identity::of(resource)?;
    let target = K::target(config);
    let parameters = resource.parameters(&name)?;
    if let Some(parameter) = parameters
        .iter()
        .find(|p| p.value.as_deref().is_some_and(|v| v.contains("{{")))
    {
        return Err(BuildError::SubstitutionMarker {
            kind: K::KIND,
            name: identity.name,
            parameter: parameter.name.clone(),
        });
    }
    if !is_label_value(&identity.uid) {
        return Err(unsafe_value(
            resource,
            "metadata.uid",
            "not a valid label value",
        ));
    }
    let mut labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        (COMPONENT_LABEL.to_string(), K::COMPONENT.to_string()),
        (RESOURCE_KIND_LABEL.to_string(), identity.kind.to_string()),
        (
            RESOURCE_NAMESPACE_LABEL.to_string(),
            identity.namespace.clone(),
        ),
        (RESOURCE_UID_LABEL.to_string(), identity.uid.clone()),
        (ATTEMPT_LABEL.to_string(), attempt.to_string()),
    ]);
    if is_label_value(&identity.name) {
        labels.insert(RESOURCE_NAME_LABEL.to_string(), identity.name.clone());
    }
    debug_assert!(labels.keys().all(|k| !k.starts_with(ARGO_LABEL_PREFIX)));
    let annotations = BTreeMap::from([
        (
            RESOURCE_NAMESPACE_ANNOTATION.to_string(),
            identity.namespace.clone(),
        ),
        (RESOURCE_NAME_ANNOTATION.to_string(), identity.name.clone()),
    ]);
    Ok(Workflow {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(target.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            finalizers: Some(vec![WORKFLOW_FINALIZER.to_string()]),
            ..ObjectMeta::default()
        },
        spec: WorkflowSpec {
            workflow_template_ref: Some(WorkflowTemplateRef {
                name: target.template.clone(),
                cluster_scope: None,
            }),
            arguments: Some(Arguments {
                parameters,
                ..Arguments::default()
            }),
            service_account_name: Some(target.service_account.clone()),
            ..WorkflowSpec::default()
        },
        status: None,
    })
}

/// The resource a Workflow runs, as its labels and annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    /// `SolverRun`, `SecurityIndicatorRun` or `AdviceRequest`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub attempt: Option<u32>,
}

/// The resource behind a Workflow built by [`build_workflow`]; `None` for a Workflow
/// without our annotations (not ours, or edited by hand).
pub fn run_of(workflow: &Workflow) -> Option<RunRef> {
    let meta = &workflow.metadata;
    let labels = meta.labels.as_ref()?;
    let annotations = meta.annotations.as_ref()?;
    Some(RunRef {
        kind: labels.get(RESOURCE_KIND_LABEL)?.clone(),
        namespace: annotations.get(RESOURCE_NAMESPACE_ANNOTATION)?.clone(),
        name: annotations.get(RESOURCE_NAME_ANNOTATION)?.clone(),
        uid: labels.get(RESOURCE_UID_LABEL).cloned(),
        attempt: labels.get(ATTEMPT_LABEL).and_then(|a| a.parse().ok()),
    })
}

/// `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`, at most 63 characters.
fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_none_or(|b| b.is_ascii_alphanumeric())
}

fn is_function_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !value.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Resources as the API server returns them (namespace, name and uid set).

    use kube::api::ObjectMeta;

    use crate::api::{
        AdviceRequest, AdviceRequestSpec, RecommendationType, SecurityIndicatorRun,
        SecurityIndicatorRunSpec, SolverRun, SolverRunSpec,
    };

    pub fn meta(namespace: &str, name: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            uid: Some(uid.to_string()),
            ..ObjectMeta::default()
        }
    }

    pub fn solver_run(package: &str, version: Option<&str>) -> SolverRun {
        SolverRun {
            metadata: meta(
                "thoth",
                "solver-rhel-8-py38-pyyaml-5-3-1",
                "6f1c1f0e-0d7b-4a59-9d55-4f1b8a3c2e01",
            ),
            spec: SolverRunSpec {
                package_name: package.to_string(),
                package_version: version.map(str::to_string),
                index_url: "https://pypi.org/simple".to_string(),
                solver: "solver-rhel-8-py38".to_string(),
                dependency_index_urls: Vec::new(),
                debug: false,
            },
            status: None,
        }
    }

    pub fn security_indicator_run(package: &str, version: &str) -> SecurityIndicatorRun {
        SecurityIndicatorRun {
            metadata: meta(
                "thoth",
                "si-crossbar-0-10-0",
                "2b0a5a53-1b8e-4c5e-8f0e-7d0c1e9a4b11",
            ),
            spec: SecurityIndicatorRunSpec {
                package_name: package.to_string(),
                package_version: version.to_string(),
                index_url: "https://pypi.org/simple".to_string(),
                aggregation_function: "process_data".to_string(),
            },
            status: None,
        }
    }

    pub fn advice_request(job_id: &str) -> AdviceRequest {
        AdviceRequest {
            metadata: meta("thoth", job_id, "9c4e2f8a-3d1b-4e6f-a0b2-5c7d9e1f3a22"),
            spec: AdviceRequestSpec {
                job_id: job_id.to_string(),
                recommendation_type: RecommendationType::Stable,
                origin: Some("https://github.com/thoth-station/ps-ip".to_string()),
                source_type: None,
                count: None,
                limit: None,
                limit_latest_versions: None,
                dev: false,
                debug: false,
                authenticated: true,
                re_run_adviser_id: None,
                kebechet_metadata: None,
                justification: None,
                stack_info: None,
            },
            status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use serde_json::{Value, json};

    use super::fixtures::{advice_request, meta, security_indicator_run, solver_run};
    use super::*;
    use crate::api::SourceType;
    use crate::reconcile::contract::SecurityIndicatorsOutcome;
    use testkit::reference_data::shared_dir;

    fn parameters(workflow: &Workflow) -> BTreeMap<String, String> {
        workflow
            .spec
            .arguments
            .iter()
            .flat_map(|a| &a.parameters)
            .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
            .collect()
    }

    fn labels(workflow: &Workflow) -> BTreeMap<String, String> {
        workflow.metadata.labels.clone().unwrap_or_default()
    }

    /// Argo's published JSON schema, narrowed to the Workflow definition and made
    /// strict: every object definition with properties refuses unknown properties, so a
    /// misspelt field fails instead of passing unnoticed.
    fn argo_workflow_validator() -> &'static jsonschema::Validator {
        static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
        VALIDATOR.get_or_init(|| {
            let path = shared_dir().join("argo/jsonschema/schema.json");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut schema: Value = serde_json::from_str(&text).expect("schema parses");
            let definitions = schema["definitions"]
                .as_object_mut()
                .expect("schema has definitions");
            for definition in definitions.values_mut() {
                if let Some(object) = definition.as_object_mut()
                    && object.contains_key("properties")
                    && !object.contains_key("additionalProperties")
                {
                    object.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            let object = schema.as_object_mut().expect("schema is an object");
            object.remove("oneOf");
            object.insert(
                "$ref".into(),
                json!("#/definitions/io.argoproj.workflow.v1alpha1.Workflow"),
            );
            jsonschema::validator_for(&schema).expect("Argo's schema compiles")
        })
    }

    fn assert_valid_for_argo(workflow: &Workflow) {
        let instance = serde_json::to_value(workflow).expect("serialises");
        let errors: Vec<String> = argo_workflow_validator()
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{instance:#}\nis refused: {errors:#?}");
    }

    #[test]
    fn the_strict_argo_schema_refuses_a_misspelt_field() {
        let mut workflow = build_workflow(
            &solver_run("PyYAML", Some("5.3.1")),
            1,
            &WorkflowConfig::default(),
        )
        .expect("builds");
        workflow
            .spec
            .other
            .insert("workflowTemplateRefs".into(), json!({"name": "solver"}));
        let instance = serde_json::to_value(&workflow).expect("serialises");
        assert!(!argo_workflow_validator().is_valid(&instance));
    }

    #[test]
    fn every_kinds_workflow_validates_against_argos_json_schema() {
        let config = WorkflowConfig::default();
        let mut advice = advice_request("adviser-210312182025-5e8c8f2a1b3c4d5e");
        advice.spec.source_type = Some(SourceType::Kebechet);
        advice.spec.kebechet_metadata = Some(BTreeMap::from([("x".into(), json!({"a": [1]}))]));
        advice.spec.limit_latest_versions = Some(5);
        let mut solver = solver_run("PyYAML", None);
        solver.spec.dependency_index_urls = vec!["https://download.pytorch.org/whl".into()];
        for workflow in [
            build_workflow(&solver, 1, &config).expect("solver builds"),
            build_workflow(&solver_run("ruamel.yaml", Some("0.17.21")), 3, &config)
                .expect("solver builds"),
            build_workflow(&security_indicator_run("crossbar", "0.10.0"), 1, &config)
                .expect("security indicators build"),
            build_workflow(&advice, 2, &config).expect("advice builds"),
        ] {
            assert_valid_for_argo(&workflow);
        }
    }

    #[test]
    fn the_solver_workflow_carries_thoths_parameters_in_the_configured_target() {
        let config = WorkflowConfig {
            solver: WorkflowTarget {
                namespace: "workers".into(),
                template: "solver-v2".into(),
                service_account: "thoth-solver".into(),
            },
            ..WorkflowConfig::default()
        };
        let mut run = solver_run("Ruamel_YAML", Some("0.17.21"));
        run.spec.index_url = "https://pypi.python.org/simple/".into();
        run.spec.debug = true;
        let workflow = build_workflow(&run, 1, &config).expect("builds");
        let name = workflow.metadata.name.clone().expect("named");
        assert_eq!(workflow.metadata.namespace.as_deref(), Some("workers"));
        assert_eq!(
            workflow.spec.workflow_template_ref,
            Some(WorkflowTemplateRef {
                name: "solver-v2".into(),
                cluster_scope: None
            })
        );
        assert_eq!(
            workflow.spec.service_account_name.as_deref(),
            Some("thoth-solver")
        );
        let expected: BTreeMap<String, String> = [
            ("THOTH_SOLVER_WORKFLOW_ID", name.as_str()),
            ("THOTH_SOLVER_NAME", "solver-rhel-8-py38"),
            ("THOTH_SOLVER_PACKAGES", "ruamel-yaml===0.17.21"),
            ("THOTH_SOLVER_NO_TRANSITIVE", "1"),
            ("THOTH_SOLVER_INDEXES", "https://pypi.org/simple"),
            ("THOTH_SOLVER_DEPENDENCY_INDEXES", "https://pypi.org/simple"),
            ("THOTH_FORCE_SYNC", "0"),
            ("THOTH_LOG_SOLVER", "DEBUG"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parameters(&workflow), expected);
        assert_eq!(
            workflow.metadata.finalizers,
            Some(vec![WORKFLOW_FINALIZER.to_string()])
        );
        assert!(workflow.status.is_none());
    }

    #[test]
    fn a_solver_run_without_version_solves_the_bare_name_against_its_dependency_indexes() {
        let mut run = solver_run("Flask", None);
        run.spec.dependency_index_urls = vec![
            "https://pypi.org/simple/".into(),
            "https://download.pytorch.org/whl/cpu".into(),
        ];
        let workflow = build_workflow(&run, 1, &WorkflowConfig::default()).expect("builds");
        let parameters = parameters(&workflow);
        assert_eq!(parameters["THOTH_SOLVER_PACKAGES"], "flask");
        assert_eq!(
            parameters["THOTH_SOLVER_DEPENDENCY_INDEXES"],
            "https://pypi.org/simple,https://download.pytorch.org/whl/cpu"
        );
        assert_eq!(parameters["THOTH_LOG_SOLVER"], "INFO");
    }

    #[test]
    fn the_security_indicator_workflow_carries_thoths_parameters() {
        let run = security_indicator_run("Crossbar", "0.10.0");
        let workflow = build_workflow(&run, 1, &WorkflowConfig::default()).expect("builds");
        let name = workflow.metadata.name.clone().expect("named");
        assert!(
            name.starts_with("security-indicators-crossbar-0-10-0-"),
            "{name}"
        );
        assert_eq!(
            workflow.metadata.namespace.as_deref(),
            Some("thoth-middletier")
        );
        assert_eq!(
            workflow
                .spec
                .workflow_template_ref
                .as_ref()
                .map(|r| r.name.as_str()),
            Some("security-indicators")
        );
        assert_eq!(workflow.spec.service_account_name.as_deref(), Some("argo"));
        let expected: BTreeMap<String, String> = [
            ("THOTH_SECURITY_INDICATORS_JOB_ID", name.as_str()),
            ("THOTH_SECURITY_INDICATORS_PACKAGE_NAME", "crossbar"),
            ("THOTH_SECURITY_INDICATORS_PACKAGE_VERSION", "0.10.0"),
            (
                "THOTH_SECURITY_INDICATORS_PACKAGE_INDEX",
                "https://pypi.org/simple",
            ),
            (
                "THOTH_SECURITY_INDICATORS_AGGREGATION_FUNCTION",
                "process_data",
            ),
            ("THOTH_FORCE_SYNC", "0"),
            ("THOTH_DOCUMENT_ID", name.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parameters(&workflow), expected);
    }

    #[test]
    fn the_chains_re_run_of_a_request_writes_a_new_document_named_after_its_workflow() {
        let mut request = advice_request("adviser-210312182025-5e8c8f2a1b3c4d5e");
        let first = build_workflow(&request, 1, &WorkflowConfig::default()).expect("builds");
        assert_eq!(
            parameters(&first)["THOTH_ADVISER_JOB_ID"],
            "adviser-210312182025-5e8c8f2a1b3c4d5e"
        );
        request.spec.re_run_adviser_id = Some(request.spec.job_id.clone());
        let re_run = build_workflow(&request, 2, &WorkflowConfig::default()).expect("builds");
        let name = re_run.metadata.name.clone().expect("named");
        assert_eq!(parameters(&re_run)["THOTH_ADVISER_JOB_ID"], name);
        let metadata: Value =
            serde_json::from_str(&parameters(&re_run)["THOTH_ADVISER_METADATA"]).expect("JSON");
        assert_eq!(
            metadata["re_run_adviser_id"],
            "adviser-210312182025-5e8c8f2a1b3c4d5e"
        );
    }

    #[test]
    fn the_advice_workflow_carries_thoths_parameters_and_metadata_as_json() {
        let mut request = advice_request("adviser-210312182025-5e8c8f2a1b3c4d5e");
        request.spec.re_run_adviser_id = Some("adviser-210301000000-0123456789abcdef".into());
        request.spec.source_type = Some(SourceType::Kebechet);
        request.spec.count = Some(3);
        request.spec.dev = true;
        let workflow = build_workflow(&request, 1, &WorkflowConfig::default()).expect("builds");
        assert_eq!(
            workflow.metadata.namespace.as_deref(),
            Some("thoth-backend")
        );
        assert_eq!(
            workflow
                .spec
                .workflow_template_ref
                .as_ref()
                .map(|r| r.name.as_str()),
            Some("adviser")
        );
        let name = workflow.metadata.name.clone().expect("named");
        assert!(
            name.starts_with("adviser-210312182025-5e8c8f2a1b3c4d5e-"),
            "{name}"
        );
        let parameters = parameters(&workflow);
        for (key, value) in [
            (
                "THOTH_ADVISER_JOB_ID",
                "adviser-210312182025-5e8c8f2a1b3c4d5e",
            ),
            ("THOTH_ADVISER_REQUIREMENTS_FORMAT", "pipenv"),
            ("THOTH_ADVISER_RECOMMENDATION_TYPE", "stable"),
            ("THOTH_ADVISER_PREDICTOR_CONFIG", "{}"),
            ("THOTH_ADVISER_SEED", "42"),
            ("THOTH_ADVISER_DEV", "1"),
            ("THOTH_ADVISER_BEAM_WIDTH", "25000"),
            ("THOTH_LOG_ADVISER", "INFO"),
            ("THOTH_ADVISER_LIMIT", "100000"),
            ("THOTH_ADVISER_COUNT", "3"),
            ("THOTH_ADVISER_TIMEOUT_SECONDS", "1500"),
            ("THOTH_FORCE_SYNC", "0"),
            ("THOTH_AUTHENTICATED_ADVISE", "1"),
        ] {
            assert_eq!(
                parameters.get(key).map(String::as_str),
                Some(value),
                "{key}"
            );
        }
        assert!(!parameters.contains_key("THOTH_ADVISER_LIMIT_LATEST_VERSIONS"));
        let metadata: Value =
            serde_json::from_str(&parameters["THOTH_ADVISER_METADATA"]).expect("JSON");
        assert_eq!(
            metadata,
            json!({
                "origin": "https://github.com/thoth-station/ps-ip",
                "re_run_adviser_id": "adviser-210301000000-0123456789abcdef",
                "source_type": "KEBECHET",
                "kebechet_metadata": null,
                "justification": null,
                "stack_info": null,
            })
        );
    }

    #[test]
    fn argo_substitution_markers_in_free_form_fields_are_escaped_without_changing_the_value() {
        let mut request = advice_request("adviser-1");
        request.spec.origin = Some("https://x/{{workflow.name}}".into());
        request.spec.stack_info = Some(vec![BTreeMap::from([(
            "{{inputs.parameters.x}}".to_string(),
            json!("{{{{"),
        )])]);
        let workflow = build_workflow(&request, 1, &WorkflowConfig::default()).expect("builds");
        let raw = &parameters(&workflow)["THOTH_ADVISER_METADATA"];
        assert!(!raw.contains("{{"), "{raw}");
        let metadata: Value = serde_json::from_str(raw).expect("JSON");
        assert_eq!(metadata["origin"], "https://x/{{workflow.name}}");
        assert_eq!(metadata["stack_info"][0]["{{inputs.parameters.x}}"], "{{{{");
    }

    /// Issue 8: the identity is PEP 440's normal form, but the solver and the security
    /// indicators ask the index for the version as it spells it (`===` compares strings).
    #[test]
    fn parameters_carry_the_version_as_sent() {
        let config = WorkflowConfig::default();
        let run = solver_run("flask", Some("1.0beta2"));
        let workflow = build_workflow(&run, 1, &config).expect("builds");
        assert_eq!(
            parameters(&workflow)["THOTH_SOLVER_PACKAGES"],
            "flask===1.0beta2"
        );
        let si = security_indicator_run("flask", "2.0.1-1");
        let workflow = build_workflow(&si, 1, &config).expect("builds");
        assert_eq!(
            parameters(&workflow)["THOTH_SECURITY_INDICATORS_PACKAGE_VERSION"],
            "2.0.1-1"
        );
    }

    #[test]
    fn a_substitution_marker_in_a_plain_parameter_is_refused() {
        let mut run = solver_run("flask", Some("2.0.1"));
        run.spec.index_url = "https://example.com/simple?x={{workflow.name}}".into();
        let error = build_workflow(&run, 1, &WorkflowConfig::default()).expect_err("refused");
        // The index URL's rule refuses `{{` before any parameter is built (issue 8); the
        // marker check stays as a second line for values without a rule.
        assert!(
            matches!(&error, BuildError::InvalidField { field, .. } if *field == "spec.indexUrl"),
            "{error:?}"
        );
    }

    #[test]
    fn invalid_spec_values_are_refused_naming_the_field() {
        let config = WorkflowConfig::default();
        let cases: Vec<(BuildError, &str)> = vec![
            (
                build_workflow(&solver_run("-bad", Some("1.0")), 1, &config).expect_err("name"),
                "spec.packageName",
            ),
            (
                build_workflow(&solver_run("flask", Some("1.0\n2.0")), 1, &config)
                    .expect_err("version"),
                "spec.packageVersion",
            ),
            (
                build_workflow(&security_indicator_run("flask", "1 0"), 1, &config)
                    .expect_err("version"),
                "spec.packageVersion",
            ),
            (
                {
                    let mut run = solver_run("flask", None);
                    run.spec.solver = "solver-rhel-8-py38\nTHOTH_X=1".into();
                    build_workflow(&run, 1, &config).expect_err("solver")
                },
                "spec.solver",
            ),
            (
                {
                    let mut run = solver_run("flask", None);
                    run.spec.dependency_index_urls = vec!["https://a.org/simple?x=1,2".into()];
                    build_workflow(&run, 1, &config).expect_err("comma")
                },
                "spec.dependencyIndexUrls",
            ),
            (
                build_workflow(&advice_request("Adviser_1"), 1, &config).expect_err("job id"),
                "spec.jobId",
            ),
        ];
        for (error, field) in cases {
            let message = error.to_string();
            assert!(message.contains(field), "{message} should name {field}");
        }
    }

    #[test]
    fn a_resource_not_read_from_the_api_server_or_attempt_zero_is_refused() {
        let config = WorkflowConfig::default();
        let mut run = solver_run("flask", None);
        run.metadata.uid = None;
        assert!(matches!(
            build_workflow(&run, 1, &config),
            Err(BuildError::MissingMetadata { field: "uid", .. })
        ));
        assert!(matches!(
            build_workflow(&solver_run("flask", None), 0, &config),
            Err(BuildError::AttemptZero)
        ));
    }

    fn is_dns_label_of_63(name: &str) -> bool {
        name.len() <= MAX_WORKFLOW_NAME_LEN && crate::admission::names::is_dns_label(name)
    }

    #[test]
    fn the_kind_constant_agrees_with_kube() {
        assert_eq!(SolverRun::KIND, SolverRun::kind(&()));
        assert_eq!(SecurityIndicatorRun::KIND, SecurityIndicatorRun::kind(&()));
        assert_eq!(AdviceRequest::KIND, AdviceRequest::kind(&()));
    }

    #[test]
    fn names_are_deterministic_per_resource_and_attempt() {
        let run = solver_run("PyYAML", Some("5.3.1"));
        let first = workflow_name(&run, 1).expect("named");
        assert_eq!(first, workflow_name(&run.clone(), 1).expect("named"));
        assert_ne!(first, workflow_name(&run, 2).expect("named"));
        assert!(
            first.starts_with("solver-rhel-8-py38-pyyaml-5-3-1-"),
            "{first}"
        );
        assert!(first.ends_with("-1"), "{first}");
        assert!(is_dns_label_of_63(&first), "{first}");
    }

    #[test]
    fn long_names_are_cut_to_63_characters_keeping_prefix_hash_and_attempt() {
        let long_name = format!("a{}z", "b.c_d-".repeat(33));
        // 99 characters of PEP 440 release segments (numbers have at most 18 digits).
        let long_version = format!("1{}", ".9".repeat(49));
        let run = solver_run(&long_name, Some(&long_version));
        let si = security_indicator_run(&long_name, &long_version);
        let mut other = solver_run(&long_name, Some(&long_version));
        other.metadata = meta("thoth", "another", "7d9e1f3a-0000-4000-8000-000000000000");
        for (name, prefix) in [
            (workflow_name(&run, 12345).expect("named"), "solver-"),
            (
                workflow_name(&si, 1).expect("named"),
                "security-indicators-",
            ),
            (workflow_name(&other, 12345).expect("named"), "solver-"),
        ] {
            assert!(is_dns_label_of_63(&name), "{name} ({} chars)", name.len());
            assert!(name.starts_with(prefix), "{name}");
        }
        assert_ne!(
            workflow_name(&run, 12345).expect("named"),
            workflow_name(&other, 12345).expect("named")
        );
        let config = WorkflowConfig::default();
        assert_valid_for_argo(&build_workflow(&run, 12345, &config).expect("builds"));
    }

    #[test]
    fn identities_that_sanitise_alike_get_different_names() {
        // Spellings that become the same stem once lower-cased and dashed.
        let mut upper = solver_run("PyYAML", Some("1.0-1"));
        upper.metadata = meta("thoth", "upper", "11111111-1111-4111-8111-111111111111");
        let mut lower = solver_run("pyyaml", Some("1-0.1"));
        lower.metadata = meta("thoth", "lower", "22222222-2222-4222-8222-222222222222");
        let upper_name = workflow_name(&upper, 1).expect("named");
        let lower_name = workflow_name(&lower, 1).expect("named");
        assert_eq!(
            upper_name.rsplitn(3, '-').last(),
            lower_name.rsplitn(3, '-').last(),
            "the readable stems agree"
        );
        assert_ne!(upper_name, lower_name);
    }

    #[test]
    fn equal_resources_in_two_namespaces_get_different_names() {
        let mut a = advice_request("adviser-1");
        let mut b = advice_request("adviser-1");
        a.metadata = meta(
            "team-a",
            "adviser-1",
            "33333333-3333-4333-8333-333333333333",
        );
        b.metadata = meta(
            "team-b",
            "adviser-1",
            "33333333-3333-4333-8333-333333333333",
        );
        assert_ne!(
            workflow_name(&a, 1).expect("named"),
            workflow_name(&b, 1).expect("named")
        );
    }

    #[test]
    fn a_recreated_resource_gets_new_workflow_names() {
        let old = solver_run("flask", Some("2.0.1"));
        let mut new = old.clone();
        new.metadata.uid = Some("44444444-4444-4444-8444-444444444444".into());
        assert_ne!(
            workflow_name(&old, 1).expect("named"),
            workflow_name(&new, 1).expect("named")
        );
    }

    #[test]
    fn a_job_id_without_thoths_prefix_gets_it() {
        let name = workflow_name(&advice_request("job-42"), 1).expect("named");
        assert!(name.starts_with("adviser-job-42-"), "{name}");
    }

    #[test]
    fn labels_link_the_workflow_to_its_resource_and_never_use_argos_prefix() {
        let run = solver_run("flask", Some("2.0.1"));
        let workflow = build_workflow(&run, 4, &WorkflowConfig::default()).expect("builds");
        let labels = labels(&workflow);
        assert_eq!(labels[MANAGED_BY_LABEL], "thoth-operator");
        assert_eq!(labels[COMPONENT_LABEL], "solver");
        assert_eq!(labels[RESOURCE_KIND_LABEL], "SolverRun");
        assert_eq!(labels[RESOURCE_NAMESPACE_LABEL], "thoth");
        assert_eq!(
            labels[RESOURCE_NAME_LABEL],
            "solver-rhel-8-py38-pyyaml-5-3-1"
        );
        assert_eq!(
            labels[RESOURCE_UID_LABEL],
            "6f1c1f0e-0d7b-4a59-9d55-4f1b8a3c2e01"
        );
        assert_eq!(labels[ATTEMPT_LABEL], "4");
        assert!(
            labels
                .keys()
                .all(|k| !k.starts_with("workflows.argoproj.io/"))
        );
        assert_eq!(MANAGED_SELECTOR, format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
        assert_eq!(
            run_of(&workflow),
            Some(RunRef {
                kind: "SolverRun".into(),
                namespace: "thoth".into(),
                name: "solver-rhel-8-py38-pyyaml-5-3-1".into(),
                uid: Some("6f1c1f0e-0d7b-4a59-9d55-4f1b8a3c2e01".into()),
                attempt: Some(4),
            })
        );
    }

    #[test]
    fn a_resource_name_too_long_for_a_label_is_kept_in_the_annotation_only() {
        let mut run = solver_run("flask", Some("2.0.1"));
        let long = format!("solver-{}", "x".repeat(200));
        run.metadata.name = Some(long.clone());
        let workflow = build_workflow(&run, 1, &WorkflowConfig::default()).expect("builds");
        assert!(!labels(&workflow).contains_key(RESOURCE_NAME_LABEL));
        assert_eq!(run_of(&workflow).map(|r| r.name), Some(long));
        assert_valid_for_argo(&workflow);
    }

    #[test]
    fn a_workflow_without_our_annotations_belongs_to_no_resource() {
        let mut workflow =
            build_workflow(&solver_run("flask", None), 1, &WorkflowConfig::default())
                .expect("builds");
        workflow.metadata.annotations = None;
        assert_eq!(run_of(&workflow), None);
    }

    #[test]
    fn the_default_configuration_is_thoths_and_bad_targets_are_refused() {
        let config = WorkflowConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.solver.namespace, "thoth-middletier");
        assert_eq!(config.security_indicators.namespace, "thoth-middletier");
        assert_eq!(config.adviser.namespace, "thoth-backend");
        assert_eq!(
            [
                config.solver.template.as_str(),
                config.security_indicators.template.as_str(),
                config.adviser.template.as_str()
            ],
            ["solver", "security-indicators", "adviser"]
        );
        let mut bad = config.clone();
        bad.adviser.namespace = "Thoth_Backend".into();
        let error = bad.validate().expect_err("refused");
        assert_eq!(error.field, "namespace");
        assert!(error.to_string().contains("Thoth_Backend"), "{error}");
        let mut bad = config.clone();
        bad.solver.service_account = "".into();
        assert_eq!(
            bad.validate().expect_err("refused").field,
            "service account"
        );
        // A service account is a DNS-1123 subdomain as the API server reads it: no limit per
        // label, 253 in all (the template's rule, one declaration).
        let mut long = config;
        long.solver.service_account = format!("{}.argo", "a".repeat(64));
        assert_eq!(long.validate(), Ok(()));
        long.solver.service_account = "a".repeat(254);
        assert_eq!(
            long.validate().expect_err("refused").field,
            "service account"
        );
    }

    /// The name is the idempotency key of an attempt: a sanitiser that spelt the same stem
    /// differently (`a--b` for `a__b`) would name an attempt in flight anew after an upgrade.
    #[test]
    fn sanitize_makes_each_run_of_other_characters_one_dash_and_trims_the_ends() {
        for (raw, expected) in [
            ("..Foo__Bar..", "foo-bar"),
            ("PyYAML 5.3.1", "pyyaml-5-3-1"),
            ("a-.-b", "a-b"),
            ("-_.", ""),
            ("ruamel.yaml", "ruamel-yaml"),
        ] {
            assert_eq!(sanitize(raw), expected, "{raw:?}");
        }
        // PEP 508 allows runs of `-`, `_` and `.` inside a name.
        let name = workflow_name(&solver_run("Flask__Login", Some("0.6.2")), 1).expect("named");
        assert!(
            name.starts_with("solver-rhel-8-py38-flask-login-0-6-2-"),
            "{name}"
        );
    }

    /// The aggregation function is passed on to a Python module by name.
    #[test]
    fn the_aggregation_function_must_be_a_lower_case_python_identifier() {
        let longest = "a".repeat(63);
        for accepted in ["process_data", "_private", "f2", longest.as_str()] {
            assert!(is_function_name(accepted), "{accepted:?} refused");
        }
        let too_long = "a".repeat(64);
        for refused in [
            "",
            too_long.as_str(),
            "Process_data",
            "process-data",
            "process data",
            "2nd",
            "{{inputs.parameters.x}}",
        ] {
            assert!(!is_function_name(refused), "{refused:?} accepted");
        }
        let mut run = security_indicator_run("crossbar", "0.10.0");
        run.spec.aggregation_function = "Process-Data".into();
        let error = build_workflow(&run, 1, &WorkflowConfig::default()).expect_err("refused");
        assert!(
            matches!(&error, BuildError::UnsafeValue { field, .. } if *field == "spec.aggregationFunction"),
            "{error:?}"
        );
    }

    /// `workflow` as Argo leaves it once finished, with these global output parameters.
    fn with_outputs(mut workflow: Workflow, outputs: &[(&str, &str)]) -> Workflow {
        let parameters: Vec<Value> = outputs
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        workflow.status = Some(
            serde_json::from_value(json!({
                "phase": "Succeeded",
                "outputs": {"parameters": parameters},
            }))
            .expect("a Workflow status"),
        );
        workflow
    }

    #[test]
    fn each_kind_reads_the_results_its_own_workflow_published() {
        let config = WorkflowConfig::default();
        let solver =
            build_workflow(&solver_run("flask", Some("2.0.1")), 1, &config).expect("solver builds");
        let si = build_workflow(&security_indicator_run("crossbar", "0.10.0"), 1, &config)
            .expect("security indicators build");
        let advice =
            build_workflow(&advice_request("adviser-1"), 1, &config).expect("advice builds");
        for workflow in [&solver, &si, &advice] {
            assert_eq!(SolverRun::published_results(workflow), Ok(None));
            assert_eq!(SecurityIndicatorRun::published_results(workflow), Ok(None));
            assert_eq!(AdviceRequest::published_results(workflow), Ok(None));
        }

        let solver = with_outputs(
            solver,
            &[
                ("document-id", "solver-doc"),
                (
                    "solver-results",
                    r#"[{"version":"2.0.1","status":"solved"}]"#,
                ),
            ],
        );
        let results = SolverRun::published_results(&solver)
            .expect("valid outputs")
            .expect("published");
        assert_eq!(results.document_id, "solver-doc");
        assert_eq!(results.versions.len(), 1);
        assert_eq!(results.versions[0].version.as_str(), "2.0.1");

        let si = with_outputs(
            si,
            &[
                ("document-id", "si-doc"),
                ("security-indicators-result", "done"),
            ],
        );
        let results = SecurityIndicatorRun::published_results(&si)
            .expect("valid outputs")
            .expect("published");
        assert_eq!(results.document_id, "si-doc");
        assert_eq!(results.outcome, SecurityIndicatorsOutcome::Done);

        let advice = with_outputs(
            advice,
            &[
                ("document-id", "adviser-1"),
                ("unresolved-packages", r#"[{"name":"six"}]"#),
            ],
        );
        let results = AdviceRequest::published_results(&advice)
            .expect("valid outputs")
            .expect("published");
        assert_eq!(results.document_id, "adviser-1");
        assert_eq!(results.unresolved.len(), 1);
        assert_eq!(results.unresolved[0].name.as_str(), "six");

        // Another kind's outputs are not this kind's: its own parameter is missing.
        assert_eq!(
            SolverRun::published_results(&si),
            Err(OutputProblem::Missing {
                parameter: "solver-results"
            })
        );
    }

    #[test]
    fn the_target_namespaces_are_each_kinds_once_and_sorted() {
        let mut config = WorkflowConfig::default();
        assert_eq!(
            config.target_namespaces(),
            ["thoth-backend", "thoth-middletier"]
        );
        config.security_indicators.namespace = "thoth-amun".into();
        assert_eq!(
            config.target_namespaces(),
            ["thoth-amun", "thoth-backend", "thoth-middletier"]
        );
    }
}
