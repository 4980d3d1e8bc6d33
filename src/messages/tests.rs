//! Each message type's checks against Thoth's realistic payloads (tests/fixtures/messages):
//! every field a type validates refuses a bad value and names it, and the accessors give
//! the values that were sent. These are the unit tests the mutation run of `messages`
//! judges by (docs/mutation.md); tests/it/catalogue.rs covers the same fixtures end to end.

use serde_json::{Value, json};

use super::*;
use crate::terms::SourceType;

/// The fixture `tests/fixtures/messages/<name>.json` as JSON.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/messages/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

/// The fixture's message type, from its file name's stem.
fn kind_of(name: &str) -> MessageKind {
    let stem = name.split('.').next().unwrap();
    *MessageKind::ALL
        .iter()
        .find(|k| k.snake_name() == stem)
        .unwrap_or_else(|| panic!("{name} names no type"))
}

fn parse_fixture(name: &str, value: &Value) -> Result<Message, ParseError> {
    parse(
        kind_of(name).base_topic(),
        value.to_string().as_bytes(),
        &ParseConfig::default(),
    )
}

/// `value` with the field at dotted `path` (`metadata.package_name`) set to `new`.
fn set(mut value: Value, path: &str, new: Value) -> Value {
    let mut target = &mut value;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            target.as_object_mut().unwrap().insert(part.into(), new);
            break;
        }
        target = target.get_mut(part).unwrap();
    }
    value
}

fn body(name: &str, value: &Value) -> MessageBody {
    parse_fixture(name, value)
        .unwrap_or_else(|e| panic!("{name}: {}", e.report()))
        .body
}

const FIXTURES: [&str; 20] = [
    "advise_justification.v1",
    "adviser_trigger.v5",
    "build_analysis_trigger.v1",
    "cve_provided.v1",
    "hash_mismatch.v1",
    "inspection_completed.v1",
    "kebechet_run_url_trigger.v2",
    "kebechet_trigger.v1",
    "missing_package.v1",
    "missing_version.v1",
    "package_extract_trigger.v2",
    "package_released.v1",
    "provenance_checker_trigger.v4",
    "si_unanalyzed_package.v1",
    "solved_package.v1",
    "thoth_repo_init.v1",
    "unresolved_package.v1",
    "unresolved_package.v1.from-adviser",
    "unrevsolved_package.v1",
    "update_provides_source_distro.v1",
];

#[test]
fn every_fixture_parses_validates_and_is_written_back_as_received() {
    for name in FIXTURES {
        let value = fixture(name);
        let message = parse_fixture(name, &value).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        assert_eq!(message.kind(), kind_of(name), "{name}");
        assert_eq!(message.validate(), Ok(()), "{name}");
        assert_eq!(message.to_json().unwrap(), value, "{name}");
        let bytes = message.to_bytes().unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);
        assert_eq!(
            message.topic(&TopicPrefix::new("smaug").unwrap()),
            format!("smaug.{}", kind_of(name).base_topic())
        );
    }
}

