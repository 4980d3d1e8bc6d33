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
//! A record admitted again (redelivery, or its batch retried after the store failed) finds its
//! resource here and is a `duplicate`, exactly as the 409 made it before this memory: the ledger
//! keeps a message's first fate, and `created` replaces `duplicate` (see the store's ledger).

use std::time::{Duration, Instant};

use hashlink::LruCache;

use crate::store::ResourceKind;

/// A resource's identity within admission's namespace: its kind and name.
pub(crate) type ResourceId = (ResourceKind, String);

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
    /// 100,000 resources (about 10 MB: a name, a kind and a time each) for 10 minutes.
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl: Duration::from_secs(600),
        }
    }
}

/// The memory itself: resource → when the API server last said it exists. Pure (time is given);
/// shared behind a mutex by the [`super::Admitter`].
#[derive(Debug)]
pub(crate) struct ExistingResources {
    entries: LruCache<ResourceId, Instant>,
    ttl: Duration,
}

impl ExistingResources {
    pub(crate) fn new(config: ExistingConfig) -> Self {
        Self {
            entries: LruCache::new(config.capacity),
            ttl: config.ttl,
        }
    }

    /// Whether `id` is known to exist at `now`; marks it recently used. An entry as old as the
    /// ttl is forgotten here (the resource may have been deleted since: ask again).
    pub(crate) fn exists(&mut self, id: &ResourceId, now: Instant) -> bool {
        let Some(seen_at) = self.entries.get(id) else {
            return false;
        };
        if now.saturating_duration_since(*seen_at) < self.ttl {
            return true;
        }
        self.entries.remove(id);
        false
    }

    /// The API server said at `seen_at` that `id` exists (a create answered 201 or 409).
    pub(crate) fn remember(&mut self, id: ResourceId, seen_at: Instant) {
        if self.entries.capacity() > 0 {
            self.entries.insert(id, seen_at);
        }
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
        assert!(!existing.exists(&id("a"), t0));
        existing.remember(id("a"), t0);
        assert!(existing.exists(&id("a"), t0 + Duration::from_secs(59)));
        // Past the ttl it is asked for again (it may have been deleted), and forgotten.
        assert!(!existing.exists(&id("a"), t0 + Duration::from_secs(60)));
        assert_eq!(existing.len(), 0);
        assert!(!existing.exists(&id("a"), t0));
    }

    #[test]
    fn seeing_a_resource_again_renews_its_ttl() {
        let mut existing = memory(10, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), t0);
        existing.remember(id("a"), t0 + Duration::from_secs(50));
        assert!(existing.exists(&id("a"), t0 + Duration::from_secs(100)));
        assert!(!existing.exists(&id("a"), t0 + Duration::from_secs(110)));
    }

    #[test]
    fn the_least_recently_used_resource_is_forgotten_at_capacity_and_zero_remembers_nothing() {
        let mut existing = memory(2, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), t0);
        existing.remember(id("b"), t0);
        // Using `a` makes `b` the least recently used.
        assert!(existing.exists(&id("a"), t0));
        existing.remember(id("c"), t0);
        assert_eq!(existing.len(), 2);
        assert!(!existing.exists(&id("b"), t0));
        assert!(existing.exists(&id("a"), t0));
        assert!(existing.exists(&id("c"), t0));

        let mut off = memory(0, 60);
        off.remember(id("a"), t0);
        assert_eq!(off.len(), 0);
        assert!(!off.exists(&id("a"), t0));
    }

    #[test]
    fn the_same_name_of_another_kind_is_another_resource() {
        let mut existing = memory(10, 60);
        let t0 = Instant::now();
        existing.remember(id("a"), t0);
        assert!(!existing.exists(&(ResourceKind::SecurityIndicatorRun, "a".to_string()), t0));
    }
}
