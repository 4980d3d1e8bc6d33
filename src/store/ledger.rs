//! The message ledger: one row per consumed Kafka message with its durable fate (invariant 1). The
//! key is (topic, partition, offset); a redelivered message finds its row and changes nothing.

use chrono::{DateTime, Utc};
use strum::{AsRefStr, EnumDiscriminants, EnumString, IntoStaticStr, VariantArray};

use super::attempts::truncate;
use super::error::{StoreError, StoreResult};
use super::packages::get;
use super::stats::Sql;
use super::validate::{self, limits};
use super::{Store, StoreTx, autocommit};
use crate::terms::ResourceKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    pub namespace: String,
    pub name: String,
}

/// What became of a consumed message. Its `message_ledger.fate` spelling is its
/// [`FateKind`]'s, derived (snake case: `created`, `flag_set`, …).
#[derive(Debug, Clone, PartialEq, Eq, EnumDiscriminants)]
#[strum_discriminants(
    name(FateKind),
    derive(Hash, AsRefStr, EnumString, IntoStaticStr, VariantArray),
    strum(serialize_all = "snake_case"),
    doc = "A [`Fate`] without its data, spelled as the `message_ledger.fate` column holds it."
)]
pub enum Fate {
    /// The message created this resource.
    Created(ResourceRef),
    /// The resource for this message's identity already existed.
    Duplicate(ResourceRef),
    /// The message set a flag in the store (e.g. `is_missing`).
    FlagSet { flag: String },
    /// Nothing to do, and why (e.g. "already solved by solver-fedora-38-py311").
    Skipped { reason: String },
    /// The message cannot be handled, and why.
    DeadLettered { reason: String },
}

impl Fate {
    /// The column's spelling, e.g. `dead_lettered`.
    pub fn as_str(&self) -> &'static str {
        FateKind::from(self).into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Absent when the message could not be parsed far enough to tell.
    pub message_type: Option<String>,
    pub message_version: Option<String>,
    pub received_at: DateTime<Utc>,
    pub fate: Fate,
}

// Rows go in in key order whatever the caller's order: two replicas writing overlapping batches then
// wait on each other's keys in the same order instead of deadlocking. One fate per key: `created`
// beats `duplicate` (two replicas racing on one message each find the other's resource, and whichever
// commits first must not hide that this message created it); otherwise the first row recorded wins,
// and within one batch the caller's first row (position breaks the tie). DISTINCT ON keeps one row
// per key in the statement, since ON CONFLICT DO UPDATE may not touch a row twice.
const RECORD_LEDGER: Sql = Sql {
    name: "ledger.record",
    text: "INSERT INTO message_ledger (topic, kafka_partition, kafka_offset, message_type,
               message_version, received_at, fate, resource_kind, resource_namespace, resource_name,
               flag, reason)
           SELECT DISTINCT ON (topic, kafka_partition, kafka_offset)
                  topic, kafka_partition, kafka_offset, message_type, message_version, received_at,
                  fate, resource_kind, resource_namespace, resource_name, flag, reason
           FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[],
                       $11::text[], $12::text[])
                WITH ORDINALITY AS t(topic, kafka_partition, kafka_offset, message_type,
                                     message_version, received_at, fate, resource_kind,
                                     resource_namespace, resource_name, flag, reason, position)
           ORDER BY topic, kafka_partition, kafka_offset, (fate = 'created') DESC, position
           ON CONFLICT (topic, kafka_partition, kafka_offset) DO UPDATE
           SET fate = EXCLUDED.fate, resource_kind = EXCLUDED.resource_kind,
               resource_namespace = EXCLUDED.resource_namespace,
               resource_name = EXCLUDED.resource_name
           WHERE message_ledger.fate = 'duplicate' AND EXCLUDED.fate = 'created'",
};

