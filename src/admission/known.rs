//! Fetching the [`Known`] snapshot a batch is decided against: registered indexes,
//! index listings for version expansion, and the store's knowledge of every version
//! the batch's messages name. One store round trip per kind of question, whatever
//! the batch size; duplicates in the batch are asked about once.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;

use crate::messages::{Message, ParseConfig, parse};
use crate::store::{Store, VersionKey};
use crate::telemetry::error_chain;

use super::decide::{self, Decision, Known, VersionState};
use super::error::AdmissionError;
use super::expand::IndexClient;
use super::{AdmissionConfig, Record};

/// A batch's records parsed once per distinct content.
///
/// A duplicate-heavy stream (a producer's repeats, graph refreshes sending the same release a
/// thousand times) brings the same bytes on the same topic again and again. Parsing and deciding
/// are pure functions of the topic, the bytes, the configuration and the store's knowledge, so
/// records with identical topic and value share one parse and one decision; only their ledger rows
/// and fates (first user `created`, the others `duplicate`) stay per record.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Each distinct (topic, value) parsed, or the dead-letter decision for it, in order of first
    /// appearance.
    pub(crate) distinct: Vec<Result<Message, Decision>>,
    /// For each record of the batch, in order, its index in `distinct`.
    pub(crate) of_record: Vec<usize>,
}

impl Parsed {
    /// The parse result of the record at `position` in the batch.
    pub(crate) fn of(&self, position: usize) -> Option<&Result<Message, Decision>> {
        self.distinct.get(*self.of_record.get(position)?)
    }
}

/// Parses each distinct (topic, value) of `records` once; see [`Parsed`].
pub(crate) fn parse_all(records: &[Record], config: &ParseConfig) -> Parsed {
    let mut first_seen: HashMap<(&str, Option<&[u8]>), usize> = HashMap::new();
    let mut distinct = Vec::new();
    let mut of_record = Vec::with_capacity(records.len());
    for record in records {
        let content = (record.topic.as_str(), record.payload.as_deref());
        let index = *first_seen.entry(content).or_insert_with(|| {
            distinct.push(parse_one(record, config));
            distinct.len() - 1
        });
        of_record.push(index);
    }
    Parsed {
        distinct,
        of_record,
    }
}

/// One record parsed, or the dead-letter decision for it. Depends only on the record's topic and
/// value (not its partition or offset), which is what lets [`parse_all`] share it.
fn parse_one(record: &Record, config: &ParseConfig) -> Result<Message, Decision> {
    let Some(payload) = &record.payload else {
        return Err(Decision::DeadLetter {
            reason: "empty_body",
            detail: format!(
                "topic {:?}: the record has no value (a tombstone)",
                record.topic
            ),
        });
    };
    parse(&record.topic, payload, config).map_err(|err| Decision::DeadLetter {
        reason: err.reason(),
        detail: err.report(),
    })
}

