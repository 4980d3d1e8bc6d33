//! Argo's published CRDs and examples against the structural-schema module:
//! the full CRDs compile, every example validates, and broken Workflows are
//! refused with the path and reason the real API server gives.

use apiserver::{CompiledSchema, FieldErrorReason};
use serde_json::{Value, json};
use testkit::reference_data;

fn yaml_documents(relative: &str) -> Vec<Value> {
    reference_data::yaml_documents(relative).unwrap_or_else(|e| panic!("{e}"))
}

fn crd_schema(relative: &str) -> CompiledSchema {
    let crd = yaml_documents(relative).remove(0);
    CompiledSchema::from_crd_version(&crd, "v1alpha1")
        .unwrap_or_else(|e| panic!("{relative} does not compile: {e}"))
}

fn full_workflow_schema() -> CompiledSchema {
    crd_schema("argo/crds/full/argoproj.io_workflows.yaml")
}

fn example_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for relative in [
        "argo/examples/arguments-parameters.yaml",
        "argo/examples/label-value-from-workflow.yaml",
        "argo/examples/workflow-of-workflows.yaml",
        "argo/examples/workflow-template/workflow-template-ref.yaml",
        "argo/examples/workflow-template/workflow-template-ref-with-entrypoint-arg-passing.yaml",
        "argo/examples/workflow-template/templates.yaml",
        "argo/examples/cluster-workflow-template/workflow-template-ref.yaml",
        "argo/examples/cluster-workflow-template/clustertemplates.yaml",
    ] {
        for document in yaml_documents(relative) {
            out.push((relative.to_string(), document));
        }
    }
    out
}

fn arguments_parameters_example() -> Value {
    yaml_documents("argo/examples/arguments-parameters.yaml").remove(0)
}

fn rendered(schema: &CompiledSchema, object: &Value) -> Vec<String> {
    schema
        .validate(object)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn full_and_minimal_crds_compile() {
    crd_schema("argo/crds/full/argoproj.io_workflows.yaml");
    crd_schema("argo/crds/full/argoproj.io_workflowtemplates.yaml");
    crd_schema("argo/crds/minimal/argoproj.io_workflows.yaml");
    crd_schema("argo/crds/minimal/argoproj.io_workflowtemplates.yaml");
}

#[test]
fn every_example_validates_against_the_full_crd_and_survives_pruning() {
    let workflow = full_workflow_schema();
    let template = crd_schema("argo/crds/full/argoproj.io_workflowtemplates.yaml");
    let examples = example_documents();
    let workflows = examples
        .iter()
        .filter(|(_, d)| d["kind"] == "Workflow")
        .count();
    assert_eq!(workflows, 6, "the shared examples hold six Workflows");
    for (file, document) in examples {
        // ClusterWorkflowTemplate has the same spec as WorkflowTemplate.
        let schema = match document["kind"].as_str() {
            Some("Workflow") => &workflow,
            Some("WorkflowTemplate" | "ClusterWorkflowTemplate") => &template,
            other => panic!("{file}: unexpected kind {other:?}"),
        };
        let mut object = document.clone();
        schema.apply_defaults(&mut object);
        let errors = rendered(schema, &object);
        assert!(errors.is_empty(), "{file}: {errors:#?}");
        let mut pruned = document.clone();
        schema.prune(&mut pruned);
        assert_eq!(pruned, document, "{file}: pruning dropped known fields");
    }
}

#[test]
fn entrypoint_of_the_wrong_type_is_refused() {
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["entrypoint"] = json!(5);
    let errors = schema.validate(&workflow);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "spec.entrypoint");
    assert_eq!(errors[0].reason, FieldErrorReason::TypeInvalid);
    assert_eq!(
        errors[0].message,
        r#"Invalid value: "integer": spec.entrypoint in body must be of type string: "integer""#
    );
}

#[test]
fn templates_that_are_not_a_list_are_refused() {
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["templates"] = json!({"name": "print-message"});
    assert_eq!(
        rendered(&schema, &workflow),
        vec![
            r#"spec.templates: Invalid value: "object": spec.templates in body must be of type array: "object""#
        ]
    );
}

#[test]
fn parameter_without_name_is_refused() {
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["arguments"]["parameters"] = json!([{"value": "hello"}]);
    let errors = schema.validate(&workflow);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "spec.arguments.parameters[0].name");
    assert_eq!(errors[0].reason, FieldErrorReason::Required);
    assert_eq!(errors[0].message, "Required value");

    let mut nested = arguments_parameters_example();
    nested["spec"]["templates"][0]["inputs"]["parameters"] = json!([{}]);
    assert_eq!(
        rendered(&schema, &nested),
        vec!["spec.templates[0].inputs.parameters[0].name: Required value"]
    );
}

#[test]
fn unknown_pod_gc_strategy_is_refused_because_the_crd_enumerates_it() {
    // The CRD carries an enum for podGC.strategy; Argo's JSON schema does not.
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["podGC"] = json!({"strategy": "Sometimes"});
    let errors = schema.validate(&workflow);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "spec.podGC.strategy");
    assert_eq!(errors[0].reason, FieldErrorReason::NotSupported);
    assert_eq!(
        errors[0].message,
        r#"Unsupported value: "Sometimes": supported values: "", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess""#
    );
    workflow["spec"]["podGC"] = json!({"strategy": "OnPodSuccess"});
    assert!(schema.validate(&workflow).is_empty());
}

#[test]
fn missing_spec_and_pattern_violations_are_refused() {
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow.as_object_mut().unwrap().remove("spec");
    assert_eq!(rendered(&schema, &workflow), vec!["spec: Required value"]);

    // Template names are constrained by a pattern and a maximum length.
    let mut bad_name = arguments_parameters_example();
    bad_name["spec"]["templates"][0]["name"] = json!("-bad");
    let errors = rendered(&schema, &bad_name);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(r#"spec.templates[0].name: Invalid value: "-bad": spec.templates[0].name in body should match '"#),
        "{errors:?}"
    );
}

#[test]
fn pruning_drops_unknown_fields_but_keeps_preserved_ones() {
    let schema = full_workflow_schema();
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["notAField"] = json!(true);
    workflow["spec"]["templates"][0]["plugin"] = json!({"any": {"thing": 1}});
    workflow["metadata"]["unknownMetadata"] = json!("kept at the root");
    schema.prune(&mut workflow);
    assert!(workflow["spec"].get("notAField").is_none());
    assert_eq!(
        workflow["spec"]["templates"][0]["plugin"],
        json!({"any": {"thing": 1}})
    );
    assert_eq!(
        workflow["metadata"]["unknownMetadata"],
        json!("kept at the root")
    );
}

#[test]
fn minimal_crd_accepts_any_spec_object_but_requires_one() {
    let schema = crd_schema("argo/crds/minimal/argoproj.io_workflows.yaml");
    let mut workflow = arguments_parameters_example();
    workflow["spec"]["whatever"] = json!({"deep": [1, 2]});
    let before = workflow.clone();
    schema.prune(&mut workflow);
    assert_eq!(workflow, before);
    assert!(schema.validate(&workflow).is_empty());
    workflow["spec"] = json!("a string");
    assert_eq!(
        rendered(&schema, &workflow),
        vec![r#"spec: Invalid value: "string": spec in body must be of type object: "string""#]
    );
}
