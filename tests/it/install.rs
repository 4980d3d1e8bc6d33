//! Installation: the Helm chart, the plain manifests rendered from it, the Argo WorkflowTemplates,
//! the Dockerfile and the Grafana dashboard — checked with the real tools (helm v4, kubectl v1.35,
//! the PyPI tool `kubernetes-validate` with its bundled Kubernetes schemas) and Argo's published
//! WorkflowTemplate CRD.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};
use thoth_operator::sandbox::apiserver::schema::CompiledSchema;
use thoth_operator::sandbox::reference_data;

const CHART: &str = "charts/thoth-operator";
const EVERY_OPTION: &str = "tests/fixtures/chart/every-option.yaml";
const RELEASE_NAMESPACE: &str = "ops";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

static FETCH: Mutex<()> = Mutex::new(());

/// A tool: `$variable`, else `.tools/<relative>`, fetched by `scripts/fetch-tools.sh` (as CI does)
/// when absent.
fn tool(variable: &str, relative: &str) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    let path = root().join(".tools").join(relative);
    let _guard = FETCH.lock().unwrap_or_else(|p| p.into_inner());
    if !path.exists() {
        let status = Command::new(root().join("scripts/fetch-tools.sh"))
            .status()
            .expect("scripts/fetch-tools.sh runs");
        assert!(status.success(), "scripts/fetch-tools.sh failed: {status}");
    }
    assert!(path.exists(), "{} was not fetched", path.display());
    path
}

fn helm_binary() -> PathBuf {
    tool("THOTH_HELM", "helm/helm")
}

fn kubectl_binary() -> PathBuf {
    tool("THOTH_KUBECTL", "kubectl/kubectl")
}

fn kubernetes_validate_binary() -> PathBuf {
    tool(
        "THOTH_KUBERNETES_VALIDATE",
        "kubernetes-validate/bin/kubernetes-validate",
    )
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

#[test]
fn the_chart_lints_cleanly_in_strict_mode_with_the_defaults_and_with_every_option_set() {
    for args in [
        vec!["lint", "--strict", CHART],
        vec!["lint", "--strict", CHART, "--values", EVERY_OPTION],
    ] {
        let out = helm(&args);
        assert!(
            out.success,
            "helm {args:?} failed:\n{}{}",
            out.stdout, out.stderr
        );
        assert!(out.stdout.contains("0 chart(s) failed"), "{}", out.stdout);
    }
}

#[test]
fn the_charts_app_version_is_the_crate_version_and_the_image_tag_defaults_to_it() {
    let chart = yaml_file(&format!("{CHART}/Chart.yaml"));
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"));
    let objects = render(None, &[]);
    let deployment = one_of_kind(&objects, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("thoth-station/thoth-operator:{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_charts_crds_are_the_generated_crds_byte_for_byte() {
    let committed = file_names("crds", ".yaml");
    assert!(!committed.is_empty());
    assert_eq!(
        file_names(&format!("{CHART}/crds"), ".yaml"),
        committed,
        "the chart's crds/ holds other files than crds/; copy crds/*.yaml into {CHART}/crds/"
    );
    for name in committed {
        assert!(
            read(&format!("crds/{name}")) == read(&format!("{CHART}/crds/{name}")),
            "{CHART}/crds/{name} differs from crds/{name}; copy crds/*.yaml into {CHART}/crds/"
        );
    }
}

/// Every leaf path of a values document (`a.b.c`); lists and empty maps are leaves.
fn leaf_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_paths(child, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn the_values_file_for_every_option_sets_every_key_of_the_defaults() {
    let mut defaults = BTreeSet::new();
    leaf_paths(
        &yaml_file(&format!("{CHART}/values.yaml")),
        "",
        &mut defaults,
    );
    let mut every = BTreeSet::new();
    leaf_paths(&yaml_file(EVERY_OPTION), "", &mut every);
    // An empty map in the defaults (e.g. podAnnotations) is set when some key below it is.
    let missing: Vec<&String> = defaults
        .iter()
        .filter(|path| {
            !every
                .iter()
                .any(|set| set == *path || set.starts_with(&format!("{path}.")))
        })
        .collect();
    assert!(missing.is_empty(), "{EVERY_OPTION} leaves out {missing:?}");
}

#[test]
fn every_option_shows_in_the_rendered_objects() {
    let objects = render(Some(EVERY_OPTION), &[]);
    for kind in [
        "ServiceMonitor",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ConfigMap",
    ] {
        assert!(!of_kind(&objects, kind).is_empty(), "no {kind} rendered");
    }
    let monitor = one_of_kind(&objects, "ServiceMonitor");
    let service = one_of_kind(&objects, "Service");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"],
        "the ServiceMonitor scrapes the metrics Service's port"
    );
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                monitor["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .expect("matchLabels")
                    .keys()
                    .map(|k| (k.clone(), labels[k].clone()))
                    .collect::<serde_json::Map<_, _>>()
            })
            .map(Value::Object)
            .expect("Service labels"),
        "the ServiceMonitor selects the metrics Service"
    );
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let deployment = one_of_kind(&objects, "Deployment");
    assert_eq!(deployment["metadata"]["name"], "thoth-loop");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/thoth/thoth-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(pod["serviceAccountName"], "thoth-loop-operator");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["tolerations"][0]["value"], "thoth");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    let env = &container["env"];
    let secret_of = |name: &str| {
        env.as_array()
            .expect("env list")
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["valueFrom"]["secretKeyRef"].clone())
            .unwrap_or_else(|| panic!("no {name} in env"))
    };
    assert_eq!(
        secret_of("DATABASE_URL"),
        json!({"name": "postgresql-thoth", "key": "DATABASE_URL"})
    );
    assert_eq!(
        secret_of("KAFKA_SASL_PASSWORD"),
        json!({"name": "kafka-user-thoth", "key": "pass"})
    );
    let tls = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "kafka-tls")
        .expect("Kafka TLS volume");
    assert_eq!(tls["secret"]["secretName"], "kafka-cluster-ca");

    let config = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "thoth-loop")
        .expect("settings ConfigMap");
    let data = &config["data"];
    assert_eq!(data["THOTH_WATCH_NAMESPACES"], "thoth-frontend,thoth-infra");
    assert_eq!(
        data["THOTH_ADMISSION_LIMITS"],
        "thoth-solvers=40,thoth-analysis=20,thoth-advise=5"
    );
    assert_eq!(
        data["KAFKA_SSL_KEY_LOCATION"],
        "/etc/thoth-operator/kafka-tls/user.key"
    );
    assert_eq!(data["THOTH_STORE_MIGRATE"], "0");
    assert_eq!(data["THOTH_RESOURCE_NAMESPACE"], "thoth-infra");

    let dashboard = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "thoth-loop-dashboard")
        .expect("dashboard ConfigMap");
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_dashboard"],
        "thoth"
    );
    let namespaces: BTreeSet<&str> = of_kind(&objects, "Namespace")
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["thoth-advise", "thoth-analysis", "thoth-solvers"])
    );
}

