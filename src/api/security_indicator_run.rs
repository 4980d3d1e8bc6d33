use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::RunStatus;
use super::validation::FUNCTION_NAME_PATTERN;
use crate::package::{IndexUrlRule, PackageNameRule, PackageVersionRule};

fn default_aggregation_function() -> String {
    "process_data".to_string()
}

/// Analyse one package version from one index with Thoth's security indicators (bandit, cloc).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "thoth-station.ninja",
    version = "v1alpha1",
    kind = "SecurityIndicatorRun",
    namespaced,
    status = "RunStatus",
    shortname = "sir",
    shortname = "si",
    category = "thoth",
    printcolumn(name = "Package", type_ = "string", json_path = ".spec.packageName"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.packageVersion"),
    printcolumn(name = "Index", type_ = "string", json_path = ".spec.indexUrl"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Workflow",
        type_ = "string",
        json_path = ".status.workflow.name"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityIndicatorRunSpec {
    /// Python project name, e.g. `crossbar`.
    #[schemars(schema_with = "crate::package::schema::<PackageNameRule>")]
    pub package_name: String,
    /// Version to analyse, e.g. `0.10.0`.
    #[schemars(schema_with = "crate::package::schema::<PackageVersionRule>")]
    pub package_version: String,
    /// Simple-API URL of the package index, e.g. `https://pypi.org/simple`.
    #[schemars(schema_with = "crate::package::schema::<IndexUrlRule>")]
    pub index_url: String,
    /// Aggregator function that combines the indicators; Thoth uses `process_data`.
    #[serde(default = "default_aggregation_function")]
    #[schemars(length(min = 1, max = 63), regex(pattern = FUNCTION_NAME_PATTERN))]
    pub aggregation_function: String,
}
