//! Shared pieces: a test custom resource, server start-up, Argo's CRD and examples.

use apiserver::{ApiServer, ApiServerBuilder, RunningApiServer};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd",
    printcolumn(name = "Size", type_ = "integer", json_path = ".spec.size"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase")
)]
pub struct WidgetSpec {
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WidgetStatus {
    pub phase: String,
}

pub fn widget(name: &str, size: i64) -> Widget {
    Widget::new(name, WidgetSpec { size, color: None })
}

pub async fn start_with(builder: ApiServerBuilder) -> RunningApiServer {
    builder
        .crds([Widget::crd()])
        .build()
        .start("127.0.0.1:0")
        .await
        .expect("server starts")
}

pub async fn start() -> RunningApiServer {
    start_with(ApiServer::builder()).await
}

pub use testkit::reference_data::shared_dir;

/// Argo's published full Workflow CRD, read from the shared folder.
pub fn argo_workflow_crd() -> CustomResourceDefinition {
    let path = shared_dir().join("argo/crds/full/argoproj.io_workflows.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("Argo's Workflow CRD parses")
}

pub fn argo_example(name: &str) -> serde_json::Value {
    let path = shared_dir().join("argo/examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("Argo example parses")
}
