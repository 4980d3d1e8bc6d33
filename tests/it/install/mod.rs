//! Installation: the Helm chart, the plain manifests rendered from it, the Argo WorkflowTemplates,
//! the Dockerfile and the Grafana dashboard — checked with the real tools (helm v4, kubectl v1.35,
//! the PyPI tool `kubernetes-validate` with its bundled Kubernetes schemas) and Argo's published
//! WorkflowTemplate CRD.

use std::path::{Path, PathBuf};
use std::process::Command;

use apiserver::CompiledSchema;
use serde_json::{Value, json};
use testkit::reference_data;

mod chart;
mod cluster;
mod image;
mod rbac;
mod workflow_templates;

const CHART: &str = "charts/thoth-operator";
const EVERY_OPTION: &str = "tests/fixtures/chart/every-option.yaml";
const RELEASE_NAMESPACE: &str = "ops";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn helm_binary() -> PathBuf {
    testkit::tools::helm()
}

fn kubectl_binary() -> PathBuf {
    testkit::tools::kubectl()
}

fn kubernetes_validate_binary() -> PathBuf {
    testkit::tools::kubernetes_validate()
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let out = command
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// helm with its cache, config and data in a temporary directory, so nothing is written to `~`.
fn helm(args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp dir");
    run(Command::new(helm_binary())
        .args(args)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data")))
}

fn yaml_documents(text: &str) -> Vec<Value> {
    let documents: Vec<Value> =
        serde_saphyr::from_str_multiple(text).unwrap_or_else(|e| panic!("YAML parses: {e}"));
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

/// `helm template` of the chart in [`RELEASE_NAMESPACE`], with a values file and `--set`s.
fn render_text(values: Option<&str>, sets: &[&str]) -> Run {
    let mut args = vec!["template", "thoth", CHART, "--namespace", RELEASE_NAMESPACE];
    if let Some(values) = values {
        args.extend(["--values", values]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(&args)
}

fn render(values: Option<&str>, sets: &[&str]) -> Vec<Value> {
    let out = render_text(values, sets);
    assert!(out.success, "helm template failed:\n{}", out.stderr);
    yaml_documents(&out.stdout)
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one_of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("{relative} is readable: {e}"))
}

fn yaml_file(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} parses: {e}"))
}

fn file_names(relative: &str, extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(relative))
        .unwrap_or_else(|e| panic!("{relative} is a directory: {e}"))
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(extension))
        .collect();
    names.sort();
    names
}

fn compiled_crd_schema(crd: &Value) -> CompiledSchema {
    let version = crd["spec"]["versions"][0]["name"]
        .as_str()
        .expect("CRD version");
    CompiledSchema::from_crd_version(crd, version).expect("CRD schema compiles")
}

/// Errors of `object` against `schema` as the API server would give them, plus every field the
/// schema would prune (an unknown field is an error here, not dropped silently).
fn schema_errors(schema: &CompiledSchema, object: &Value) -> Vec<String> {
    let mut defaulted = object.clone();
    schema.apply_defaults(&mut defaulted);
    let mut pruned = defaulted.clone();
    schema.prune(&mut pruned);
    let mut errors: Vec<String> = schema
        .validate(&pruned)
        .iter()
        .map(ToString::to_string)
        .collect();
    if pruned != defaulted {
        errors.push(format!(
            "unknown fields pruned: before {defaulted}\nafter {pruned}"
        ));
    }
    errors
}

fn one_of_kind_named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}
