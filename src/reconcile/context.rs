//! Wiring: the shared [`Context`], one kube-runtime `Controller` per kind, the Workflow watch that
//! feeds the admission index and wakes resources, and leadership through a Lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{FutureExt as _, Stream, StreamExt};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{UnboundedReceiverStream, WatchStream};

use super::config::OperatorConfig;
use super::controller::reconcile;
use super::error::{ReconcileError, backoff};
use super::kinds::RunKind;
use super::limit::{Admission, AdmissionIndex, Candidate, Grant, Limits, ResourceKey};
use super::metrics::{ControllerMetrics, ErrorLabels, NamespaceLabels};
use super::observe::holds_a_slot;
use super::workflow::{MANAGED_SELECTOR, RESOURCE_KIND_LABEL, run_of};
use crate::api::argo::{PHASE_LABEL, Workflow};
use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
use crate::store::{ResourceKind, Store};
use crate::telemetry::{Readiness, error_chain};

/// Wake-up channels, one per kind: a resource named here is reconciled soon.
#[derive(Clone)]
struct Wakers {
    solver_run: mpsc::UnboundedSender<ObjectRef<SolverRun>>,
    security_indicator_run: mpsc::UnboundedSender<ObjectRef<SecurityIndicatorRun>>,
    advice_request: mpsc::UnboundedSender<ObjectRef<AdviceRequest>>,
}

