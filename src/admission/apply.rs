//! Applying a batch's decisions: create each distinct resource if absent (unless
//! admission remembers it exists, [`super::existing`]), then write every record's
//! ledger row and the batch's flags, artifacts and re-arms in one store transaction.
//!
//! Idempotent under redelivery and concurrent replicas: a create that finds the
//! name taken (409 AlreadyExists) counts as found, the ledger keeps a record's
//! first fate, flags and artifacts are set to values (not toggled). A resource the
//! API server refuses as invalid (400/422) dead-letters the records that asked
//! for it. Transient failures are retried with backoff; if they persist the
//! whole batch fails with nothing committed, and redoing it is safe.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use backon::Retryable;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
use crate::messages::{Message, TopicMatch};
use crate::store::{
    ArtifactUpdate, Fate, FlagUpdate, LedgerEntry, MAX_BATCH, ResourceKind, Store, StoreResult,
};
use crate::telemetry::error_chain;

pub use crate::store::ResourceRef;

use super::decide::{Decision, Rearm, Resource};
use super::error::{AdmissionError, kube_is_transient, store_is_transient};
use super::existing::ExistingResources;
use super::known::Parsed;
use super::{AdmissionConfig, Admitter, Record, RecordFate};

/// The field manager our creates are made under.
pub const FIELD_MANAGER: &str = "thoth-operator";
/// Label on every resource admission creates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label carrying the PEP 503 package name (when it fits a label value).
pub const PACKAGE_LABEL: &str = "thoth-station.ninja/package-name";
/// Annotation naming the record that first asked for the resource: `topic/partition/offset`.
pub const SOURCE_ANNOTATION: &str = "thoth-station.ninja/source-message";

/// What creating one resource found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Created {
    Now,
    AlreadyExisted,
    /// The API server refused the object (400/422), with its message.
    Refused(String),
}

