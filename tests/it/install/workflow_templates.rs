//! The Argo WorkflowTemplates: valid against Argo's published CRD, declaring exactly the
//! controller's parameters and outputs, and their scripts run as Argo would with fake Thoth tools.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

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

/// What the controller passes to one WorkflowTemplate and reads from it, taken from its own code:
/// the Workflows `build_workflow` makes for the samples under `manifests/samples/`, with only their
/// required fields and with every optional field set, under the settings `run` reads from the
/// rendered chart; and the output parameters of `reconcile::contract`.
struct TemplateContract {
    /// The WorkflowTemplate the Workflows reference and the namespace they are created in.
    template: String,
    namespace: String,
    /// Parameters passed whatever the resource says.
    always: BTreeSet<String>,
    /// Parameters passed only when an optional field is set: the template must default them.
    optional: BTreeSet<String>,
    /// Global output parameters the controller reads.
    outputs: BTreeSet<&'static str>,
}

/// Every optional spec field of each kind, set (the samples set only some). The test checks that
/// these and the samples together set every property of the kind's CRD, so a new field must be
/// added here and a parameter it adds is found.
fn every_optional_field(kind: &str) -> Value {
    match kind {
        "SolverRun" => json!({
            "packageVersion": "5.3.1",
            "dependencyIndexUrls": ["https://pypi.org/simple", "https://download.pytorch.org/whl"],
            "debug": true,
        }),
        "SecurityIndicatorRun" => json!({"aggregationFunction": "process_data"}),
        "AdviceRequest" => json!({
            "origin": "https://github.com/thoth-station/ps-ip",
            "sourceType": "KEBECHET",
            "count": 3,
            "limit": 1000,
            "limitLatestVersions": 5,
            "dev": true,
            "debug": true,
            "authenticated": true,
            "reRunAdviserId": "adviser-210101000000-0123456789abcdef",
            "kebechetMetadata": {"package_name": "click"},
            "justification": [{"type": "INFO", "message": "m"}],
            "stackInfo": [{"type": "WARNING", "message": "s"}],
        }),
        other => panic!("no optional fields known for {other}"),
    }
}