#[test]
fn wrong_values_are_refused_at_install_naming_the_value() {
    let cases: &[(&str, &str)] = &[
        ("replicaCount=two", "/replicaCount"),
        ("replicaCount=0", "/replicaCount"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("unknownOption=1", "unknownOption"),
        (
            "operator.admissionLimits[1].limit=0",
            "/operator/admissionLimits/1/limit",
        ),
        ("operator.solvers[0]=rhel-8", "/operator/solvers/0"),
        (
            "operator.solver.namespace=Thoth_Middletier",
            "/operator/solver/namespace",
        ),
        ("kafka.securityProtocol=TLS", "/kafka/securityProtocol"),
        ("kafka.bootstrapServers=kafka", "/kafka/bootstrapServers"),
        ("metrics.port=70000", "/metrics/port"),
        (
            "operator.finishedRetentionSeconds=-1",
            "/operator/finishedRetentionSeconds",
        ),
        (
            "operator.reconcileConcurrency=1000",
            "/operator/reconcileConcurrency",
        ),
        ("resources.limits.memory=lots", "/resources/limits/memory"),
    ];
    for (set, path) in cases {
        let out = render_text(None, &[set]);
        assert!(!out.success, "--set {set} was accepted");
        assert!(
            out.stderr.contains("schema") && out.stderr.contains(path),
            "--set {set}: the error does not name {path}:\n{}",
            out.stderr
        );
    }
    let out = render_text(
        None,
        &[
            "operator.watchNamespaces={thoth-frontend}",
            "operator.resourceNamespace=thoth-backend",
        ],
    );
    assert!(!out.success, "an unwatched resource namespace was accepted");
    assert!(
        out.stderr.contains(
            "operator.resourceNamespace thoth-backend must be one of operator.watchNamespaces"
        ),
        "{}",
        out.stderr
    );
    let out = render_text(
        None,
        &[
            "kafka.securityProtocol=SASL_SSL",
            "kafka.ssl.existingSecret=ca",
        ],
    );
    assert!(
        !out.success,
        "SASL without a credentials Secret was accepted"
    );
    assert!(
        out.stderr.contains("kafka.sasl.existingSecret is required"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_operator_runs_two_hardened_replicas_probed_on_healthz_and_readyz() {
    let objects = render(None, &[]);
    let deployment = one_of_kind(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(container["args"], json!(["run"]));

    let pdb = one_of_kind(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let service = one_of_kind(&objects, "Service");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http-metrics");
    assert!(of_kind(&objects, "ServiceMonitor").is_empty());
    assert!(of_kind(&objects, "NetworkPolicy").is_empty());
}

#[test]
fn no_secret_is_rendered_or_inlined_only_references_to_existing_secrets() {
    for objects in [render(None, &[]), render(Some(EVERY_OPTION), &[])] {
        assert!(
            of_kind(&objects, "Secret").is_empty(),
            "the chart renders a Secret"
        );
        let deployment = one_of_kind(&objects, "Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        for variable in container["env"].as_array().expect("env") {
            let name = variable["name"].as_str().expect("name");
            if name.contains("PASSWORD") || name == "DATABASE_URL" || name.contains("SASL_USERNAME")
            {
                assert!(
                    variable.get("value").is_none()
                        && variable["valueFrom"]["secretKeyRef"].is_object(),
                    "{name} is not taken from a Secret: {variable}"
                );
            }
        }
        for config in of_kind(&objects, "ConfigMap") {
            let data = config["data"].as_object().expect("data");
            for key in data.keys() {
                assert!(
                    !key.contains("PASSWORD") && key != "DATABASE_URL",
                    "ConfigMap holds {key}"
                );
            }
        }
    }
}

/// Runs `kubernetes-validate --strict` over `files`; returns the kinds it had no schema for.
fn validate_with_kubernetes_schemas(files: &[PathBuf]) -> BTreeSet<String> {
    let out = run(Command::new(kubernetes_validate_binary())
        .arg("--strict")
        .args(files));
    assert!(
        out.success,
        "kubernetes-validate --strict refused:\n{}{}",
        out.stdout, out.stderr
    );
    let mut unknown = BTreeSet::new();
    for line in out.stdout.lines().chain(out.stderr.lines()) {
        if let Some(rest) = line.split("Couldn't find schema for kind ").nth(1) {
            let kind = rest.split(" for kubernetes version").next().unwrap_or(rest);
            unknown.insert(kind.to_string());
        } else {
            assert!(
                line.starts_with("INFO") && line.contains(" passed for resource "),
                "unexpected kubernetes-validate output: {line}"
            );
        }
    }
    unknown
}

#[test]
fn every_rendered_object_and_every_manifest_validates_against_kubernetes_schemas_in_strict_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (name, values) in [
        ("defaults.yaml", None),
        ("every-option.yaml", Some(EVERY_OPTION)),
    ] {
        let out = render_text(values, &[]);
        assert!(out.success, "{}", out.stderr);
        let path = dir.path().join(name);
        std::fs::write(&path, out.stdout).expect("write rendering");
        files.push(path);
    }
    for name in file_names("manifests", ".yaml") {
        if name != "kustomization.yaml" {
            files.push(root().join("manifests").join(name));
        }
    }
    for name in file_names("manifests/crds", ".yaml") {
        files.push(root().join("manifests/crds").join(name));
    }
    for name in file_names("manifests/samples", ".yaml") {
        files.push(root().join("manifests/samples").join(name));
    }
    let unknown = validate_with_kubernetes_schemas(&files);
    // Only custom resources lack a Kubernetes schema; they are validated against their CRDs by the
    // tests below (and the ServiceMonitor is prometheus-operator's).
    let allowed: BTreeSet<String> = [
        "WorkflowTemplate with api version argoproj.io/v1alpha1",
        "ServiceMonitor with api version monitoring.coreos.com/v1",
        "SolverRun with api version thoth-station.ninja/v1alpha1",
        "SecurityIndicatorRun with api version thoth-station.ninja/v1alpha1",
        "AdviceRequest with api version thoth-station.ninja/v1alpha1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let unexpected: Vec<&String> = unknown.difference(&allowed).collect();
    assert!(
        unexpected.is_empty(),
        "kinds validated against nothing: {unexpected:?}"
    );
}

#[test]
fn kubernetes_validate_refuses_an_unknown_field_so_the_check_above_can_fail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}], selectr: {a: b}}\n",
    )
    .expect("write");
    let out = run(Command::new(kubernetes_validate_binary())
        .arg("--strict")
        .arg(&path));
    assert!(!out.success, "an unknown field passed:\n{}", out.stdout);
    assert!(
        out.stdout.contains("selectr"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn the_plain_manifests_are_the_rendered_chart() {
    let out = run(Command::new(root().join("scripts/render-manifests.sh"))
        .arg("--check")
        .env("THOTH_HELM", helm_binary()));
    assert!(
        out.success,
        "manifests/ drifted from the chart:\n{}{}",
        out.stdout, out.stderr
    );
}

#[test]
fn kustomize_builds_the_plain_manifests_into_the_chart_plus_crds_and_namespace() {
    let out = run(Command::new(kubectl_binary()).args(["kustomize", "manifests"]));
    assert!(out.success, "kubectl kustomize failed:\n{}", out.stderr);
    let objects = yaml_documents(&out.stdout);
    let crds = of_kind(&objects, "CustomResourceDefinition");
    assert_eq!(crds.len(), file_names("crds", ".yaml").len());
    let deployment = one_of_kind(&objects, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "thoth-operator");
    let namespaces: BTreeSet<&str> = of_kind(&objects, "Namespace")
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["thoth-backend", "thoth-middletier", "thoth-operator"])
    );
    assert_eq!(of_kind(&objects, "WorkflowTemplate").len(), 3);
    for object in &objects {
        let labels = &object["metadata"]["labels"];
        assert!(
            labels.get("helm.sh/chart").is_none(),
            "{}",
            object["metadata"]
        );
        if let Some(manager) = labels.get("app.kubernetes.io/managed-by") {
            assert_eq!(manager, "kubectl", "{}", object["metadata"]);
        }
    }
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

fn argo_workflow_template_schema() -> CompiledSchema {
    let documents =
        reference_data::yaml_documents("argo/crds/full/argoproj.io_workflowtemplates.yaml")
            .expect("Argo's WorkflowTemplate CRD is readable");
    compiled_crd_schema(&documents[0])
}

#[test]
fn the_workflow_templates_validate_against_argos_published_workflowtemplate_crd() {
    let schema = argo_workflow_template_schema();
    let mut checked = 0;
    for objects in [render(None, &[]), render(Some(EVERY_OPTION), &[])] {
        for template in of_kind(&objects, "WorkflowTemplate") {
            let errors = schema_errors(&schema, template);
            assert!(
                errors.is_empty(),
                "{} is invalid:\n{}",
                template["metadata"]["name"],
                errors.join("\n")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
    // The check can fail: a misspelt field and a wrong type are found.
    let objects = render(None, &[]);
    let mut bad = one_of_kind_named(&objects, "WorkflowTemplate", "solver").clone();
    bad["spec"]["entrypont"] = json!("solve");
    bad["spec"]["activeDeadlineSeconds"] = json!("long");
    let errors = schema_errors(&schema, &bad).join("\n");
    assert!(errors.contains("activeDeadlineSeconds"), "{errors}");
    assert!(errors.contains("entrypont"), "{errors}");
}

fn one_of_kind_named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// What the controller passes to and reads from each WorkflowTemplate, as controller-core's
/// `src/reconcile/workflow.rs` (`WorkflowKind::parameters`) and `src/reconcile/contract.rs` define
/// it (docs/workflow-contract.md). `optional` parameters are not always passed, so the template
/// must give them a default.
struct TemplateContract {
    template: &'static str,
    namespace: &'static str,
    always: &'static [&'static str],
    optional: &'static [&'static str],
    outputs: &'static [&'static str],
}

const CONTRACT: &[TemplateContract] = &[
    TemplateContract {
        template: "solver",
        namespace: "thoth-middletier",
        always: &[
            "THOTH_SOLVER_WORKFLOW_ID",
            "THOTH_SOLVER_NAME",
            "THOTH_SOLVER_PACKAGES",
            "THOTH_SOLVER_NO_TRANSITIVE",
            "THOTH_SOLVER_INDEXES",
            "THOTH_SOLVER_DEPENDENCY_INDEXES",
            "THOTH_FORCE_SYNC",
            "THOTH_LOG_SOLVER",
        ],
        optional: &[],
        outputs: &["document-id", "solver-results"],
    },
    TemplateContract {
        template: "security-indicators",
        namespace: "thoth-middletier",
        always: &[
            "THOTH_SECURITY_INDICATORS_JOB_ID",
            "THOTH_SECURITY_INDICATORS_PACKAGE_NAME",
            "THOTH_SECURITY_INDICATORS_PACKAGE_VERSION",
            "THOTH_SECURITY_INDICATORS_PACKAGE_INDEX",
            "THOTH_SECURITY_INDICATORS_AGGREGATION_FUNCTION",
            "THOTH_FORCE_SYNC",
            "THOTH_DOCUMENT_ID",
        ],
        optional: &[],
        outputs: &["document-id", "security-indicators-result"],
    },
    TemplateContract {
        template: "adviser",
        namespace: "thoth-backend",
        always: &[
            "THOTH_ADVISER_JOB_ID",
            "THOTH_ADVISER_REQUIREMENTS_FORMAT",
            "THOTH_ADVISER_RECOMMENDATION_TYPE",
            "THOTH_ADVISER_METADATA",
            "THOTH_ADVISER_PREDICTOR_CONFIG",
            "THOTH_ADVISER_SEED",
            "THOTH_ADVISER_DEV",
            "THOTH_ADVISER_BEAM_WIDTH",
            "THOTH_LOG_ADVISER",
            "THOTH_ADVISER_LIMIT",
            "THOTH_ADVISER_COUNT",
            "THOTH_ADVISER_TIMEOUT_SECONDS",
            "THOTH_FORCE_SYNC",
            "THOTH_AUTHENTICATED_ADVISE",
        ],
        optional: &["THOTH_ADVISER_LIMIT_LATEST_VERSIONS"],
        outputs: &["document-id", "unresolved-packages"],
    },
];

#[test]
fn the_workflow_templates_declare_exactly_the_parameters_the_controller_passes_and_publish_the_outputs_it_reads()
 {
    let objects = render(None, &[]);
    let templates = of_kind(&objects, "WorkflowTemplate");
    assert_eq!(templates.len(), CONTRACT.len());
    for contract in CONTRACT {
        let template = one_of_kind_named(&objects, "WorkflowTemplate", contract.template);
        assert_eq!(template["metadata"]["namespace"], contract.namespace);
        let declared: BTreeMap<&str, Option<&Value>> = template["spec"]["arguments"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| (p["name"].as_str().expect("name"), p.get("value")))
            .collect();
        let passed: BTreeSet<&str> = contract
            .always
            .iter()
            .chain(contract.optional)
            .copied()
            .collect();
        assert_eq!(
            declared.keys().copied().collect::<BTreeSet<_>>(),
            passed,
            "{}: declared parameters differ from what the controller passes",
            contract.template
        );
        for optional in contract.optional {
            assert!(
                declared[optional].is_some(),
                "{}: {optional} is not always passed but has no default",
                contract.template
            );
        }

        let entrypoint = template["spec"]["entrypoint"].as_str().expect("entrypoint");
        let mut published = BTreeSet::new();
        for step in template["spec"]["templates"].as_array().expect("templates") {
            for output in step["outputs"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(global) = output["globalName"].as_str() {
                    published.insert(global);
                }
            }
            // Every parameter the step reads is one the Workflow declares.
            let text = step.to_string();
            for reference in text.split("{{workflow.parameters.").skip(1) {
                let name = reference.split("}}").next().unwrap_or(reference);
                assert!(
                    declared.contains_key(name),
                    "{}: template {} reads undeclared parameter {name}",
                    contract.template,
                    step["name"]
                );
            }
            if let Some(source) = step["script"]["source"].as_str() {
                assert!(
                    !source.contains("{{"),
                    "{}: the script of {} contains an Argo expression",
                    contract.template,
                    step["name"]
                );
            }
        }
        assert_eq!(
            published,
            contract.outputs.iter().copied().collect::<BTreeSet<_>>(),
            "{}: published global outputs differ from what the controller reads",
            contract.template
        );
        assert!(
            template["spec"]["templates"]
                .as_array()
                .expect("templates")
                .iter()
                .any(|t| t["name"] == entrypoint),
            "{}: entrypoint {entrypoint} is not a template",
            contract.template
        );
    }
}

/// Where an API call of the operator goes.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// The namespaces whose resources the operator watches (all by default).
    Watched,
    /// The namespace admission creates resources in (from Kafka messages).
    Resources,
    /// The operator's own namespace.
    Operator,
    /// Each worker namespace (where its Workflows run).
    Workers,
}

/// One kind of API call the operator makes: verbs on a resource, optionally of one name.
struct ApiCall {
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    scope: Scope,
    /// The object name the calls are limited to, from the chart's values.
    name: Option<&'static str>,
}

/// The API calls the operator makes: admission (creates resources from Kafka messages), the
/// controllers (watch, create, patch, delete of resources, status patches and Workflows),
/// kube-runtime's event recorder (events.k8s.io create + patch) and kube-lease-manager (Lease
/// create, get, patch). Taken from the controller-runtime, controller-core and consumer branches'
/// code as of this writing; replace by the code's own table once it declares one.
const API_CALLS: &[ApiCall] = &[
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["create"],
        scope: Scope::Operator,
        name: None,
    },
    ApiCall {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "patch"],
        scope: Scope::Operator,
        name: Some("leaderElection.leaseName"),
    },
    ApiCall {
        group: "argoproj.io",
        resource: "workflows",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Workers,
        name: None,
    },
];

