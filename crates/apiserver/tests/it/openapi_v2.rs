//! `/openapi/v2`: the Swagger document, its content negotiation, and a real kubectl
//! against a server without `/openapi/v3` (as before Kubernetes 1.27).

use apiserver::{ApiServer, RunningApiServer};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::Value;

use super::kubectl::kubectl_for;
use super::support::start;

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

fn solver_run_crd() -> CustomResourceDefinition {
    // A real operator's CRD, handed in as YAML the way a user applies it.
    let path = testkit::workspace_root().join("crds/solverruns.thoth-station.ninja.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("SolverRun CRD parses")
}

/// GET `path` with `accept`: status, content type and body.
async fn get(
    server: &RunningApiServer,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut request = http::Request::get(path);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = server
        .client()
        .unwrap()
        .send(request.body(kube::client::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.into_body().collect_bytes().await.unwrap().to_vec();
    (status, content_type, body)
}

async fn document(server: &RunningApiServer) -> Value {
    let (status, content_type, body) = get(server, "/openapi/v2", Some("application/json")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    serde_json::from_slice(&body).unwrap()
}

fn has_query_parameter(operation: &Value, name: &str) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "query"))
}

#[tokio::test]
async fn openapi_v2_describes_crd_kinds_and_follows_crd_changes() {
    let server = start().await;
    let v2 = document(&server).await;
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(v2["info"]["title"], "Kubernetes");
    assert!(
        v2["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["name"]
            .is_object()
    );

    let widget = &v2["definitions"]["com.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    );
    assert_eq!(
        widget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    assert_eq!(
        widget["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let item = &v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"];
    for verb in ["put", "patch"] {
        assert!(
            has_query_parameter(&item[verb], "fieldValidation"),
            "{verb}: {}",
            item[verb]
        );
        assert_eq!(
            item[verb]["x-kubernetes-group-version-kind"]["kind"],
            "Widget"
        );
    }
    let collection = &v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets"];
    assert!(has_query_parameter(&collection["post"], "fieldValidation"));
    assert!(has_query_parameter(&collection["get"], "watch"));
    assert!(
        v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status"]["patch"]
            .is_object()
    );
    assert!(v2["definitions"]["ninja.thoth-station.v1alpha1.SolverRun"].is_null());

    let crds: Api<CustomResourceDefinition> = Api::all(server.client().unwrap());
    let crd = solver_run_crd();
    let raw = serde_json::to_string(&crd).unwrap();
    assert!(
        raw.contains("\"nullable\":true"),
        "the CRD is expected to have nullable fields"
    );
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let v2 = document(&server).await;
    let solver_run = &v2["definitions"]["ninja.thoth-station.v1alpha1.SolverRun"];
    assert_eq!(
        solver_run["x-kubernetes-group-version-kind"][0]["kind"],
        "SolverRun"
    );
    assert_eq!(
        solver_run["properties"]["spec"]["properties"]["indexUrl"]["type"],
        "string"
    );
    assert!(
        !solver_run.to_string().contains("nullable"),
        "v2 keeps no nullable: {solver_run}"
    );
    assert!(v2["definitions"]["ninja.thoth-station.v1alpha1.SolverRunList"].is_object());
    assert!(
        v2["paths"]["/apis/thoth-station.ninja/v1alpha1/namespaces/{namespace}/solverruns/{name}"]
            ["patch"]
            .is_object()
    );

    crds.delete("solverruns.thoth-station.ninja", &DeleteParams::default())
        .await
        .unwrap();
    let v2 = document(&server).await;
    assert!(v2["definitions"]["ninja.thoth-station.v1alpha1.SolverRun"].is_null());
    assert!(
        v2["paths"]["/apis/thoth-station.ninja/v1alpha1/namespaces/{namespace}/solverruns"]
            .is_null()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn openapi_v2_is_negotiated_between_json_and_protobuf() {
    let server = start().await;
    let (status, content_type, body) = get(&server, "/openapi/v2", None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert!(serde_json::from_slice::<Value>(&body).is_ok());

    // What client-go sends: the gnostic protobuf form only.
    let (status, content_type, body) = get(&server, "/openapi/v2", Some(PROTOBUF)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
    );
    assert_eq!(&body[..5], b"\x0a\x032.0", "field 1 (swagger) comes first");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("com.example.v1.Widget") && text.contains("fieldValidation"));

    let both = format!("{PROTOBUF};q=0.5, application/json");
    let (status, content_type, _) = get(&server, "/openapi/v2", Some(&both)).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));

    let (status, _, body) = get(&server, "/openapi/v2", Some("application/yaml")).await;
    assert_eq!(status, 406, "{}", String::from_utf8_lossy(&body));
    server.shutdown().await;
}

#[tokio::test]
async fn openapi_v3_can_be_switched_off() {
    let server = ApiServer::builder()
        .openapi_v3(false)
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(get(&server, "/openapi/v3", None).await.0, 404);
    assert_eq!(get(&server, "/openapi/v3/api/v1", None).await.0, 404);
    assert_eq!(get(&server, "/openapi/v2", None).await.0, 200);
    server.shutdown().await;
}

/// kubectl 1.35 against a server without `/openapi/v3`: it falls back to reading
/// `/openapi/v2` (as protobuf), finds `fieldValidation` on the kind's PATCH
/// operation and so leaves validation to the server with `fieldValidation=Strict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_validates_through_openapi_v2_when_v3_is_absent() {
    let server = ApiServer::builder()
        .openapi_v3(false)
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let kubectl = kubectl_for(&server);
    let root = testkit::workspace_root();
    let crds = root.join("crds").display().to_string();
    let out = kubectl.ok(&["apply", "-f", &crds]).await;
    assert!(
        out.contains("solverruns.thoth-station.ninja created"),
        "{out}"
    );

    let example = root
        .join("docs/examples/solverrun.yaml")
        .display()
        .to_string();
    let applied = kubectl.run(&["apply", "-f", &example, "-v=6"]).await;
    assert!(applied.success, "{}\n{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("created"), "{}", applied.stdout);
    let log = &applied.stderr;
    let fetched = |path: &str| {
        log.lines()
            .any(|l| l.contains(path) && l.contains("200 OK"))
    };
    assert!(
        fetched("/openapi/v2"),
        "kubectl did not read /openapi/v2:\n{log}"
    );
    assert!(!fetched("/openapi/v3"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("solverruns") && l.contains("fieldValidation=Strict")),
        "kubectl did not leave validation to the server:\n{log}"
    );

    let unknown = kubectl.write(
        "unknown.yaml",
        "apiVersion: thoth-station.ninja/v1alpha1\nkind: SolverRun\nmetadata: {name: odd}\n\
         spec: {packageName: PyYAML, indexUrl: https://pypi.org/simple, solver: solver-rhel-8-py38, colour: blue}\n",
    );
    let refused = kubectl.run(&["apply", "-f", &unknown]).await;
    assert!(
        !refused.success,
        "an unknown field was accepted:\n{}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("unknown field \"spec.colour\""),
        "{}",
        refused.stderr
    );

    let invalid = kubectl.write(
        "invalid.yaml",
        "apiVersion: thoth-station.ninja/v1alpha1\nkind: SolverRun\nmetadata: {name: bad}\n\
         spec: {packageName: PyYAML, indexUrl: pypi.org/simple, solver: solver-rhel-8-py38}\n",
    );
    let refused = kubectl.run(&["apply", "-f", &invalid]).await;
    assert!(
        !refused.success,
        "an invalid SolverRun was accepted:\n{}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("spec.indexUrl"),
        "{}",
        refused.stderr
    );

    let namespace = kubectl.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: thoth, labels: {team: thoth}}\n",
    );
    let out = kubectl.ok(&["apply", "-f", &namespace]).await;
    assert!(out.contains("namespace/thoth created"), "{out}");
    server.shutdown().await;
}