/// Decisions + records → fates, durable on `Ok`.
pub(crate) async fn apply(
    admitter: &Admitter,
    records: &[Record],
    parsed: &Parsed,
    decisions: &[Decision],
    now: DateTime<Utc>,
) -> Result<Vec<RecordFate>, AdmissionError> {
    let (client, store, config) = (&admitter.client, &admitter.store, &admitter.config);
    let existing: &Mutex<ExistingResources> = &admitter.existing;
    // Each distinct resource once, attributed to the first record that asks for it.
    let mut first_user: BTreeMap<(ResourceKind, String), usize> = BTreeMap::new();
    let mut unique: Vec<(&Resource, usize)> = Vec::new();
    // The decision of each record: one per distinct content, shared by its repeats. (`parse_all`
    // makes every index valid; were one not, the fates would not match the batch, which the
    // consumer refuses rather than commit.)
    let per_record: Vec<&Decision> = parsed
        .of_record
        .iter()
        .filter_map(|distinct| decisions.get(*distinct))
        .collect();
    for (position, decision) in per_record.iter().enumerate() {
        if let Decision::Apply(plan) = decision {
            for resource in &plan.resources {
                let id = (resource.kind(), resource.name().to_string());
                if let std::collections::btree_map::Entry::Vacant(slot) = first_user.entry(id) {
                    slot.insert(position);
                    unique.push((resource, position));
                }
            }
        }
    }

    // Resources remembered to exist need no API call (a duplicate-heavy stream asks for the same
    // few again and again); the others are created if absent. Only what the API server said is
    // remembered, stamped with the time the question was asked (the resource existed after it).
    let asked_at = Instant::now();
    let mut outcomes: HashMap<(ResourceKind, String), Created> = HashMap::new();
    let mut to_create: Vec<(&Resource, usize)> = Vec::new();
    {
        let mut memory = lock_existing(existing);
        for (resource, position) in unique {
            let id = (resource.kind(), resource.name().to_string());
            if memory.exists(&id, asked_at) {
                outcomes.insert(id, Created::AlreadyExisted);
            } else {
                to_create.push((resource, position));
            }
        }
    }

    // The futures are made before streaming them: a closure kept inside the stream would make
    // rustc unable to prove the batch future `Send` (rust-lang/rust#100013), and the consumer runs
    // batches on spawned tasks.
    let creates: Vec<_> = to_create
        .into_iter()
        .map(|(resource, position)| create_keyed(client, config, resource, &records[position]))
        .collect();
    let created: Vec<((ResourceKind, String), Created)> = futures::stream::iter(creates)
        .buffer_unordered(config.create_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    {
        let mut memory = lock_existing(existing);
        for (id, outcome) in &created {
            if matches!(outcome, Created::Now | Created::AlreadyExisted) {
                memory.remember(id.clone(), asked_at);
            }
        }
    }
    outcomes.extend(created);

    let mut fates = Vec::with_capacity(records.len());
    let mut flags: Vec<FlagUpdate> = Vec::new();
    let mut artifacts: Vec<ArtifactUpdate> = Vec::new();
    let mut rearms: Vec<&Rearm> = Vec::new();
    for (position, decision) in per_record.iter().enumerate() {
        let fate = match decision {
            Decision::Apply(plan) => {
                let mut created = Vec::new();
                let mut existing = Vec::new();
                let mut refused = None;
                for resource in &plan.resources {
                    let id = (resource.kind(), resource.name().to_string());
                    let reference = ResourceRef {
                        kind: resource.kind(),
                        namespace: config.namespace.clone(),
                        name: resource.name().to_string(),
                    };
                    match outcomes.get(&id) {
                        Some(Created::Now) if first_user.get(&id) == Some(&position) => {
                            if let Resource::SolverRun {
                                rearm: Some(rearm), ..
                            } = resource
                            {
                                rearms.push(&**rearm);
                            }
                            created.push(reference);
                        }
                        Some(Created::Refused(message)) => {
                            refused.get_or_insert_with(|| {
                                format!(
                                    "the API server refused {} {}: {message}",
                                    resource.kind().as_str(),
                                    resource.name()
                                )
                            });
                        }
                        _ => existing.push(reference),
                    }
                }
                if let Some(detail) = refused {
                    RecordFate::DeadLetter {
                        reason: "invalid_resource",
                        detail,
                    }
                } else {
                    flags.extend(plan.flags.iter().cloned());
                    artifacts.extend(plan.artifacts.iter().cloned());
                    if !created.is_empty() {
                        RecordFate::Created {
                            resources: created,
                            existing,
                            skipped: plan.skipped.clone(),
                        }
                    } else if !existing.is_empty() {
                        RecordFate::Duplicate {
                            resources: existing,
                            skipped: plan.skipped.clone(),
                        }
                    } else {
                        RecordFate::FlagSet {
                            flags: flag_labels(&plan.flags, &plan.artifacts),
                        }
                    }
                }
            }
            Decision::Skip { reason } => RecordFate::Skipped {
                reason: reason.clone(),
            },
            Decision::NotHandled { reason } => RecordFate::NotHandled {
                reason: reason.clone(),
            },
            Decision::DeadLetter { reason, detail } => RecordFate::DeadLetter {
                reason,
                detail: detail.clone(),
            },
        };
        fates.push(fate);
    }

    let ledger: Vec<LedgerEntry> = records
        .iter()
        .zip(&fates)
        .enumerate()
        .map(|(position, (record, fate))| {
            ledger_entry(config, record, parsed.of(position), fate, now)
        })
        .collect();
    let write = || record(store, &ledger, &flags, &artifacts, &rearms);
    write
        .retry(config.retry.backoff())
        .when(store_is_transient)
        .notify(|err, after| {
            tracing::warn!(error = %error_chain(err), retry_in = ?after, "recording a batch failed; retrying");
        })
        .await
        .map_err(AdmissionError::Record)?;
    Ok(fates)
}

/// The batch's store writes, in one transaction.
async fn record(
    store: &Store,
    ledger: &[LedgerEntry],
    flags: &[FlagUpdate],
    artifacts: &[ArtifactUpdate],
    rearms: &[&Rearm],
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    for chunk in ledger.chunks(MAX_BATCH) {
        tx.record_ledger(chunk).await?;
    }
    for chunk in flags.chunks(MAX_BATCH) {
        tx.set_flags(chunk).await?;
    }
    for chunk in artifacts.chunks(MAX_BATCH) {
        tx.record_artifacts(chunk).await?;
    }
    for rearm in rearms {
        tx.rearm_solver(&rearm.version, rearm.solver.as_str(), &rearm.reason)
            .await?;
    }
    tx.commit().await
}

fn flag_labels(flags: &[FlagUpdate], artifacts: &[ArtifactUpdate]) -> Vec<String> {
    let mut labels: Vec<String> = flags
        .iter()
        .map(|f| format!("{}={}", f.flag.column(), f.value))
        .chain(
            artifacts
                .iter()
                .map(|a| format!("artifact_present={}", a.present)),
        )
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

/// The ledger's one-row view of a fate: the first resource, the flags, or the reason.
pub(crate) fn ledger_fate(fate: &RecordFate) -> Fate {
    match fate {
        RecordFate::Created { resources, .. } => match resources.first() {
            Some(resource) => Fate::Created(resource.clone()),
            None => Fate::Skipped {
                reason: "nothing to do".into(),
            },
        },
        RecordFate::Duplicate { resources, .. } => match resources.first() {
            Some(resource) => Fate::Duplicate(resource.clone()),
            None => Fate::Skipped {
                reason: "nothing to do".into(),
            },
        },
        RecordFate::FlagSet { flags } => {
            let mut flag = flags.join(",");
            if flag.chars().count() > crate::store::limits::FLAG {
                flag = flag.chars().take(crate::store::limits::FLAG).collect();
            }
            if flag.is_empty() {
                flag = "none".into();
            }
            Fate::FlagSet { flag }
        }
        RecordFate::Skipped { reason } => Fate::Skipped {
            reason: reason.clone(),
        },
        RecordFate::NotHandled { reason } => Fate::Skipped {
            reason: format!("not handled: {reason}"),
        },
        RecordFate::DeadLetter { reason, detail } => Fate::DeadLettered {
            reason: format!("{reason}: {detail}"),
        },
    }
}

fn ledger_entry(
    config: &AdmissionConfig,
    record: &Record,
    message: Option<&Result<Message, Decision>>,
    fate: &RecordFate,
    now: DateTime<Utc>,
) -> LedgerEntry {
    let (message_type, message_version) = match message {
        Some(Ok(message)) => (
            Some(message.kind().name().to_string()),
            Some(message.envelope.version.clone()),
        ),
        Some(Err(_)) | None => match config.parse.topic_prefix.resolve(&record.topic) {
            TopicMatch::Live(kind) => (Some(kind.name().to_string()), None),
            TopicMatch::Retired(kind) => (Some(kind.name().to_string()), None),
            TopicMatch::Unknown => (None, None),
        },
    };
    LedgerEntry {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        message_type,
        message_version: message_version
            .filter(|v| v.chars().count() <= crate::store::limits::MESSAGE_VERSION),
        received_at: record.received_at(now),
        fate: ledger_fate(fate),
    }
}

fn metadata(
    config: &AdmissionConfig,
    name: &str,
    package: Option<&str>,
    record: &Record,
) -> ObjectMeta {
    let mut labels = BTreeMap::from([(MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string())]);
    if let Some(package) = package.filter(|p| super::names::is_dns_label(p)) {
        labels.insert(PACKAGE_LABEL.to_string(), package.to_string());
    }
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(config.namespace.clone()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            SOURCE_ANNOTATION.to_string(),
            format!("{}/{}/{}", record.topic, record.partition, record.offset),
        )])),
        finalizers: Some(vec![crate::api::RESOURCE_FINALIZER.to_string()]),
        ..ObjectMeta::default()
    }
}

