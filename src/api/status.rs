//! The status shared by all three resources, following Kubernetes conventions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use strum::VariantArray;

use crate::terms::Phase;

fn optional_phase(_: &mut SchemaGenerator) -> Schema {
    // Not the derived schema of `Option<Phase>`, which lists `null` among the enum values; the
    // values are still Phase's own spellings.
    let phases: Vec<&str> = Phase::VARIANTS.iter().map(|phase| phase.as_str()).collect();
    json_schema!({
        "type": "string",
        "enum": phases,
    })
}

/// The Argo Workflow currently (or last) running a resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRef {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// Status of a SolverRun, SecurityIndicatorRun or AdviceRequest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_phase")]
    pub phase: Option<Phase>,
    /// Latest observations (types such as `Admitted`, `WorkflowCreated`, `Completed`), each
    /// with the generation it was computed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
    /// How many Workflows have been started for this resource (the current one included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub attempts: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<Time>,
    /// A sentence for humans: why the resource is in its phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Id of the result document the Workflow wrote (Thoth's document id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}
