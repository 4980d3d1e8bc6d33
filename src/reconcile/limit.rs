//! Admission limit: at most N active Workflows per target namespace (design invariant 4), as a pure
//! index in the manner of linkerd's policy-controller status index.
//!
//! The index counts, per target namespace, the Workflows the watch shows as active (admitted and not
//! finished; Pending counts) plus those the controller claimed or created and has not seen yet, plus
//! grants it handed out for resources about to claim one. It is fed by the Workflow watch
//! ([`observe`], [`relist_started`], [`relist_done`]) and by the reconcilers ([`request`], [`claim`],
//! [`created`], [`unclaim`], [`release`]); it never lists anything itself.
//!
//! A grant becomes a Workflow name *before* the create request ([`claim`]), not after its answer:
//! the watch may show the new Workflow, and even its end, before the create call returns. Counted by
//! name from the start, the Workflow is never counted twice (grant and watch) nor kept after the
//! watch saw it finish — either of which would lose a slot for good while the queue waits. A resource beyond the limit waits in a queue ordered
//! by priority (lower first) and then age; when a slot frees, the head of the queue gets a grant and
//! the caller is told whom to wake, so admission costs no write per waiting resource.
//!
//! [`observe`]: AdmissionIndex::observe
//! [`relist_started`]: AdmissionIndex::relist_started
//! [`relist_done`]: AdmissionIndex::relist_done
//! [`request`]: AdmissionIndex::request
//! [`claim`]: AdmissionIndex::claim
//! [`created`]: AdmissionIndex::created
//! [`unclaim`]: AdmissionIndex::unclaim
//! [`release`]: AdmissionIndex::release

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::store::ResourceKind;

/// One resource of ours: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResourceKey {
    pub kind: ResourceKind,
    pub namespace: String,
    pub name: String,
}

/// A resource asking for a slot: lower `priority` first, then older `created` (milliseconds since
/// the epoch, from `metadata.creationTimestamp`), then the key, so the order is total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub key: ResourceKey,
    pub priority: u8,
    pub created_millis: i64,
}

/// The answer to [`AdmissionIndex::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A slot is held for this resource: [`AdmissionIndex::claim`] it for the Workflow, create the
    /// Workflow, then call [`AdmissionIndex::created`] (or [`AdmissionIndex::unclaim`] on failure).
    Admitted,
    /// The namespace is full; `position` resources (0-based) are ahead of this one.
    Queued { position: usize },
}

/// A resource that was waiting and now holds a slot: reconcile it so it creates its Workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub key: ResourceKey,
    /// How long it waited in the queue.
    pub waited: Duration,
}

/// Active and waiting counts of one namespace, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NamespaceCounts {
    /// Workflows seen active or created and not yet seen, plus grants not yet used.
    pub active: usize,
    pub queued: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// The watch showed it active.
    Seen,
    /// The controller is creating it (the create request may not have reached the API server).
    Claimed,
    /// The controller created it (or found it existing); the watch has not shown it yet.
    Created,
}

type QueueEntry = (u8, i64, ResourceKey);

#[derive(Debug, Default)]
struct Namespace {
    workflows: HashMap<String, SlotState>,
    grants: HashMap<ResourceKey, ()>,
    waiting: BTreeSet<QueueEntry>,
    waiting_since: HashMap<ResourceKey, (QueueEntry, Instant)>,
    /// During a relist: Workflows counted before it began and not listed so far.
    stale: Option<HashSet<String>>,
}

impl Namespace {
    fn used(&self) -> usize {
        self.workflows.len() + self.grants.len()
    }

    fn dequeue(&mut self, key: &ResourceKey) -> Option<Instant> {
        let (entry, since) = self.waiting_since.remove(key)?;
        self.waiting.remove(&entry);
        Some(since)
    }

