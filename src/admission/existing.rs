//! A bounded memory of the resources this replica has seen exist, so that a duplicate is decided
//! without asking the API server again (issue 10: a stream that is 99% duplicates re-created the
//! same few hundred resources in every batch, each answered 409 AlreadyExists).
//!
//! Filled by what creating found: a resource created now (201) or already there (409). A resource
//! the API server refused (400/422) is not remembered: the next message asking for it tries again.
//! Bounded twice: at most [`ExistingConfig::capacity`] entries (least recently used evicted first,
//! by `hashlink`'s `LruCache`, the map sqlx already builds on), and an entry is believed for at most
//! [`ExistingConfig::ttl`] after the API server last said so.
//!
//! # What a stale entry costs (the decision)
//! A resource can be deleted while this memory still holds it: by retention (hours after it
//! finished), or by a person deleting an unfinished one. A message for that identity arriving
//! within `ttl` of the moment we last saw the resource then gets the fate `duplicate` naming the
//! deleted resource instead of re-creating it. We accept that, bounded by `ttl`, because:
//! - after retention the message would not have been work anyway: a finished resource's outcome
//!   is in the store before retention may delete it (invariant 3), so admission decides *skip*
//!   ("already solved/analysed") from the store before this memory is consulted; only an
//!   AdviceRequest (decided without the store) can reach it, and its `duplicate` row then says the
//!   truth: the request was already answered by that resource;
//! - an unfinished resource deleted by hand is a cancellation; a repeat of its message within
//!   `ttl` is recorded as a duplicate of the cancelled work (the ledger row names it, and
//!   `thoth-operator trace` shows it gone), and a message after `ttl` creates it again, as
//!   without this memory.
//!
//! The ledger keeps a row for every message either way (invariant 1): this memory only saves the
//! API round trip that would have answered 409.
//!
//! A resource remembers which record created it, so that the same record admitted again (its batch
//! failed after the create, e.g. in the store transaction, and the consumer retried it) is still
//! recorded as `created` rather than as a duplicate of itself.

use std::time::{Duration, Instant};

use hashlink::LruCache;

use crate::store::ResourceKind;

/// A resource's identity within admission's namespace: its kind and name.
pub(crate) type ResourceId = (ResourceKind, String);

/// A Kafka record's position: (topic, partition, offset).
pub(crate) type RecordKey = (String, i32, i64);

/// How much this memory holds and for how long it is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingConfig {
    /// Most resources remembered; 0 turns the memory off (every resource is asked for).
    pub capacity: usize,
    /// How long after the API server last said a resource exists that is believed. Keep it far
    /// below the controllers' finished-resource retention (a day by default).
    pub ttl: Duration,
}

impl Default for ExistingConfig {
    /// 100,000 resources (about 15 MB: a name, a kind and a record key each) for 10 minutes.
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl: Duration::from_secs(600),
        }
    }
}

/// What this memory says of a resource a record asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// Not remembered (never seen, expired or evicted): ask the API server.
    Unknown,
    /// It exists, created by this very record (a retried batch).
    CreatedBy,
    /// It exists, created by another record or found existing.
    Exists,
}

#[derive(Debug, Clone)]
struct Entry {
    /// When the API server last said it exists.
    seen_at: Instant,
    /// The record whose create made it, when that was ours.
    creator: Option<RecordKey>,
}

/// The memory itself; pure (time is given), shared behind a mutex by the [`super::Admitter`].
#[derive(Debug)]
pub(crate) struct ExistingResources {
    entries: LruCache<ResourceId, Entry>,
    ttl: Duration,
}

impl ExistingResources {
    pub(crate) fn new(config: ExistingConfig) -> Self {
        Self {
            entries: LruCache::new(config.capacity),
            ttl: config.ttl,
        }
    }

    /// What is known of `id`, for the record at `record`; marks it recently used. An entry older
    /// than the ttl is forgotten here.
    pub(crate) fn lookup(&mut self, id: &ResourceId, record: &RecordKey, now: Instant) -> Known {
        let fresh = match self.entries.get(id) {
            None => return Known::Unknown,
            Some(entry) => now.saturating_duration_since(entry.seen_at) < self.ttl,
        };
        if !fresh {
            self.entries.remove(id);
            return Known::Unknown;
        }
        match self.entries.peek(id) {
            Some(Entry {
                creator: Some(creator),
                ..
            }) if creator == record => Known::CreatedBy,
            Some(_) => Known::Exists,
            None => Known::Unknown,
        }
    }