/// One right: a verb on a resource (of one name, or any) in a namespace, or in all (`None`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    group: String,
    resource: String,
    verb: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Grant {
    /// Whether this grant allows `wanted` (a request in a namespace, possibly of one name).
    fn allows(&self, wanted: &Grant) -> bool {
        self.group == wanted.group
            && self.resource == wanted.resource
            && self.verb == wanted.verb
            && (self.namespace.is_none() || self.namespace == wanted.namespace)
            && (self.name.is_none() || self.name == wanted.name)
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// The rights the rendered RBAC gives the ServiceAccount `namespace/name`.
fn grants_of(objects: &[Value], namespace: &str, name: &str) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for binding in objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let bound = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
            });
        if !bound {
            continue;
        }
        let role_ref = &binding["roleRef"];
        let binding_namespace = binding["metadata"]["namespace"].as_str();
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == role_ref["kind"]
                    && o["metadata"]["name"] == role_ref["name"]
                    && (role_ref["kind"] == "ClusterRole"
                        || o["metadata"]["namespace"].as_str() == binding_namespace)
            })
            .unwrap_or_else(|| {
                panic!("binding {} refers to no rendered role", binding["metadata"])
            });
        // A ClusterRoleBinding grants in every namespace; a RoleBinding only in its own.
        let scope = if binding["kind"] == "ClusterRoleBinding" {
            None
        } else {
            binding_namespace.map(String::from)
        };
        for rule in role["rules"].as_array().expect("rules") {
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "non-resource URLs granted: {rule}"
            );
            let names = strings(&rule["resourceNames"]);
            let names: Vec<Option<String>> = if names.is_empty() {
                vec![None]
            } else {
                names.into_iter().map(Some).collect()
            };
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        for name in &names {
                            grants.insert(Grant {
                                group: group.clone(),
                                resource: resource.clone(),
                                verb: verb.clone(),
                                namespace: scope.clone(),
                                name: name.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    grants
}

/// The requests the operator makes under the rendered configuration, as grants it needs; `None`
/// as namespace means in all namespaces.
fn needed_grants(objects: &[Value], values: &Value) -> BTreeSet<Grant> {
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"]["THOTH_SOLVER_NAMESPACE"].is_string())
        .expect("settings ConfigMap");
    let data = &config["data"];
    let watched: Vec<Option<String>> = match data["THOTH_WATCH_NAMESPACES"].as_str() {
        Some("") | None => vec![None],
        Some(list) => list.split(',').map(|n| Some(n.to_string())).collect(),
    };
    let mut workers: BTreeSet<String> = BTreeSet::new();
    for key in [
        "THOTH_SOLVER_NAMESPACE",
        "THOTH_SECURITY_INDICATORS_NAMESPACE",
        "THOTH_ADVISER_NAMESPACE",
    ] {
        workers.insert(data[key].as_str().expect("namespace").to_string());
    }
    for limit in data["THOTH_ADMISSION_LIMITS"]
        .as_str()
        .expect("limits")
        .split(',')
    {
        workers.insert(limit.split('=').next().expect("namespace").to_string());
    }
    let mut needed = BTreeSet::new();
    for call in API_CALLS {
        let namespaces: Vec<Option<String>> = match call.scope {
            Scope::Watched => watched.clone(),
            Scope::Resources => vec![Some(
                data["THOTH_RESOURCE_NAMESPACE"]
                    .as_str()
                    .expect("resource namespace")
                    .to_string(),
            )],
            Scope::Operator => vec![Some(RELEASE_NAMESPACE.to_string())],
            Scope::Workers => workers.iter().cloned().map(Some).collect(),
        };
        let name = call.name.map(|path| {
            path.split('.')
                .fold(values, |v, key| &v[key])
                .as_str()
                .expect("name in values")
                .to_string()
        });
        for namespace in namespaces {
            for verb in call.verbs {
                needed.insert(Grant {
                    group: call.group.to_string(),
                    resource: call.resource.to_string(),
                    verb: verb.to_string(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    needed
}

#[test]
fn the_operators_rbac_grants_every_api_call_it_makes_and_nothing_beyond() {
    let defaults = yaml_file(&format!("{CHART}/values.yaml"));
    let every = yaml_file(EVERY_OPTION);
    for (objects, values, service_account) in [
        (render(None, &[]), &defaults, "thoth-thoth-operator"),
        (
            render(Some(EVERY_OPTION), &[]),
            &every,
            "thoth-loop-operator",
        ),
    ] {
        let granted = grants_of(&objects, RELEASE_NAMESPACE, service_account);
        let needed = needed_grants(&objects, values);
        for grant in &granted {
            assert!(
                !grant.verb.contains('*')
                    && !grant.resource.contains('*')
                    && !grant.group.contains('*'),
                "wildcard granted: {grant:?}"
            );
        }
        let missing: Vec<&Grant> = needed
            .iter()
            .filter(|n| !granted.iter().any(|g| g.allows(n)))
            .collect();
        assert!(
            missing.is_empty(),
            "calls the RBAC does not allow: {missing:#?}"
        );
        let beyond: Vec<&Grant> = granted
            .iter()
            .filter(|g| !needed.iter().any(|n| n == *g))
            .collect();
        assert!(beyond.is_empty(), "rights no call needs: {beyond:#?}");
        for grant in &granted {
            if grant.resource == "workflows" {
                assert!(
                    grant.namespace.is_some(),
                    "Workflows granted cluster-wide: {grant:?}"
                );
            }
        }
    }
    // With watched namespaces listed, nothing is cluster-wide.
    let objects = render(Some(EVERY_OPTION), &[]);
    assert!(of_kind(&objects, "ClusterRole").is_empty());
    assert!(of_kind(&objects, "ClusterRoleBinding").is_empty());
}

#[test]
fn the_workflows_service_account_may_only_report_its_task_results() {
    let objects = render(None, &[]);
    for namespace in ["thoth-middletier", "thoth-backend"] {
        let granted = grants_of(&objects, namespace, "thoth-workflow");
        let expected: BTreeSet<Grant> = ["create", "patch"]
            .into_iter()
            .map(|verb| Grant {
                group: "argoproj.io".into(),
                resource: "workflowtaskresults".into(),
                verb: verb.into(),
                namespace: Some(namespace.into()),
                name: None,
            })
            .collect();
        assert_eq!(granted, expected);
    }
}

#[test]
fn the_samples_are_valid_resources_of_each_kind() {
    let samples = file_names("manifests/samples", ".yaml");
    let mut kinds = BTreeSet::new();
    for name in &samples {
        let sample = yaml_file(&format!("manifests/samples/{name}"));
        let kind = sample["kind"].as_str().expect("kind").to_string();
        let crd = thoth_operator::api::all_crds()
            .into_iter()
            .find(|crd| crd.spec.names.kind == kind)
            .unwrap_or_else(|| panic!("{name}: no CRD for {kind}"));
        let crd = serde_json::to_value(crd).expect("CRD serialises");
        let errors = schema_errors(&compiled_crd_schema(&crd), &sample);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        kinds.insert(kind);
    }
    let expected: BTreeSet<String> = thoth_operator::api::all_crds()
        .into_iter()
        .map(|crd| crd.spec.names.kind)
        .collect();
    assert_eq!(kinds, expected, "one sample of each kind");
}

#[test]
fn the_dockerfile_builds_the_crates_binary_without_default_features_and_runs_it_as_non_root() {
    let dockerfile = read("Dockerfile");
    let manifest = cargo_manifest::Manifest::read(&read("Cargo.toml"));
    let binary = manifest.binary_name();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    // Every path the build stage copies exists in the crate.
    let mut copied = BTreeSet::new();
    for line in instructions
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                root().join(source).exists(),
                "the Dockerfile copies {source}, which the crate lacks"
            );
            copied.insert(source.trim_end_matches('/').to_string());
        }
    }
    // What cargo needs to build: the manifest, lock file, build script, sources, embedded
    // migrations, declared targets and workspace members — copied, and not in .dockerignore.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    for needed in manifest.paths_cargo_needs() {
        assert!(
            copied
                .iter()
                .any(|c| needed == *c || needed.starts_with(&format!("{c}/"))),
            "the Dockerfile does not copy {needed}, which cargo needs"
        );
        assert!(
            !ignored
                .iter()
                .any(|i| needed == *i || needed.starts_with(&format!("{i}/"))),
            ".dockerignore leaves out {needed}, which cargo needs"
        );
    }
    // The build image's Rust is at least the crate's rust-version.
    let image_rust = stages[0]
        .split_whitespace()
        .nth(1)
        .and_then(|image| {
            image
                .rsplit_once(":rust:")
                .or_else(|| image.rsplit_once("/rust:"))
        })
        .map(|(_, tag)| tag.split('-').next().unwrap_or(tag).to_string())
        .expect("the build stage is FROM a rust image");
    let version =
        |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().expect("number")).collect() };
    assert!(
        version(&image_rust) >= version(&manifest.rust_version()),
        "the build image has Rust {image_rust}, the crate needs {}",
        manifest.rust_version()
    );
    let build = format!("cargo build --release --locked --no-default-features --bin {binary}");
    assert!(
        dockerfile.contains(&build),
        "the build command is not `{build}`"
    );
    assert!(
        dockerfile.contains(&format!("target/release/{binary} ")),
        "the Dockerfile does not take target/release/{binary}"
    );
    let runtime: Vec<&&str> = instructions
        .iter()
        .skip_while(|l| !std::ptr::eq(**l, *stages[1]))
        .collect();
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("USER ") && !l.contains("root") && !l.starts_with("USER 0")),
        "the runtime stage does not switch to a non-root user"
    );
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT ") && l.contains(&format!("/{binary}\""))),
        "the runtime stage does not run {binary}"
    );
    assert!(
        runtime.iter().any(|l| l.contains("[\"run\"]")),
        "the image does not default to `{binary} run`"
    );
}