const LEDGER_ENTRY: Sql = Sql {
    name: "ledger.entry",
    text: "SELECT message_type, message_version, received_at, fate, resource_kind,
                  resource_namespace, resource_name, flag, reason
           FROM message_ledger
           WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset = $3",
};

#[derive(Default)]
struct LedgerColumns<'a> {
    topics: Vec<&'a str>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    types: Vec<Option<&'a str>>,
    versions: Vec<Option<&'a str>>,
    received: Vec<DateTime<Utc>>,
    fates: Vec<&'static str>,
    kinds: Vec<Option<&'static str>>,
    namespaces: Vec<Option<&'a str>>,
    names: Vec<Option<&'a str>>,
    flags: Vec<Option<&'a str>>,
    reasons: Vec<Option<String>>,
}

fn check_entry(entry: &LedgerEntry) -> StoreResult<()> {
    validate::text("topic", &entry.topic, limits::TOPIC)?;
    if entry.partition < 0 {
        return Err(StoreError::OutOfRange {
            field: "partition",
            reason: format!("{} is negative", entry.partition),
        });
    }
    if entry.offset < 0 {
        return Err(StoreError::OutOfRange {
            field: "offset",
            reason: format!("{} is negative", entry.offset),
        });
    }
    validate::optional_text(
        "message type",
        entry.message_type.as_deref(),
        limits::MESSAGE_TYPE,
    )?;
    validate::optional_text(
        "message version",
        entry.message_version.as_deref(),
        limits::MESSAGE_VERSION,
    )?;
    match &entry.fate {
        Fate::Created(r) | Fate::Duplicate(r) => {
            validate::text("resource namespace", &r.namespace, limits::NAMESPACE)?;
            validate::text("resource name", &r.name, limits::OBJECT_NAME)?;
        }
        Fate::FlagSet { flag } => validate::text("flag", flag, limits::FLAG)?,
        Fate::Skipped { reason } | Fate::DeadLettered { reason } => {
            if reason.is_empty() {
                return Err(StoreError::Empty { field: "reason" });
            }
        }
    }
    Ok(())
}