/// Every value a type checks, one bad spelling each: refused as `invalid_value` naming
/// the field's path (what the dead letter tells the producer).
#[test]
fn each_checked_field_refuses_a_bad_value_and_names_itself() {
    let sha = "a".repeat(64);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "unresolved_package.v1",
            "package_name",
            json!("bad name"),
            "package_name",
        ),
        (
            "unresolved_package.v1",
            "package_version",
            json!(">=1.0"),
            "package_version",
        ),
        (
            "unresolved_package.v1",
            "solver",
            json!("Solver RHEL"),
            "solver",
        ),
        (
            "unrevsolved_package.v1",
            "package_name",
            json!("-x"),
            "package_name",
        ),
        (
            "unrevsolved_package.v1",
            "package_version",
            json!("latest"),
            "package_version",
        ),
        (
            "si_unanalyzed_package.v1",
            "index_url",
            json!("ftp://pypi.org"),
            "index_url",
        ),
        (
            "solved_package.v1",
            "package_version",
            json!("1.0 beta"),
            "package_version",
        ),
        (
            "solved_package.v1",
            "solver",
            json!("solver-rhel-py38"),
            "solver",
        ),
        (
            "package_released.v1",
            "package_name",
            json!("a{{b}}"),
            "package_name",
        ),
        (
            "cve_provided.v1",
            "package_version",
            json!("2.x"),
            "package_version",
        ),
        (
            "missing_version.v1",
            "index_url",
            json!("https://u:p@pypi.org/simple"),
            "index_url",
        ),
        (
            "update_provides_source_distro.v1",
            "package_name",
            json!("_x"),
            "package_name",
        ),
        (
            "missing_package.v1",
            "package_name",
            json!("a b"),
            "package_name",
        ),
        (
            "missing_package.v1",
            "index_url",
            json!("file:///etc"),
            "index_url",
        ),
        (
            "hash_mismatch.v1",
            "package_version",
            json!(".1"),
            "package_version",
        ),
        (
            "hash_mismatch.v1",
            "missing_from_source",
            json!(["abc"]),
            "missing_from_source[0]",
        ),
        (
            "hash_mismatch.v1",
            "missing_from_source",
            json!(["g".repeat(64)]),
            "missing_from_source[0]",
        ),
        (
            "hash_mismatch.v1",
            "missing_from_database",
            json!([sha, "a".repeat(63)]),
            "missing_from_database[1]",
        ),
        ("adviser_trigger.v5", "job_id", json!("Adviser_1"), "job_id"),
        (
            "adviser_trigger.v5",
            "re_run_adviser_id",
            json!("x y"),
            "re_run_adviser_id",
        ),
        (
            "adviser_trigger.v5",
            "origin",
            json!("https://github.com/{{x}}"),
            "origin",
        ),
        (
            "adviser_trigger.v5",
            "source_type",
            json!("EMAIL"),
            "source_type",
        ),
        ("adviser_trigger.v5", "origin", Value::Null, "origin"),
        (
            "provenance_checker_trigger.v4",
            "job_id",
            json!("-x"),
            "job_id",
        ),
        ("package_extract_trigger.v2", "image", json!(""), "image"),
        (
            "package_extract_trigger.v2",
            "image",
            json!("quay.io/x y"),
            "image",
        ),
        (
            "package_extract_trigger.v2",
            "image",
            json!("quay.io/x\u{7}"),
            "image",
        ),
        (
            "package_extract_trigger.v2",
            "environment_type",
            json!("both"),
            "environment_type",
        ),
        ("package_extract_trigger.v2", "job_id", json!("X"), "job_id"),
        (
            "build_analysis_trigger.v1",
            "base_image",
            json!("a b"),
            "base_image",
        ),
        (
            "build_analysis_trigger.v1",
            "output_image",
            json!("\t"),
            "output_image",
        ),
        (
            "build_analysis_trigger.v1",
            "environment_type",
            json!("Runtime"),
            "environment_type",
        ),
        (
            "build_analysis_trigger.v1",
            "job_id",
            json!("a_b"),
            "job_id",
        ),
        ("kebechet_trigger.v1", "job_id", json!("a.b"), "job_id"),
        (
            "kebechet_run_url_trigger.v2",
            "job_id",
            json!("A"),
            "job_id",
        ),
        (
            "kebechet_run_url_trigger.v2",
            "url",
            json!("ssh://github.com/x"),
            "url",
        ),
        (
            "kebechet_run_url_trigger.v2",
            "metadata.message_justification",
            json!(6),
            "metadata.message_justification",
        ),
        (
            "kebechet_run_url_trigger.v2",
            "metadata.package_name",
            json!("a b"),
            "metadata.package_name",
        ),
        (
            "kebechet_run_url_trigger.v2",
            "metadata.package_version",
            json!("1..0"),
            "metadata.package_version",
        ),
        (
            "kebechet_run_url_trigger.v2",
            "metadata.package_index",
            json!("pypi.org"),
            "metadata.package_index",
        ),
        (
            "inspection_completed.v1",
            "inspection_id",
            json!("Inspection_1"),
            "inspection_id",
        ),
        (
            "thoth_repo_init.v1",
            "project_url",
            json!("github.com/x"),
            "project_url",
        ),
        ("thoth_repo_init.v1", "job_id", json!("-"), "job_id"),
    ];
    for (name, path, bad, field) in cases {
        let value = set(fixture(name), path, bad.clone());
        let Err(err) = parse_fixture(name, &value) else {
            panic!("{name}: {path} = {bad} was accepted");
        };
        assert_eq!(
            (err.reason(), err.field()),
            ("invalid_value", Some(field)),
            "{name}: {path} = {bad}: {}",
            err.report()
        );
    }
}

