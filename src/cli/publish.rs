//! `thoth-operator publish TYPE`: sends one Thoth message, validated against the
//! catalogue first — the operator's equivalent of thoth-messaging's CLI.
//!
//! Fields come from `--set FIELD=VALUE` (a value that parses as JSON is taken as
//! JSON, anything else as a string) or, without `--set`, from a JSON object on
//! standard input. The envelope (`component_name`, `service_version`, `version`)
//! is filled in when absent. The message is parsed exactly as the consumer will
//! parse it; only a message that parses is sent, by an idempotent producer that
//! waits for the broker's acknowledgement.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Map, Value};

use crate::messages::{MessageKind, ParseConfig, TopicPrefix, parse};

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The message type: Thoth's name (`SolvedPackage`), its snake-case form
    /// (`solved_package`) or its base topic (`thoth.solver.solved-package`).
    #[arg(value_name = "TYPE")]
    pub message_type: String,
    /// A field of the message body, `FIELD=VALUE`; repeatable. Without any, the body
    /// is read as a JSON object from standard input.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub fields: Vec<String>,
    /// The deployment whose topics to use (`<name>.<base topic>`). Unset: bare `thoth.…`
    /// topics; set but empty is refused (Thoth's producers would publish to `.thoth.…`).
    #[arg(long, env = crate::messages::DEPLOYMENT_NAME_ENV, value_name = "NAME", value_parser = TopicPrefix::new)]
    pub deployment_name: Option<TopicPrefix>,
    /// Print the topic and the validated message instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for the broker's acknowledgement.
    #[arg(long, default_value = "30", value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Kafka connection settings, under Thoth's variable names: the same flags as every command that
/// talks to Kafka (`ingest::KafkaConfig`, whose passwords `Debug` never shows).
pub use crate::ingest::KafkaConfig as KafkaArgs;

/// The message type named on the command line.
pub fn message_kind(raw: &str) -> anyhow::Result<MessageKind> {
    let wanted = raw.trim().trim_end_matches("Message");
    MessageKind::ALL
        .iter()
        .copied()
        .find(|kind| {
            kind.name().eq_ignore_ascii_case(wanted)
                || kind.snake_name() == wanted
                || kind.base_topic() == wanted
        })
        .with_context(|| {
            let names: Vec<&str> = MessageKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown message type {raw:?}; one of: {}", names.join(", "))
        })
}

/// The message body from `--set` pairs, or from `stdin` when there are none, with
/// the envelope filled in.
pub fn build_body(
    kind: MessageKind,
    fields: &[String],
    stdin: impl Read,
) -> anyhow::Result<Map<String, Value>> {
    let mut body = if fields.is_empty() {
        let value: Value = serde_json::from_reader(stdin)
            .context("standard input is not a JSON object (or pass fields with --set)")?;
        match value {
            Value::Object(map) => map,
            _ => bail!("standard input is JSON but not an object"),
        }
    } else {
        let mut map = Map::new();
        for field in fields {
            let (name, raw) = field
                .split_once('=')
                .with_context(|| format!("--set {field:?} is not FIELD=VALUE"))?;
            let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()));
            map.insert(name.trim().to_string(), value);
        }
        map
    };
    body.entry("component_name")
        .or_insert_with(|| Value::String("thoth-operator".into()));
    body.entry("service_version")
        .or_insert_with(|| Value::String(env!("CARGO_PKG_VERSION").into()));
    body.entry("version")
        .or_insert_with(|| Value::String(kind.current_version().into()));
    Ok(body)
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let kind = message_kind(&args.message_type)?;
    let prefix = args.deployment_name.unwrap_or_default();
    let topic = prefix.topic_for(kind);
    let body = build_body(kind, &args.fields, std::io::stdin().lock())?;
    let message = parse(
        &topic,
        Value::Object(body).to_string().as_bytes(),
        &ParseConfig::with_prefix(prefix),
    )
    .context("the message does not match the catalogue; nothing was sent")?;
    let payload = message.to_bytes()?;
    if args.dry_run {
        println!("{topic}");
        println!("{}", String::from_utf8_lossy(&payload));
        return Ok(());
    }
    let (partition, offset) = send(&args.kafka, &topic, &payload, args.timeout).await?;
    println!(
        "sent {} to {topic} partition {partition} offset {offset}",
        kind.name()
    );
    Ok(())
}

/// Produces one record and waits for its acknowledgement; returns where it landed.
pub async fn send(
    kafka: &KafkaArgs,
    topic: &str,
    payload: &[u8],
    timeout_seconds: u64,
) -> anyhow::Result<(i32, i64)> {
    let producer: FutureProducer = kafka
        .producer_config()
        .set("message.timeout.ms", (timeout_seconds * 1000).to_string())
        .create()
        .context("failed to create the Kafka producer")?;
    let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(topic).payload(payload);
    let delivery = producer
        .send(record, Duration::from_secs(timeout_seconds))
        .await
        .map_err(|(err, _)| err)
        .with_context(|| format!("failed to deliver the message to {topic}"))?;
    Ok((delivery.partition, delivery.offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_found_by_name_snake_name_or_topic() {
        for raw in [
            "SolvedPackage",
            "SolvedPackageMessage",
            "solvedpackage",
            "solved_package",
            "thoth.solver.solved-package",
        ] {
            assert_eq!(
                message_kind(raw).unwrap(),
                MessageKind::SolvedPackage,
                "{raw}"
            );
        }
        let err = message_kind("Nope").unwrap_err().to_string();
        assert!(err.contains("AdviserTrigger"), "{err}");
    }

    #[test]
    fn set_values_are_json_when_they_parse_and_strings_otherwise() {
        let body = build_body(
            MessageKind::AdviserTrigger,
            &[
                "recommendation_type=latest".into(),
                "count=3".into(),
                "dev=true".into(),
                "origin=https://github.com/a/b".into(),
            ],
            std::io::empty(),
        )
        .unwrap();
        assert_eq!(body["recommendation_type"], "latest");
        assert_eq!(body["count"], 3);
        assert_eq!(body["dev"], true);
        assert_eq!(body["version"], "v5");
        assert_eq!(body["component_name"], "thoth-operator");
    }

    #[test]
    fn without_set_the_body_comes_from_stdin() {
        let stdin = br#"{"package_name": "a", "version": "v1", "component_name": "me"}"#;
        let body = build_body(MessageKind::MissingPackage, &[], &stdin[..]).unwrap();
        assert_eq!(body["component_name"], "me");
        assert!(build_body(MessageKind::MissingPackage, &[], &b"[1]"[..]).is_err());
        assert!(build_body(MessageKind::MissingPackage, &["x".into()], std::io::empty()).is_err());
    }
}
