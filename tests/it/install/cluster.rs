//! The chart and the plain manifests installed for real: `helm install`/`upgrade`/`uninstall` (helm
//! v4) and `kubectl apply -k manifests/` (kubectl v1.35) against the in-memory API server, which
//! serves the built-in kinds they create and Argo's published WorkflowTemplate CRD.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use apiserver::{ApiServer, AuditRecord, RunningApiServer};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{Discovery, Scope};

use super::*;

/// Argo's published WorkflowTemplate CRD, which a cluster with Argo Workflows has.
fn workflow_template_crd() -> CustomResourceDefinition {
    let documents =
        reference_data::yaml_documents("argo/crds/full/argoproj.io_workflowtemplates.yaml")
            .expect("Argo's WorkflowTemplate CRD is readable");
    serde_json::from_value(documents.into_iter().next().expect("one document"))
        .expect("Argo's WorkflowTemplate CRD parses")
}

/// The Prometheus operator's ServiceMonitor CRD, reduced to what the chart's object needs: its
/// names and a schema keeping every field (the chart's object is checked field by field against
/// the Kubernetes schemas elsewhere; here it only has to be served).
fn service_monitor_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor", "listKind": "ServiceMonitorList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))
    .expect("ServiceMonitor CRD")
}

/// A server with Argo's WorkflowTemplate and the ServiceMonitor CRDs, the audit log on, and the
/// namespaces that exist before the operator is installed (its own and Argo's worker namespaces).
async fn cluster(namespaces: &[&str]) -> (RunningApiServer, tempfile::TempDir) {
    let server = ApiServer::builder()
        .crds([workflow_template_crd(), service_monitor_crd()])
        .audit_log(true)
        .build()
        .start("127.0.0.1:0")
        .await
        .expect("API server starts");
    let client = server.client().expect("client");
    let api: Api<Namespace> = Api::all(client);
    for name in namespaces {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        api.create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    server
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .expect("kubeconfig");
    (server, dir)
}

fn kubeconfig(dir: &tempfile::TempDir) -> String {
    dir.path().join("kubeconfig").display().to_string()
}

/// A blocking tool run off the runtime's threads, so the server keeps answering.
async fn blocking(f: impl FnOnce() -> Run + Send + 'static) -> Run {
    tokio::task::spawn_blocking(f).await.expect("tool run")
}

async fn helm_on(dir: &tempfile::TempDir, args: &[&str]) -> Run {
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--kubeconfig".to_string(), kubeconfig(dir)]);
    blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        helm(&args)
    })
    .await
}

async fn kubectl_on(dir: &tempfile::TempDir, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let config = kubeconfig(dir);
    blocking(move || {
        run(Command::new(kubectl_binary())
            .args(&args)
            .env("KUBECONFIG", config)
            .env("HOME", Path::new(&std::env::temp_dir())))
    })
    .await
}

/// Where a rendered object lives on the server: its API, or the reason it has none.
async fn object_api(
    discovery: &Discovery,
    client: &kube::Client,
    object: &Value,
    default_namespace: &str,
) -> (Api<DynamicObject>, String) {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().expect("kind");
    let (resource, capabilities) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
        .unwrap_or_else(|| panic!("{api_version} {kind} is served"));
    let name = object["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let api = match capabilities.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(default_namespace),
            &resource,
        ),
    };
    (api, name)
}

/// Each object of `objects`: whether the server has it, as `kind namespace/name`.
async fn presence(
    server: &RunningApiServer,
    objects: &[Value],
    default_namespace: &str,
) -> BTreeMap<String, bool> {
    let client = server.client().expect("client");
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let mut out = BTreeMap::new();
    for object in objects {
        let (api, name) = object_api(&discovery, &client, object, default_namespace).await;
        let found = api.get_opt(&name).await.expect("get answers");
        if let Some(found) = &found {
            // What the server holds is what was rendered (labels carry the release's identity).
            let labels = &object["metadata"]["labels"];
            if labels.is_object() {
                assert_eq!(
                    serde_json::to_value(&found.metadata.labels).expect("labels"),
                    *labels,
                    "labels of {name}"
                );
            }
        }
        out.insert(
            format!(
                "{} {}/{name}",
                object["kind"].as_str().unwrap_or(""),
                object["metadata"]["namespace"].as_str().unwrap_or("")
            ),
            found.is_some(),
        );
    }
    out
}