impl Wakers {
    fn wake(&self, kind: ResourceKind, namespace: &str, name: &str) {
        // A send fails only once the controller stopped, when nothing needs waking.
        let sent = match kind {
            ResourceKind::SolverRun => self
                .solver_run
                .send(ObjectRef::new(name).within(namespace))
                .is_ok(),
            ResourceKind::SecurityIndicatorRun => self
                .security_indicator_run
                .send(ObjectRef::new(name).within(namespace))
                .is_ok(),
            ResourceKind::AdviceRequest => self
                .advice_request
                .send(ObjectRef::new(name).within(namespace))
                .is_ok(),
        };
        if !sent {
            tracing::debug!(
                kind = kind.as_str(),
                namespace,
                name,
                "controller stopped; not woken"
            );
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub(crate) client: Client,
    pub(crate) store: Store,
    pub(crate) config: OperatorConfig,
    pub(crate) metrics: Arc<ControllerMetrics>,
    pub(crate) recorder: Recorder,
    index: Mutex<AdmissionIndex>,
    wakers: Wakers,
    leader: watch::Receiver<bool>,
    failures: Mutex<HashMap<ResourceKey, u32>>,
    /// Resources others wait for (an AdviceRequest for its SolverRuns): woken when they finish.
    waiters: Mutex<HashMap<ResourceKey, HashSet<ResourceKey>>>,
    /// Bounds the concurrent checks for Workflows whose resource was deleted by force.
    pub(crate) orphan_checks: tokio::sync::Semaphore,
    /// The attempt whose start this replica wrote into each resource's status, until a view of the
    /// resource shows it: the "expectations" of Kubernetes' ReplicaSet controller, for one field.
    /// Keyed by name, with the uid, so that a new resource under the same name expects nothing.
    started: Mutex<HashMap<ResourceKey, (Option<String>, u32)>>,
    /// Bounds the Events published and not yet answered (see `Context::event`).
    pub(crate) events_in_flight: Arc<tokio::sync::Semaphore>,
    /// Finished Workflows still holding our finalizer, by namespace and name, until a check
    /// settles them: seen while this replica did not lead, or whose check failed, they are
    /// checked again when it leads.
    orphan_candidates: Mutex<HashMap<(String, String), kube::api::ObjectMeta>>,
    watched: HashSet<String>,
}

impl Context {
    pub(crate) fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    pub(crate) fn watches_namespace(&self, namespace: &str) -> bool {
        self.watched.is_empty() || self.watched.contains(namespace)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, AdmissionIndex> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // breaks the limit worse than losing it; keep going with what is there.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn request_slot(
        &self,
        namespace: &str,
        candidate: Candidate,
    ) -> (Admission, Vec<Grant>) {
        let name = candidate.key.name.clone();
        let answer = self.index().request(namespace, candidate, Instant::now());
        tracing::debug!(name, answer = ?answer.0, "slot requested");
        self.publish_counts();
        answer
    }

    pub(crate) fn holds_slot(&self, namespace: &str, workflow: &str) -> bool {
        self.index().holds(namespace, workflow)
    }

    /// `key` is about to create `workflow` with its slot; see [`AdmissionIndex::claim`].
    pub(crate) fn claim_slot(&self, namespace: &str, key: &ResourceKey, workflow: &str) {
        tracing::debug!(name = key.name, workflow, "slot claimed");
        let granted = self.index().claim(namespace, key, workflow, Instant::now());
        self.wake(granted);
        self.publish_counts();
    }

    /// The create of a claimed `workflow` was answered.
    pub(crate) fn slot_used(&self, namespace: &str, workflow: &str) {
        tracing::debug!(workflow, "Workflow created");
        self.index().created(namespace, workflow);
    }

    /// The create of a claimed `workflow` failed; `key` keeps a grant for its next try.
    pub(crate) fn slot_unclaimed(&self, namespace: &str, key: &ResourceKey, workflow: &str) {
        tracing::debug!(name = key.name, workflow, "slot unclaimed");
        self.index().unclaim(namespace, key, workflow);
        self.publish_counts();
    }

    /// `workflow` was found finished (or gone) outside the watch, e.g. on a create that met an
    /// existing Workflow: its slot frees now, as the watch may have told so before it was claimed.
    pub(crate) fn slot_freed(&self, namespace: &str, workflow: &str) {
        tracing::debug!(workflow, "slot freed: the Workflow was found finished");
        let granted = self
            .index()
            .observe(namespace, workflow, false, Instant::now());
        self.wake(granted);
        self.publish_counts();
    }

    /// A resource whose reconcile found it needs no slot (its attempt runs or is over) gives up a
    /// grant or queue place left from an earlier, stale view; a no-op when it holds none.
    pub(crate) fn release_unneeded_slot(&self, namespace: &str, key: &ResourceKey) {
        if self.index().is_asking(namespace, key) {
            tracing::debug!(name = key.name, "slot request dropped: no longer needed");
            self.release_slot(namespace, key);
        }
    }

    pub(crate) fn release_slot(&self, namespace: &str, key: &ResourceKey) {
        let granted = self.index().release(namespace, key, Instant::now());
        self.wake(granted);
        self.publish_counts();
    }

    pub(crate) fn wake(&self, granted: Vec<Grant>) {
        for grant in granted {
            tracing::debug!(
                namespace = grant.key.namespace,
                name = grant.key.name,
                waited = ?grant.waited,
                "slot granted"
            );
            self.metrics
                .admission_wait
                .observe(grant.waited.as_secs_f64());
            self.wakers
                .wake(grant.key.kind, &grant.key.namespace, &grant.key.name);
        }
    }

    fn publish_counts(&self) {
        let counts = self.index().counts();
        for (namespace, count) in counts {
            let labels = NamespaceLabels { namespace };
            self.metrics
                .active_workflows
                .get_or_create(&labels)
                .set(count.active as i64);
            self.metrics
                .queued_resources
                .get_or_create(&labels)
                .set(count.queued as i64);
        }
    }

    /// `waiter` is reconciled when `awaited` finishes.
    pub(crate) fn await_resource(&self, awaited: ResourceKey, waiter: ResourceKey) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(awaited)
            .or_default()
            .insert(waiter);
    }

    /// `finished` reached a final phase: wakes whoever waits for it.
    pub(crate) fn wake_waiters(&self, finished: &ResourceKey) {
        let waiters = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(finished);
        for waiter in waiters.into_iter().flatten() {
            self.wakers
                .wake(waiter.kind, &waiter.namespace, &waiter.name);
        }
    }

    fn candidates(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), kube::api::ObjectMeta>> {
        self.orphan_candidates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// This replica wrote the start of `attempt` into the status of `key` (whose uid is `uid`).
    pub(crate) fn attempt_started(&self, key: ResourceKey, uid: Option<String>, attempt: u32) {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (uid, attempt));
    }

    /// Whether `status`, as a reconcile of `key` reads it, predates the last attempt start this
    /// replica wrote. A view that shows the start ends the expectation.
    pub(crate) fn is_stale_view(
        &self,
        key: &ResourceKey,
        uid: Option<String>,
        status: &crate::api::RunStatus,
    ) -> bool {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let Some(expected) = started.get(key) else {
            return false;
        };
        let stale = predates_start(expected, uid.as_deref(), status);
        if !stale {
            started.remove(key);
        }
        stale
    }

    /// The resource is gone: nothing is expected of it any more.
    pub(crate) fn forget_started(&self, key: &ResourceKey) {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn forget_failures(&self, key: &ResourceKey) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn count_failure(&self, key: ResourceKey) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(key).or_insert(0);
        *count += 1;
        *count
    }
}

/// Whether `status` of the resource with `uid` predates the start of attempt `expected.1` written
/// into the status of the resource whose uid was `expected.0`. A resource with another uid (deleted
/// and created again under the name) expects nothing.
fn predates_start(
    expected: &(Option<String>, u32),
    uid: Option<&str>,
    status: &crate::api::RunStatus,
) -> bool {
    let (expected_uid, expected_attempt) = expected;
    let seen = status.attempts.unwrap_or(0).max(0) as u32;
    expected_uid.as_deref() == uid && seen < *expected_attempt
}

fn error_policy<K: RunKind>(resource: Arc<K>, error: &ReconcileError, ctx: Arc<Context>) -> Action
where
    K::Results: Send + Sync,
{
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            kind: K::STORE_KIND.as_str(),
            category: error.category(),
        })
        .inc();
    tracing::warn!(
        kind = K::STORE_KIND.as_str(),
        name = %resource.name_any(),
        error = %error_chain(error),
        "reconcile failed"
    );
    if !error.is_transient() {
        return Action::await_change();
    }
    let key = ResourceKey {
        kind: K::STORE_KIND,
        namespace: resource.namespace().unwrap_or_default(),
        name: resource.name_any(),
    };
    Action::requeue(backoff(ctx.count_failure(key) - 1))
}

