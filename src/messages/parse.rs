//! Bytes from a topic → a typed, validated [`Message`], or a [`ParseError`]
//! that says what was wrong and where. Nothing a producer sends can make this panic.

use serde_json::Value;

use super::catalogue::{MessageBody, MessageKind, Validate};
use super::envelope::{DEFAULT_VERSION, Envelope, WireEnvelope};
use super::fields::InvalidField;
use super::topics::{TopicMatch, TopicPrefix};
use super::trigger_messages::JsonObject;

/// Bodies larger than this are refused before parsing. Thoth's largest
/// messages (Kebechet webhooks, advise stack info) are tens of kilobytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

const ENVELOPE_FIELDS: [&str; 3] = ["component_name", "service_version", "version"];

/// How to read topics and bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseConfig {
    pub topic_prefix: TopicPrefix,
    pub max_body_bytes: usize,
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self {
            topic_prefix: TopicPrefix::none(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl ParseConfig {
    pub fn with_prefix(topic_prefix: TopicPrefix) -> Self {
        Self {
            topic_prefix,
            ..Self::default()
        }
    }
}

/// A Thoth message: envelope, typed body, and any fields the producer sent
/// that the current model does not know (older schema versions' fields), kept
/// so that re-serialising gives back what was received.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub envelope: Envelope,
    pub body: MessageBody,
    pub extra_fields: JsonObject,
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        self.body.kind()
    }

    /// Checks the body's values as `parse` does (for messages built in code).
    pub fn validate(&self) -> Result<(), InvalidField> {
        self.body.validate()
    }
}

/// Why a record could not become a [`Message`]: the topic, the message type once the topic
/// has told it, and what was wrong ([`ParseErrorKind`], the error's source). `Display`
/// says only which record failed; the cause is the next link of the source chain, so
/// `{err:#}` through anyhow, or [`ParseError::report`], gives the whole sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read a record of topic {topic:?}{}", message_type.map(|t| format!(" ({t})")).unwrap_or_default())]
pub struct ParseError {
    pub topic: String,
    /// The Thoth message type (retired ones included), once the topic has told it.
    pub message_type: Option<&'static str>,
    #[source]
    pub kind: ParseErrorKind,
}

/// What was wrong with a record; those about one field name it by its path in the body
/// (`metadata.package_index`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("body of {size} bytes exceeds the {limit}-byte limit")]
    OversizedBody { size: usize, limit: usize },
    #[error("not a Thoth message topic of deployment {deployment}")]
    UnknownTopic { deployment: String },
    #[error("a type Thoth retired; its messages are not processed")]
    RetiredTopic,
    #[error("body is not JSON: {detail} (line {line}, column {column})")]
    MalformedJson {
        detail: String,
        line: usize,
        column: usize,
    },
    #[error("field `{field}` has the wrong type: {detail}")]
    WrongType { field: String, detail: String },
    #[error("required field `{field}` is missing")]
    MissingField { field: String },
    #[error(
        "field `version` is {version:?}, not one of the versions handled ({})",
        accepted.join(", ")
    )]
    UnknownVersion {
        version: String,
        accepted: &'static [&'static str],
    },
    #[error("field `{field}` has an invalid value: {detail}")]
    InvalidValue { field: String, detail: String },
}

impl ParseError {
    /// A short stable label for ledgers and metrics.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ParseErrorKind::OversizedBody { .. } => "oversized_body",
            ParseErrorKind::UnknownTopic { .. } => "unknown_topic",
            ParseErrorKind::RetiredTopic => "retired_topic",
            ParseErrorKind::MalformedJson { .. } => "malformed_json",
            ParseErrorKind::WrongType { .. } => "wrong_type",
            ParseErrorKind::MissingField { .. } => "missing_field",
            ParseErrorKind::UnknownVersion { .. } => "unknown_version",
            ParseErrorKind::InvalidValue { .. } => "invalid_value",
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The Thoth message type, once the topic has told it.
    pub fn message_type(&self) -> Option<&'static str> {
        self.message_type
    }

    /// The path of the offending field (`$` for the body itself).
    pub fn field(&self) -> Option<&str> {
        match &self.kind {
            ParseErrorKind::WrongType { field, .. }
            | ParseErrorKind::MissingField { field }
            | ParseErrorKind::InvalidValue { field, .. } => Some(field),
            ParseErrorKind::UnknownVersion { .. } => Some("version"),
            _ => None,
        }
    }

    /// The error and its cause as one line, for ledgers and dead letters, which keep a
    /// string rather than a chain.
    pub fn report(&self) -> String {
        format!("{self}: {}", self.kind)
    }
}