/// The neighbours of the refusals above are accepted: a `sha256:`-prefixed digest, an
/// advise from the CLI without an origin (only Kebechet needs one), a blank origin.
#[test]
fn the_neighbours_of_each_refusal_are_accepted() {
    let sha = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
    let hashes = set(
        fixture("hash_mismatch.v1"),
        "missing_from_source",
        json!([format!("sha256:{sha}"), sha]),
    );
    assert!(parse_fixture("hash_mismatch.v1", &hashes).is_ok());
    let cli = set(
        set(fixture("adviser_trigger.v5"), "source_type", json!("CLI")),
        "origin",
        Value::Null,
    );
    assert!(parse_fixture("adviser_trigger.v5", &cli).is_ok());
    let blank = set(fixture("adviser_trigger.v5"), "origin", json!("  "));
    let MessageBody::AdviserTrigger(advise) = body("adviser_trigger.v5", &blank) else {
        panic!("not an AdviserTrigger");
    };
    assert_eq!(advise.origin(), Ok(None));
}

#[test]
fn advise_accessors_give_the_values_sent() {
    let MessageBody::AdviserTrigger(advise) =
        body("adviser_trigger.v5", &fixture("adviser_trigger.v5"))
    else {
        panic!("not an AdviserTrigger");
    };
    assert_eq!(
        advise.job().unwrap().unwrap().as_str(),
        "adviser-210312182025-5e8c8f2a1b3c4d5e"
    );
    assert_eq!(advise.source(), Ok(Some(SourceType::Kebechet)));
    assert_eq!(
        advise.origin().unwrap().unwrap().as_str(),
        "https://github.com/thoth-station/ps-ip"
    );
    assert_eq!(advise.re_run_of(), Ok(None));
    let rerun = set(
        fixture("adviser_trigger.v5"),
        "re_run_adviser_id",
        json!("adviser-1"),
    );
    let MessageBody::AdviserTrigger(advise) = body("adviser_trigger.v5", &rerun) else {
        panic!("not an AdviserTrigger");
    };
    assert_eq!(advise.re_run_of().unwrap().unwrap().as_str(), "adviser-1");
    let no_job = set(fixture("adviser_trigger.v5"), "job_id", Value::Null);
    let MessageBody::AdviserTrigger(advise) = body("adviser_trigger.v5", &no_job) else {
        panic!("not an AdviserTrigger");
    };
    assert_eq!(advise.job(), Ok(None));
}

