use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::RunStatus;
use crate::package::{IndexUrlRule, PackageNameRule, PackageVersionRule, SolverNameRule};

/// Solve one package version (or every version the index lists) on one index with one solver.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "thoth-station.ninja",
    version = "v1alpha1",
    kind = "SolverRun",
    namespaced,
    status = "RunStatus",
    shortname = "sr",
    shortname = "srun",
    category = "thoth",
    printcolumn(name = "Package", type_ = "string", json_path = ".spec.packageName"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.packageVersion"),
    printcolumn(name = "Solver", type_ = "string", json_path = ".spec.solver"),
    printcolumn(
        name = "Index",
        type_ = "string",
        json_path = ".spec.indexUrl",
        priority = "1"
    ),
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
pub struct SolverRunSpec {
    /// Python project name, e.g. `PyYAML`; normalised as PEP 503 says when the Workflow is built.
    #[schemars(schema_with = "crate::package::schema::<PackageNameRule>")]
    pub package_name: String,
    /// Version to solve, e.g. `5.3.1`. Absent means every version the index lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::package::schema::<PackageVersionRule>")]
    pub package_version: Option<String>,
    /// Simple-API URL of the package index, e.g. `https://pypi.org/simple`.
    #[schemars(schema_with = "crate::package::schema::<IndexUrlRule>")]
    pub index_url: String,
    /// Solver that runs the resolution, e.g. `solver-rhel-8-py38`.
    #[schemars(schema_with = "crate::package::schema::<SolverNameRule>")]
    pub solver: String,
    /// Further indexes the solver may resolve dependencies from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::package::list_schema::<IndexUrlRule, 20>")]
    pub dependency_index_urls: Vec<String>,
    /// Run the solver with debug logging.
    #[serde(default)]
    pub debug: bool,
}
