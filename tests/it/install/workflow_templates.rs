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