/// Parses one record value from `topic`. Checks, in order: body size, topic,
/// JSON syntax, that the body is an object, the schema version, the envelope,
/// the body's fields and types, and finally the values (package names,
/// versions, index URLs, ids) that the operator will act on.
pub fn parse(topic: &str, payload: &[u8], config: &ParseConfig) -> Result<Message, ParseError> {
    if payload.len() > config.max_body_bytes {
        return Err(ParseError {
            topic: topic.to_string(),
            message_type: None,
            kind: ParseErrorKind::OversizedBody {
                size: payload.len(),
                limit: config.max_body_bytes,
            },
        });
    }
    let kind = match config.topic_prefix.resolve(topic) {
        TopicMatch::Live(kind) => kind,
        TopicMatch::Retired(retired) => {
            return Err(ParseError {
                topic: topic.to_string(),
                message_type: Some(retired.name()),
                kind: ParseErrorKind::RetiredTopic,
            });
        }
        TopicMatch::Unknown => {
            return Err(ParseError {
                topic: topic.to_string(),
                message_type: None,
                kind: ParseErrorKind::UnknownTopic {
                    deployment: config.topic_prefix.to_string(),
                },
            });
        }
    };
    let context = Context { topic, kind };

    let value: Value = serde_json::from_slice(payload).map_err(|e| context.malformed(&e))?;
    let Value::Object(object) = &value else {
        return Err(context.wrong_type(
            "$",
            format!("expected a JSON object, found {}", json_type(&value)),
        ));
    };

    let version = match object.get("version") {
        None => DEFAULT_VERSION.to_string(),
        Some(Value::String(version)) => version.clone(),
        Some(other) => {
            return Err(context.wrong_type(
                "version",
                format!("expected a string, found {}", json_type(other)),
            ));
        }
    };
    if !kind.accepts_version(&version) {
        return Err(context.error(ParseErrorKind::UnknownVersion {
            version,
            accepted: kind.accepted_versions(),
        }));
    }

    let wire_envelope: WireEnvelope =
        serde_path_to_error::deserialize(&value).map_err(|e| context.field_error(&e))?;
    let body = MessageBody::deserialize(kind, &value).map_err(|e| context.field_error(&e))?;
    body.validate().map_err(|e| context.invalid(e))?;

    let extra_fields = extra_fields(object, &body);
    Ok(Message {
        envelope: Envelope {
            component_name: wire_envelope.component_name,
            service_version: wire_envelope.service_version,
            version,
        },
        body,
        extra_fields,
    })
}

/// Fields of the received object that neither the envelope nor the body model
/// wrote back: kept so that older schema versions round-trip unchanged.
fn extra_fields(received: &JsonObject, body: &MessageBody) -> JsonObject {
    // Serialising a model of strings, numbers and JSON objects cannot fail; if
    // it ever did, keeping no extras only loses fields the model ignores anyway.
    let known = match body.to_value() {
        Ok(Value::Object(known)) => known,
        _ => return JsonObject::new(),
    };
    received
        .iter()
        .filter(|(key, _)| !known.contains_key(*key) && !ENVELOPE_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

struct Context<'a> {
    topic: &'a str,
    kind: MessageKind,
}

impl Context<'_> {
    fn error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            topic: self.topic.to_string(),
            message_type: Some(self.kind.name()),
            kind,
        }
    }

    fn malformed(&self, err: &serde_json::Error) -> ParseError {
        let text = err.to_string();
        // serde_json appends the position; the position goes in its own fields
        // so that the detail is the same wherever in the body the fault is.
        let detail = match text.rsplit_once(" at line ") {
            Some((detail, _)) => detail.to_string(),
            None => text,
        };
        self.error(ParseErrorKind::MalformedJson {
            detail,
            line: err.line(),
            column: err.column(),
        })
    }

    fn wrong_type(&self, field: &str, detail: String) -> ParseError {
        self.error(ParseErrorKind::WrongType {
            field: field.to_string(),
            detail,
        })
    }

    fn invalid(&self, err: InvalidField) -> ParseError {
        self.error(ParseErrorKind::InvalidValue {
            field: err.field,
            detail: err.detail,
        })
    }

    /// Sorts serde's data errors into missing field / wrong type / invalid
    /// value. serde gives these errors fixed wordings ("missing field `x`",
    /// "invalid type: ...") that are part of its documented `de::Error`
    /// defaults; the tests pin each one so a change there fails loudly.
    fn field_error(&self, err: &serde_path_to_error::Error<serde_json::Error>) -> ParseError {
        let path = err.path().to_string();
        let detail = err.inner().to_string();
        if let Some(rest) = detail.strip_prefix("missing field `") {
            let name = rest.trim_end_matches('`');
            return self.error(ParseErrorKind::MissingField {
                field: join_path(&path, name),
            });
        }
        let field = if path == "." { "$".to_string() } else { path };
        if detail.starts_with("invalid type:") {
            self.wrong_type(&field, detail)
        } else {
            self.invalid(InvalidField { field, detail })
        }
    }
}

