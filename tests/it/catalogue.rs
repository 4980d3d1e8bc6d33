//! The message catalogue against realistic payloads of every Thoth type
//! (tests/fixtures/messages/<type>.<version>[.<case>].json).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use thoth_operator::messages::{
    Message, MessageBody, MessageKind, ParseConfig, ParseError, TopicPrefix, VersionSelector, parse,
};

struct Fixture {
    file: String,
    kind: MessageKind,
    version: String,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut parts = file.split('.');
        let stem = parts.next().unwrap();
        let version = parts.next().unwrap().to_string();
        let kind = *MessageKind::ALL
            .iter()
            .find(|k| k.snake_name() == stem)
            .unwrap_or_else(|| panic!("fixture {file} names no message type"));
        out.push(Fixture {
            kind,
            version,
            bytes: std::fs::read(&path).unwrap(),
            file,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

fn bare() -> ParseConfig {
    ParseConfig::default()
}

#[test]
fn every_live_type_has_a_fixture_in_its_current_version() {
    let covered: BTreeSet<_> = fixtures()
        .iter()
        .filter(|f| f.version == f.kind.current_version())
        .map(|f| f.kind)
        .collect();
    let all: BTreeSet<_> = MessageKind::ALL.iter().copied().collect();
    assert_eq!(covered, all);
    assert_eq!(covered.len(), 19);
}

#[test]
fn every_fixture_round_trips_with_its_field_names_and_version() {
    for fixture in fixtures() {
        let message = parse(fixture.kind.base_topic(), &fixture.bytes, &bare())
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        assert_eq!(message.kind(), fixture.kind, "{}", fixture.file);
        assert_eq!(
            message.envelope.version, fixture.version,
            "{}",
            fixture.file
        );

        let input: Value = serde_json::from_slice(&fixture.bytes).unwrap();
        let output: Value = serde_json::from_slice(&message.to_bytes().unwrap()).unwrap();
        assert_eq!(output, input, "{}", fixture.file);

        let again = parse(
            fixture.kind.base_topic(),
            &message.to_bytes().unwrap(),
            &bare(),
        )
        .unwrap();
        assert_eq!(again, message, "{}", fixture.file);
    }
}

/// Thoth's producers serialise their pydantic models whole: an unset optional
/// field is written as `null`, never left out (and the investigator's handlers
/// read such fields by key). So a payload that leaves the `null`s out must
/// parse to the same message and be written back with them.
#[test]
fn absent_optional_fields_are_written_back_as_null() {
    for fixture in fixtures() {
        let full: Value = serde_json::from_slice(&fixture.bytes).unwrap();
        let mut sparse = full.clone();
        sparse
            .as_object_mut()
            .unwrap()
            .retain(|_, value| !value.is_null());
        let topic = fixture.kind.base_topic();
        let from_sparse = parse(topic, sparse.to_string().as_bytes(), &bare())
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        assert_eq!(from_sparse.to_json().unwrap(), full, "{}", fixture.file);
    }
}

/// thoth-messaging's KebechetRunUrlTrigger model gives `metadata` a default
/// object instead of making it optional.
#[test]
fn kebechet_run_url_metadata_is_an_object_never_null() {
    const TOPIC: &str = "thoth.kebechet-run-url-trigger";
    let without = json!({
        "component_name": "kebechet-administrator", "service_version": "1.9.2",
        "url": "https://github.com/thoth-station/jupyter-nbrequirements",
        "service_name": "github", "installation_id": "193650988", "job_id": null,
        "version": "v2"
    });
    let message = parse(TOPIC, without.to_string().as_bytes(), &bare()).unwrap();
    let MessageBody::KebechetRunUrlTrigger(trigger) = &message.body else {
        panic!("{message:?}");
    };
    assert_eq!(trigger.package().unwrap(), None);
    assert_eq!(trigger.justification().unwrap(), None);
    assert_eq!(
        message.to_json().unwrap()["metadata"],
        json!({
            "message_justification": null, "package_name": null,
            "package_version": null, "package_index": null
        })
    );

    let mut null_metadata = without;
    null_metadata["metadata"] = Value::Null;
    let err = parse(TOPIC, null_metadata.to_string().as_bytes(), &bare()).unwrap_err();
    assert_eq!(err.reason(), "wrong_type");
    assert_eq!(err.field(), Some("metadata"));
}

#[test]
fn unresolved_package_indexes_are_a_list() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.file == "unresolved_package.v1.json")
        .unwrap();
    let message = parse(fixture.kind.base_topic(), &fixture.bytes, &bare()).unwrap();
    let MessageBody::UnresolvedPackage(unresolved) = &message.body else {
        panic!("{message:?}");
    };
    let request = unresolved.request().unwrap();
    assert_eq!(request.indexes.len(), 1);
    assert_eq!(request.indexes[0].as_str(), "https://pypi.org/simple");
}

#[test]
fn older_versions_keep_the_fields_they_had() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.file == "adviser_trigger.v4.json")
        .unwrap();
    let message = parse("thoth.adviser-trigger", &fixture.bytes, &bare()).unwrap();
    assert_eq!(message.envelope.version, "v4");
    assert_eq!(
        message.extra_fields["github_check_run_id"],
        json!(1823405187)
    );
    let MessageBody::AdviserTrigger(trigger) = &message.body else {
        panic!("{message:?}");
    };
    assert_eq!(
        trigger.re_run_of().unwrap().unwrap().as_str(),
        "adviser-210203101521-7a6b5c4d3e2f1a0b"
    );
}

