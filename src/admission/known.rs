//! Fetching the [`Known`] snapshot a batch is decided against: registered indexes,
//! index listings for version expansion, and the store's knowledge of every version
//! the batch's messages name. One store round trip per kind of question, whatever
//! the batch size; duplicates in the batch are asked about once.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;

use crate::messages::{Message, ParseConfig, parse};
use crate::store::{Store, VersionKey};

use super::decide::{self, Decision, Known, VersionState};
use super::error::AdmissionError;
use super::expand::IndexClient;
use super::{AdmissionConfig, Record};

/// Each record parsed, or the dead-letter decision for it.
pub(crate) fn parse_all(
    records: &[Record],
    config: &ParseConfig,
) -> Vec<Result<Message, Decision>> {
    records
        .iter()
        .map(|record| {
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
        })
        .collect()
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
            tracing::warn!(error = %err, retry_in = ?after, "reading the store failed; retrying");
        })
        .await
        .map_err(AdmissionError::Knowledge)
}