#[test]
fn trigger_accessors_give_the_values_sent() {
    let job = |body: &MessageBody| -> Option<String> {
        let job = match body {
            MessageBody::ProvenanceCheckerTrigger(b) => b.job(),
            MessageBody::PackageExtractTrigger(b) => b.job(),
            MessageBody::BuildAnalysisTrigger(b) => b.job(),
            MessageBody::KebechetTrigger(b) => b.job(),
            MessageBody::KebechetRunUrlTrigger(b) => b.job(),
            MessageBody::ThothRepoInit(b) => b.job(),
            other => panic!("{other:?}"),
        };
        job.unwrap().map(|id| id.as_str().to_string())
    };
    for (name, expected) in [
        (
            "provenance_checker_trigger.v4",
            Some("provenance-checker-210312182511-9d8c7b6a5f4e3d2c"),
        ),
        (
            "package_extract_trigger.v2",
            Some("package-extract-210312183002-1a2b3c4d5e6f7a8b"),
        ),
        (
            "build_analysis_trigger.v1",
            Some("build-analysis-210312184501-0f1e2d3c4b5a6978"),
        ),
        (
            "kebechet_trigger.v1",
            Some("kebechet-job-210312185530-2b3c4d5e6f708192"),
        ),
        ("kebechet_run_url_trigger.v2", None),
        (
            "thoth_repo_init.v1",
            Some("thoth-repo-init-210312190101-3c4d5e6f7a8b9c0d"),
        ),
    ] {
        assert_eq!(
            job(&body(name, &fixture(name))).as_deref(),
            expected,
            "{name}"
        );
    }

    let extract = fixture("package_extract_trigger.v2");
    let MessageBody::PackageExtractTrigger(runtime) = body("package_extract_trigger.v2", &extract)
    else {
        panic!("not a PackageExtractTrigger");
    };
    assert_eq!(runtime.environment(), Ok(EnvironmentType::Runtime));
    let buildtime = set(extract.clone(), "environment_type", json!("buildtime"));
    let MessageBody::PackageExtractTrigger(buildtime) =
        body("package_extract_trigger.v2", &buildtime)
    else {
        panic!("not a PackageExtractTrigger");
    };
    assert_eq!(buildtime.environment(), Ok(EnvironmentType::Buildtime));
    // thoth-messaging's defaults: external images, TLS verified.
    let mut bare = extract;
    for key in ["is_external", "verify_tls"] {
        bare.as_object_mut().unwrap().remove(key);
    }
    let MessageBody::PackageExtractTrigger(bare) = body("package_extract_trigger.v2", &bare) else {
        panic!("not a PackageExtractTrigger");
    };
    assert!(bare.is_external && bare.verify_tls);

    let MessageBody::BuildAnalysisTrigger(build) = body(
        "build_analysis_trigger.v1",
        &fixture("build_analysis_trigger.v1"),
    ) else {
        panic!("not a BuildAnalysisTrigger");
    };
    assert_eq!(build.environment(), Ok(Some(EnvironmentType::Runtime)));

    let MessageBody::ThothRepoInit(init) =
        body("thoth_repo_init.v1", &fixture("thoth_repo_init.v1"))
    else {
        panic!("not a ThothRepoInit");
    };
    assert_eq!(
        init.project().unwrap().as_str(),
        "https://github.com/thoth-station/thoth-application-demo"
    );

    let MessageBody::InspectionCompleted(inspection) = body(
        "inspection_completed.v1",
        &fixture("inspection_completed.v1"),
    ) else {
        panic!("not an InspectionCompleted");
    };
    let id = inspection.inspection().unwrap();
    assert_eq!(id.as_str(), "inspection-tensorflow-2-4-1-fd5b7e4c");
    assert_eq!(id.to_string(), "inspection-tensorflow-2-4-1-fd5b7e4c");
}

