//! `thoth-operator trace`: what happened to a message (topic, partition, offset) or
//! a package (name, version, index) — its ledger rows, the resources, their Workflow
//! attempts and outcomes, and the follow-up messages — as a table or as JSON.

use std::fmt::Write as _;

use anyhow::Context;
use chrono::{DateTime, Utc};
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::admission::apply::{MANAGED_BY_LABEL, PACKAGE_LABEL, SOURCE_ANNOTATION};
use crate::api::{AdviceRequest, RunStatus, SecurityIndicatorRun, SolverRun};
use crate::package::{IndexUrl, PackageName, PackageVersion};
use crate::store::{Fate, LedgerEntry, ResourceKind, Store, StoreConfig, VersionKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["topic", "package"])))]
pub struct TraceArgs {
    /// Trace one message: its topic (with --partition and --offset).
    #[arg(long, requires_all = ["partition", "offset"])]
    pub topic: Option<String>,
    #[arg(long)]
    pub partition: Option<i32>,
    #[arg(long)]
    pub offset: Option<i64>,
    /// Trace one package (every version, or --package-version).
    #[arg(long)]
    pub package: Option<String>,
    #[arg(long, requires = "package")]
    pub package_version: Option<String>,
    #[arg(long, requires = "package", default_value = "https://pypi.org/simple")]
    pub index: String,
    /// Namespace the resources live in (`run`'s --resource-namespace, and the same variable).
    #[arg(long, env = "THOTH_RESOURCE_NAMESPACE", default_value = super::run::DEFAULT_RESOURCE_NAMESPACE)]
    pub namespace: String,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Everything known about the traced subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    pub subject: String,
    pub messages: Vec<MessageRow>,
    pub resources: Vec<ResourceRow>,
    pub outcomes: Vec<OutcomeRow>,
    pub follow_ups: Vec<FollowUpRow>,
    /// What could not be looked at (e.g. the cluster was unreachable).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRow {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub message_type: Option<String>,
    pub received_at: DateTime<Utc>,
    pub fate: String,
    /// The resource, flag or reason of the fate.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceRow {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `false`: named by the ledger but gone from the cluster (retention); `None`:
    /// the cluster was not consulted.
    pub exists: Option<bool>,
    pub phase: Option<String>,
    pub attempts: Vec<AttemptRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub attempt: u32,
    pub workflow: String,
    pub phase: String,
    pub finished_at: Option<DateTime<Utc>>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    pub version: String,
    pub analysis: String,
    pub status: String,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUpRow {
    pub topic: String,
    pub dedup_key: String,
    pub published_at: Option<DateTime<Utc>>,
    pub attempts: i32,
}

pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let config = StoreConfig::from_env()?;
    let store = Store::connect(&config).await?;
    let client = match kube::Client::try_default().await {
        Ok(client) => Ok(client),
        Err(err) => Err(format!("the cluster was not consulted: {err}")),
    };
    let trace = collect(&store, client, &args).await;
    store.close().await;
    let trace = trace?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&trace)?),
        OutputFormat::Table => print!("{}", render_table(&trace)),
    }
    Ok(())
}

fn message_row(entry: LedgerEntry) -> MessageRow {
    let detail = match &entry.fate {
        Fate::Created(r) | Fate::Duplicate(r) => {
            format!("{} {}/{}", r.kind.as_str(), r.namespace, r.name)
        }
        Fate::FlagSet { flag } => flag.clone(),
        Fate::Skipped { reason } | Fate::DeadLettered { reason } => reason.clone(),
    };
    MessageRow {
        topic: entry.topic,
        partition: entry.partition,
        offset: entry.offset,
        message_type: entry.message_type,
        received_at: entry.received_at,
        fate: entry.fate.as_str().to_string(),
        detail,
    }
}

/// A resource named by the ledger or found in the cluster.
struct Found {
    kind: ResourceKind,
    name: String,
    /// Found in the cluster (not only named by the ledger).
    exists: bool,
    phase: Option<String>,
}