#[test]
fn a_deployment_prefix_selects_the_topics() {
    let prod = ParseConfig::with_prefix(TopicPrefix::new("smaug-prod").unwrap());
    for fixture in fixtures() {
        let topic = format!("smaug-prod.{}", fixture.kind.base_topic());
        let message = parse(&topic, &fixture.bytes, &prod).unwrap();
        assert_eq!(message.topic(&prod.topic_prefix), topic);
        assert_eq!(
            message.topic(&TopicPrefix::none()),
            fixture.kind.base_topic()
        );

        let bare_topic = parse(fixture.kind.base_topic(), &fixture.bytes, &prod).unwrap_err();
        assert_eq!(bare_topic.reason(), "unknown_topic");
        let prefixed_without_config = parse(&topic, &fixture.bytes, &bare()).unwrap_err();
        assert_eq!(prefixed_without_config.reason(), "unknown_topic");
    }
}

#[test]
fn package_fields_are_normalised_behind_accessors() {
    let body = json!({
        "component_name": "thoth-package-releases-job", "service_version": "0.7.6",
        "index_url": "https://pypi.python.org/simple/", "package_name": "Ruamel.YAML",
        "package_version": "0.17.21", "version": "v1"
    });
    let message = parse(
        "thoth.package-release.package-released",
        body.to_string().as_bytes(),
        &bare(),
    )
    .unwrap();
    let MessageBody::PackageReleased(released) = &message.body else {
        panic!("{message:?}");
    };
    let release = released.release().unwrap();
    assert_eq!(release.name.as_str(), "ruamel-yaml");
    assert_eq!(release.index.as_str(), "https://pypi.org/simple");
    assert_eq!(release.version.as_str(), "0.17.21");
    // The wire model keeps the producer's spelling.
    assert_eq!(message.to_json().unwrap(), body);

    let unresolved = parse(
        "thoth.investigator.unresolved-package",
        br#"{"component_name":"adviser","service_version":"0.21.1","package_name":"black","package_version":"*","solver":"solver-rhel-8-py36"}"#,
        &bare(),
    )
    .unwrap();
    let MessageBody::UnresolvedPackage(unresolved) = &unresolved.body else {
        panic!();
    };
    let request = unresolved.request().unwrap();
    assert_eq!(request.versions, VersionSelector::All);
    assert!(request.indexes.is_empty());
}

fn solved(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let mut value = json!({
        "component_name": "solver", "service_version": "1.15.0",
        "package_name": "pyyaml", "package_version": "5.3.1",
        "index_url": "https://pypi.org/simple", "solver": "solver-fedora-35-py310",
        "version": "v1"
    });
    edit(value.as_object_mut().unwrap());
    value.to_string().into_bytes()
}

