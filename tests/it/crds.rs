//! The committed CRDs in `crds/` are exactly what the code generates.

use std::path::Path;

use apiserver::CompiledSchema;
use thoth_operator::api;

const REGENERATE: &str =
    "regenerate them with `cargo run -- crd --output-dir crds` and commit the result";

#[test]
fn committed_crds_match_the_generated_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected_files = Vec::new();
    for crd in api::all_crds() {
        let name = api::crd_file_name(&crd);
        let generated = api::crd_yaml(&crd).expect("CRD serialises");
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("crds/{name} is missing ({e}); {REGENERATE}"));
        assert!(
            committed == generated,
            "crds/{name} differs from the generated CRD; {REGENERATE}"
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds files no CRD generates; {REGENERATE}"
    );
}

#[test]
fn crd_command_output_is_the_concatenation_of_crds_dir() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    names.sort();
    let concatenated: String = names
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("readable CRD file"))
        .collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_thoth-operator"))
        .arg("crd")
        .output()
        .expect("thoth-operator runs");
    assert!(
        output.status.success(),
        "thoth-operator crd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), concatenated);
}

#[test]
fn example_resources_deserialise_into_the_typed_resources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("example exists");
    let solver: api::SolverRun =
        serde_saphyr::from_str(&read("solverrun.yaml")).expect("SolverRun example parses");
    assert_eq!(solver.spec.solver, "solver-rhel-8-py38");
    assert_eq!(solver.spec.package_version.as_deref(), Some("5.3.1"));
    let si: api::SecurityIndicatorRun = serde_saphyr::from_str(&read("securityindicatorrun.yaml"))
        .expect("SecurityIndicatorRun example parses");
    assert_eq!(
        si.spec.aggregation_function, "process_data",
        "default aggregation function applies"
    );
    let advice: api::AdviceRequest =
        serde_saphyr::from_str(&read("advicerequest.yaml")).expect("AdviceRequest example parses");
    assert_eq!(advice.spec.source_type, Some(api::SourceType::Kebechet));
    assert_eq!(
        advice.spec.recommendation_type,
        api::RecommendationType::Latest
    );
}

fn compiled_schema(plural: &str) -> CompiledSchema {
    let crd = api::all_crds()
        .into_iter()
        .find(|crd| crd.spec.names.plural == plural)
        .expect("CRD exists");
    let crd = serde_json::to_value(crd).expect("CRD serialises");
    CompiledSchema::from_crd_version(&crd, api::VERSION).expect("our schema compiles")
}

/// Validates `object` as the API server would against the CRD of its kind.
fn schema_errors(plural: &str, mut object: serde_json::Value) -> Vec<String> {
    let schema = compiled_schema(plural);
    schema.apply_defaults(&mut object);
    schema.prune(&mut object);
    schema
        .validate(&object)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn solver_run(spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": api::API_VERSION, "kind": "SolverRun",
        "metadata": {"name": "x", "namespace": "thoth"}, "spec": spec,
    })
}

#[test]
fn the_schema_accepts_thoth_resources() {
    let good = solver_run(serde_json::json!({
        "packageName": "PyYAML", "packageVersion": "5.3.1",
        "indexUrl": "https://pypi.org/simple", "solver": "solver-fedora-35-py310",
    }));
    assert_eq!(schema_errors("solverruns", good), Vec::<String>::new());
    let every_version = solver_run(serde_json::json!({
        "packageName": "thoth-common", "indexUrl": "https://pypi.org/simple", "solver": "solver-rhel-8-py38",
    }));
    assert_eq!(
        schema_errors("solverruns", every_version),
        Vec::<String>::new()
    );
}