/// Events published and not yet answered beyond which new ones are dropped.
const EVENTS_IN_FLIGHT: usize = 256;

/// How often setting up the Lease is tried before the operator gives up (about a minute).
const LEASE_SETUP_ATTEMPTS: u32 = 15;

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to set up leader election through Lease {namespace}/{name}")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
}

/// Runs the three controllers until `shutdown` resolves. Every replica watches and keeps its
/// admission index warm; only the Lease holder writes.
pub async fn run(
    client: Client,
    store: Store,
    config: OperatorConfig,
    metrics: Arc<ControllerMetrics>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    // The Lease object is created or read at start; an API server that throttles or fails for a
    // moment must not stop the operator, so transient failures are retried for a while.
    let mut failures = 0u32;
    let lease = loop {
        let built =
            kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &config.leader.lease_name)
                .with_namespace(&config.leader.namespace)
                .with_identity(&config.leader.identity)
                .with_duration(config.leader.lease_duration.as_secs().max(2))
                .with_grace(config.leader.renew_before.as_secs().max(1))
                .build()
                .await;
        match built {
            Ok(lease) => break lease,
            Err(source) if failures < LEASE_SETUP_ATTEMPTS => {
                tracing::warn!(error = %error_chain(&source), "failed to set up the Lease; retrying");
                tokio::time::sleep(backoff(failures).min(std::time::Duration::from_secs(5))).await;
                failures += 1;
            }
            Err(source) => {
                return Err(RunError::Lease {
                    namespace: config.leader.namespace.clone(),
                    name: config.leader.lease_name.clone(),
                    source,
                });
            }
        }
    };
    let (leader, lease_task) = lease.watch().await;

    let (solver_tx, solver_rx) = mpsc::unbounded_channel();
    let (si_tx, si_rx) = mpsc::unbounded_channel();
    let (advice_tx, advice_rx) = mpsc::unbounded_channel();
    let wakers = Wakers {
        solver_run: solver_tx,
        security_indicator_run: si_tx,
        advice_request: advice_tx,
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "thoth-operator".into(),
            instance: Some(config.leader.identity.clone()),
        },
    );
    let limits = Limits {
        default: config.limits.default,
        per_namespace: config.limits.per_namespace.clone(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        store,
        watched: config.watch_namespaces.iter().cloned().collect(),
        config,
        metrics,
        recorder,
        index: Mutex::new(AdmissionIndex::new(limits)),
        wakers,
        leader: leader.clone(),
        failures: Mutex::new(HashMap::new()),
        waiters: Mutex::new(HashMap::new()),
        orphan_checks: tokio::sync::Semaphore::new(4),
        started: Mutex::new(HashMap::new()),
        events_in_flight: Arc::new(tokio::sync::Semaphore::new(EVENTS_IN_FLIGHT)),
        orphan_candidates: Mutex::new(HashMap::new()),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let workflows = tokio::spawn(watch_workflows(ctx.clone(), readiness.clone(), stopped()));
    let leader_metric = {
        let ctx = ctx.clone();
        let mut leader = leader.clone();
        let stop = stopped();
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                let is_leader = *leader.borrow_and_update();
                ctx.metrics.leader.set(i64::from(is_leader));
                if is_leader {
                    let candidates: Vec<_> = ctx.candidates().keys().cloned().collect();
                    for candidate in candidates {
                        spawn_orphan_check(ctx.clone(), candidate);
                    }
                } else {
                    ctx.index().drop_claims();
                }
                tracing::info!(leader = is_leader, "leadership");
                tokio::select! {
                    _ = &mut stop => break,
                    changed = leader.changed() => if changed.is_err() { break },
                }
            }
        })
    };
    let solver = run_controller::<SolverRun>(ctx.clone(), solver_rx, leader.clone(), stopped());
    let si = run_controller::<SecurityIndicatorRun>(ctx.clone(), si_rx, leader.clone(), stopped());
    let advice = run_controller::<AdviceRequest>(ctx.clone(), advice_rx, leader.clone(), stopped());
    let controllers = futures::future::join3(solver, si, advice);
    tokio::pin!(controllers);
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {}
        _ = &mut controllers => {}
    }
    let _ = stop_tx.send(true);
    controllers.await;
    workflows.abort();
    leader_metric.abort();
    // Dropping the receivers makes the lease task release the Lease, so a standby takes over
    // at once instead of after the lease duration.
    drop(leader);
    drop(ctx);
    if let Ok(Ok(manager)) = lease_task.await {
        let _ = manager.release().await;
    }
    Ok(())
}