/// [`create`] keyed by the resource's identity.
async fn create_keyed(
    client: &kube::Client,
    config: &AdmissionConfig,
    resource: &Resource,
    record: &Record,
) -> Result<((ResourceKind, String), Created), AdmissionError> {
    let created = create(client, config, resource, record).await?;
    Ok(((resource.kind(), resource.name().to_string()), created))
}

fn lock_existing(existing: &Mutex<ExistingResources>) -> MutexGuard<'_, ExistingResources> {
    // The memory is only a shortcut past 409s: whatever a panic left in it is still something the
    // API server said, so keep using it rather than stop admitting.
    existing
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates one resource if absent, retrying transient failures.
async fn create(
    client: &kube::Client,
    config: &AdmissionConfig,
    resource: &Resource,
    record: &Record,
) -> Result<Created, AdmissionError> {
    let result = match resource {
        Resource::SolverRun { name, spec, .. } => {
            let object = SolverRun {
                metadata: metadata(config, name, Some(&spec.package_name), record),
                spec: spec.clone(),
                status: None,
            };
            create_object(client, config, &object).await
        }
        Resource::SecurityIndicatorRun { name, spec } => {
            let object = SecurityIndicatorRun {
                metadata: metadata(config, name, Some(&spec.package_name), record),
                spec: spec.clone(),
                status: None,
            };
            create_object(client, config, &object).await
        }
        Resource::AdviceRequest { name, spec } => {
            let object = AdviceRequest {
                metadata: metadata(config, name, None, record),
                spec: (**spec).clone(),
                status: None,
            };
            create_object(client, config, &object).await
        }
    };
    result.map_err(|source| AdmissionError::Create {
        kind: resource.kind().as_str(),
        namespace: config.namespace.clone(),
        name: resource.name().to_string(),
        source,
    })
}

async fn create_object<K>(
    client: &kube::Client,
    config: &AdmissionConfig,
    object: &K,
) -> Result<Created, kube::Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), &config.namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    let attempt = || async {
        match api.create(&params, object).await {
            Ok(_) => Ok(Created::Now),
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                Ok(Created::AlreadyExisted)
            }
            Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
                Ok(Created::Refused(status.message.clone()))
            }
            Err(other) => Err(other),
        }
    };
    attempt
        .retry(config.retry.backoff())
        .when(kube_is_transient)
        .notify(|err, after| {
            tracing::warn!(error = %err, retry_in = ?after, "creating a resource failed; retrying");
        })
        .await
}