const SOLVED: &str = "thoth.solver.solved-package";

fn error(topic: &str, bytes: &[u8]) -> ParseError {
    parse(topic, bytes, &bare()).expect_err("the payload must be refused")
}

#[test]
fn every_error_kind_names_its_topic_reason_and_field() {
    let cases: Vec<(ParseError, &str, Option<&str>)> = vec![
        (error(SOLVED, b"{\"package_name\": \"pyyaml\""), "malformed_json", None),
        (error(SOLVED, b"\xff\xfe"), "malformed_json", None),
        (error(SOLVED, b""), "malformed_json", None),
        (
            error(SOLVED, &solved(|m| { m.insert("package_version".into(), json!(5.31)); })),
            "wrong_type",
            Some("package_version"),
        ),
        (
            error(SOLVED, &solved(|m| { m.remove("solver"); })),
            "missing_field",
            Some("solver"),
        ),
        (
            error(SOLVED, &solved(|m| { m.insert("version".into(), json!("v2")); })),
            "unknown_version",
            Some("version"),
        ),
        (
            error(SOLVED, &solved(|m| { m.insert("package_name".into(), json!("py yaml")); })),
            "invalid_value",
            Some("package_name"),
        ),
        (
            error(SOLVED, &solved(|m| { m.insert("index_url".into(), json!("file:///etc/passwd")); })),
            "invalid_value",
            Some("index_url"),
        ),
        (
            error(SOLVED, &solved(|m| { m.insert("solver".into(), json!("Solver RHEL")); })),
            "invalid_value",
            Some("solver"),
        ),
        (
            error(
                "thoth.kebechet-run-url-trigger",
                br#"{"component_name":"kebechet-administrator","service_version":"1.9.2","metadata":{"package_index":42},"version":"v2"}"#,
            ),
            "wrong_type",
            Some("metadata.package_index"),
        ),
        (
            error(
                "thoth.kebechet-run-url-trigger",
                br#"{"component_name":"kebechet-administrator","service_version":"1.9.2","metadata":{"package_name":"click","package_version":"7.1.2","package_index":"not a url"},"version":"v2"}"#,
            ),
            "invalid_value",
            Some("metadata.package_index"),
        ),
        (
            error(
                "thoth.package-update.hash-mismatch",
                br#"{"component_name":"package-update-job","service_version":"0.8.17","index_url":"https://pypi.org/simple","package_name":"click","package_version":"7.1.2","missing_from_source":[],"missing_from_database":["abc"],"version":"v1"}"#,
            ),
            "invalid_value",
            Some("missing_from_database[0]"),
        ),
        (
            error(
                "thoth.adviser-trigger",
                br#"{"component_name":"user-api","service_version":"0.26.1","recommendation_type":"latest","stack_info":[{"name":"x"}, 3],"version":"v5"}"#,
            ),
            "wrong_type",
            Some("stack_info[1]"),
        ),
        (
            error(
                "thoth.adviser-trigger",
                br#"{"component_name":"user-api","service_version":"0.26.1","recommendation_type":"latest","source_type":"KEBECHET","version":"v5"}"#,
            ),
            "invalid_value",
            Some("origin"),
        ),
        (
            error(
                "thoth.package-extract-trigger",
                br#"{"component_name":"user-api","service_version":"0.26.1","image":"quay.io/x:1","environment_type":"runtime","verify_tls":"yes","version":"v2"}"#,
            ),
            "wrong_type",
            Some("verify_tls"),
        ),
        (error("thoth.no-such-topic", b"{}"), "unknown_topic", None),
        (error("thoth.qebhwt-trigger", b"{}"), "retired_topic", None),
        (error("thoth.investigator.adviser-re-run", b"{}"), "retired_topic", None),
    ];
    for (err, reason, field) in &cases {
        assert_eq!(err.reason(), *reason, "{err}");
        assert_eq!(err.field(), *field, "{err}");
        assert!(err.to_string().contains(err.topic()), "{err}");
        if let Some(field) = field {
            assert!(err.report().contains(field), "{err}");
        }
    }
}