fn all_present(presence: &BTreeMap<String, bool>) -> Vec<&String> {
    presence
        .iter()
        .filter(|(_, p)| !**p)
        .map(|(k, _)| k)
        .collect()
}

fn writes(log: &[AuditRecord]) -> Vec<&AuditRecord> {
    log.iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_upgrades_and_uninstalls_the_chart_on_the_in_memory_api_server() {
    // The default worker namespaces, and the namespaces every-option.yaml watches, exist.
    let (server, dir) = cluster(&[
        RELEASE_NAMESPACE,
        "thoth-middletier",
        "thoth-backend",
        "thoth-frontend",
        "thoth-infra",
    ])
    .await;

    let install = helm_on(
        &dir,
        &["install", "thoth", CHART, "--namespace", RELEASE_NAMESPACE],
    )
    .await;
    assert!(
        install.success,
        "helm install:\n{}\n{}",
        install.stdout, install.stderr
    );
    let defaults = render(None, &[]);
    let installed = presence(&server, &defaults, RELEASE_NAMESPACE).await;
    assert!(
        all_present(&installed).is_empty(),
        "not installed: {:?}",
        all_present(&installed)
    );
    // The chart's CRDs (crds/) are installed too, and the release is kept in a Secret.
    let crds: Vec<Value> = file_names("crds", ".yaml")
        .iter()
        .map(|f| yaml_file(&format!("crds/{f}")))
        .collect();
    assert!(all_present(&presence(&server, &crds, "").await).is_empty());
    let release = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sh.helm.release.v1.thoth.v1", "namespace": RELEASE_NAMESPACE}});
    assert_eq!(
        presence(&server, std::slice::from_ref(&release), RELEASE_NAMESPACE)
            .await
            .values()
            .collect::<Vec<_>>(),
        [&true]
    );

    // Upgrading to every option adds what the options add and removes what they drop.
    let upgrade = helm_on(
        &dir,
        &[
            "upgrade",
            "thoth",
            CHART,
            "--namespace",
            RELEASE_NAMESPACE,
            "--values",
            EVERY_OPTION,
        ],
    )
    .await;
    assert!(
        upgrade.success,
        "helm upgrade:\n{}\n{}",
        upgrade.stdout, upgrade.stderr
    );
    let every = render(Some(EVERY_OPTION), &[]);
    let upgraded = presence(&server, &every, RELEASE_NAMESPACE).await;
    assert!(
        all_present(&upgraded).is_empty(),
        "not upgraded: {:?}",
        all_present(&upgraded)
    );
    let kinds: BTreeSet<&str> = every.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in ["ServiceMonitor", "NetworkPolicy", "Namespace"] {
        assert!(kinds.contains(kind), "every option renders a {kind}");
    }
    let dropped: Vec<Value> = defaults
        .iter()
        .filter(|d| {
            !every.iter().any(|e| {
                e["kind"] == d["kind"]
                    && e["metadata"]["name"] == d["metadata"]["name"]
                    && e["metadata"]["namespace"] == d["metadata"]["namespace"]
            })
        })
        .cloned()
        .collect();
    assert!(!dropped.is_empty(), "the fullname override renames objects");
    let left = presence(&server, &dropped, RELEASE_NAMESPACE).await;
    assert!(
        left.values().all(|p| !p),
        "objects of the first revision left after the upgrade: {left:?}"
    );

    let uninstall = helm_on(
        &dir,
        &["uninstall", "thoth", "--namespace", RELEASE_NAMESPACE],
    )
    .await;
    assert!(uninstall.success, "helm uninstall:\n{}", uninstall.stderr);
    let after = presence(&server, &every, RELEASE_NAMESPACE).await;
    let remaining: Vec<&String> = after.iter().filter(|(_, p)| **p).map(|(k, _)| k).collect();
    assert!(remaining.is_empty(), "left after uninstall: {remaining:?}");
    // As Helm documents, CRDs from crds/ stay.
    assert!(all_present(&presence(&server, &crds, "").await).is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_refuses_a_wrong_value_before_writing_anything() {
    let (server, dir) = cluster(&[RELEASE_NAMESPACE, "thoth-middletier", "thoth-backend"]).await;
    let before = server.audit_log().len();
    let refused = helm_on(
        &dir,
        &[
            "install",
            "thoth",
            CHART,
            "--namespace",
            RELEASE_NAMESPACE,
            "--set",
            "replicaCount=two",
        ],
    )
    .await;
    assert!(!refused.success, "a string replica count was installed");
    assert!(
        refused.stderr.contains("replicaCount"),
        "the refusal names the value: {}",
        refused.stderr
    );
    // Helm v4 installs the chart's crds/ before it renders the templates against the schema;
    // nothing else is written.
    let log = server.audit_log();
    let written: Vec<&AuditRecord> = writes(&log[before..])
        .into_iter()
        .filter(|r| r.resource != "customresourcedefinitions")
        .collect();
    assert!(
        written.is_empty(),
        "written despite the refusal: {written:?}"
    );
    // The same install with a right value writes.
    let accepted = helm_on(
        &dir,
        &[
            "install",
            "thoth",
            CHART,
            "--namespace",
            RELEASE_NAMESPACE,
            "--set",
            "replicaCount=3",
        ],
    )
    .await;
    assert!(accepted.success, "helm install:\n{}", accepted.stderr);
    assert!(!writes(&server.audit_log()).is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_plain_manifests_and_a_second_apply_changes_nothing() {
    // The worker namespaces are created by the manifests themselves; only Argo's CRD is there.
    let (server, dir) = cluster(&[]).await;
    let first = kubectl_on(&dir, &["apply", "-k", "manifests/"]).await;
    assert!(
        first.success,
        "kubectl apply -k:\n{}\n{}",
        first.stdout, first.stderr
    );
    let built = kubectl_on(&dir, &["kustomize", "manifests/"]).await;
    assert!(built.success, "kubectl kustomize:\n{}", built.stderr);
    let objects = yaml_documents(&built.stdout);
    assert!(objects.len() > 20, "the manifests hold the installation");
    let applied = presence(&server, &objects, "default").await;
    assert!(
        all_present(&applied).is_empty(),
        "not applied: {:?}",
        all_present(&applied)
    );

    let second = kubectl_on(&dir, &["apply", "-k", "manifests/"]).await;
    assert!(
        second.success,
        "second kubectl apply -k:\n{}",
        second.stderr
    );
    let lines: Vec<&str> = second.stdout.lines().collect();
    assert_eq!(lines.len(), objects.len(), "{}", second.stdout);
    let changed: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.ends_with(" unchanged"))
        .collect();
    assert!(changed.is_empty(), "changed by a second apply: {changed:?}");

    // The rest of manifests/README.md: the database Secret, then the samples.
    let secret = kubectl_on(
        &dir,
        &[
            "-n",
            "thoth-operator",
            "create",
            "secret",
            "generic",
            "thoth-operator-database",
            "--from-literal=url=postgres://thoth@db/thoth",
        ],
    )
    .await;
    assert!(secret.success, "kubectl create secret:\n{}", secret.stderr);
    let samples = kubectl_on(&dir, &["apply", "-f", "manifests/samples/"]).await;
    assert!(
        samples.success,
        "kubectl apply -f manifests/samples/:\n{}",
        samples.stderr
    );
    assert_eq!(
        samples
            .stdout
            .lines()
            .filter(|l| l.ends_with(" created"))
            .count(),
        file_names("manifests/samples", ".yaml").len(),
        "{}",
        samples.stdout
    );
    server.shutdown().await;
}