fn phase_of(status: &Option<RunStatus>) -> Option<String> {
    status
        .as_ref()
        .and_then(|s| s.phase.as_ref())
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Our resources in `namespace` that `keep` selects, by label selector `selector`.
async fn find_resources(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    keep: impl Fn(ResourceKind, &kube::api::ObjectMeta, Option<(&str, Option<&str>, &str)>) -> bool,
) -> anyhow::Result<Vec<Found>> {
    let params = ListParams::default().labels(selector);
    let mut found = Vec::new();
    for run in Api::<SolverRun>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .context("failed to list SolverRuns")?
    {
        let spec = (
            run.spec.package_name.as_str(),
            run.spec.package_version.as_deref(),
            run.spec.index_url.as_str(),
        );
        if keep(ResourceKind::SolverRun, &run.metadata, Some(spec)) {
            found.push(Found {
                kind: ResourceKind::SolverRun,
                name: run.metadata.name.clone().unwrap_or_default(),
                exists: true,
                phase: phase_of(&run.status),
            });
        }
    }
    for run in Api::<SecurityIndicatorRun>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .context("failed to list SecurityIndicatorRuns")?
    {
        let spec = (
            run.spec.package_name.as_str(),
            Some(run.spec.package_version.as_str()),
            run.spec.index_url.as_str(),
        );
        if keep(
            ResourceKind::SecurityIndicatorRun,
            &run.metadata,
            Some(spec),
        ) {
            found.push(Found {
                kind: ResourceKind::SecurityIndicatorRun,
                name: run.metadata.name.clone().unwrap_or_default(),
                exists: true,
                phase: phase_of(&run.status),
            });
        }
    }
    for run in Api::<AdviceRequest>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .context("failed to list AdviceRequests")?
    {
        if keep(ResourceKind::AdviceRequest, &run.metadata, None) {
            found.push(Found {
                kind: ResourceKind::AdviceRequest,
                name: run.metadata.name.clone().unwrap_or_default(),
                exists: true,
                phase: phase_of(&run.status),
            });
        }
    }
    Ok(found)
}

/// Gathers the trace of `args`' subject. `client` is the cluster, or why it could
/// not be reached (then only the store is consulted).
pub async fn collect(
    store: &Store,
    client: Result<kube::Client, String>,
    args: &TraceArgs,
) -> anyhow::Result<Trace> {
    let mut trace = Trace::default();
    let mut found: Vec<Found> = Vec::new();
    let namespace = args.namespace.as_str();
    if let (Some(topic), Some(partition), Some(offset)) = (&args.topic, args.partition, args.offset)
    {
        trace.subject = format!("message {topic}/{partition}/{offset}");
        let entry = store.ledger_entry(topic, partition, offset).await?;
        let source = format!("{topic}/{partition}/{offset}");
        if let Some(entry) = entry {
            if let Fate::Created(r) | Fate::Duplicate(r) = &entry.fate {
                found.push(Found {
                    kind: r.kind,
                    name: r.name.clone(),
                    exists: false,
                    phase: None,
                });
            }
            trace.messages.push(message_row(entry));
        } else {
            trace
                .notes
                .push("the ledger has no row for this message (not consumed yet?)".into());
        }
        match &client {
            Ok(client) => {
                let selector = format!("{MANAGED_BY_LABEL}=thoth-operator");
                let annotated = find_resources(client, namespace, &selector, |_, meta, _| {
                    meta.annotations
                        .as_ref()
                        .and_then(|a| a.get(SOURCE_ANNOTATION))
                        .is_some_and(|s| *s == source)
                })
                .await?;
                merge(&mut found, annotated);
            }
            Err(note) => trace.notes.push(note.clone()),
        }
    } else if let Some(raw) = &args.package {
        let name =
            PackageName::parse(raw).with_context(|| format!("invalid package name {raw:?}"))?;
        let index = IndexUrl::parse(&args.index)
            .with_context(|| format!("invalid index URL {:?}", args.index))?;
        let version = args
            .package_version
            .as_deref()
            .map(PackageVersion::parse)
            .transpose()
            .context("invalid package version")?;
        trace.subject = match &version {
            Some(v) => format!("package {name}=={v} from {index}"),
            None => format!("package {name} from {index}"),
        };
        match &client {
            Ok(client) => {
                let selector = format!("{PACKAGE_LABEL}={name}");
                let matching = find_resources(client, namespace, &selector, |_, _, spec| {
                    spec.is_some_and(|(_, v, i)| {
                        i == index.as_str()
                            && version.as_ref().is_none_or(|want| v == Some(want.as_str()))
                    })
                })
                .await?;
                merge(&mut found, matching);
            }
            Err(note) => trace.notes.push(note.clone()),
        }
        let versions: Vec<PackageVersion> = match &version {
            Some(v) => vec![v.clone()],
            None => store
                .versions_of(&name)
                .await?
                .into_iter()
                .filter(|r| r.key.index == index)
                .map(|r| r.key.version)
                .collect(),
        };
        for v in versions {
            let key = VersionKey::new(name.clone(), v.clone(), index.clone());
            if let Some(record) = store.version(&key).await? {
                if record.is_missing {
                    trace.outcomes.push(OutcomeRow {
                        version: v.to_string(),
                        analysis: "flag".into(),
                        status: "is_missing=true".into(),
                        recorded_at: None,
                    });
                }
                if !record.provides_source_distro {
                    trace.outcomes.push(OutcomeRow {
                        version: v.to_string(),
                        analysis: "flag".into(),
                        status: "provides_source_distro=false".into(),
                        recorded_at: None,
                    });
                }
            }
            for (solver, outcome) in store.solver_outcomes_of(&key).await? {
                trace.outcomes.push(OutcomeRow {
                    version: v.to_string(),
                    analysis: solver,
                    status: outcome.status.as_str().into(),
                    recorded_at: Some(outcome.recorded_at),
                });
            }
            if let Some(outcome) = store.security_indicator_outcome(&key).await? {
                trace.outcomes.push(OutcomeRow {
                    version: v.to_string(),
                    analysis: "security-indicators".into(),
                    status: outcome.status.as_str().into(),
                    recorded_at: Some(outcome.recorded_at),
                });
            }
        }
        for row in store
            .outbox_for_package(&name, version.as_ref().map(PackageVersion::as_str))
            .await?
        {
            trace.follow_ups.push(FollowUpRow {
                topic: row.topic,
                dedup_key: row.dedup_key,
                published_at: row.published_at,
                attempts: row.attempts,
            });
        }
    }

    // Ledger rows naming the resources, and their attempts.
    for f in &found {
        let keys = store
            .ledger_keys_for_resources(f.kind, namespace, std::slice::from_ref(&f.name))
            .await?;
        for (topic, partition, offset) in keys {
            let seen = trace
                .messages
                .iter()
                .any(|m| m.topic == topic && m.partition == partition && m.offset == offset);
            if !seen && let Some(entry) = store.ledger_entry(&topic, partition, offset).await? {
                trace.messages.push(message_row(entry));
            }
        }
        let attempts = store
            .attempts(f.kind, namespace, &f.name)
            .await?
            .into_iter()
            .map(|a| AttemptRow {
                attempt: a.attempt,
                workflow: format!("{}/{}", a.workflow_namespace, a.workflow_name),
                phase: a.phase.as_str().into(),
                finished_at: a.finished_at,
                message: a.message,
            })
            .collect();
        trace.resources.push(ResourceRow {
            kind: f.kind.as_str().into(),
            namespace: namespace.into(),
            name: f.name.clone(),
            exists: client.is_ok().then_some(f.exists),
            phase: f.phase.clone(),
            attempts,
        });
    }
    Ok(trace)
}

/// Adds `more` (found in the cluster) to `found`, replacing what the ledger named.
fn merge(found: &mut Vec<Found>, more: Vec<Found>) {
    for f in more {
        found.retain(|g| !(g.kind == f.kind && g.name == f.name));
        found.push(f);
    }
}

/// The trace as plain-text sections.
pub fn render_table(trace: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", trace.subject);
    let _ = writeln!(out, "\nMESSAGES");
    if trace.messages.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for m in &trace.messages {
        let _ = writeln!(
            out,
            "  {}/{}/{}  {}  {}  {}  {}",
            m.topic,
            m.partition,
            m.offset,
            m.message_type.as_deref().unwrap_or("?"),
            m.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
            m.fate,
            m.detail
        );
    }
    let _ = writeln!(out, "\nRESOURCES");
    if trace.resources.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for r in &trace.resources {
        let state = match r.exists {
            Some(true) => r.phase.as_deref().unwrap_or("-"),
            Some(false) => "gone from the cluster",
            None => "cluster not consulted",
        };
        let _ = writeln!(out, "  {} {}/{}  {}", r.kind, r.namespace, r.name, state);
        for a in &r.attempts {
            let _ = writeln!(
                out,
                "    attempt {}  {}  {}  {}",
                a.attempt,
                a.workflow,
                a.phase,
                a.message.as_deref().unwrap_or("")
            );
        }
    }
    let _ = writeln!(out, "\nOUTCOMES");
    if trace.outcomes.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for o in &trace.outcomes {
        let _ = writeln!(out, "  {}  {}  {}", o.version, o.analysis, o.status);
    }
    let _ = writeln!(out, "\nFOLLOW-UP MESSAGES");
    if trace.follow_ups.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for f in &trace.follow_ups {
        let published = f
            .published_at
            .map(|t| format!("published {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
            .unwrap_or_else(|| format!("pending ({} attempts)", f.attempts));
        let _ = writeln!(out, "  {}  {}  {}", f.topic, f.dedup_key, published);
    }
    for note in &trace.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_section_and_says_when_a_resource_is_gone() {
        let trace = Trace {
            subject: "package a==1.0 from https://pypi.org/simple".into(),
            resources: vec![ResourceRow {
                kind: "SolverRun".into(),
                namespace: "thoth".into(),
                name: "a-1-0-x".into(),
                exists: Some(false),
                phase: None,
                attempts: vec![AttemptRow {
                    attempt: 1,
                    workflow: "thoth/a-1-0-x-1".into(),
                    phase: "Succeeded".into(),
                    finished_at: None,
                    message: None,
                }],
            }],
            notes: vec!["the cluster was not consulted: x".into()],
            ..Trace::default()
        };
        let table = render_table(&trace);
        for wanted in [
            "MESSAGES\n  (none)",
            "SolverRun thoth/a-1-0-x  gone from the cluster",
            "attempt 1  thoth/a-1-0-x-1  Succeeded",
            "OUTCOMES\n  (none)",
            "FOLLOW-UP MESSAGES",
            "note: the cluster was not consulted",
        ] {
            assert!(table.contains(wanted), "{wanted:?} in\n{table}");
        }
    }
}