/// What a container build needs from Cargo.toml: the binary's name and every path cargo reads.
mod cargo_manifest {
    use toml_edit::{DocumentMut, Item};

    pub struct Manifest(DocumentMut);

    impl Manifest {
        pub fn read(text: &str) -> Self {
            Self(text.parse().expect("Cargo.toml parses"))
        }

        /// `[[bin]]` tables (or `[lib]`, a single table) as a list.
        fn targets(&self, section: &str) -> Vec<&toml_edit::Table> {
            match self.0.get(section) {
                Some(Item::ArrayOfTables(tables)) => tables.iter().collect(),
                Some(Item::Table(table)) => vec![table],
                _ => Vec::new(),
            }
        }

        /// `package.rust-version`, or the workspace's when the package inherits it.
        pub fn rust_version(&self) -> String {
            let own = self.0["package"].get("rust-version").and_then(Item::as_str);
            let inherited = self
                .0
                .get("workspace")
                .and_then(|w| w.get("package"))
                .and_then(|p| p.get("rust-version"))
                .and_then(Item::as_str);
            own.or(inherited)
                .expect("package.rust-version or workspace.package.rust-version")
                .to_string()
        }

        pub fn binary_name(&self) -> String {
            let names: Vec<&str> = self
                .targets("bin")
                .iter()
                .filter_map(|t| t.get("name").and_then(Item::as_str))
                .collect();
            assert_eq!(names.len(), 1, "one [[bin]] in Cargo.toml");
            names[0].to_string()
        }