fn join_path(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::fields::VersionSelector;
    use crate::messages::package_messages::{SolvedPackage, UnresolvedPackage};

    const SOLVED: &str = "thoth.solver.solved-package";

    fn solved_json() -> Value {
        serde_json::json!({
            "component_name": "solver",
            "service_version": "1.15.0",
            "package_name": "PyYAML",
            "package_version": "5.3.1",
            "index_url": "https://pypi.python.org/simple",
            "solver": "solver-fedora-35-py310",
            "version": "v1"
        })
    }

    fn parse_value(topic: &str, value: &Value) -> Result<Message, ParseError> {
        parse(topic, value.to_string().as_bytes(), &ParseConfig::default())
    }

    fn with(mut value: Value, key: &str, new: Value) -> Value {
        value.as_object_mut().unwrap().insert(key.into(), new);
        value
    }

    fn without(mut value: Value, key: &str) -> Value {
        value.as_object_mut().unwrap().remove(key);
        value
    }

    #[test]
    fn a_solved_package_parses_and_normalises_through_its_accessors() {
        let message = parse_value(SOLVED, &solved_json()).unwrap();
        assert_eq!(message.envelope.component_name, "solver");
        assert_eq!(message.envelope.version, "v1");
        let MessageBody::SolvedPackage(solved) = &message.body else {
            panic!("{message:?}");
        };
        assert_eq!(solved.package_name, "PyYAML", "raw spelling kept");
        let release = solved.release().unwrap();
        assert_eq!(release.name.as_str(), "pyyaml");
        assert_eq!(release.index.as_str(), "https://pypi.org/simple");
        assert_eq!(
            solved.solver_name().unwrap().as_str(),
            "solver-fedora-35-py310"
        );
        assert_eq!(message.to_json().unwrap(), solved_json());
    }

    #[test]
    fn a_missing_version_means_v1() {
        let message = parse_value(SOLVED, &without(solved_json(), "version")).unwrap();
        assert_eq!(message.envelope.version, "v1");
    }

    #[test]
    fn each_serde_wording_is_sorted_into_its_reason() {
        let missing = parse_value(SOLVED, &without(solved_json(), "solver")).unwrap_err();
        assert_eq!(missing.reason(), "missing_field");
        assert_eq!(missing.field(), Some("solver"));

        let wrong =
            parse_value(SOLVED, &with(solved_json(), "package_version", 5.into())).unwrap_err();
        assert_eq!(wrong.reason(), "wrong_type");
        assert_eq!(wrong.field(), Some("package_version"));

        let null_required =
            parse_value(SOLVED, &with(solved_json(), "solver", Value::Null)).unwrap_err();
        assert_eq!(null_required.reason(), "wrong_type");

        let negative = parse_value(
            "thoth.adviser-trigger",
            &serde_json::json!({
                "component_name": "user-api", "service_version": "0.1",
                "recommendation_type": "latest", "count": -1, "version": "v5"
            }),
        )
        .unwrap_err();
        assert_eq!(negative.reason(), "invalid_value");
        assert_eq!(negative.field(), Some("count"));
    }

    #[test]
    fn envelope_fields_are_required_and_strict() {
        let err = parse_value(SOLVED, &without(solved_json(), "component_name")).unwrap_err();
        assert_eq!(err.reason(), "missing_field");
        assert_eq!(err.field(), Some("component_name"));
        let err =
            parse_value(SOLVED, &with(solved_json(), "service_version", 1.into())).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("service_version"));
        let err = parse_value(SOLVED, &with(solved_json(), "version", Value::Null)).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("version"));
    }

    #[test]
    fn the_body_must_be_an_object() {
        let err = parse(SOLVED, b"[1, 2]", &ParseConfig::default()).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("$"));
    }

    #[test]
    fn malformed_json_detail_does_not_depend_on_the_position() {
        let short = parse(SOLVED, b"{\"a\": }", &ParseConfig::default()).unwrap_err();
        let long = parse(SOLVED, b"{\"aaaaaaaa\":   }", &ParseConfig::default()).unwrap_err();
        let (
            ParseErrorKind::MalformedJson { detail: d1, .. },
            ParseErrorKind::MalformedJson {
                detail: d2, column, ..
            },
        ) = (&short.kind, &long.kind)
        else {
            panic!("{short:?} {long:?}");
        };
        assert_eq!(d1, d2);
        assert_eq!(*column, 16);
        assert_eq!(short.reason(), "malformed_json");
    }

    #[test]
    fn an_absent_unresolved_index_is_written_back_as_null() {
        let value = serde_json::json!({
            "component_name": "adviser", "service_version": "0.21.1",
            "package_name": "black", "package_version": "*",
            "solver": "solver-rhel-8-py36", "version": "v1"
        });
        let message = parse_value("thoth.investigator.unresolved-package", &value).unwrap();
        let MessageBody::UnresolvedPackage(unresolved) = &message.body else {
            panic!("{message:?}");
        };
        let request = unresolved.request().unwrap();
        assert_eq!(request.versions, VersionSelector::All);
        assert!(request.indexes.is_empty());
        // pydantic writes every field; the investigator reads `index_url` by key.
        let written = message.to_json().unwrap();
        assert_eq!(written["index_url"], Value::Null);
        assert_eq!(written, with(value, "index_url", Value::Null));
    }

    #[test]
    fn unresolved_index_is_a_list_and_a_legacy_string_becomes_one() {
        let topic = "thoth.investigator.unresolved-package";
        let listed = serde_json::json!({
            "component_name": "graph-refresh-job", "service_version": "0.9.3",
            "package_name": "textdistance", "package_version": "4.2.0",
            "index_url": ["https://pypi.org/simple", "https://pypi.python.org/simple/"],
            "solver": "solver-rhel-8-py38", "version": "v1"
        });
        let message = parse_value(topic, &listed).unwrap();
        let MessageBody::UnresolvedPackage(unresolved) = &message.body else {
            panic!("{message:?}");
        };
        let indexes: Vec<_> = unresolved
            .request()
            .unwrap()
            .indexes
            .iter()
            .map(|index| index.as_str().to_string())
            .collect();
        assert_eq!(
            indexes,
            ["https://pypi.org/simple", "https://pypi.org/simple"]
        );
        assert_eq!(message.to_json().unwrap(), listed);

        let legacy = with(
            listed.clone(),
            "index_url",
            "https://pypi.org/simple".into(),
        );
        let message = parse_value(topic, &legacy).unwrap();
        assert_eq!(
            message.to_json().unwrap()["index_url"],
            serde_json::json!(["https://pypi.org/simple"])
        );

        let empty = with(listed.clone(), "index_url", serde_json::json!([]));
        let MessageBody::UnresolvedPackage(unresolved) = parse_value(topic, &empty).unwrap().body
        else {
            panic!("not an UnresolvedPackage");
        };
        assert!(unresolved.request().unwrap().indexes.is_empty());

        let bad_entry = with(listed.clone(), "index_url", serde_json::json!(["x", 5]));
        let err = parse_value(topic, &bad_entry).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("index_url[1]"));

        let bad_url = with(
            listed.clone(),
            "index_url",
            serde_json::json!(["https://pypi.org/simple", "file:///etc"]),
        );
        let err = parse_value(topic, &bad_url).unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
        assert_eq!(err.field(), Some("index_url[1]"));

        let err = parse_value(topic, &with(listed, "index_url", 7.into())).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("index_url"));
    }

    #[test]
    fn outbound_messages_take_the_current_version_and_their_topic() {
        let body = UnresolvedPackage {
            package_name: "flask".into(),
            index_url: Some(vec!["https://pypi.org/simple".into()]),
            package_version: Some("2.0.1".into()),
            solver: None,
        };
        let message = Message::new("thoth-operator", "0.1.0", body);
        assert_eq!(message.envelope.version, "v1");
        assert_eq!(
            message.topic(&TopicPrefix::new("ocp4-stage").unwrap()),
            "ocp4-stage.thoth.investigator.unresolved-package"
        );
        let bytes = message.to_bytes().unwrap();
        let config = ParseConfig::with_prefix(TopicPrefix::new("ocp4-stage").unwrap());
        let reparsed = parse(
            "ocp4-stage.thoth.investigator.unresolved-package",
            &bytes,
            &config,
        )
        .unwrap();
        assert_eq!(reparsed, message);
        let json = message.to_json().unwrap();
        assert_eq!(
            json["solver"],
            Value::Null,
            "None is written as null, as pydantic does"
        );
    }

    #[test]
    fn a_body_of_exactly_the_limit_is_parsed() {
        let body = solved_json().to_string().into_bytes();
        let at_limit = ParseConfig {
            max_body_bytes: body.len(),
            ..ParseConfig::default()
        };
        assert!(parse(SOLVED, &body, &at_limit).is_ok());
        let below = ParseConfig {
            max_body_bytes: body.len() - 1,
            ..ParseConfig::default()
        };
        let err = parse(SOLVED, &body, &below).unwrap_err();
        assert_eq!(
            err,
            ParseError {
                topic: SOLVED.into(),
                message_type: None,
                kind: ParseErrorKind::OversizedBody {
                    size: body.len(),
                    limit: body.len() - 1
                },
            }
        );
    }

    #[test]
    fn every_error_names_its_topic_and_once_known_its_type() {
        let config = ParseConfig::default();
        let body = solved_json().to_string().into_bytes();
        let oversized = parse(
            SOLVED,
            &body,
            &ParseConfig {
                max_body_bytes: 1,
                ..ParseConfig::default()
            },
        )
        .unwrap_err();
        let unknown = parse("thoth.nothing", &body, &config).unwrap_err();
        let retired = parse("thoth.qebhwt-trigger", &body, &config).unwrap_err();
        let malformed = parse(SOLVED, b"{", &config).unwrap_err();
        let version =
            parse_value(SOLVED, &with(solved_json(), "version", "v9".into())).unwrap_err();
        let invalid =
            parse_value(SOLVED, &with(solved_json(), "solver", "No Solver".into())).unwrap_err();
        for (err, topic, message_type) in [
            (&oversized, SOLVED, None),
            (&unknown, "thoth.nothing", None),
            (&retired, "thoth.qebhwt-trigger", Some("QebHwtTrigger")),
            (&malformed, SOLVED, Some("SolvedPackage")),
            (&version, SOLVED, Some("SolvedPackage")),
            (&invalid, SOLVED, Some("SolvedPackage")),
        ] {
            assert_eq!(err.topic(), topic, "{err}");
            assert_eq!(err.message_type(), message_type, "{err}");
        }
        assert_eq!(version.field(), Some("version"));
        assert_eq!(invalid.field(), Some("solver"));
        assert_eq!(malformed.field(), None);
        assert!(unknown.report().contains("(none)"), "{unknown}");
        // The cause is in the source chain, not repeated in the message.
        assert_eq!(
            invalid.to_string(),
            "cannot read a record of topic \"thoth.solver.solved-package\" (SolvedPackage)"
        );
        let cause = std::error::Error::source(&invalid).map(ToString::to_string);
        assert_eq!(cause, Some(invalid.kind.to_string()));
        assert!(!invalid.to_string().contains("`solver`"), "{invalid}");
    }

    #[test]
    fn wrong_types_say_what_was_found() {
        for (body, found) in [
            (&b"null"[..], "null"),
            (&b"true"[..], "a boolean"),
            (&b"1"[..], "a number"),
            (&b"\"x\""[..], "a string"),
            (&b"[]"[..], "an array"),
        ] {
            let err = parse(SOLVED, body, &ParseConfig::default()).unwrap_err();
            assert!(
                err.report()
                    .ends_with(&format!("expected a JSON object, found {found}")),
                "{err}"
            );
        }
        let err = parse_value(
            SOLVED,
            &with(solved_json(), "version", serde_json::json!({})),
        )
        .unwrap_err();
        assert!(
            err.report().ends_with("expected a string, found an object"),
            "{err}"
        );
    }

    #[test]
    fn only_fields_no_model_writes_are_kept_as_extra() {
        let message = parse_value(SOLVED, &solved_json()).unwrap();
        assert!(
            message.extra_fields.is_empty(),
            "{:?}",
            message.extra_fields
        );
        let message = parse_value(SOLVED, &with(solved_json(), "retired", 1.into())).unwrap();
        assert_eq!(message.extra_fields.keys().collect::<Vec<_>>(), ["retired"]);
    }

    #[test]
    fn a_message_built_in_code_with_a_bad_value_does_not_validate() {
        let body = SolvedPackage {
            package_name: "Flask".into(),
            package_version: "2.0.1".into(),
            index_url: "https://pypi.org/simple/".into(),
            solver: "Solver RHEL".into(),
        };
        let err = Message::new("solver", "1.0", body).validate().unwrap_err();
        assert_eq!(err.field, "solver");
    }

    #[test]
    fn solved_package_model_is_usable_directly() {
        let body = SolvedPackage {
            package_name: "Flask".into(),
            package_version: "2.0.1".into(),
            index_url: "https://pypi.org/simple/".into(),
            solver: "solver-rhel-8-py38".into(),
        };
        assert!(Message::new("solver", "1.0", body).validate().is_ok());
    }
}
