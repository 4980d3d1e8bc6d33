//! `schema`: structural-schema validation throughput against Argo's full
//! Workflow CRD (one of its examples) and against a small custom resource.

use std::time::{Duration, Instant};

use apiserver::CompiledSchema;
use serde_json::{Value, json};
use testkit::reference_data;

fn yaml_documents(relative: &str) -> Vec<Value> {
    reference_data::yaml_documents(relative).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `work` repeatedly for about `budget` and returns (iterations, elapsed).
fn measure(budget: Duration, mut work: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut iterations = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            work();
        }
        iterations += 100;
    }
    (iterations, start.elapsed())
}

fn report(label: &str, iterations: u64, elapsed: Duration) {
    let per_second = iterations as f64 / elapsed.as_secs_f64();
    let micros = elapsed.as_secs_f64() * 1e6 / iterations as f64;
    println!(
        "schema: {label}: {per_second:.0} validations/s ({micros:.2} µs each, {iterations} runs)"
    );
}

pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let crd = yaml_documents("argo/crds/full/argoproj.io_workflows.yaml").remove(0);
    let started = Instant::now();
    let argo = CompiledSchema::from_crd_version(&crd, "v1alpha1").expect("full Argo CRD compiles");
    println!(
        "schema: compiling the full Argo Workflow CRD took {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let workflow = yaml_documents("argo/examples/workflow-of-workflows.yaml").remove(0);
    assert!(argo.validate(&workflow).is_empty(), "example must be valid");
    let (n, t) = measure(Duration::from_secs(2), || {
        std::hint::black_box(argo.validate(std::hint::black_box(&workflow)));
    });
    report("Argo workflow-of-workflows example vs full CRD", n, t);

    let (n, t) = measure(Duration::from_secs(1), || {
        let mut copy = workflow.clone();
        argo.apply_defaults(&mut copy);
        argo.prune(&mut copy);
        std::hint::black_box(argo.validate(&copy));
    });
    report("same, with clone + defaulting + pruning", n, t);

    let small = CompiledSchema::compile(&json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {"type": "object", "required": ["packageName", "packageVersion", "indexUrl"],
                "properties": {
                    "packageName": {"type": "string", "minLength": 1, "maxLength": 256},
                    "packageVersion": {"type": "string", "minLength": 1},
                    "indexUrl": {"type": "string", "pattern": "^https?://"},
                    "solver": {"type": "string", "enum": ["solver-fedora-38-py311", "solver-rhel-9-py311"]},
                    "attempt": {"type": "integer", "minimum": 0, "default": 0}
                }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    }))
    .expect("small schema compiles");
    let object = json!({
        "apiVersion": "thoth-station.ninja/v1alpha1", "kind": "SolverRun",
        "metadata": {"name": "flask-2.0.1-pypi-solver", "namespace": "thoth"},
        "spec": {"packageName": "flask", "packageVersion": "2.0.1",
                 "indexUrl": "https://pypi.org/simple", "solver": "solver-rhel-9-py311", "attempt": 0}
    });
    assert!(
        small.validate(&object).is_empty(),
        "small object must be valid"
    );
    let (n, t) = measure(Duration::from_secs(1), || {
        std::hint::black_box(small.validate(std::hint::black_box(&object)));
    });
    report("small SolverRun-like object", n, t);
    Ok(())
}