    /// Grants slots to the head of the queue while there is room.
    fn fill(&mut self, limit: usize, now: Instant, granted: &mut Vec<Grant>) {
        while self.used() < limit {
            let Some(entry) = self.waiting.pop_first() else {
                break;
            };
            let key = entry.2;
            let since = self
                .waiting_since
                .remove(&key)
                .map_or(now, |(_, since)| since);
            self.grants.insert(key.clone(), ());
            granted.push(Grant {
                key,
                waited: now.saturating_duration_since(since),
            });
        }
    }
}

/// Per-namespace limits: an explicit limit for some namespaces, a default for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub default: usize,
    pub per_namespace: BTreeMap<String, usize>,
}

impl Limits {
    pub fn of(&self, namespace: &str) -> usize {
        self.per_namespace
            .get(namespace)
            .copied()
            .unwrap_or(self.default)
    }
}

/// The index; see the module documentation. Not thread-safe by itself: the runtime keeps it behind
/// one mutex and never awaits while holding it.
#[derive(Debug)]
pub(crate) struct AdmissionIndex {
    limits: Limits,
    namespaces: HashMap<String, Namespace>,
}

impl AdmissionIndex {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            namespaces: HashMap::new(),
        }
    }

    fn namespace(&mut self, namespace: &str) -> &mut Namespace {
        self.namespaces.entry(namespace.to_string()).or_default()
    }

    /// Asks for a slot in `namespace` for `candidate`. Returns the answer and every *other* resource
    /// that got a slot meanwhile (ahead of the candidate in the queue).
    pub fn request(
        &mut self,
        namespace: &str,
        candidate: Candidate,
        now: Instant,
    ) -> (Admission, Vec<Grant>) {
        let limit = self.limits.of(namespace);
        let ns = self.namespace(namespace);
        if ns.grants.contains_key(&candidate.key) {
            return (Admission::Admitted, Vec::new());
        }
        let entry = (
            candidate.priority,
            candidate.created_millis,
            candidate.key.clone(),
        );
        if let Some((old, _)) = ns.waiting_since.get(&candidate.key)
            && *old != entry
        {
            // Priority or age changed (configuration reload): requeue under the new order.
            let since = ns.dequeue(&candidate.key).unwrap_or(now);
            ns.waiting.insert(entry.clone());
            ns.waiting_since
                .insert(candidate.key.clone(), (entry.clone(), since));
        } else if !ns.waiting_since.contains_key(&candidate.key) {
            ns.waiting.insert(entry.clone());
            ns.waiting_since
                .insert(candidate.key.clone(), (entry.clone(), now));
        }
        let mut granted = Vec::new();
        ns.fill(limit, now, &mut granted);
        if let Some(at) = granted.iter().position(|g| g.key == candidate.key) {
            granted.remove(at);
            (Admission::Admitted, granted)
        } else {
            let position = ns.waiting.range(..entry).count();
            (Admission::Queued { position }, granted)
        }
    }

    /// The resource holding a grant is about to create Workflow `workflow`: from now on the slot is
    /// counted under the Workflow's name, so the watch showing it (active, finished or deleted) is
    /// matched even before the create call returns. Returns the resources that got a slot when the
    /// Workflow was counted already (a re-created attempt whose Workflow the watch showed).
    pub fn claim(
        &mut self,
        namespace: &str,
        key: &ResourceKey,
        workflow: &str,
        now: Instant,
    ) -> Vec<Grant> {
        let limit = self.limits.of(namespace);
        let ns = self.namespace(namespace);
        ns.grants.remove(key);
        ns.dequeue(key);
        ns.workflows
            .entry(workflow.to_string())
            .or_insert(SlotState::Claimed);
        let mut granted = Vec::new();
        ns.fill(limit, now, &mut granted);
        granted
    }

    /// The create of a claimed `workflow` was answered (created, or it existed already). A
    /// Workflow the watch showed meanwhile stays as the watch showed it.
    pub fn created(&mut self, namespace: &str, workflow: &str) {
        let ns = self.namespace(namespace);
        if let Some(state) = ns.workflows.get_mut(workflow)
            && *state == SlotState::Claimed
        {
            *state = SlotState::Created;
        }
    }

    /// The create of a claimed `workflow` failed: the slot goes back to the resource as a grant,
    /// which it keeps for its next try (or gives up with [`AdmissionIndex::release`]).
    pub fn unclaim(&mut self, namespace: &str, key: &ResourceKey, workflow: &str) {
        let ns = self.namespace(namespace);
        if ns.workflows.get(workflow) == Some(&SlotState::Claimed) {
            ns.workflows.remove(workflow);
            ns.grants.insert(key.clone(), ());
        }
    }

    /// The resource no longer wants a slot (deleted, or found not to need a Workflow): drops its
    /// grant or its place in the queue. Returns the resources that got the freed slot.
    pub fn release(&mut self, namespace: &str, key: &ResourceKey, now: Instant) -> Vec<Grant> {
        let limit = self.limits.of(namespace);
        let ns = self.namespace(namespace);
        ns.grants.remove(key);
        ns.dequeue(key);
        let mut granted = Vec::new();
        ns.fill(limit, now, &mut granted);
        granted
    }

    /// The watch showed Workflow `workflow` in `namespace`; `active` is false once it is finished
    /// (Argo's `workflows.argoproj.io/completed` label) or being deleted, and for a deletion.
    /// Returns the resources that got a freed slot.
    pub fn observe(
        &mut self,
        namespace: &str,
        workflow: &str,
        active: bool,
        now: Instant,
    ) -> Vec<Grant> {
        let limit = self.limits.of(namespace);
        let ns = self.namespace(namespace);
        if let Some(stale) = ns.stale.as_mut() {
            stale.remove(workflow);
        }
        let mut granted = Vec::new();
        if active {
            ns.workflows.insert(workflow.to_string(), SlotState::Seen);
        } else if ns.workflows.remove(workflow).is_some() {
            ns.fill(limit, now, &mut granted);
        }
        granted
    }

    /// The watch starts listing everything again (after a 410 Gone or a cut): what was counted
    /// before and is not listed by [`AdmissionIndex::relist_done`] is gone. Workflows created during
    /// the relist are kept, as the list may have been taken before their creation.
    pub fn relist_started(&mut self, scope: Option<&str>) {
        for (name, ns) in &mut self.namespaces {
            if scope.is_none_or(|scope| scope == name) {
                ns.stale = Some(ns.workflows.keys().cloned().collect());
            }
        }
    }

    /// The relist is complete; returns the resources that got a freed slot. `scope` is the one
    /// namespace a per-namespace watch relisted, `None` all of them. A Workflow still being created
    /// ([`AdmissionIndex::claim`]) stays counted: the list may have been taken before it existed.
    pub fn relist_done(&mut self, scope: Option<&str>, now: Instant) -> Vec<Grant> {
        let mut granted = Vec::new();
        for (name, ns) in &mut self.namespaces {
            if scope.is_some_and(|scope| scope != name) {
                continue;
            }
            if let Some(stale) = ns.stale.take() {
                for workflow in stale {
                    if ns.workflows.get(&workflow) != Some(&SlotState::Claimed) {
                        ns.workflows.remove(&workflow);
                    }
                }
                ns.fill(self.limits.of(name), now, &mut granted);
            }
        }
        granted
    }

    /// Whether `key` holds a grant or a place in the queue of `namespace`.
    pub fn is_asking(&self, namespace: &str, key: &ResourceKey) -> bool {
        self.namespaces
            .get(namespace)
            .is_some_and(|ns| ns.grants.contains_key(key) || ns.waiting_since.contains_key(key))
    }

    /// Whether `workflow` was claimed or created by this replica and the watch has not shown it
    /// yet: its first sighting is the echo of our own create.
    pub fn is_unseen_own(&self, namespace: &str, workflow: &str) -> bool {
        self.namespaces.get(namespace).is_some_and(|ns| {
            matches!(
                ns.workflows.get(workflow),
                Some(SlotState::Claimed | SlotState::Created)
            )
        })
    }

    /// Whether `workflow` is counted already (claimed, created by us or seen active): a resource
    /// whose Workflow exists needs no second slot, e.g. when its status write failed after the
    /// create.
    pub fn holds(&self, namespace: &str, workflow: &str) -> bool {
        self.namespaces
            .get(namespace)
            .is_some_and(|ns| ns.workflows.contains_key(workflow))
    }

    /// Leadership was lost: grants and queue places are the leader's business; keep only what
    /// the watch shows, so a later leadership starts from the cluster's state.
    pub fn drop_claims(&mut self) {
        for ns in self.namespaces.values_mut() {
            ns.grants.clear();
            ns.waiting.clear();
            ns.waiting_since.clear();
        }
    }

    pub fn counts(&self) -> BTreeMap<String, NamespaceCounts> {
        self.namespaces
            .iter()
            .map(|(name, ns)| {
                (
                    name.clone(),
                    NamespaceCounts {
                        active: ns.used(),
                        queued: ns.waiting.len(),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "thoth-middletier";

    fn key(name: &str) -> ResourceKey {
        ResourceKey {
            kind: ResourceKind::SolverRun,
            namespace: "thoth".into(),
            name: name.into(),
        }
    }

    fn candidate(name: &str, priority: u8, created_millis: i64) -> Candidate {
        Candidate {
            key: key(name),
            priority,
            created_millis,
        }
    }

    fn index(limit: usize) -> AdmissionIndex {
        AdmissionIndex::new(Limits {
            default: limit,
            per_namespace: BTreeMap::new(),
        })
    }

    /// Admits `name` (asserting it gets a slot) and creates its Workflow `wf-<name>`.
    fn create(index: &mut AdmissionIndex, name: &str) {
        let now = Instant::now();
        assert_eq!(
            index.request(NS, candidate(name, 1, 0), now).0,
            Admission::Admitted
        );
        index.claim(NS, &key(name), &format!("wf-{name}"), now);
        index.created(NS, &format!("wf-{name}"));
    }

    fn counted(active: usize, queued: usize) -> NamespaceCounts {
        NamespaceCounts { active, queued }
    }

    /// Claims `workflow` for `key` and has its create answered.
    fn created(index: &mut AdmissionIndex, namespace: &str, key: &ResourceKey, workflow: &str) {
        index.claim(namespace, key, workflow, Instant::now());
        index.created(namespace, workflow);
    }

    fn names(grants: &[Grant]) -> Vec<&str> {
        grants.iter().map(|g| g.key.name.as_str()).collect()
    }

    #[test]
    fn resources_are_admitted_up_to_the_limit_and_the_rest_queue_in_order() {
        let mut index = index(2);
        let now = Instant::now();
        assert_eq!(
            index.request(NS, candidate("a", 1, 1), now).0,
            Admission::Admitted
        );
        created(&mut index, NS, &key("a"), "wf-a");
        assert_eq!(
            index.request(NS, candidate("b", 1, 2), now).0,
            Admission::Admitted
        );
        assert_eq!(
            index.request(NS, candidate("c", 1, 3), now).0,
            Admission::Queued { position: 0 }
        );
        assert_eq!(
            index.request(NS, candidate("d", 1, 4), now).0,
            Admission::Queued { position: 1 }
        );
        // Asking again keeps the place instead of jumping or duplicating.
        assert_eq!(
            index.request(NS, candidate("d", 1, 4), now).0,
            Admission::Queued { position: 1 }
        );
        assert_eq!(index.counts()[NS], counted(2, 2));
    }

    #[test]
    fn a_grant_not_yet_used_counts_against_the_limit() {
        let mut index = index(1);
        let now = Instant::now();
        assert_eq!(
            index.request(NS, candidate("a", 1, 1), now).0,
            Admission::Admitted
        );
        // "a" has not created its Workflow yet, but its slot is taken.
        assert!(matches!(
            index.request(NS, candidate("b", 1, 2), now).0,
            Admission::Queued { .. }
        ));
        // Asking again while holding the grant is still admitted (a retried reconcile).
        assert_eq!(
            index.request(NS, candidate("a", 1, 1), now).0,
            Admission::Admitted
        );
    }

    #[test]
    fn a_created_workflow_counts_until_the_watch_shows_it_finished() {
        let mut index = index(1);
        let t0 = Instant::now();
        index.request(NS, candidate("a", 1, 1), t0);
        created(&mut index, NS, &key("a"), "wf-a");
        index.request(NS, candidate("b", 1, 2), t0);
        // Seen active: still counted, nothing freed.
        assert!(index.observe(NS, "wf-a", true, t0).is_empty());
        // Finished: the slot goes to the head of the queue, with how long it waited.
        let t1 = t0 + Duration::from_millis(250);
        let granted = index.observe(NS, "wf-a", false, t1);
        assert_eq!(names(&granted), ["b"]);
        assert_eq!(granted[0].waited, Duration::from_millis(250));
        assert_eq!(
            index.request(NS, candidate("b", 1, 2), t1).0,
            Admission::Admitted
        );
    }

    #[test]
    fn priority_comes_before_age_and_age_before_name() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("running", 1, 0), now);
        created(&mut index, NS, &key("running"), "wf-running");
        index.request(NS, candidate("old-solver", 1, 10), now);
        index.request(NS, candidate("new-solver", 1, 20), now);
        index.request(NS, candidate("advice", 0, 30), now);
        index.request(NS, candidate("same-age-b", 1, 10), now);
        let mut order = Vec::new();
        let mut finished = "wf-running".to_string();
        for _ in 0..4 {
            let granted = index.observe(NS, &finished, false, now);
            assert_eq!(granted.len(), 1, "one slot frees, one resource is admitted");
            let name = granted[0].key.name.clone();
            finished = format!("wf-{name}");
            created(&mut index, NS, &granted[0].key, &finished);
            order.push(name);
        }
        assert_eq!(order, ["advice", "old-solver", "same-age-b", "new-solver"]);
    }

    #[test]
    fn a_changed_priority_requeues_under_the_new_order_keeping_the_wait() {
        let mut index = index(1);
        let t0 = Instant::now();
        created(&mut index, NS, &key("a"), "wf-a");
        index.request(NS, candidate("b", 1, 1), t0);
        index.request(NS, candidate("c", 1, 2), t0);
        // "c" is asked again with a higher priority (a configuration reload): it goes first.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            index.request(NS, candidate("c", 0, 2), t1).0,
            Admission::Queued { position: 0 }
        );
        let granted = index.observe(NS, "wf-a", false, t1);
        assert_eq!(names(&granted), ["c"]);
        // Its wait counts from its first request, not from the change.
        assert_eq!(granted[0].waited, Duration::from_millis(100));
    }

    #[test]
    fn losing_leadership_drops_grants_and_queue_but_keeps_what_the_watch_shows() {
        let mut index = index(2);
        let now = Instant::now();
        created(&mut index, NS, &key("a"), "wf-a");
        index.observe(NS, "wf-a", true, now);
        index.request(NS, candidate("b", 1, 1), now);
        index.request(NS, candidate("c", 1, 2), now);
        assert_eq!(index.counts()[NS], counted(2, 1));
        index.drop_claims();
        assert_eq!(index.counts()[NS], counted(1, 0));
        assert!(index.holds(NS, "wf-a"));
        assert!(!index.is_asking(NS, &key("b")) && !index.is_asking(NS, &key("c")));
    }

    #[test]
    fn a_newcomer_does_not_overtake_the_queue_when_a_slot_frees() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        created(&mut index, NS, &key("a"), "wf-a");
        index.request(NS, candidate("waiting", 1, 2), now);
        // The slot frees and the waiting resource is told before a newcomer asks.
        let granted = index.observe(NS, "wf-a", false, now);
        assert_eq!(names(&granted), ["waiting"]);
        assert!(matches!(
            index.request(NS, candidate("newcomer", 1, 0), now).0,
            Admission::Queued { .. }
        ));
    }

    #[test]
    fn a_requester_behind_others_reports_who_else_was_admitted() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        created(&mut index, NS, &key("a"), "wf-a");
        index.request(NS, candidate("first", 1, 2), now);
        // Without the watch telling us, a deletion we saw frees the slot silently... then a
        // later request admits the head of the queue, not the requester, and says so.
        index.namespace(NS).workflows.clear();
        let (answer, granted) = index.request(NS, candidate("second", 1, 3), now);
        assert_eq!(answer, Admission::Queued { position: 0 });
        assert_eq!(names(&granted), ["first"]);
    }

    #[test]
    fn releasing_a_grant_or_a_place_frees_it_for_the_next() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        index.request(NS, candidate("b", 1, 2), now);
        index.request(NS, candidate("c", 1, 3), now);
        assert!(index.is_asking(NS, &key("a")) && index.is_asking(NS, &key("b")));
        assert!(!index.is_asking(NS, &key("d")));
        // "b" is deleted while waiting: it leaves the queue and nothing is granted.
        assert!(index.release(NS, &key("b"), now).is_empty());
        // "a" is deleted before creating its Workflow: its grant goes to "c".
        assert_eq!(names(&index.release(NS, &key("a"), now)), ["c"]);
    }

    #[test]
    fn a_relist_drops_what_vanished_and_keeps_what_was_created_meanwhile() {
        let mut index = index(4);
        let now = Instant::now();
        for name in ["a", "b", "w1"] {
            index.request(NS, candidate(name, 1, 1), now);
            created(&mut index, NS, &key(name), &format!("wf-{name}"));
        }
        index.observe(NS, "wf-a", true, now);
        assert_eq!(
            index.request(NS, candidate("late", 1, 2), now).0,
            Admission::Admitted
        );
        index.request(NS, candidate("w2", 1, 6), now);
        index.request(NS, candidate("w3", 1, 7), now);
        index.relist_started(None);
        // Only wf-a is listed; wf-b and wf-w1 vanished while the watch was down.
        index.observe(NS, "wf-a", true, now);
        // Created after the list was taken: must stay counted.
        created(&mut index, NS, &key("late"), "wf-late");
        let granted = index.relist_done(None, now);
        assert_eq!(names(&granted), ["w2", "w3"]);
        assert_eq!(index.counts()[NS].active, 4);
    }

    #[test]
    fn a_relist_of_one_namespace_leaves_the_others_counted() {
        let mut index = index(4);
        let now = Instant::now();
        for (namespace, name) in [(NS, "a"), ("thoth-backend", "b")] {
            index.request(namespace, candidate(name, 1, 1), now);
            created(&mut index, namespace, &key(name), &format!("wf-{name}"));
            index.observe(namespace, &format!("wf-{name}"), true, now);
        }
        // The backend watch relists and lists nothing; middletier's count is untouched.
        index.relist_started(Some("thoth-backend"));
        index.relist_done(Some("thoth-backend"), now);
        assert_eq!(index.counts()["thoth-backend"].active, 0);
        assert_eq!(index.counts()[NS].active, 1);
    }

    #[test]
    fn a_workflow_is_our_own_unseen_one_until_the_watch_shows_it() {
        let mut index = index(2);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        index.claim(NS, &key("a"), "wf-a", now);
        assert!(index.is_unseen_own(NS, "wf-a"));
        index.created(NS, "wf-a");
        assert!(index.is_unseen_own(NS, "wf-a"));
        index.observe(NS, "wf-a", true, now);
        assert!(!index.is_unseen_own(NS, "wf-a"));
        assert!(!index.is_unseen_own(NS, "wf-other"));
    }

    #[test]
    fn a_workflow_already_counted_is_held_and_needs_no_second_slot() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        created(&mut index, NS, &key("a"), "wf-a");
        assert!(index.holds(NS, "wf-a"));
        assert!(!index.holds(NS, "wf-b"));
        index.observe(NS, "wf-a", false, now);
        assert!(!index.holds(NS, "wf-a"));
    }

    #[test]
    fn limits_are_per_namespace_with_a_default() {
        let mut index = AdmissionIndex::new(Limits {
            default: 1,
            per_namespace: BTreeMap::from([("thoth-backend".to_string(), 2)]),
        });
        let now = Instant::now();
        assert_eq!(
            index.request("thoth-backend", candidate("a", 0, 1), now).0,
            Admission::Admitted
        );
        assert_eq!(
            index.request("thoth-backend", candidate("b", 0, 2), now).0,
            Admission::Admitted
        );
        assert_eq!(
            index.request(NS, candidate("c", 1, 1), now).0,
            Admission::Admitted
        );
        assert!(matches!(
            index.request(NS, candidate("d", 1, 2), now).0,
            Admission::Queued { .. }
        ));
    }

    #[test]
    fn a_workflow_seen_before_its_create_returns_is_counted_once() {
        // The stall of issue 9's benchmark: the watch showed "b"'s Workflow before its create
        // returned, the grant and the Workflow were both counted, and "a" finishing then found the
        // namespace full; once the create returned the count fell below the limit with nobody
        // told, and the queue waited for good.
        let mut index = index(2);
        let now = Instant::now();
        create(&mut index, "a");
        index.observe(NS, "wf-a", true, now);
        assert_eq!(
            index.request(NS, candidate("b", 1, 2), now).0,
            Admission::Admitted
        );
        assert!(index.request(NS, candidate("c", 1, 3), now).0 != Admission::Admitted);
        assert!(index.claim(NS, &key("b"), "wf-b", now).is_empty());
        index.observe(NS, "wf-b", true, now);
        assert_eq!(names(&index.observe(NS, "wf-a", false, now)), ["c"]);
        index.created(NS, "wf-b");
        assert_eq!(index.counts()[NS], counted(2, 0));
    }

    #[test]
    fn a_workflow_that_finished_before_its_create_returned_is_not_counted_again() {
        let mut index = index(1);
        let now = Instant::now();
        assert_eq!(
            index.request(NS, candidate("a", 1, 1), now).0,
            Admission::Admitted
        );
        index.request(NS, candidate("b", 1, 2), now);
        index.claim(NS, &key("a"), "wf-a", now);
        index.observe(NS, "wf-a", true, now);
        assert_eq!(names(&index.observe(NS, "wf-a", false, now)), ["b"]);
        // The create's answer arrives last: "a"'s Workflow is over and holds no slot.
        index.created(NS, "wf-a");
        assert!(!index.holds(NS, "wf-a"));
        assert_eq!(index.counts()[NS], counted(1, 0));
    }

    #[test]
    fn a_failed_create_gives_the_slot_back_to_its_resource_until_released() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        index.request(NS, candidate("b", 1, 2), now);
        index.claim(NS, &key("a"), "wf-a", now);
        index.unclaim(NS, &key("a"), "wf-a");
        assert!(!index.holds(NS, "wf-a"));
        // "a" tries again with its grant; "b" still waits.
        assert_eq!(
            index.request(NS, candidate("a", 1, 1), now).0,
            Admission::Admitted
        );
        assert_eq!(index.counts()[NS], counted(1, 1));
        assert_eq!(names(&index.release(NS, &key("a"), now)), ["b"]);
    }

    #[test]
    fn unclaiming_a_workflow_the_watch_has_shown_changes_nothing() {
        let mut index = index(1);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        index.claim(NS, &key("a"), "wf-a", now);
        index.observe(NS, "wf-a", true, now);
        index.unclaim(NS, &key("a"), "wf-a");
        assert!(index.holds(NS, "wf-a"));
        assert_eq!(index.counts()[NS], counted(1, 0));
    }

    #[test]
    fn a_relist_keeps_a_workflow_whose_create_is_in_flight() {
        let mut index = index(2);
        let now = Instant::now();
        index.request(NS, candidate("a", 1, 1), now);
        index.claim(NS, &key("a"), "wf-a", now);
        index.relist_started(None);
        // The list was taken before the create reached the server.
        index.relist_done(None, now);
        assert!(index.holds(NS, "wf-a"));
        index.created(NS, "wf-a");
        // Once created, a relist that does not list it means it is gone.
        index.relist_started(None);
        index.relist_done(None, now);
        assert!(!index.holds(NS, "wf-a"));
    }

    /// A model of the controller and the watch driven by a deterministic pseudo-random walk:
    /// requests, claims, create answers (some failing), watch events in any order relative to the
    /// create answers, and releases. After every step the count is exact, never above the limit,
    /// and never below it while anybody waits (a slot lost for good is a stall).
    #[test]
    fn the_count_is_exact_and_no_slot_is_lost_under_any_interleaving() {
        const LIMIT: usize = 3;
        #[derive(Debug)]
        struct Flight {
            name: String,
            workflow: String,
            answered: bool,
            seen: bool,
            finished: bool,
        }
        let mut index = index(LIMIT);
        let now = Instant::now();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut admitted: BTreeSet<String> = BTreeSet::new();
        let mut flights: Vec<Flight> = Vec::new();
        let mut granted_total = 0usize;
        for step in 0..20_000i64 {
            let name = format!("r{}", next() % 40);
            let pick = next() as usize;
            match next() % 7 {
                0 if !flights.iter().any(|f| f.name == name && !f.finished) => {
                    let (answer, others) =
                        index.request(NS, candidate(&name, (next() % 2) as u8, step), now);
                    granted_total += others.len();
                    admitted.extend(others.into_iter().map(|g| g.key.name));
                    if answer == Admission::Admitted {
                        admitted.insert(name);
                    }
                }
                1 if !admitted.is_empty() => {
                    let name = admitted.iter().nth(pick % admitted.len()).cloned();
                    let name = name.unwrap_or_default();
                    admitted.remove(&name);
                    let workflow = format!("wf-{name}-{step}");
                    let others = index.claim(NS, &key(&name), &workflow, now);
                    admitted.extend(others.into_iter().map(|g| g.key.name));
                    flights.push(Flight {
                        name,
                        workflow,
                        answered: false,
                        seen: false,
                        finished: false,
                    });
                }
                2 => {
                    let open: Vec<usize> = (0..flights.len())
                        .filter(|&i| !flights[i].answered)
                        .collect();
                    if let Some(&i) = open.get(pick % open.len().max(1)) {
                        let flight = &mut flights[i];
                        flight.answered = true;
                        if !flight.seen && next() % 5 == 0 {
                            // The create failed: never seen, the grant goes back.
                            index.unclaim(NS, &key(&flight.name), &flight.workflow);
                            admitted.insert(flight.name.clone());
                            flights.swap_remove(i);
                        } else {
                            index.created(NS, &flight.workflow);
                        }
                    }
                }
                3 | 4 => {
                    let live: Vec<usize> = (0..flights.len())
                        .filter(|&i| {
                            !flights[i].finished && (flights[i].answered || next() % 2 == 0)
                        })
                        .collect();
                    if let Some(&i) = live.get(pick % live.len().max(1)) {
                        let flight = &mut flights[i];
                        let active = next() % 3 == 0;
                        flight.seen = true;
                        flight.finished = !active;
                        let others = index.observe(NS, &flight.workflow, active, now);
                        granted_total += others.len();
                        admitted.extend(others.into_iter().map(|g| g.key.name));
                    }
                }
                5 => {
                    admitted.remove(&name);
                    let others = index.release(NS, &key(&name), now);
                    admitted.extend(others.into_iter().map(|g| g.key.name));
                }
                _ => {}
            }
            flights.retain(|f| !(f.finished && f.answered));
            let live = flights.iter().filter(|f| !f.finished).count();
            let counts = index.counts()[NS];
            assert_eq!(
                counts.active,
                admitted.len() + live,
                "step {step}: {flights:?}"
            );
            assert!(counts.active <= LIMIT, "step {step}");
            assert!(
                counts.active == LIMIT || counts.queued == 0,
                "step {step}: {counts:?} — a free slot while resources wait"
            );
        }
        assert!(
            granted_total > 100,
            "the walk exercised freed slots: {granted_total}"
        );
    }
}
