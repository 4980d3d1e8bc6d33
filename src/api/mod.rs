//! Custom resource types of group `thoth-station.ninja`, version `v1alpha1`.

// kube's `printcolumn(..)` repeats `type_ = ..` per column, which clippy takes
// for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
mod advice_request;
pub mod argo;
#[allow(clippy::duplicated_attributes)]
mod security_indicator_run;
#[allow(clippy::duplicated_attributes)]
mod solver_run;
mod status;
pub mod validation;

pub use advice_request::{AdviceRequest, AdviceRequestSpec};
pub use security_indicator_run::{SecurityIndicatorRun, SecurityIndicatorRunSpec};
pub use solver_run::{SolverRun, SolverRunSpec};
pub use status::{RunStatus, WorkflowRef};
// The vocabulary the specs and statuses use, declared once in `terms`.
pub use crate::terms::{Phase, RecommendationType, SourceType};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub const GROUP: &str = "thoth-station.ninja";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "thoth-station.ninja/v1alpha1";

/// Finalizer on each resource: its Workflows (in another namespace, beyond owner references) are
/// released and deleted before the resource goes. The controller adds it to a resource that lacks
/// it; whoever creates resources in bulk (the ingestion, the chain) sets it at creation, which
/// saves a write and a reconcile round per resource.
pub const RESOURCE_FINALIZER: &str = "thoth-station.ninja/delete-workflows";

/// Every CustomResourceDefinition this operator owns, ordered by name so that
/// `cat crds/*.yaml` equals `thoth-operator crd`.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        AdviceRequest::crd(),
        SecurityIndicatorRun::crd(),
        SolverRun::crd(),
    ];
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds
}

/// One CRD as a YAML document (starting with `---`), as stored in `crds/<name>.yaml`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::SerializeError> {
    Ok(format!("---\n{}", serde_saphyr::to_string(crd)?))
}