        pub fn paths_cargo_needs(&self) -> Vec<String> {
            let mut paths: Vec<String> = ["Cargo.toml", "Cargo.lock", "src", "migrations"]
                .map(String::from)
                .to_vec();
            let build = self.0["package"].get("build").and_then(Item::as_str);
            if let Some(build) = build {
                paths.push(build.to_string());
            } else if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"))
                .exists()
            {
                paths.push("build.rs".to_string());
            }
            for section in ["lib", "bin", "bench", "example", "test"] {
                for target in self.targets(section) {
                    if let Some(path) = target.get("path").and_then(Item::as_str) {
                        paths.push(path.to_string());
                    }
                }
            }
            let members = self
                .0
                .get("workspace")
                .and_then(|w| w.get("members"))
                .and_then(Item::as_array);
            for member in members.into_iter().flatten().filter_map(|m| m.as_str()) {
                if member != "." {
                    paths.push(member.trim_end_matches("/*").to_string());
                }
            }
            paths
        }
    }
}

/// Metric names the operator registers (`thoth_operator_` prefix; counters end in `_total`,
/// histograms are queried through `_bucket`): controller-runtime's `src/reconcile/metrics.rs` and
/// the consumer's `src/ingest/metrics.rs`.
const OPERATOR_METRICS: &[&str] = &[
    "thoth_operator_reconciles_total",
    "thoth_operator_reconcile_errors_total",
    "thoth_operator_reconcile_duration_seconds",
    "thoth_operator_workflows_created_total",
    "thoth_operator_phase_transitions_total",
    "thoth_operator_active_workflows",
    "thoth_operator_queued_resources",
    "thoth_operator_admission_wait_seconds",
    "thoth_operator_api_requests_total",
    "thoth_operator_leader",
    "thoth_operator_ingest_messages_total",
    "thoth_operator_ingest_dead_letters_total",
    "thoth_operator_ingest_consumer_lag",
    "thoth_operator_ingest_paused_partitions",
    "thoth_operator_ingest_batch_size",
    "thoth_operator_ingest_durable_latency_seconds",
    "thoth_operator_ingest_admit_errors_total",
    "thoth_operator_ingest_outbox_published_total",
    "thoth_operator_ingest_outbox_publish_failures_total",
];

