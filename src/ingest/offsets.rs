//! Which offsets may be stored for commit: a pure, per-partition, in-order tracker.
//!
//! Records are handed out to concurrent batches and finish in any order, but Kafka keeps one offset
//! per partition meaning "everything before this is done". So each partition keeps its received
//! offsets in order; finishing one marks it, and only the contiguous finished prefix advances the
//! offset to store (invariant 1: commits in offset order, only after the fate is durable).
//!
//! A partition revoked in a rebalance loses its pending state at once. Its assignment generation
//! moves on, so a batch still running for it finishes into nothing: the partition's next owner
//! starts from the last committed offset and does that work again, which admission turns into the
//! same fates.

use std::collections::{HashMap, VecDeque};

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// Proof of receipt of one record: which partition, offset and assignment generation it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: PartitionKey,
    pub offset: i64,
    generation: u64,
}

#[derive(Debug, Default)]
struct PartitionState {
    generation: u64,
    /// Received offsets in increasing order, each with whether its fate is durable.
    pending: VecDeque<(i64, bool)>,
    /// The offset to store next (last contiguous durable offset + 1), not yet taken.
    storable: Option<i64>,
    last_received: Option<i64>,
}

/// What [`OffsetTracker::receive`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error(
        "offset {offset} of {topic}/{partition} arrived after offset {last}; Kafka delivers a partition in order"
    )]
    OutOfOrder {
        topic: String,
        partition: i32,
        offset: i64,
        last: i64,
    },
}

