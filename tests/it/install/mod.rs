//! Installation: the Helm chart, the plain manifests rendered from it, the Argo WorkflowTemplates,
//! the Dockerfile and the Grafana dashboard — checked with the real tools (helm v4, kubectl v1.35,
//! the PyPI tool `kubernetes-validate` with its bundled Kubernetes schemas) and Argo's published
//! WorkflowTemplate CRD.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use apiserver::CompiledSchema;
use serde_json::{Value, json};
use testkit::reference_data;

mod chart;
mod cluster;
mod image;
mod kafka;
mod rbac;
mod settings;
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

/// The environment of the operator's container as a rendered chart sets it: the ConfigMap its
/// `envFrom` names, then its `env`, which wins as in Kubernetes. A value from a Secret stands in as
/// `secret-NAME-KEY`; `metadata.namespace` is the release namespace and `metadata.name` a pod name.
fn operator_environment(objects: &[Value]) -> BTreeMap<String, String> {
    let deployment = one_of_kind(objects, "Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    let container = &containers[0];
    let mut environment = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("envFrom other than a ConfigMap: {source}"));
        let config = one_of_kind_named(objects, "ConfigMap", name);
        for (key, value) in config["data"].as_object().expect("ConfigMap data") {
            let value = value.as_str().expect("ConfigMap values are strings");
            environment.insert(key.clone(), value.to_string());
        }
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().expect("env name").to_string();
        let value = if let Some(value) = variable.get("value") {
            value.as_str().expect("env values are strings").to_string()
        } else if let Some(secret) = variable["valueFrom"].get("secretKeyRef") {
            format!(
                "secret-{}-{}",
                secret["name"].as_str().expect("Secret name"),
                secret["key"].as_str().expect("Secret key")
            )
        } else {
            match variable["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => RELEASE_NAMESPACE.to_string(),
                Some("metadata.name") => format!(
                    "{}-5d8f7c9b6-x2k4q",
                    deployment["metadata"]["name"].as_str().expect("name")
                ),
                _ => panic!("{name}: an env source this test does not know: {variable}"),
            }
        };
        environment.insert(name, value);
    }
    environment
}

/// `thoth-operator run`'s command as the binary parses it (global flags included).
fn run_command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = thoth_operator::cli::Cli::command();
    command.build();
    command
        .find_subcommand("run")
        .expect("a run subcommand")
        .clone()
}

/// `run`'s settings from `environment`, parsed as the binary parses its own environment: each
/// variable one of `run`'s flags names (`Arg::get_env`) is given as that flag, so the same value
/// parsers, delimiters and ranges apply (an empty value too: clap takes it as given).
fn run_args_from_environment(
    environment: &BTreeMap<String, String>,
) -> Result<thoth_operator::cli::run::RunArgs, clap::Error> {
    use clap::Parser;
    let mut argv = vec!["thoth-operator".to_string(), "run".to_string()];
    for arg in run_command().get_arguments() {
        let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let variable = variable.to_str().expect("variable names are UTF-8");
        if let Some(value) = environment.get(variable) {
            argv.push(format!("--{long}={value}"));
        }
    }
    match thoth_operator::cli::Cli::try_parse_from(argv)?.command {
        thoth_operator::cli::Command::Run(args) => Ok(*args),
        other => panic!("`run` parsed as {other:?}"),
    }
}
