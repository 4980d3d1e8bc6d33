//! `thoth-operator dead-letters list|replay`: what the consumer could not handle, and sending it
//! back after a fix.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;

use crate::ingest::KafkaConfig;
use crate::ingest::dead_letter::{self, DeadLetter};
use crate::messages::TopicPrefix;

#[derive(Debug, clap::Args)]
pub struct DeadLettersArgs {
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// Thoth's deployment name, the prefix of every topic (`<name>.thoth.operator.dead-letter`).
    /// Unset: bare topic names; set but empty is refused.
    #[arg(long, env = crate::messages::DEPLOYMENT_NAME_ENV, value_name = "NAME", value_parser = TopicPrefix::new)]
    pub deployment_name: Option<TopicPrefix>,
    /// How long to wait for Kafka when reading the topic, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: DeadLettersCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DeadLettersCommand {
    /// Print every dead letter: where it sits, why, and where it came from.
    List {
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Send chosen dead letters back to their original topic (original key, value and headers).
    ///
    /// The consumer then handles them again; fix what made them fail first (register the index,
    /// deploy the new version).
    Replay {
        /// A dead letter by its position in the dead-letter topic; repeat for several.
        #[arg(long = "record", value_name = "PARTITION:OFFSET")]
        records: Vec<Position>,
        /// Every dead letter whose reason is this (e.g. `unknown_index`).
        #[arg(long)]
        reason: Option<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with_all = ["records", "reason"])]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// A record's place in the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

impl FromStr for Position {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (partition, offset) = raw
            .split_once(':')
            .ok_or_else(|| format!("{raw:?} is not PARTITION:OFFSET"))?;
        Ok(Self {
            partition: partition
                .trim()
                .parse()
                .map_err(|_| format!("partition {partition:?} is not a number"))?,
            offset: offset
                .trim()
                .parse()
                .map_err(|_| format!("offset {offset:?} is not a number"))?,
        })
    }
}

fn shorten(text: &str, max: usize) -> String {
    let single_line = text.replace(['\n', '\r', '\t'], " ");
    if single_line.chars().count() <= max {
        single_line
    } else {
        let mut out: String = single_line.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn table(letters: &[DeadLetter]) -> String {
    let mut out = format!(
        "{:<9} {:<8} {:<22} {:<50} {:>7}  DETAIL\n",
        "PARTITION", "OFFSET", "REASON", "FROM", "BYTES"
    );
    for letter in letters {
        let from = format!(
            "{}/{}@{}",
            letter.original_topic, letter.original_partition, letter.original_offset
        );
        out.push_str(&format!(
            "{:<9} {:<8} {:<22} {:<50} {:>7}  {}\n",
            letter.partition,
            letter.offset,
            shorten(&letter.reason, 22),
            from,
            letter.payload.as_ref().map_or(0, Vec::len),
            shorten(&letter.detail, 80),
        ));
    }
    out
}

fn chosen<'l>(
    letters: &'l [DeadLetter],
    records: &[Position],
    reason: Option<&str>,
    all: bool,
) -> anyhow::Result<Vec<&'l DeadLetter>> {
    if all {
        return Ok(letters.iter().collect());
    }
    if records.is_empty() && reason.is_none() {
        anyhow::bail!("choose dead letters to replay with --record, --reason or --all");
    }
    let mut out = Vec::new();
    for position in records {
        let letter = letters
            .iter()
            .find(|l| l.partition == position.partition && l.offset == position.offset)
            .with_context(|| {
                format!(
                    "no dead letter at {}:{}",
                    position.partition, position.offset
                )
            })?;
        out.push(letter);
    }
    if let Some(reason) = reason {
        out.extend(letters.iter().filter(|l| l.reason == reason));
    }
    out.sort_by_key(|l| (l.partition, l.offset));
    out.dedup_by_key(|l| (l.partition, l.offset));
    Ok(out)
}

pub async fn run(args: DeadLettersArgs) -> anyhow::Result<()> {
    if !args.kafka.is_configured() {
        anyhow::bail!("set KAFKA_BOOTSTRAP_SERVERS or --kafka-bootstrap-servers");
    }
    let prefix = args.deployment_name.clone().unwrap_or_default();
    let timeout = Duration::from_secs(args.timeout);
    let letters = {
        let (kafka, prefix) = (args.kafka.clone(), prefix.clone());
        tokio::task::spawn_blocking(move || dead_letter::list(&kafka, &prefix, timeout)).await??
    };
    match args.command {
        DeadLettersCommand::List { output } => match output {
            Output::Table => print!("{}", table(&letters)),
            Output::Json => println!("{}", serde_json::to_string_pretty(&letters)?),
        },
        DeadLettersCommand::Replay {
            records,
            reason,
            all,
        } => {
            let chosen: Vec<DeadLetter> = chosen(&letters, &records, reason.as_deref(), all)?
                .into_iter()
                .cloned()
                .collect();
            if let Some(orphan) = chosen.iter().find(|l| l.original_topic.is_empty()) {
                anyhow::bail!(
                    "dead letter {}:{} has no original topic header; it was not written by the operator",
                    orphan.partition,
                    orphan.offset
                );
            }
            let sent = dead_letter::replay(&args.kafka, &chosen).await?;
            eprintln!(
                "replayed {sent} dead letters to their original topics (they stay in {})",
                prefix.dead_letter_topic()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(partition: i32, offset: i64, reason: &str) -> DeadLetter {
        DeadLetter {
            partition,
            offset,
            reason: reason.into(),
            detail: String::new(),
            original_topic: "t".into(),
            original_partition: 0,
            original_offset: 0,
            key: None,
            payload_text: String::new(),
            payload: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn positions_read_as_partition_colon_offset() {
        assert_eq!(
            "2:41".parse::<Position>(),
            Ok(Position {
                partition: 2,
                offset: 41
            })
        );
        assert!("41".parse::<Position>().is_err());
        assert!("a:1".parse::<Position>().is_err());
    }

    #[test]
    fn replay_takes_named_records_and_reasons_once_each_and_refuses_unknown_ones() {
        let letters = vec![
            letter(0, 1, "unknown_index"),
            letter(0, 2, "malformed_json"),
            letter(1, 1, "unknown_index"),
        ];
        let picked = chosen(
            &letters,
            &[Position {
                partition: 0,
                offset: 1,
            }],
            Some("unknown_index"),
            false,
        )
        .unwrap();
        let positions: Vec<(i32, i64)> = picked.iter().map(|l| (l.partition, l.offset)).collect();
        assert_eq!(positions, [(0, 1), (1, 1)]);
        assert!(
            chosen(
                &letters,
                &[Position {
                    partition: 5,
                    offset: 5
                }],
                None,
                false
            )
            .is_err()
        );
        assert!(chosen(&letters, &[], None, false).is_err());
        assert_eq!(chosen(&letters, &[], None, true).unwrap().len(), 3);
    }
}