    /// The API server said `id` exists at `now`: created by `creator`'s create (`Some`), or found
    /// (`None`: a 409, which keeps the creator remembered before, if any).
    pub(crate) fn remember(&mut self, id: ResourceId, creator: Option<RecordKey>, now: Instant) {
        if self.entries.capacity() == 0 {
            return;
        }
        let creator = match creator {
            Some(creator) => Some(creator),
            None => self.entries.peek(&id).and_then(|entry| entry.creator.clone()),
        };
        self.entries.insert(
            id,
            Entry {
                seen_at: now,
                creator,
            },
        );
    }

    /// How many resources are remembered (expired ones included until looked up or evicted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ResourceId {
        (ResourceKind::SolverRun, name.to_string())
    }

    fn record(offset: i64) -> RecordKey {
        ("topic".to_string(), 0, offset)
    }

    fn memory(capacity: usize, ttl_secs: u64) -> ExistingResources {
        ExistingResources::new(ExistingConfig {
            capacity,
            ttl: Duration::from_secs(ttl_secs),
        })
    }

    #[test]
    fn a_resource_seen_created_or_found_is_known_to_exist_until_its_ttl() {
        let mut existing = memory(10, 60);
        let t0 = Instant::now();
        assert_eq!(existing.lookup(&id("a"), &record(1), t0), Known::Unknown);
        existing.remember(id("a"), Some(record(1)), t0);
        existing.remember(id("b"), None, t0);
        assert_eq!(
            existing.lookup(&id("a"), &record(2), t0 + Duration::from_secs(59)),
            Known::Exists
        );
        assert_eq!(
            existing.lookup(&id("b"), &record(2), t0 + Duration::from_secs(59)),
            Known::Exists
        );
        // Past the ttl it is asked for again (it may have been deleted), and forgotten.
        assert_eq!(
            existing.lookup(&id("a"), &record(2), t0 + Duration::from_secs(60)),
            Known::Unknown
        );
        assert_eq!(existing.lookup(&id("a"), &record(2), t0), Known::Unknown);
    }

    #[test]
    fn the_record_that_created_a_resource_is_told_so_again_and_a_later_409_keeps_it() {
        let mut existing = memory(10, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), Some(record(7)), t0);
        assert_eq!(existing.lookup(&id("a"), &record(7), t0), Known::CreatedBy);
        assert_eq!(existing.lookup(&id("a"), &record(8), t0), Known::Exists);
        // A 409 seen later (another batch racing) refreshes the entry, not its creator.
        let t1 = t0 + Duration::from_secs(50);
        existing.remember(id("a"), None, t1);
        assert_eq!(
            existing.lookup(&id("a"), &record(7), t1 + Duration::from_secs(30)),
            Known::CreatedBy
        );
        // A record on another partition at the same offset is another record.
        assert_eq!(
            existing.lookup(&id("a"), &("topic".to_string(), 1, 7), t1),
            Known::Exists
        );
    }

    #[test]
    fn the_least_recently_used_resource_is_forgotten_at_capacity_and_zero_remembers_nothing() {
        let mut existing = memory(2, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), None, t0);
        existing.remember(id("b"), None, t0);
        // Using `a` makes `b` the least recently used.
        assert_eq!(existing.lookup(&id("a"), &record(1), t0), Known::Exists);
        existing.remember(id("c"), None, t0);
        assert_eq!(existing.len(), 2);
        assert_eq!(existing.lookup(&id("b"), &record(1), t0), Known::Unknown);
        assert_eq!(existing.lookup(&id("a"), &record(1), t0), Known::Exists);
        assert_eq!(existing.lookup(&id("c"), &record(1), t0), Known::Exists);

        let mut off = memory(0, 60);
        off.remember(id("a"), Some(record(1)), t0);
        assert_eq!(off.len(), 0);
        assert_eq!(off.lookup(&id("a"), &record(1), t0), Known::Unknown);
    }

    #[test]
    fn the_same_name_of_another_kind_is_another_resource() {
        let mut existing = memory(10, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), None, t0);
        assert_eq!(
            existing.lookup(
                &(ResourceKind::SecurityIndicatorRun, "a".to_string()),
                &record(1),
                t0
            ),
            Known::Unknown
        );
    }
}