fn leadership_gained(leader: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send {
    WatchStream::new(leader).filter_map(|is_leader| async move { is_leader.then_some(()) })
}

/// Runs the controller of one kind: one kube-runtime `Controller` per watched namespace, or one over
/// all namespaces when none is configured. A watch per namespace (rather than a cluster-wide one
/// filtered afterwards) is what lets the chart grant list/watch by namespaced Roles only; each
/// controller has its own reflector store, since one store fed by several watches would be reset by
/// each watch's relist. Wake-ups from the Workflow watch and the chain are routed by namespace.
async fn run_controller<K: RunKind>(
    ctx: Arc<Context>,
    mut woken: mpsc::UnboundedReceiver<ObjectRef<K>>,
    leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    K::Results: Send + Sync,
{
    let shutdown = shutdown.shared();
    let namespaces = ctx.config.watch_namespaces.clone();
    if namespaces.len() <= 1 {
        let api: Api<K> = match namespaces.first() {
            Some(one) => Api::namespaced(ctx.client.clone(), one),
            None => Api::all(ctx.client.clone()),
        };
        return run_namespace_controller(ctx, api, woken, leader, shutdown).await;
    }
    let mut routes = HashMap::new();
    let mut controllers = Vec::new();
    for namespace in &namespaces {
        let (tx, rx) = mpsc::unbounded_channel();
        routes.insert(namespace.clone(), tx);
        let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
        controllers.push(run_namespace_controller(
            ctx.clone(),
            api,
            rx,
            leader.clone(),
            shutdown.clone(),
        ));
    }
    // Ends when every wake-up sender is gone or the controllers stop; a wake-up for a namespace
    // no controller watches has nothing to reconcile it and is dropped.
    let route = async move {
        while let Some(object) = woken.recv().await {
            if let Some(tx) = object.namespace.as_ref().and_then(|ns| routes.get(ns)) {
                let _ = tx.send(object);
            }
        }
    };
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = route => {}
    }
}

async fn run_namespace_controller<K: RunKind>(
    ctx: Arc<Context>,
    api: Api<K>,
    woken: mpsc::UnboundedReceiver<ObjectRef<K>>,
    leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    K::Results: Send + Sync,
{
    // No debounce: it would delay every reconcile, a new resource's included, by its period; a
    // reconcile woken by the controller's own status write finds nothing to do and writes nothing.
    let config = ControllerConfig::default().concurrency(ctx.config.concurrency);
    Controller::new(api, watcher::Config::default().any_semantic())
        .with_config(config)
        .reconcile_on(UnboundedReceiverStream::new(woken))
        .reconcile_all_on(leadership_gained(leader))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx.clone())
        .for_each(|result| {
            let ctx = ctx.clone();
            async move {
                if let Ok((object, _)) = result {
                    ctx.forget_failures(&ResourceKey {
                        kind: K::STORE_KIND,
                        namespace: object.namespace.clone().unwrap_or_default(),
                        name: object.name.clone(),
                    });
                }
            }
        })
        .await;
}

/// Watches our Workflows' metadata only (by label), one watch per target namespace so that
/// namespaced Roles suffice: it feeds the admission index and wakes the resource a Workflow belongs
/// to whenever the Workflow changes. Ready once every namespace has been listed.
async fn watch_workflows(
    ctx: Arc<Context>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let namespaces = ctx.config.workflows.target_namespaces();
    let watches = namespaces.iter().map(|namespace| {
        // `PartialObjectMeta` makes kube ask for metadata-only objects: the Workflow's status
        // (nodes, outputs) never reaches this replica's memory here.
        let api: Api<PartialObjectMeta<Workflow>> = Api::namespaced(ctx.client.clone(), namespace);
        let namespace = namespace.clone();
        watcher::watcher(
            api,
            watcher::Config::default()
                .labels(MANAGED_SELECTOR)
                .any_semantic(),
        )
        .default_backoff()
        .map(move |event| (namespace.clone(), event))
        .boxed()
    });
    let stream = futures::stream::select_all(watches);
    tokio::pin!(stream);
    tokio::pin!(shutdown);
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => break,
            next = stream.next() => next,
        };
        let Some((namespace, event)) = next else {
            break;
        };
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(namespace, error = %error_chain(&err), "Workflow watch failed; it restarts");
                continue;
            }
        };
        let now = Instant::now();
        match event {
            watcher::Event::Init => ctx.index().relist_started(Some(&namespace)),
            watcher::Event::InitDone => {
                let granted = ctx.index().relist_done(Some(&namespace), now);
                ctx.wake(granted);
                listed.insert(namespace);
                if listed.len() == namespaces.len() {
                    readiness.set_ready();
                }
            }
            watcher::Event::InitApply(meta) | watcher::Event::Apply(meta) => {
                let active = holds_a_slot(&meta.metadata);
                observe_workflow(&ctx, &meta.metadata, active, now);
            }
            watcher::Event::Delete(meta) => observe_workflow(&ctx, &meta.metadata, false, now),
        }
        ctx.publish_counts();
    }
}