/// The spec schema of `kind`'s CRD: its property names and the required ones.
fn crd_spec_properties(kind: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let crd = thoth_operator::api::all_crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"));
    let crd = serde_json::to_value(crd).expect("CRD serialises");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let properties = spec["properties"]
        .as_object()
        .expect("spec properties")
        .keys()
        .cloned()
        .collect();
    let required = spec["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    (properties, required)
}

/// The Workflow `build_workflow` makes for the resource `object` (a sample, given the metadata the
/// API server would) under `config`: its namespace, template and parameters.
fn workflow_for<K>(
    object: &Value,
    config: &thoth_operator::reconcile::workflow::WorkflowConfig,
) -> (String, String, BTreeMap<String, Option<String>>)
where
    K: thoth_operator::reconcile::workflow::WorkflowKind + serde::de::DeserializeOwned,
{
    let mut object = object.clone();
    object["metadata"]["namespace"] = json!("thoth-infra");
    object["metadata"]["uid"] = json!("6f1c1f0e-0d7b-4a59-9d55-4f1b8a3c2e01");
    let resource: K = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{} does not deserialise: {e}", object["kind"]));
    let workflow = thoth_operator::reconcile::workflow::build_workflow(&resource, 1, config)
        .unwrap_or_else(|e| panic!("no Workflow for {}: {e}", object["kind"]));
    let parameters = workflow
        .spec
        .arguments
        .map(|arguments| arguments.parameters)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect();
    (
        workflow.metadata.namespace.expect("a namespace"),
        workflow
            .spec
            .workflow_template_ref
            .expect("a WorkflowTemplate reference")
            .name,
        parameters,
    )
}

/// The contract of each kind with the Workflow settings `run` reads from `objects` (a rendering).
fn contracts_from_code(objects: &[Value]) -> Vec<TemplateContract> {
    use thoth_operator::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
    use thoth_operator::reconcile::contract;

    let args = run_args_from_environment(&operator_environment(objects)).expect("`run` parses");
    let config = args.operator_config().expect("valid settings").workflows;
    let samples = file_names("manifests/samples", ".yaml");
    let mut contracts = Vec::new();
    for name in samples {
        let sample = yaml_file(&format!("manifests/samples/{name}"));
        let kind = sample["kind"].as_str().expect("kind").to_string();
        let (properties, required) = crd_spec_properties(&kind);
        // Only the required fields, and every field.
        let mut minimal = sample.clone();
        minimal["spec"]
            .as_object_mut()
            .expect("spec")
            .retain(|key, _| required.contains(key));
        let mut full = sample.clone();
        for (key, value) in every_optional_field(&kind).as_object().expect("fields") {
            full["spec"][key] = value.clone();
        }
        let set: BTreeSet<String> = full["spec"]
            .as_object()
            .expect("spec")
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            set, properties,
            "{kind}: every_optional_field and the sample must set every field of the CRD"
        );
        let build = |object: &Value| match kind.as_str() {
            "SolverRun" => workflow_for::<SolverRun>(object, &config),
            "SecurityIndicatorRun" => workflow_for::<SecurityIndicatorRun>(object, &config),
            "AdviceRequest" => workflow_for::<AdviceRequest>(object, &config),
            other => panic!("{other} runs no Workflow"),
        };
        let outputs = match kind.as_str() {
            "SolverRun" => [contract::DOCUMENT_ID, contract::SOLVER_RESULTS],
            "SecurityIndicatorRun" => [contract::DOCUMENT_ID, contract::SECURITY_INDICATORS_RESULT],
            "AdviceRequest" => [contract::DOCUMENT_ID, contract::UNRESOLVED_PACKAGES],
            other => panic!("{other} runs no Workflow"),
        };
        let (namespace, template, always) = build(&minimal);
        let mut passed: BTreeSet<String> = always.keys().cloned().collect();
        for object in [&sample, &full] {
            let (other_namespace, other_template, parameters) = build(object);
            assert_eq!((&other_namespace, &other_template), (&namespace, &template));
            passed.extend(parameters.into_keys());
        }
        let always: BTreeSet<String> = always.into_keys().collect();
        contracts.push(TemplateContract {
            template,
            namespace,
            optional: passed.difference(&always).cloned().collect(),
            always,
            outputs: outputs.into_iter().collect(),
        });
    }
    contracts
}

#[test]
fn the_workflow_templates_declare_exactly_the_parameters_the_controller_passes_and_publish_the_outputs_it_reads()
 {
    for values in [None, Some(EVERY_OPTION)] {
        let objects = render(values, &[]);
        let contracts = contracts_from_code(&objects);
        // The contract itself is what the controller's code says today.
        assert_eq!(contracts.len(), 3, "a sample of each kind");
        let templates = of_kind(&objects, "WorkflowTemplate");
        assert_eq!(templates.len(), contracts.len());
        for contract in &contracts {
            check_template(&objects, contract);
        }
    }
}

/// `contract` against the rendered WorkflowTemplate it names.
fn check_template(objects: &[Value], contract: &TemplateContract) {
    let template = one_of_kind_named(objects, "WorkflowTemplate", &contract.template);
    assert_eq!(
        template["metadata"]["namespace"], contract.namespace,
        "{}: the Workflows run in another namespace than the template's",
        contract.template
    );
    let declared: BTreeMap<&str, Option<&Value>> = template["spec"]["arguments"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| (p["name"].as_str().expect("name"), p.get("value")))
        .collect();
    let passed: BTreeSet<&str> = contract
        .always
        .iter()
        .chain(&contract.optional)
        .map(String::as_str)
        .collect();
    assert_eq!(
        declared.keys().copied().collect::<BTreeSet<_>>(),
        passed,
        "{}: declared parameters differ from what the controller passes",
        contract.template
    );
    for optional in &contract.optional {
        assert!(
            declared[optional.as_str()].is_some(),
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
        published, contract.outputs,
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