#[test]
fn the_dashboard_queries_only_metrics_the_operator_exports_and_covers_the_loop() {
    let dashboard: Value =
        serde_json::from_str(&read(&format!("{CHART}/dashboards/thoth-operator.json")))
            .expect("dashboard is JSON");
    let mut queried = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if token.starts_with("thoth_") {
                    let base = token.strip_suffix("_bucket").unwrap_or(token);
                    assert!(
                        OPERATOR_METRICS.contains(&base),
                        "panel {:?} queries {token}, which the operator does not export",
                        panel["title"]
                    );
                    queried.insert(base.to_string());
                }
            }
        }
    }
    for needed in [
        "thoth_operator_ingest_messages_total",
        "thoth_operator_ingest_consumer_lag",
        "thoth_operator_active_workflows",
        "thoth_operator_queued_resources",
        "thoth_operator_phase_transitions_total",
        "thoth_operator_reconcile_duration_seconds",
        "thoth_operator_ingest_dead_letters_total",
    ] {
        assert!(queried.contains(needed), "no panel shows {needed}");
    }
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
}

/// Runs the entrypoint script of a rendered WorkflowTemplate as Argo would (`sh` with the Workflow's
/// parameters in the environment), with fake Thoth tools first on PATH. Returns whether it
/// succeeded and the output parameters it published.
struct ScriptRun {
    success: bool,
    outputs: BTreeMap<String, String>,
    log: String,
}

