use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::RunStatus;
use crate::package::{JobIdRule, OriginUrlRule};
use crate::terms::{RecommendationType, SourceType};

fn optional_source_type(_: &mut SchemaGenerator) -> Schema {
    // Spelled out because the derived schema lists `null` among the enum values.
    json_schema!({
        "type": "string",
        "enum": ["CLI", "KEBECHET", "S2I", "JUPYTER_NOTEBOOK"],
    })
}

fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn free_form_object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}

/// One advice request as an AdviserTrigger message carries it; the name of the
/// resource is the job id, so a redelivered trigger finds the existing request.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "thoth-station.ninja",
    version = "v1alpha1",
    kind = "AdviceRequest",
    namespaced,
    status = "RunStatus",
    shortname = "advreq",
    shortname = "ar",
    category = "thoth",
    printcolumn(name = "Job", type_ = "string", json_path = ".spec.jobId"),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.recommendationType"
    ),
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceType"),
    printcolumn(
        name = "Origin",
        type_ = "string",
        json_path = ".spec.origin",
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
pub struct AdviceRequestSpec {
    /// Job id the user API generated, e.g. `adviser-210312182025-5e8c8f2a1b3c4d5e`; also the result document id.
    #[schemars(schema_with = "crate::package::schema::<JobIdRule>")]
    pub job_id: String,
    pub recommendation_type: RecommendationType,
    /// Repository or URL the request is about, e.g. `https://github.com/thoth-station/ps-ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::package::schema::<OriginUrlRule>")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_source_type")]
    pub source_type: Option<SourceType>,
    /// Number of software stacks to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<i64>,
    /// Maximum number of stacks the adviser generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub limit: Option<i64>,
    /// Consider only this many latest versions of each package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub limit_latest_versions: Option<i64>,
    /// Resolve development dependencies too.
    #[serde(default)]
    pub dev: bool,
    #[serde(default)]
    pub debug: bool,
    /// The request came from an authenticated user; its result is synced to the knowledge graph.
    #[serde(default)]
    pub authenticated: bool,
    /// Job id of the earlier advice this request re-runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::package::schema::<JobIdRule>")]
    pub re_run_adviser_id: Option<String>,
    /// Kebechet's metadata, passed through to the adviser unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub kebechet_metadata: Option<BTreeMap<String, Value>>,
    /// Justifications attached by the caller, passed through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object_list")]
    pub justification: Option<Vec<BTreeMap<String, Value>>>,
    /// Stack information attached by the caller, passed through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object_list")]
    pub stack_info: Option<Vec<BTreeMap<String, Value>>>,
}