/// The file name a CRD is stored under in `crds/`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// All CRDs as one multi-document YAML stream, as `thoth-operator crd` prints it.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn schema_of(crd: &CustomResourceDefinition) -> Value {
        let version = &crd.spec.versions[0];
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("every CRD has a schema");
        serde_json::to_value(schema).expect("schema serialises")
    }

    fn crd_named(plural: &str) -> CustomResourceDefinition {
        all_crds()
            .into_iter()
            .find(|crd| crd.spec.names.plural == plural)
            .unwrap_or_else(|| panic!("no CRD {plural}"))
    }

    /// A structural schema (as the API server requires) has a type on every
    /// node with properties and no type-bearing combinators: an `anyOf`/`oneOf`/`allOf`
    /// branch may carry value validations (`maxLength`, `pattern`, …) but none of `type`,
    /// `properties`, `items`, `additionalProperties`, `default`, `nullable` or `description`
    /// (Kubernetes docs, "Specifying a structural schema"); enum lists never hold null (the
    /// derive adds it for optional enums).
    fn assert_structural(path: &str, node: &Value) {
        let Some(map) = node.as_object() else { return };
        for combinator in ["anyOf", "oneOf", "allOf"] {
            for branch in map
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for field in [
                    "type",
                    "properties",
                    "items",
                    "additionalProperties",
                    "default",
                    "nullable",
                    "description",
                ] {
                    assert!(
                        branch.get(field).is_none(),
                        "{path} has a {combinator} branch with {field}: {branch}"
                    );
                }
            }
        }
        if map.contains_key("properties") {
            assert_eq!(
                map.get("type"),
                Some(&Value::from("object")),
                "{path} has properties but is not typed object"
            );
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            assert!(
                !values.contains(&Value::Null),
                "{path} lists null among its enum values"
            );
        }
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            for (name, child) in props {
                assert_structural(&format!("{path}.{name}"), child);
            }
        }
        if let Some(items) = map.get("items") {
            assert_structural(&format!("{path}[]"), items);
        }
    }

    #[test]
    fn three_namespaced_crds_in_the_thoth_category_with_status() {
        let crds = all_crds();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "advicerequests.thoth-station.ninja",
                "securityindicatorruns.thoth-station.ninja",
                "solverruns.thoth-station.ninja"
            ]
        );
        for crd in &crds {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(
                crd.spec.names.categories.as_deref(),
                Some(&["thoth".to_string()][..])
            );
            assert!(
                crd.spec
                    .names
                    .short_names
                    .as_ref()
                    .is_some_and(|s| !s.is_empty())
            );
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, VERSION);
            assert!(version.served && version.storage);
            assert!(
                version
                    .subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some(),
                "status subresource"
            );
            let columns: Vec<_> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            for wanted in ["Phase", "Workflow", "Age"] {
                assert!(
                    columns.contains(&wanted),
                    "{:?} lacks column {wanted}",
                    crd.metadata.name
                );
            }
            assert_structural("", &schema_of(crd));
        }
    }

    #[test]
    fn spec_requirements_and_patterns_are_in_the_schema() {
        let solver = schema_of(&crd_named("solverruns"));
        let spec = &solver["properties"]["spec"];
        let required: Vec<_> = spec["required"]
            .as_array()
            .expect("required list")
            .iter()
            .collect();
        for field in ["packageName", "indexUrl", "solver"] {
            assert!(
                required.contains(&&Value::from(field)),
                "{field} is required"
            );
        }
        assert!(
            !required.contains(&&Value::from("packageVersion")),
            "version may be absent"
        );
        let props = &spec["properties"];
        assert_eq!(
            props["packageName"]["pattern"],
            validation::PACKAGE_NAME_PATTERN
        );
        assert_eq!(
            props["packageVersion"]["pattern"],
            validation::PACKAGE_VERSION_PATTERN
        );
        assert_eq!(props["indexUrl"]["pattern"], validation::HTTP_URL_PATTERN);
        assert_eq!(props["solver"]["pattern"], validation::SOLVER_NAME_PATTERN);
        assert_eq!(props["packageName"]["minLength"], 1);

        let si = schema_of(&crd_named("securityindicatorruns"));
        let si_props = &si["properties"]["spec"]["properties"];
        assert_eq!(si_props["aggregationFunction"]["default"], "process_data");
        assert_eq!(
            si_props["aggregationFunction"]["pattern"],
            validation::FUNCTION_NAME_PATTERN
        );

        let advice = schema_of(&crd_named("advicerequests"));
        let advice_props = &advice["properties"]["spec"]["properties"];
        assert_eq!(
            advice_props["jobId"]["pattern"],
            validation::DNS_LABEL_PATTERN
        );
        assert_eq!(
            advice_props["kebechetMetadata"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            advice_props["recommendationType"]["enum"],
            serde_json::json!(["latest", "performance", "security", "stable", "testing"])
        );
    }

    #[test]
    fn patterns_accept_thoth_values_and_refuse_others() {
        let check = |pattern: &str, good: &[&str], bad: &[&str]| {
            let re = regex::Regex::new(pattern).expect("pattern compiles");
            for value in good {
                assert!(re.is_match(value), "{pattern} should accept {value:?}");
            }
            for value in bad {
                assert!(!re.is_match(value), "{pattern} should refuse {value:?}");
            }
        };
        check(
            validation::SOLVER_NAME_PATTERN,
            &["solver-rhel-8-py38", "solver-fedora-35-py310"],
            &["rhel-8-py38", "solver-rhel-8", "solver-RHEL-8-py38"],
        );
        check(
            validation::PACKAGE_NAME_PATTERN,
            &["PyYAML", "ruamel.yaml", "a"],
            &["-x", "a b", ""],
        );
        check(
            validation::PACKAGE_VERSION_PATTERN,
            &["5.3.1", "6.0.0rc2", "1!2.0+local"],
            &["", "1.0; rm", ".1"],
        );
        check(
            validation::HTTP_URL_PATTERN,
            &["https://pypi.org/simple"],
            &["pypi.org/simple", "ftp://x", "https:// x"],
        );
        check(
            validation::DNS_LABEL_PATTERN,
            &["adviser-210312182025-5e8c8f2a1b3c4d5e"],
            &["Adviser", "-a", "a_b"],
        );
    }

    #[test]
    fn status_round_trips_and_omits_what_is_unset() {
        let status = RunStatus {
            phase: Some(Phase::Running),
            attempts: Some(1),
            workflow: Some(WorkflowRef {
                namespace: "thoth-middletier".into(),
                name: "solver-rhel-8-py38-pyyaml-1".into(),
                uid: None,
            }),
            ..RunStatus::default()
        };
        let json = serde_json::to_value(&status).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "phase": "Running",
                "attempts": 1,
                "workflow": {"namespace": "thoth-middletier", "name": "solver-rhel-8-py38-pyyaml-1"}
            })
        );
        let back: RunStatus = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, status);
        assert!(Phase::Failed.is_terminal() && !Phase::Queued.is_terminal());
    }
}