/// Checks one orphan candidate (bounded concurrency); a check that settles it drops it, one that
/// fails leaves it for the next leadership.
fn spawn_orphan_check(ctx: Arc<Context>, candidate: (String, String)) {
    tokio::spawn(async move {
        // Bounded: a relist may show many finished Workflows at once.
        let Ok(_permit) = ctx.orphan_checks.acquire().await else {
            return;
        };
        let Some(meta) = ctx.candidates().get(&candidate).cloned() else {
            return;
        };
        match super::orphans::check(ctx.clone(), meta).await {
            Ok(true) => {
                ctx.candidates().remove(&candidate);
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "failed to check a finished Workflow's resource");
            }
        }
    });
}

fn observe_workflow(ctx: &Arc<Context>, meta: &kube::api::ObjectMeta, active: bool, now: Instant) {
    let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
        return;
    };
    tracing::debug!(workflow = name, active, "Workflow observed");
    // The first sighting of a Workflow this replica created, before Argo gave it a phase, is the
    // echo of our own create: its resource's status already says so, and a reconcile woken now
    // would likely read that resource from a cache the status write has not reached yet.
    let own_echo = {
        let mut index = ctx.index();
        let echo = active
            && index.is_unseen_own(namespace, name)
            && meta
                .labels
                .as_ref()
                .is_none_or(|labels| !labels.contains_key(PHASE_LABEL));
        let granted = index.observe(namespace, name, active, now);
        drop(index);
        ctx.wake(granted);
        echo
    };
    let candidate = (namespace.to_string(), name.to_string());
    if super::orphans::worth_checking(meta, active) {
        ctx.candidates().insert(candidate.clone(), meta.clone());
        if ctx.is_leader() {
            spawn_orphan_check(ctx.clone(), candidate);
        }
    } else {
        ctx.candidates().remove(&candidate);
    }
    let workflow = Workflow {
        metadata: meta.clone(),
        spec: Default::default(),
        status: None,
    };
    if !own_echo
        && let Some(run) = run_of(&workflow)
        && let Some(kind) = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(RESOURCE_KIND_LABEL))
            .and_then(|k| ResourceKind::parse(k))
    {
        ctx.wakers.wake(kind, &run.namespace, &run.name);
    }
}

#[cfg(test)]
mod tests {
    use super::predates_start;
    use crate::api::RunStatus;

    fn attempts(n: i32) -> RunStatus {
        RunStatus {
            attempts: Some(n),
            ..RunStatus::default()
        }
    }

    #[test]
    fn a_view_predates_a_start_until_it_shows_that_attempt() {
        let expected = (Some("uid-1".to_string()), 2);
        assert!(predates_start(
            &expected,
            Some("uid-1"),
            &RunStatus::default()
        ));
        assert!(predates_start(&expected, Some("uid-1"), &attempts(1)));
        assert!(!predates_start(&expected, Some("uid-1"), &attempts(2)));
        assert!(!predates_start(&expected, Some("uid-1"), &attempts(3)));
    }

    #[test]
    fn a_new_resource_under_the_same_name_expects_nothing() {
        let expected = (Some("uid-1".to_string()), 1);
        assert!(!predates_start(
            &expected,
            Some("uid-2"),
            &RunStatus::default()
        ));
        assert!(!predates_start(&expected, None, &RunStatus::default()));
    }
}