fn run_template_script(
    template: &str,
    parameters: &[(&str, &str)],
    fakes: &[(&str, &str)],
) -> ScriptRun {
    let objects = render(None, &[]);
    let template = one_of_kind_named(&objects, "WorkflowTemplate", template);
    let entrypoint = &template["spec"]["entrypoint"];
    let step = template["spec"]["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .find(|t| t["name"] == *entrypoint)
        .expect("entrypoint template");
    let source = step["script"]["source"].as_str().expect("script source");
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    let outputs = dir.path().join("outputs");
    std::fs::create_dir_all(&bin).expect("bin dir");
    for (name, body) in fakes {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write fake tool");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make fake tool executable");
    }
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(source)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("THOTH_OUTPUTS", &outputs)
        .env("TMPDIR", dir.path());
    // Argo passes every declared parameter: the given value, else the template's default.
    for parameter in template["spec"]["arguments"]["parameters"]
        .as_array()
        .expect("parameters")
    {
        let name = parameter["name"].as_str().expect("name");
        let value = parameters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
            .or_else(|| parameter["value"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("required parameter {name} not given"));
        command.env(name, value);
    }
    let out = run(&mut command);
    let mut published = BTreeMap::new();
    for output in step["outputs"]["parameters"].as_array().expect("outputs") {
        let name = output["name"].as_str().expect("name");
        if let Ok(value) = std::fs::read_to_string(outputs.join(name)) {
            published.insert(name.to_string(), value);
        }
    }
    ScriptRun {
        success: out.success,
        outputs: published,
        log: format!("{}{}", out.stdout, out.stderr),
    }
}

const SOLVER_PARAMETERS: &[(&str, &str)] = &[
    (
        "THOTH_SOLVER_WORKFLOW_ID",
        "solver-rhel-8-py38-pyyaml-5-3-1-3f9a1c02de-1",
    ),
    ("THOTH_SOLVER_NAME", "solver-rhel-8-py38"),
    ("THOTH_SOLVER_PACKAGES", "PyYAML===5.3.1"),
    ("THOTH_SOLVER_NO_TRANSITIVE", "1"),
    ("THOTH_SOLVER_INDEXES", "https://pypi.org/simple"),
    ("THOTH_SOLVER_DEPENDENCY_INDEXES", "https://pypi.org/simple"),
];

/// A fake `thoth-solver` that writes `document` where `--output` says.
fn fake_solver(document: &str, exit: u8) -> String {
    format!(
        "while [ $# -gt 0 ]; do [ \"$1\" = --output ] && out=\"$2\"; shift; done\n\
         [ -n '{document}' ] && printf '%s' '{document}' > \"$out\"\nexit {exit}"
    )
}

fn json_output(run: &ScriptRun, name: &str) -> Value {
    let text = run
        .outputs
        .get(name)
        .unwrap_or_else(|| panic!("{name} not published:\n{}", run.log));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {text}"))
}

#[test]
fn the_solver_script_publishes_each_versions_status_from_thoths_solver_document() {
    let solved = fake_solver(
        r#"{"result": {"tree": [{"package_name": "pyyaml", "package_version": "5.3.1", "index_url": "https://pypi.org/simple"}, {"package_name": "six", "package_version": "1.0"}], "errors": [], "unparsed": [], "unresolved": []}}"#,
        0,
    );
    let run = run_template_script("solver", SOLVER_PARAMETERS, &[("thoth-solver", &solved)]);
    assert!(run.success, "{}", run.log);
    assert_eq!(
        run.outputs["document-id"],
        "solver-rhel-8-py38-pyyaml-5-3-1-3f9a1c02de-1"
    );
    assert_eq!(
        json_output(&run, "solver-results"),
        json!([{"version": "5.3.1", "status": "solved"}])
    );

    let unsolvable = fake_solver(
        r#"{"result": {"tree": [], "errors": [], "unparsed": [], "unresolved": [{"package_name": "PyYAML", "version_spec": "===5.3.1"}]}}"#,
        0,
    );
    let run = run_template_script(
        "solver",
        SOLVER_PARAMETERS,
        &[("thoth-solver", &unsolvable)],
    );
    assert!(run.success, "{}", run.log);
    assert_eq!(
        json_output(&run, "solver-results"),
        json!([{"version": "5.3.1", "status": "unsolvable"}])
    );
}

#[test]
fn a_crashed_solver_fails_the_workflow_and_still_publishes_an_error_for_the_version() {
    let crashed = fake_solver("", 3);
    let run = run_template_script("solver", SOLVER_PARAMETERS, &[("thoth-solver", &crashed)]);
    assert!(!run.success, "a crashed solver succeeded:\n{}", run.log);
    let results = json_output(&run, "solver-results");
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{results}");
    assert_eq!(results[0]["version"], "5.3.1");
    assert_eq!(results[0]["status"], "error");
    assert!(results[0]["message"].is_string(), "{results}");
}

const SI_PARAMETERS: &[(&str, &str)] = &[
    (
        "THOTH_SECURITY_INDICATORS_JOB_ID",
        "security-indicators-crossbar-0-10-0-0a1b2c3d4e-1",
    ),
    ("THOTH_SECURITY_INDICATORS_PACKAGE_NAME", "crossbar"),
    ("THOTH_SECURITY_INDICATORS_PACKAGE_VERSION", "0.10.0"),
    (
        "THOTH_SECURITY_INDICATORS_PACKAGE_INDEX",
        "https://pypi.org/simple",
    ),
    (
        "THOTH_DOCUMENT_ID",
        "security-indicators-crossbar-0-10-0-0a1b2c3d4e-1",
    ),
];

/// A fake `pip download` that has a source distribution (writes a tarball to `--dest`), only
/// wheels, or nothing.
fn fake_pip(has_sdist: bool, has_wheel: bool) -> String {
    format!(
        "binary=; while [ $# -gt 0 ]; do case \"$1\" in --dest) dest=\"$2\";; --no-binary) binary=no;; --only-binary) binary=only;; esac; shift; done\n\
         mkdir -p \"$dest\"\n\
         if [ \"$binary\" = no ] && [ {has_sdist} = true ]; then mkdir -p \"$TMPDIR/p/crossbar-0.10.0\" && echo 'x = 1' > \"$TMPDIR/p/crossbar-0.10.0/a.py\" && tar -czf \"$dest/crossbar-0.10.0.tar.gz\" -C \"$TMPDIR/p\" crossbar-0.10.0; exit 0; fi\n\
         if [ \"$binary\" = only ] && [ {has_wheel} = true ]; then touch \"$dest/crossbar-0.10.0-py3-none-any.whl\"; exit 0; fi\n\
         exit 1"
    )
}

fn security_indicators_result(has_sdist: bool, has_wheel: bool) -> ScriptRun {
    let pip = fake_pip(has_sdist, has_wheel);
    let analysers = "while [ $# -gt 0 ]; do case \"$1\" in --output|--report-file=*|--output=*) ;; esac; shift; done; exit 0";
    run_template_script(
        "security-indicators",
        SI_PARAMETERS,
        &[
            ("pip", &pip),
            ("bandit", analysers),
            ("cloc", analysers),
            ("thoth-si-aggregator", analysers),
        ],
    )
}

#[test]
fn the_security_indicators_script_tells_done_from_no_source_distribution_and_missing_version() {
    for (has_sdist, has_wheel, expected) in [
        (true, true, "done"),
        (false, true, "no_source_distribution"),
        (false, false, "missing_version"),
    ] {
        let run = security_indicators_result(has_sdist, has_wheel);
        assert!(run.success, "{expected}: {}", run.log);
        assert_eq!(
            run.outputs
                .get("security-indicators-result")
                .map(String::as_str),
            Some(expected),
            "{}",
            run.log
        );
        assert_eq!(
            run.outputs["document-id"],
            "security-indicators-crossbar-0-10-0-0a1b2c3d4e-1"
        );
    }
}

const ADVISER_PARAMETERS: &[(&str, &str)] = &[
    (
        "THOTH_ADVISER_JOB_ID",
        "adviser-210312182025-5e8c8f2a1b3c4d5e",
    ),
    ("THOTH_ADVISER_RECOMMENDATION_TYPE", "latest"),
];

#[test]
fn the_adviser_script_publishes_the_packages_it_could_not_resolve() {
    let report = r#"{"result": {"report": {"stack_info": [{"type": "ERROR", "message": "no record", "link": {"package": {"name": "flask", "version": "2.0.1", "index": "https://pypi.org/simple"}}}, {"type": "WARNING", "message": "old"}]}}}"#;
    let adviser = format!(
        "while [ $# -gt 0 ]; do [ \"$1\" = --output ] && out=\"$2\"; shift; done\n\
         printf '%s' '{report}' > \"$out\""
    );
    let run = run_template_script(
        "adviser",
        ADVISER_PARAMETERS,
        &[("thoth-adviser", &adviser)],
    );
    assert!(run.success, "{}", run.log);
    assert_eq!(
        run.outputs["document-id"],
        "adviser-210312182025-5e8c8f2a1b3c4d5e"
    );
    assert_eq!(
        json_output(&run, "unresolved-packages"),
        json!([{"name": "flask", "version": "2.0.1", "index": "https://pypi.org/simple"}])
    );

    let resolved = "while [ $# -gt 0 ]; do [ \"$1\" = --output ] && out=\"$2\"; shift; done\n\
                    printf '%s' '{\"result\": {\"report\": {\"stack_info\": []}}}' > \"$out\"";
    let run = run_template_script(
        "adviser",
        ADVISER_PARAMETERS,
        &[("thoth-adviser", resolved)],
    );
    assert!(run.success, "{}", run.log);
    assert_eq!(json_output(&run, "unresolved-packages"), json!([]));
}