#[test]
fn the_body_size_limit_is_checked_before_parsing() {
    let config = ParseConfig {
        max_body_bytes: 64,
        ..ParseConfig::default()
    };
    let body = solved(|_| {});
    assert!(body.len() > 64);
    let err = parse(SOLVED, &body, &config).unwrap_err();
    assert_eq!(err.reason(), "oversized_body");
    // Even an unknown topic with garbage is refused for its size first.
    let err = parse("elsewhere", &[b'{'; 65], &config).unwrap_err();
    assert_eq!(err.reason(), "oversized_body");

    let default_limit = ParseConfig::default().max_body_bytes;
    let big = vec![b' '; default_limit + 1];
    assert_eq!(
        parse(SOLVED, &big, &bare()).unwrap_err().reason(),
        "oversized_body"
    );
}

#[test]
fn error_messages_read_well() {
    let missing = error(
        SOLVED,
        &solved(|m| {
            m.remove("solver");
        }),
    );
    assert_eq!(
        missing.report(),
        "cannot read a record of topic \"thoth.solver.solved-package\" (SolvedPackage): required field `solver` is missing"
    );
    let version = error(
        "thoth.adviser-trigger",
        br#"{"component_name":"user-api","service_version":"0.26.1","recommendation_type":"latest","version":"v6"}"#,
    );
    assert_eq!(
        version.report(),
        "cannot read a record of topic \"thoth.adviser-trigger\" (AdviserTrigger): field `version` is \"v6\", not one of the versions handled (v1, v2, v3, v4, v5)"
    );
}

/// A small deterministic generator: the mutations are reproducible without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn check_never_panics_and_is_stable(topic: &str, bytes: &[u8], config: &ParseConfig) {
    if let Ok(message) = parse(topic, bytes, config) {
        let reserialised = message.to_bytes().unwrap();
        assert_eq!(parse(topic, &reserialised, config).unwrap(), message);
    }
}

#[test]
fn mutated_payloads_never_panic() {
    let config = bare();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let interesting = [
        b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'n', b'\\', 0xff,
    ];
    for fixture in fixtures() {
        let topic = fixture.kind.base_topic();
        for cut in 0..fixture.bytes.len() {
            check_never_panics_and_is_stable(topic, &fixture.bytes[..cut], &config);
        }
        for _ in 0..300 {
            let mut bytes = fixture.bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = interesting[rng.below(interesting.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            check_never_panics_and_is_stable(topic, &bytes, &config);
        }
    }
    for _ in 0..500 {
        let len = rng.below(256);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let kind = MessageKind::ALL[rng.below(MessageKind::ALL.len())];
        check_never_panics_and_is_stable(kind.base_topic(), &bytes, &config);
    }
    // Deep nesting stops at serde_json's recursion limit instead of the stack.
    let deep = format!(
        "{{\"component_name\":\"x\",\"service_version\":\"y\",\"webhook_payload\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = parse("thoth.kebechet-trigger", deep.as_bytes(), &config).unwrap_err();
    assert_eq!(err.reason(), "malformed_json");
}

#[test]
fn messages_built_in_code_round_trip_through_bytes() {
    let body = thoth_operator::messages::KebechetRunUrlTrigger {
        url: Some("https://github.com/thoth-station/jupyter-nbrequirements".into()),
        service_name: Some("github".into()),
        installation_id: Some("193650988".into()),
        job_id: None,
        metadata: thoth_operator::messages::KebechetRunUrlMetadata {
            message_justification: Some(5),
            package_name: Some("click".into()),
            package_version: Some("7.1.2".into()),
            package_index: Some("https://pypi.org/simple".into()),
        },
    };
    let message = Message::new("thoth-operator", "0.1.0", body);
    assert_eq!(message.envelope.version, "v2");
    let prefix = TopicPrefix::new("smaug-prod").unwrap();
    let topic = message.topic(&prefix);
    assert_eq!(topic, "smaug-prod.thoth.kebechet-run-url-trigger");
    let parsed = parse(
        &topic,
        &message.to_bytes().unwrap(),
        &ParseConfig::with_prefix(prefix),
    )
    .unwrap();
    assert_eq!(parsed, message);
}