#[test]
fn kebechet_run_url_metadata_names_the_package_and_the_justification() {
    let name = "kebechet_run_url_trigger.v2";
    let value = set(
        set(
            set(
                set(fixture(name), "metadata.message_justification", json!(5)),
                "metadata.package_name",
                json!("Flask"),
            ),
            "metadata.package_version",
            json!("2.0.1"),
        ),
        "metadata.package_index",
        json!("https://pypi.python.org/simple"),
    );
    let MessageBody::KebechetRunUrlTrigger(trigger) = body(name, &value) else {
        panic!("not a KebechetRunUrlTrigger");
    };
    assert_eq!(
        trigger.repository_url().unwrap().unwrap().as_str(),
        "https://github.com/thoth-station/jupyter-nbrequirements"
    );
    assert_eq!(
        trigger.justification(),
        Ok(Some(KebechetJustification::NewRelease))
    );
    let release = trigger.package().unwrap().unwrap();
    assert_eq!(
        (
            release.name.as_str(),
            release.version.as_str(),
            release.index.as_str()
        ),
        ("flask", "2.0.1", "https://pypi.org/simple")
    );
    // Without the index the metadata names no package.
    let partial = set(value, "metadata.package_index", Value::Null);
    let MessageBody::KebechetRunUrlTrigger(partial) = body(name, &partial) else {
        panic!("not a KebechetRunUrlTrigger");
    };
    assert_eq!(partial.package(), Ok(None));
    for (code, justification) in [
        (1, KebechetJustification::Cve),
        (2, KebechetJustification::HashMismatch),
        (3, KebechetJustification::MissingPackage),
        (4, KebechetJustification::MissingVersion),
        (5, KebechetJustification::NewRelease),
    ] {
        assert_eq!(KebechetJustification::from_code(code), Some(justification));
        assert_eq!(justification as i64, code);
    }
    assert_eq!(KebechetJustification::from_code(0), None);
}

#[test]
fn package_accessors_give_the_normalised_values_sent() {
    let MessageBody::UnrevsolvedPackage(unrevsolved) =
        body("unrevsolved_package.v1", &fixture("unrevsolved_package.v1"))
    else {
        panic!("not an UnrevsolvedPackage");
    };
    let package = unrevsolved.package().unwrap();
    assert_eq!(
        (package.name.as_str(), package.version.as_str()),
        ("tensorflow", "1.11.0")
    );
    let missing = set(
        fixture("missing_package.v1"),
        "package_name",
        json!("PyIFD"),
    );
    let MessageBody::MissingPackage(missing) = body("missing_package.v1", &missing) else {
        panic!("not a MissingPackage");
    };
    let package = missing.package().unwrap();
    assert_eq!(
        (package.name.as_str(), package.index.as_str()),
        ("pyifd", "https://pypi.org/simple")
    );
    let MessageBody::UnresolvedPackage(unresolved) =
        body("unresolved_package.v1", &fixture("unresolved_package.v1"))
    else {
        panic!("not an UnresolvedPackage");
    };
    let request = unresolved.request().unwrap();
    assert_eq!(request.name.as_str(), "textdistance");
    assert_eq!(
        request.solver.map(|s| s.as_str().to_string()).as_deref(),
        Some("solver-rhel-8-py38")
    );
}

/// `index_url` of an UnresolvedPackage: `null` is no index, a string one index, and a
/// number is refused saying what was expected.
#[test]
fn an_unresolved_index_of_null_is_none_and_a_number_is_refused_with_the_expectation() {
    let name = "unresolved_package.v1";
    let null = set(fixture(name), "index_url", Value::Null);
    let MessageBody::UnresolvedPackage(unresolved) = body(name, &null) else {
        panic!("not an UnresolvedPackage");
    };
    assert_eq!(unresolved.index_url, None);
    let one = set(fixture(name), "index_url", json!("https://pypi.org/simple"));
    let MessageBody::UnresolvedPackage(unresolved) = body(name, &one) else {
        panic!("not an UnresolvedPackage");
    };
    assert_eq!(
        unresolved.index_url,
        Some(vec!["https://pypi.org/simple".to_string()])
    );
    let err = parse_fixture(name, &set(fixture(name), "index_url", json!(7))).unwrap_err();
    assert!(
        err.report()
            .contains("expected a string, a list of strings or null"),
        "{}",
        err.report()
    );
}