/// Reads what `messages` need to be decided.
///
/// # Errors
/// [`AdmissionError::Knowledge`] when the store cannot be read (after retries for
/// transient failures). Index failures are not errors: they become
/// [`super::Listing::Unavailable`].
pub(crate) async fn gather(
    store: &Store,
    index: &IndexClient,
    config: &AdmissionConfig,
    messages: &[Result<Message, Decision>],
) -> Result<Known, AdmissionError> {
    let parsed: Vec<&Message> = messages.iter().filter_map(|m| m.as_ref().ok()).collect();
    let mut known = Known::default();
    if parsed.is_empty() {
        return Ok(known);
    }
    let indexes = retry_store(config, || store.indexes(false)).await?;
    known.indexes = indexes.into_iter().collect();

    let listings: BTreeSet<_> = parsed
        .iter()
        .flat_map(|message| decide::listings_needed(message, &known))
        .collect();
    let fetched: Vec<_> = futures::stream::iter(listings)
        .map(|(name, url)| async move {
            let listing = index.versions(&url, &name).await;
            ((name, url), listing)
        })
        .buffer_unordered(config.listing_concurrency.max(1))
        .collect()
        .await;
    known.listings = fetched.into_iter().collect();

    let mut keys: Vec<VersionKey> = Vec::new();
    let mut seen: HashSet<VersionKey> = HashSet::new();
    let mut packages = BTreeSet::new();
    for message in &parsed {
        let (versions, package) = decide::versions_needed(message, &known);
        for key in versions {
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        packages.extend(package);
    }
    if !keys.is_empty() {
        let knowledge = retry_store(config, || store.version_knowledge(&keys)).await?;
        known.versions = knowledge
            .into_iter()
            .map(|(key, k)| {
                (
                    key,
                    VersionState {
                        is_missing: k.is_missing,
                        provides_source_distro: k.provides_source_distro,
                        solved_by: k.solved_by.into_iter().collect(),
                        analysed: k.analysed,
                    },
                )
            })
            .collect();
    }
    for (name, url) in packages {
        let records = retry_store(config, || store.versions_of(&name)).await?;
        let on_index = records
            .into_iter()
            .filter(|r| r.key.index == url)
            .map(|r| (r.key.version, r.is_missing))
            .collect();
        known.package_versions.insert((name, url), on_index);
    }
    Ok(known)
}

async fn retry_store<T, F, Fut>(config: &AdmissionConfig, read: F) -> Result<T, AdmissionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::store::StoreResult<T>>,
{
    use backon::Retryable;
    read.retry(config.retry.backoff())
        .when(super::error::store_is_transient)
        .notify(|err, after| {
            tracing::warn!(error = %error_chain(err), retry_in = ?after, "reading the store failed; retrying");
        })
        .await
        .map_err(AdmissionError::Knowledge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{MessageKind, TopicPrefix};

    fn record(topic: &str, offset: i64, payload: Option<&str>) -> Record {
        Record {
            topic: topic.to_string(),
            partition: 0,
            offset,
            payload: payload.map(|p| p.as_bytes().to_vec()),
            timestamp_ms: None,
        }
    }

    #[test]
    fn records_with_the_same_topic_and_value_share_one_parse() {
        let released = TopicPrefix::none().topic_for(MessageKind::PackageReleased);
        let unresolved = TopicPrefix::none().topic_for(MessageKind::UnresolvedPackage);
        let body = r#"{"component_name": "c", "service_version": "1", "version": "v1",
            "index_url": "https://pypi.org/simple", "package_name": "flask",
            "package_version": "2.0.0"}"#;
        let other = body.replace("2.0.0", "2.0.1");
        let records = [
            record(&released, 0, Some(body)),
            record(&released, 1, Some(&other)),
            record(&released, 2, Some(body)),
            // The same bytes on another topic are another message.
            record(&unresolved, 3, Some(body)),
            record(&released, 4, None),
            record(&released, 5, None),
            record(&released, 6, Some("{not json")),
        ];
        let parsed = parse_all(&records, &ParseConfig::default());
        assert_eq!(parsed.of_record, vec![0, 1, 0, 2, 3, 3, 4]);
        assert_eq!(parsed.distinct.len(), 5);
        let parse_alone = |position: usize| {
            parse_all(&records[position..=position], &ParseConfig::default())
                .distinct
                .remove(0)
        };
        // Each record's shared parse is what parsing it alone gives.
        for position in 0..records.len() {
            assert_eq!(
                parsed.of(position),
                Some(&parse_alone(position)),
                "record {position}"
            );
        }
        assert!(matches!(parsed.of(0), Some(Ok(m)) if m.kind() == MessageKind::PackageReleased));
        assert!(matches!(parsed.of(3), Some(Ok(m)) if m.kind() == MessageKind::UnresolvedPackage));
        assert_ne!(parsed.of(0), parsed.of(1));
        assert!(matches!(
            parsed.of(4),
            Some(Err(Decision::DeadLetter {
                reason: "empty_body",
                ..
            }))
        ));
        assert!(matches!(
            parsed.of(6),
            Some(Err(Decision::DeadLetter { .. }))
        ));
        assert!(parsed.of(7).is_none());
    }
}
