//! The built-in kinds an installation creates (ServiceAccounts, ConfigMaps, Secrets, Services,
//! Deployments, RBAC, PodDisruptionBudgets, NetworkPolicies) through kube-rs's typed APIs, and
//! the audit log of the requests the server served.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use apiserver::{ANONYMOUS, ApiServer, AuditRecord};

use super::support::start;

fn api_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Create, get, list, merge-patch (with a stale resourceVersion refused), delete of one object.
async fn lifecycle<K>(api: Api<K>, body: Value)
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(body).expect("typed object");
    let name = object.name_any();
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    assert!(!created.uid().unwrap_or_default().is_empty());
    let again = api
        .create(&PostParams::default(), &object)
        .await
        .unwrap_err();
    assert_eq!(api_code(&again), 409, "second create of {name}");

    let fetched = api.get(&name).await.unwrap();
    assert_eq!(fetched.resource_version(), created.resource_version());
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "yes"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.labels()["patched"], "yes");
    let stale = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": created.resource_version(), "labels": {"x": "y"}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&stale), 409, "a stale resourceVersion of {name}");

    let applied = api
        .patch(
            &name,
            &PatchParams::apply("installer").force(),
            &Patch::Apply(json!({
                "apiVersion": K::api_version(&Default::default()),
                "kind": K::kind(&Default::default()),
                "metadata": {"name": name, "annotations": {"applied": "yes"}},
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.annotations()["applied"], "yes");

    api.delete(&name, &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(&api.get(&name).await.unwrap_err()), 404);
}

#[tokio::test]
async fn every_kind_an_installation_creates_has_the_lifecycle_of_any_object() {
    let server = start().await;
    let client = server.client().unwrap();
    namespace(&client, "ops").await;
    let ns = "ops";
    let c = || client.clone();
    lifecycle(
        Api::<ServiceAccount>::namespaced(c(), ns),
        json!({"metadata": {"name": "op"}}),
    )
    .await;
    lifecycle(
        Api::<ConfigMap>::namespaced(c(), ns),
        json!({"metadata": {"name": "settings"}, "data": {"A": "1"}}),
    )
    .await;
    lifecycle(
        Api::<Secret>::namespaced(c(), ns),
        json!({"metadata": {"name": "db"}, "type": "Opaque", "data": {"url": "cG9zdGdyZXM="}}),
    )
    .await;
    lifecycle(
        Api::<Service>::namespaced(c(), ns),
        json!({"metadata": {"name": "metrics"}, "spec": {"ports": [{"port": 8080}], "selector": {"app": "op"}}}),
    )
    .await;
    lifecycle(
        Api::<Deployment>::namespaced(c(), ns),
        json!({"metadata": {"name": "op"}, "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "op"}},
            "template": {"metadata": {"labels": {"app": "op"}}, "spec": {"containers": [{"name": "op", "image": "op:1"}]}}
        }}),
    )
    .await;
    lifecycle(
        Api::<Role>::namespaced(c(), ns),
        json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    lifecycle(
        Api::<RoleBinding>::namespaced(c(), ns),
        json!({"metadata": {"name": "r"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]}),
    )
    .await;
    lifecycle(
        Api::<ClusterRole>::all(c()),
        json!({"metadata": {"name": "cr"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
    )
    .await;
    lifecycle(
        Api::<ClusterRoleBinding>::all(c()),
        json!({"metadata": {"name": "cr"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
               "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]}),
    )
    .await;
    lifecycle(
        Api::<PodDisruptionBudget>::namespaced(c(), ns),
        json!({"metadata": {"name": "op"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "op"}}}}),
    )
    .await;
    lifecycle(
        Api::<NetworkPolicy>::namespaced(c(), ns),
        json!({"metadata": {"name": "op"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn discovery_tells_namespaced_kinds_from_cluster_scoped_ones_and_paths_follow() {
    let server = start().await;
    let client = server.client().unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let expected = [
        ("", "ServiceAccount", Scope::Namespaced),
        ("", "ConfigMap", Scope::Namespaced),
        ("", "Secret", Scope::Namespaced),
        ("", "Service", Scope::Namespaced),
        ("apps", "Deployment", Scope::Namespaced),
        ("rbac.authorization.k8s.io", "Role", Scope::Namespaced),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            Scope::Namespaced,
        ),
        ("rbac.authorization.k8s.io", "ClusterRole", Scope::Cluster),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            Scope::Cluster,
        ),
        ("policy", "PodDisruptionBudget", Scope::Namespaced),
        ("networking.k8s.io", "NetworkPolicy", Scope::Namespaced),
    ];
    for (group, kind, scope) in expected {
        let gvk = kube::core::GroupVersionKind::gvk(group, "v1", kind);
        let (resource, capabilities) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{kind} is discovered"));
        assert_eq!(resource.kind, kind);
        assert_eq!(capabilities.scope, scope, "{kind}");
    }

    // A cluster-scoped kind has no namespaced path; a namespaced one needs its namespace.
    namespace(&client, "ops").await;
    let in_namespace: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "ops",
        &ApiResource::erase::<ClusterRole>(&()),
    );
    assert_eq!(
        api_code(&in_namespace.list(&ListParams::default()).await.unwrap_err()),
        404
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
    let orphan: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        api_code(
            &config_maps
                .create(&PostParams::default(), &orphan)
                .await
                .unwrap_err()
        ),
        404
    );
    // Names follow the same rules as every object's.
    let bad: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Not_A_Name"}})).unwrap();
    let refused = Api::<ConfigMap>::namespaced(client.clone(), "ops")
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert_eq!(api_code(&refused), 422);
    server.shutdown().await;
}

#[tokio::test]
async fn a_secrets_string_data_is_stored_as_base64_data() {
    let server = start().await;
    let client = server.client().unwrap();
    namespace(&client, "ops").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "ops");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "data": {"url": "b2xk", "user": "dXNlcg=="},
        "stringData": {"url": "new"},
    }))
    .unwrap();
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert!(created.string_data.is_none());
    let data = created.data.expect("data");
    assert_eq!(data["url"].0, b"new");
    assert_eq!(data["user"].0, b"user");
    server.shutdown().await;
}

#[tokio::test]
async fn the_audit_log_records_each_resource_request_with_its_user_and_answer() {
    let server = ApiServer::builder()
        .audit_log(true)
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let admin = server.client().unwrap();
    namespace(&admin, "ops").await;
    let operator = Client::try_from(
        server
            .kube_config_as("system:serviceaccount:ops:op")
            .unwrap(),
    )
    .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(operator.clone(), "ops");
    let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "m"}})).unwrap();
    maps.create(&PostParams::default(), &map).await.unwrap();
    assert_eq!(api_code(&maps.get("absent").await.unwrap_err()), 404);
    Api::<ClusterRole>::all(operator.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    Api::<Service>::all(operator)
        .list(&ListParams::default())
        .await
        .unwrap();

    let log = server.audit_log();
    let record = |user: &str,
                  verb: &str,
                  group: &str,
                  resource: &str,
                  ns: Option<&str>,
                  name: Option<&str>,
                  code: u16| AuditRecord {
        user: user.into(),
        verb: verb.into(),
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        subresource: None,
        namespace: ns.map(Into::into),
        name: name.map(Into::into),
        code,
    };
    let op = "system:serviceaccount:ops:op";
    assert_eq!(
        log,
        vec![
            record(ANONYMOUS, "create", "", "namespaces", None, None, 201),
            record(op, "create", "", "configmaps", Some("ops"), None, 201),
            record(
                op,
                "get",
                "",
                "configmaps",
                Some("ops"),
                Some("absent"),
                404
            ),
            record(
                op,
                "list",
                "rbac.authorization.k8s.io",
                "clusterroles",
                None,
                None,
                200
            ),
            record(op, "list", "", "services", None, None, 200),
        ]
    );
    // Without the option nothing is kept.
    let quiet = start().await;
    namespace(&quiet.client().unwrap(), "ops").await;
    assert!(quiet.audit_log().is_empty());
    quiet.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn kubectls_typed_create_commands_make_the_objects_an_installation_needs() {
    // What a user runs before installing: the Secrets the chart refers to, a ConfigMap, and
    // a look at what is there (kubectl sends typed objects in protobuf where it can).
    let server = start().await;
    let kubectl = super::kubectl::kubectl_for(&server);
    kubectl.ok(&["create", "namespace", "ops"]).await;
    let created = kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "thoth-operator-database",
            "-n",
            "ops",
            "--from-literal=url=postgres://thoth@db/thoth",
        ])
        .await;
    assert!(
        created.contains("secret/thoth-operator-database created"),
        "{created}"
    );
    let url = kubectl
        .ok(&[
            "get",
            "secret",
            "thoth-operator-database",
            "-n",
            "ops",
            "-o",
            "jsonpath={.data.url}",
        ])
        .await;
    assert_eq!(url, "cG9zdGdyZXM6Ly90aG90aEBkYi90aG90aA==");
    let created = kubectl
        .ok(&[
            "create",
            "configmap",
            "extra",
            "-n",
            "ops",
            "--from-literal=a=b",
        ])
        .await;
    assert!(created.contains("configmap/extra created"), "{created}");
    let created = kubectl
        .ok(&["create", "serviceaccount", "argo", "-n", "ops"])
        .await;
    assert!(created.contains("serviceaccount/argo created"), "{created}");
    let listed = kubectl
        .ok(&["get", "secrets,configmaps,sa", "-n", "ops"])
        .await;
    for name in ["thoth-operator-database", "extra", "argo"] {
        assert!(listed.contains(name), "{listed}");
    }
    let deleted = kubectl
        .ok(&["delete", "secret", "thoth-operator-database", "-n", "ops"])
        .await;
    assert!(deleted.contains("deleted"), "{deleted}");
    server.shutdown().await;
}