/// A registry password reaches the Workflow as sent but never a log line.
#[test]
fn credentials_in_a_message_are_kept_but_never_printed() {
    let name = "build_analysis_trigger.v1";
    let message = parse_fixture(name, &fixture(name)).unwrap();
    let MessageBody::BuildAnalysisTrigger(build) = &message.body else {
        panic!("not a BuildAnalysisTrigger");
    };
    let password = build.output_registry_password.as_ref().unwrap();
    assert_eq!(password.expose(), "s3cr3t-robot-token");
    let printed = format!("{message:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert!(printed.contains("Sensitive(<redacted>)"), "{printed}");
}

/// Thoth's messages reach tens of kilobytes; the default limit is one mebibyte, exactly.
#[test]
fn by_default_a_body_of_one_mebibyte_is_parsed_and_one_byte_more_is_refused() {
    let name = "solved_package.v1";
    let padded = |len: usize| -> Vec<u8> {
        let empty = set(fixture(name), "padding", json!("")).to_string().len();
        let bytes = set(fixture(name), "padding", json!("x".repeat(len - empty)))
            .to_string()
            .into_bytes();
        assert_eq!(bytes.len(), len);
        bytes
    };
    let topic = kind_of(name).base_topic();
    let config = ParseConfig::default();
    assert!(parse(topic, &padded(1024 * 1024), &config).is_ok());
    let err = parse(topic, &padded(1024 * 1024 + 1), &config).unwrap_err();
    assert_eq!(err.reason(), "oversized_body");
}

/// The deployment name a prefix was made from is what it reports (the ledger and
/// `thoth-operator status` show it), trimmed.
#[test]
fn a_prefix_reports_its_deployment_name() {
    let prefix = TopicPrefix::new(" smaug-prod ").unwrap();
    assert_eq!(prefix.deployment_name(), Some("smaug-prod"));
    assert_eq!(TopicPrefix::none().deployment_name(), None);
}

/// Kebechet's webhook names the repository at `payload.repository.full_name`; a body
/// without it names none.
#[test]
fn a_kebechet_webhook_names_its_repository() {
    let name = "kebechet_trigger.v1";
    let MessageBody::KebechetTrigger(trigger) = body(name, &fixture(name)) else {
        panic!("not a KebechetTrigger");
    };
    assert_eq!(
        trigger.repository_full_name(),
        Some("thoth-station/jupyter-nbrequirements")
    );
    let bare = set(fixture(name), "webhook_payload", json!({"event": "push"}));
    let MessageBody::KebechetTrigger(trigger) = body(name, &bare) else {
        panic!("not a KebechetTrigger");
    };
    assert_eq!(trigger.repository_full_name(), None);
}

/// Issue 8, row 5 and its neighbours: an origin or an index URL carrying any shell or
/// template syntax (command substitution, backticks, `;`, `{{ }}`, quotes, whitespace,
/// pipes, redirections, globs) is refused by the message parser, naming the field; the
/// same URL without it is accepted.
#[test]
fn urls_with_shell_or_template_syntax_are_refused_naming_the_field() {
    let neighbours = [
        "$(id)",
        "${HOME}",
        "$HOME",
        "`id`",
        ";id",
        "x;y",
        "{{workflow.name}}",
        "{x}",
        "'x'",
        "x'y",
        "\"x\"",
        "x\ny",
        "x\ty",
        "x y",
        "x|y",
        "x<y",
        "x>y",
        "x\\y",
        "x!y",
        "x*",
        "(x)",
        "x%",
        "x%zz",
    ];
    let cases = [
        (
            "adviser_trigger.v5",
            "origin",
            "https://github.com/thoth-station/ps-ip",
        ),
        ("solved_package.v1", "index_url", "https://pypi.org/simple"),
    ];
    for (name, field, good) in cases {
        let value = set(fixture(name), field, json!(good));
        assert!(parse_fixture(name, &value).is_ok(), "{name}: {good}");
        for bad in neighbours {
            for url in [format!("{good}/{bad}"), format!("{good}?q={bad}")] {
                let value = set(fixture(name), field, json!(url));
                let Err(err) = parse_fixture(name, &value) else {
                    panic!("{name}: {field} = {url:?} was accepted");
                };
                assert_eq!(
                    (err.reason(), err.field()),
                    ("invalid_value", Some(field)),
                    "{name}: {field} = {url:?}: {}",
                    err.report()
                );
            }
        }
    }
}
