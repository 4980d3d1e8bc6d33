//! The chart itself: lint, rendering with the defaults and every option, the values schema,
//! the hardened Deployment, secrets by reference only, Kubernetes schemas (kubernetes-validate),
//! the plain manifests, the samples and the dashboard.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

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
        ("kafka.compressionType=zstd", "/kafka/compressionType"),
        ("kafka.maxBatch=0", "/kafka/maxBatch"),
        (
            "operator.indexTimeoutSeconds=601",
            "/operator/indexTimeoutSeconds",
        ),
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
    // librdkafka's rules between settings, which a schema cannot say.
    for (sets, message) in [
        (
            &[
                "kafka.sessionTimeoutMs=60000",
                "kafka.maxPollIntervalMs=30000",
            ][..],
            "kafka.maxPollIntervalMs must be at least kafka.sessionTimeoutMs",
        ),
        (
            &["kafka.receiveMessageMaxBytes=1000000"][..],
            "kafka.receiveMessageMaxBytes must be at least 52429312",
        ),
        (
            &[
                "kafka.messageMaxBytes=60000000",
                "kafka.receiveMessageMaxBytes=60000000",
            ][..],
            "kafka.receiveMessageMaxBytes must be at least 60000512",
        ),
    ] {
        let out = render_text(None, sets);
        assert!(!out.success, "{sets:?} was accepted");
        assert!(out.stderr.contains(message), "{sets:?}: {}", out.stderr);
    }
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
fn the_pod_disruption_budget_never_blocks_a_node_drain() {
    // One replica: no budget, since any that keeps the pod would block every drain.
    let objects = render(None, &["replicaCount=1"]);
    assert!(
        of_kind(&objects, "PodDisruptionBudget").is_empty(),
        "a PodDisruptionBudget for a single replica"
    );
    // More: a budget that keeps fewer pods than there are.
    for replicas in [2, 3] {
        let set = format!("replicaCount={replicas}");
        let objects = render(None, &[&set]);
        let pdb = one_of_kind(&objects, "PodDisruptionBudget");
        let kept = pdb["spec"]["minAvailable"].as_u64().expect("a number");
        assert!(kept >= 1 && kept < replicas, "{set}: minAvailable {kept}");
    }
    // A budget that would keep every replica is refused at install.
    let out = render_text(
        None,
        &["replicaCount=2", "podDisruptionBudget.minAvailable=2"],
    );
    assert!(!out.success, "a budget keeping every replica was accepted");
    assert!(
        out.stderr
            .contains("podDisruptionBudget.minAvailable 2 must be below replicaCount 2"),
        "{}",
        out.stderr
    );
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

/// The Kubernetes release whose schemas kubernetes-validate checks against: kubectl's (v1.35),
/// rather than the tool's own default, the newest release it bundles.
const KUBERNETES_VERSION: &str = "1.35.0";

/// Runs `kubernetes-validate --strict` for [`KUBERNETES_VERSION`] over `files`; returns the kinds it
/// had no schema for.
fn validate_with_kubernetes_schemas(files: &[PathBuf]) -> BTreeSet<String> {
    let out = run(Command::new(kubernetes_validate_binary())
        .args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
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
        .args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
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

/// The sample names `/metrics` can show, each with its family: the families `run` registers
/// (`cli::run::metrics_registry`, with Kafka configured), read from the registry's text encoding.
/// A counter's samples end in `_total`, a histogram's in `_bucket`, `_sum` and `_count`.
fn operator_metric_samples() -> BTreeMap<String, String> {
    use thoth_operator::ingest::IngestMetrics;
    use thoth_operator::reconcile::ControllerMetrics;
    let controller = ControllerMetrics::default();
    let ingest = IngestMetrics::new();
    // A family without series is left out of the encoding.
    controller.add_example_series();
    ingest.add_example_series();
    let registry = thoth_operator::cli::run::metrics_registry(&controller, Some(&ingest));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("metrics encode");
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        let Some(declaration) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (family, kind) = declaration
            .split_once(' ')
            .unwrap_or_else(|| panic!("a TYPE line without a type: {line}"));
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "gauge" | "unknown" => &[""],
            "info" => &["_info"],
            other => panic!("{family}: a metric type this test does not know: {other}"),
        };
        for suffix in suffixes {
            samples.insert(format!("{family}{suffix}"), family.to_string());
        }
    }
    // A labelled family without an example series would be missing: 10 controller and 9 ingestion
    // families today.
    let families: BTreeSet<&String> = samples.values().collect();
    assert!(families.len() >= 19, "families left out:\n{text}");
    samples
}

#[test]
fn the_dashboard_queries_only_metrics_the_operator_exports_and_covers_the_loop() {
    let samples = operator_metric_samples();
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
                    let family = samples.get(token).unwrap_or_else(|| {
                        panic!(
                            "panel {:?} queries {token}, which the operator does not export \
                             (it exports {:?})",
                            panel["title"],
                            samples.keys()
                        )
                    });
                    queried.insert(family.clone());
                }
            }
        }
    }
    // The list: messages by fate, lag, active and queued Workflows per namespace, phase
    // transitions, reconcile latency, dead letters.
    for needed in [
        "thoth_operator_ingest_messages",
        "thoth_operator_ingest_consumer_lag",
        "thoth_operator_active_workflows",
        "thoth_operator_queued_resources",
        "thoth_operator_phase_transitions",
        "thoth_operator_reconcile_duration_seconds",
        "thoth_operator_ingest_dead_letters",
    ] {
        assert!(
            samples.values().any(|family| family == needed),
            "the operator no longer exports {needed}"
        );
        assert!(queried.contains(needed), "no panel shows {needed}");
    }
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
}

#[test]
fn switching_an_option_off_removes_exactly_what_it_adds() {
    let objects = render(
        None,
        &[
            "kafka.enabled=false",
            "workflowTemplates.enabled=false",
            "podDisruptionBudget.enabled=false",
            "serviceAccount.create=false",
            "serviceAccount.name=existing-operator",
        ],
    );
    assert!(of_kind(&objects, "WorkflowTemplate").is_empty());
    assert!(of_kind(&objects, "PodDisruptionBudget").is_empty());
    let accounts: Vec<&str> = of_kind(&objects, "ServiceAccount")
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert!(
        accounts.is_empty(),
        "ServiceAccounts rendered: {accounts:?}"
    );
    let config = one_of_kind(&objects, "ConfigMap");
    let keys: Vec<&String> = config["data"]
        .as_object()
        .expect("data")
        .keys()
        .filter(|k| k.starts_with("KAFKA_"))
        .collect();
    assert!(keys.is_empty(), "Kafka settings without Kafka: {keys:?}");
    let deployment = one_of_kind(&objects, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "existing-operator"
    );
    for binding in of_kind(&objects, "RoleBinding")
        .into_iter()
        .chain(of_kind(&objects, "ClusterRoleBinding"))
    {
        assert_eq!(
            binding["subjects"][0]["name"], "existing-operator",
            "{}",
            binding["metadata"]["name"]
        );
    }
    // The operator's own rights stay: Workflows in both worker namespaces.
    assert_eq!(
        of_kind(&objects, "Role")
            .iter()
            .filter(|r| r["rules"][0]["resources"] == json!(["workflows"]))
            .count(),
        2
    );
}