/// Per-partition receipt and completion of offsets; see the module documentation.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<PartitionKey, PartitionState>,
    /// Generations keep increasing across revocations, so a ticket from before never matches.
    next_generation: u64,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a record as received (not yet durable). Offsets of one partition must increase; a
    /// repeat or a step back (a seek) is refused and changes nothing.
    pub fn receive(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Ticket, TrackerError> {
        let key = PartitionKey::new(topic, partition);
        let next_generation = &mut self.next_generation;
        let state = self.partitions.entry(key.clone()).or_insert_with(|| {
            *next_generation += 1;
            PartitionState {
                generation: *next_generation,
                ..PartitionState::default()
            }
        });
        if let Some(last) = state.last_received
            && offset <= last
        {
            return Err(TrackerError::OutOfOrder {
                topic: key.topic,
                partition,
                offset,
                last,
            });
        }
        state.pending.push_back((offset, false));
        state.last_received = Some(offset);
        Ok(Ticket {
            key,
            offset,
            generation: state.generation,
        })
    }

    /// Marks a record's fate durable. Returns false when the ticket is stale (its partition was
    /// revoked since) or unknown; nothing changes then.
    pub fn complete(&mut self, ticket: &Ticket) -> bool {
        let Some(state) = self.partitions.get_mut(&ticket.key) else {
            return false;
        };
        if state.generation != ticket.generation {
            return false;
        }
        let Ok(index) = state
            .pending
            .binary_search_by_key(&ticket.offset, |(o, _)| *o)
        else {
            return false;
        };
        state.pending[index].1 = true;
        while let Some(&(offset, true)) = state.pending.front() {
            state.pending.pop_front();
            state.storable = Some(offset + 1);
        }
        true
    }

    /// Whether the ticket still belongs to a partition we hold in the same assignment.
    pub fn is_current(&self, ticket: &Ticket) -> bool {
        self.partitions
            .get(&ticket.key)
            .is_some_and(|state| state.generation == ticket.generation)
    }

    /// The offsets to store now (next offset to read, per partition), each given out once.
    pub fn take_storable(&mut self) -> Vec<(PartitionKey, i64)> {
        let mut out: Vec<(PartitionKey, i64)> = self
            .partitions
            .iter_mut()
            .filter_map(|(key, state)| state.storable.take().map(|o| (key.clone(), o)))
            .collect();
        out.sort();
        out
    }

    /// [`Self::take_storable`] for some partitions only (those being revoked).
    pub fn take_storable_of(&mut self, keys: &[PartitionKey]) -> Vec<(PartitionKey, i64)> {
        keys.iter()
            .filter_map(|key| {
                let state = self.partitions.get_mut(key)?;
                state.storable.take().map(|o| (key.clone(), o))
            })
            .collect()
    }

    /// Forgets a partition (revoked or lost): its pending records are dropped, their tickets go
    /// stale, and the next receipt starts a new generation.
    pub fn revoke(&mut self, key: &PartitionKey) {
        self.partitions.remove(key);
    }

    /// Records received and not yet durable, per partition.
    pub fn in_flight(&self, key: &PartitionKey) -> usize {
        self.partitions.get(key).map_or(0, |state| {
            state.pending.iter().filter(|(_, done)| !done).count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(partition: i32) -> PartitionKey {
        PartitionKey::new("t", partition)
    }

    #[test]
    fn only_the_contiguous_durable_prefix_is_storable() {
        let mut tracker = OffsetTracker::new();
        let tickets: Vec<Ticket> = (10..15)
            .map(|o| tracker.receive("t", 0, o).unwrap())
            .collect();
        assert!(tracker.complete(&tickets[1]));
        assert!(tracker.complete(&tickets[2]));
        assert_eq!(tracker.take_storable(), vec![]);
        assert!(tracker.complete(&tickets[0]));
        assert_eq!(tracker.take_storable(), vec![(key(0), 13)]);
        assert_eq!(
            tracker.take_storable(),
            vec![],
            "each offset is given out once"
        );
        assert!(tracker.complete(&tickets[4]));
        assert_eq!(tracker.take_storable(), vec![]);
        assert_eq!(tracker.in_flight(&key(0)), 1);
        assert!(tracker.complete(&tickets[3]));
        assert_eq!(tracker.take_storable(), vec![(key(0), 15)]);
    }

    #[test]
    fn partitions_advance_independently_and_gaps_in_offsets_do_not_block() {
        let mut tracker = OffsetTracker::new();
        // Compacted topics and transaction markers leave gaps: 3 follows 0.
        let a0 = tracker.receive("t", 0, 0).unwrap();
        let a3 = tracker.receive("t", 0, 3).unwrap();
        let b7 = tracker.receive("t", 1, 7).unwrap();
        tracker.complete(&a3);
        tracker.complete(&b7);
        assert_eq!(tracker.take_storable(), vec![(key(1), 8)]);
        tracker.complete(&a0);
        assert_eq!(tracker.take_storable(), vec![(key(0), 4)]);
    }

    #[test]
    fn a_revoked_partition_drops_pending_work_and_stale_tickets_change_nothing() {
        let mut tracker = OffsetTracker::new();
        let old = tracker.receive("t", 0, 5).unwrap();
        tracker.revoke(&key(0));
        assert!(!tracker.is_current(&old));
        // Reassigned: the next owner starts again from the committed offset, 5.
        let new = tracker.receive("t", 0, 5).unwrap();
        assert!(!tracker.complete(&old), "a stale ticket is refused");
        assert_eq!(tracker.take_storable(), vec![]);
        assert!(tracker.complete(&new));
        assert_eq!(tracker.take_storable(), vec![(key(0), 6)]);
    }

    #[test]
    fn offsets_going_backwards_are_refused() {
        let mut tracker = OffsetTracker::new();
        let first = tracker.receive("t", 0, 5).unwrap();
        assert!(matches!(
            tracker.receive("t", 0, 5),
            Err(TrackerError::OutOfOrder { last: 5, .. })
        ));
        tracker.complete(&first);
        assert_eq!(tracker.take_storable(), vec![(key(0), 6)]);
        assert!(
            tracker.receive("t", 0, 4).is_err(),
            "behind the stored offset"
        );
        assert!(tracker.receive("t", 0, 6).is_ok());
    }

    #[test]
    fn revoking_takes_only_the_revoked_partitions_storable_offsets() {
        let mut tracker = OffsetTracker::new();
        let a = tracker.receive("t", 0, 0).unwrap();
        let b = tracker.receive("t", 1, 0).unwrap();
        tracker.complete(&a);
        tracker.complete(&b);
        assert_eq!(tracker.take_storable_of(&[key(1)]), vec![(key(1), 1)]);
        assert_eq!(tracker.take_storable(), vec![(key(0), 1)]);
    }
}
