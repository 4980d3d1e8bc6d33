//! A real kubectl v1.35 against the in-memory API server.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use apiserver::{ApiServer, RunningApiServer};

pub use testkit::Kubectl;

/// kubectl (testkit's runner) with a kubeconfig for `server`.
pub fn kubectl_for(server: &RunningApiServer) -> Kubectl {
    Kubectl::with_kubeconfig(&server.kubeconfig().expect("kubeconfig renders"))
}

pub const GADGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 0, maximum: 100}
              color: {type: string, enum: [red, green]}
              shape: {type: string, default: round}
          status:
            type: object
            properties:
              phase: {type: string}
"#;

const GADGET: &str = r#"
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g1
  labels: {app: demo}
  finalizers: [example.com/hold]
spec:
  size: 3
"#;

pub async fn server_with_gadgets() -> (RunningApiServer, Kubectl) {
    let server = ApiServer::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .expect("server starts");
    let kubectl = kubectl_for(&server);
    let crd = kubectl.write("crd.yaml", GADGET_CRD);
    let out = kubectl.ok(&["apply", "-f", &crd]).await;
    assert!(out.contains("gadgets.example.com created"), "{out}");
    (server, kubectl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_watches_patches_and_deletes() {
    let (server, kubectl) = server_with_gadgets().await;
    assert!(
        kubectl
            .ok(&["get", "crd"])
            .await
            .contains("gadgets.example.com")
    );

    let gadget = kubectl.write("g1.yaml", GADGET);
    assert!(
        kubectl
            .ok(&["apply", "-f", &gadget])
            .await
            .contains("gadget.example.com/g1 created")
    );
    let table = kubectl.ok(&["get", "gadgets"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "SIZE", "PHASE", "AGE"]);
    assert!(table.lines().nth(1).unwrap().starts_with("g1"), "{table}");
    assert!(
        kubectl
            .ok(&["get", "gd", "g1", "-o", "jsonpath={.spec.size}"])
            .await
            == "3"
    );

    // A second client-side apply patches the change.
    let changed = kubectl.write("g1b.yaml", &GADGET.replace("size: 3", "size: 4"));
    assert!(
        kubectl
            .ok(&["apply", "-f", &changed])
            .await
            .contains("configured")
    );
    assert_eq!(
        kubectl
            .ok(&[
                "get",
                "gadget",
                "g1",
                "-o",
                "jsonpath={.metadata.generation}"
            ])
            .await,
        "2"
    );

    let mut watch = kubectl
        .command(&["get", "gadgets", "--watch", "--output-watch-events"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl --watch starts");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("watch output in time")
            .unwrap()
            .unwrap()
    };
    let header = next_line().await;
    assert!(
        header.starts_with("EVENT") && header.contains("SIZE"),
        "{header}"
    );
    let initial = next_line().await;
    assert!(
        initial.starts_with("ADDED") && initial.contains("g1"),
        "{initial}"
    );

    let ssa = kubectl.write(
        "g2.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g2}\nspec: {size: 7}\n",
    );
    assert!(
        kubectl
            .ok(&["apply", "--server-side", "-f", &ssa])
            .await
            .contains("serverside-applied")
    );
    let added = next_line().await;
    assert!(added.contains("ADDED") && added.contains("g2"), "{added}");

    kubectl
        .ok(&[
            "patch",
            "gadget",
            "g1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ])
        .await;
    let modified = next_line().await;
    assert!(
        modified.contains("MODIFIED") && modified.contains("g1"),
        "{modified}"
    );
    assert!(
        kubectl
            .ok(&["get", "gadget", "g1"])
            .await
            .contains("Running")
    );

    kubectl
        .ok(&["delete", "gadget", "g1", "--wait=false"])
        .await;
    let marked = kubectl
        .ok(&[
            "get",
            "gadget",
            "g1",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!marked.is_empty(), "a finalizer holds the object");
    kubectl
        .ok(&[
            "patch",
            "gadget",
            "g1",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .await;
    let mut deleted = false;
    for _ in 0..3 {
        if next_line().await.contains("DELETED") {
            deleted = true;
            break;
        }
    }
    assert!(deleted, "the watch saw the deletion");
    let gone = kubectl.run(&["get", "gadget", "g1"]).await;
    assert!(
        !gone.success && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
    watch.kill().await.ok();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_namespaces_and_discovery() {
    let server = ApiServer::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let kubectl = kubectl_for(&server);
    let namespaces = kubectl.ok(&["get", "namespaces"]).await;
    assert!(
        namespaces.contains("default") && namespaces.contains("Active"),
        "{namespaces}"
    );
    let ns = kubectl.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ops}\n",
    );
    kubectl.ok(&["apply", "-f", &ns]).await;
    assert!(
        kubectl
            .ok(&["get", "ns", "ops", "-o", "name"])
            .await
            .contains("namespace/ops")
    );
    // Typed commands such as `create namespace` send protobuf.
    kubectl.ok(&["create", "namespace", "dev"]).await;
    let dev = kubectl.ok(&["get", "ns", "dev", "-o", "name"]).await;
    assert!(dev.contains("namespace/dev"), "{dev}");
    let resources = kubectl.ok(&["api-resources"]).await;
    assert!(
        resources.contains("leases") && resources.contains("customresourcedefinitions"),
        "{resources}"
    );
    let missing = kubectl.run(&["get", "namespace", "nope"]).await;
    assert!(
        missing.stderr.contains("namespaces \"nope\" not found"),
        "{}",
        missing.stderr
    );
    server.shutdown().await;
}