impl StoreTx {
    /// Records ledger rows; a row whose (topic, partition, offset) is already recorded keeps its
    /// first fate, except that `created` replaces `duplicate` (the message did create a resource;
    /// another replica merely recorded first that it found it). Returns how many rows were new or
    /// so replaced. Every row is checked before any is written.
    pub async fn record_ledger(&mut self, entries: &[LedgerEntry]) -> StoreResult<u64> {
        validate::batch_size(entries.len())?;
        if entries.is_empty() {
            return Ok(0);
        }
        let mut c = LedgerColumns::default();
        for entry in entries {
            check_entry(entry)?;
            c.topics.push(&entry.topic);
            c.partitions.push(entry.partition);
            c.offsets.push(entry.offset);
            c.types.push(entry.message_type.as_deref());
            c.versions.push(entry.message_version.as_deref());
            c.received.push(entry.received_at);
            c.fates.push(entry.fate.as_str());
            let (resource, flag, reason) = match &entry.fate {
                Fate::Created(r) | Fate::Duplicate(r) => (Some(r), None, None),
                Fate::FlagSet { flag } => (None, Some(flag.as_str()), None),
                Fate::Skipped { reason } | Fate::DeadLettered { reason } => {
                    // Reasons are prose, possibly quoting the message; keep what fits.
                    (
                        None,
                        None,
                        Some(truncate(&reason.replace('\0', ""), limits::REASON)),
                    )
                }
            };
            c.kinds.push(resource.map(|r| r.kind.as_str()));
            c.namespaces.push(resource.map(|r| r.namespace.as_str()));
            c.names.push(resource.map(|r| r.name.as_str()));
            c.flags.push(flag);
            c.reasons.push(reason);
        }
        let inserted = self
            .observer
            .run(
                RECORD_LEDGER,
                sqlx::query(RECORD_LEDGER.text)
                    .bind(&c.topics)
                    .bind(&c.partitions)
                    .bind(&c.offsets)
                    .bind(&c.types)
                    .bind(&c.versions)
                    .bind(&c.received)
                    .bind(&c.fates)
                    .bind(&c.kinds)
                    .bind(&c.namespaces)
                    .bind(&c.names)
                    .bind(&c.flags)
                    .bind(&c.reasons)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(inserted.rows_affected())
    }
}

autocommit! {
    /// [`StoreTx::record_ledger`] in a transaction of its own.
    fn record_ledger(entries: &[LedgerEntry]) -> u64 = 0, if entries.is_empty();
}

impl Store {
    /// The recorded fate of one message, if any.
    pub async fn ledger_entry(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> StoreResult<Option<LedgerEntry>> {
        let row = self
            .observer()
            .run(
                LEDGER_ENTRY,
                sqlx::query(LEDGER_ENTRY.text)
                    .bind(topic)
                    .bind(partition)
                    .bind(offset)
                    .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let corrupt = |reason: String| StoreError::CorruptRow {
            query: LEDGER_ENTRY.name,
            reason,
        };
        let fate: String = get(&row, LEDGER_ENTRY, "fate")?;
        let kind: Option<String> = get(&row, LEDGER_ENTRY, "resource_kind")?;
        let namespace: Option<String> = get(&row, LEDGER_ENTRY, "resource_namespace")?;
        let name: Option<String> = get(&row, LEDGER_ENTRY, "resource_name")?;
        let flag: Option<String> = get(&row, LEDGER_ENTRY, "flag")?;
        let reason: Option<String> = get(&row, LEDGER_ENTRY, "reason")?;
        let resource = || -> StoreResult<ResourceRef> {
            match (
                kind.as_deref().and_then(ResourceKind::parse),
                &namespace,
                &name,
            ) {
                (Some(kind), Some(namespace), Some(name)) => Ok(ResourceRef {
                    kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                }),
                _ => Err(corrupt(format!("fate {fate} without a valid resource"))),
            }
        };
        let without = |what: &str| corrupt(format!("{fate} without {what}"));
        let fate = match fate.parse::<FateKind>() {
            Ok(FateKind::Created) => Fate::Created(resource()?),
            Ok(FateKind::Duplicate) => Fate::Duplicate(resource()?),
            Ok(FateKind::FlagSet) => Fate::FlagSet {
                flag: flag.ok_or_else(|| without("a flag"))?,
            },
            Ok(FateKind::Skipped) => Fate::Skipped {
                reason: reason.ok_or_else(|| without("a reason"))?,
            },
            Ok(FateKind::DeadLettered) => Fate::DeadLettered {
                reason: reason.ok_or_else(|| without("a reason"))?,
            },
            Err(_) => return Err(corrupt(format!("unknown fate {fate:?}"))),
        };
        Ok(Some(LedgerEntry {
            topic: topic.to_string(),
            partition,
            offset,
            message_type: get(&row, LEDGER_ENTRY, "message_type")?,
            message_version: get(&row, LEDGER_ENTRY, "message_version")?,
            received_at: get(&row, LEDGER_ENTRY, "received_at")?,
            fate,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_round_trip_through_their_column_values() {
        for kind in FateKind::VARIANTS {
            assert_eq!(kind.as_ref().parse::<FateKind>(), Ok(*kind));
        }
        // The spellings the migration's CHECK constraint and existing rows use.
        let spellings: Vec<&str> = FateKind::VARIANTS.iter().map(|k| k.as_ref()).collect();
        assert_eq!(
            spellings,
            [
                "created",
                "duplicate",
                "flag_set",
                "skipped",
                "dead_lettered"
            ]
        );
        let fate = Fate::FlagSet {
            flag: "is_missing".into(),
        };
        assert_eq!(fate.as_str(), "flag_set");
        assert!("weird".parse::<FateKind>().is_err());
    }
}