#[test]
fn the_schema_refuses_bad_specs_naming_the_field() {
    let errors = schema_errors(
        "solverruns",
        solver_run(serde_json::json!({
            "packageName": "", "indexUrl": "pypi.org/simple", "solver": "rhel-8-py38",
        })),
    );
    let joined = errors.join("\n");
    for field in ["spec.packageName", "spec.indexUrl", "spec.solver"] {
        assert!(
            joined.contains(&format!("{field}: Invalid value")),
            "no error for {field} in:\n{joined}"
        );
    }

    let missing = schema_errors(
        "solverruns",
        solver_run(serde_json::json!({"packageName": "x"})),
    );
    assert!(
        missing.contains(&"spec.indexUrl: Required value".to_string()),
        "{missing:?}"
    );
    assert!(
        missing.contains(&"spec.solver: Required value".to_string()),
        "{missing:?}"
    );

    let advice = serde_json::json!({
        "apiVersion": api::API_VERSION, "kind": "AdviceRequest",
        "metadata": {"name": "adviser-1", "namespace": "thoth"},
        "spec": {"jobId": "adviser-1", "recommendationType": "fastest", "count": 0},
    });
    let errors = schema_errors("advicerequests", advice).join("\n");
    assert!(
        errors.contains("spec.recommendationType: Unsupported value: \"fastest\""),
        "{errors}"
    );
    assert!(errors.contains("spec.count: Invalid value: 0"), "{errors}");
}

#[test]
fn the_schema_defaults_the_aggregation_function() {
    let schema = compiled_schema("securityindicatorruns");
    let mut object = serde_json::json!({
        "apiVersion": api::API_VERSION, "kind": "SecurityIndicatorRun",
        "metadata": {"name": "x"},
        "spec": {"packageName": "crossbar", "packageVersion": "0.10.0", "indexUrl": "https://pypi.org/simple"},
    });
    schema.apply_defaults(&mut object);
    assert_eq!(object["spec"]["aggregationFunction"], "process_data");
}

/// What a user does on a fresh cluster: `kubectl apply -f crds/`, then the
/// examples, then a mistake — and the API server names the bad field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_installs_the_crds_and_refuses_a_bad_resource_naming_the_field() {
    use apiserver::ApiServer;
    use testkit::Kubectl;

    let server = ApiServer::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .expect("server starts");
    let kubectl = Kubectl::with_kubeconfig(&server.kubeconfig().expect("kubeconfig renders"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crds = root.join("crds").display().to_string();
    let out = kubectl.ok(&["apply", "-f", &crds]).await;
    assert!(
        out.contains("solverruns.thoth-station.ninja created"),
        "{out}"
    );

    let examples = root.join("docs/examples").display().to_string();
    let out = kubectl.ok(&["apply", "-f", &examples]).await;
    assert!(
        out.contains("solverrun.thoth-station.ninja/pyyaml-5-3-1-solver-rhel-8-py38 created"),
        "{out}"
    );

    let table = kubectl.ok(&["get", "thoth"]).await;
    for expected in [
        "PACKAGE",
        "SOLVER",
        "PHASE",
        "WORKFLOW",
        "PyYAML",
        "solver-rhel-8-py38",
        "crossbar",
        "latest",
    ] {
        assert!(
            table.contains(expected),
            "`kubectl get thoth` lacks {expected}:\n{table}"
        );
    }
    let defaulted = kubectl
        .ok(&[
            "get",
            "si",
            "crossbar-0-10-0",
            "-o",
            "jsonpath={.spec.aggregationFunction}",
        ])
        .await;
    assert_eq!(defaulted, "process_data");

    let bad = kubectl.write(
        "bad.yaml",
        "apiVersion: thoth-station.ninja/v1alpha1\nkind: SolverRun\nmetadata: {name: bad}\n\
         spec: {packageName: PyYAML, indexUrl: pypi.org/simple, solver: solver-rhel-8-py38}\n",
    );
    let refused = kubectl.run(&["apply", "-f", &bad]).await;
    assert!(
        !refused.success,
        "a bad SolverRun was accepted:\n{}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("spec.indexUrl"),
        "the error does not name the field:\n{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("is invalid"), "{}", refused.stderr);

    server.shutdown().await;
}
