//! The pure admission decision: a parsed message, the configuration and what the
//! store and the indexes know ([`Known`]) → a [`Decision`]. No I/O here.
//!
//! Rules (issue 10, following Thoth's investigator, `thoth.md` §1.2 and §5):
//! - UnresolvedPackage, PackageReleased → one SolverRun per configured solver (or
//!   the solver the message names), per version, per index; a missing or `*`
//!   version is expanded into the versions the index lists.
//! - SolvedPackage, SIUnanalyzedPackage → one SecurityIndicatorRun.
//! - AdviserTrigger → one AdviceRequest.
//! - MissingPackage, MissingVersion, UpdateProvidesSourceDistro → flags.
//! - HashMismatch → `artifact.present = false` for each hash missing from the
//!   source, and a re-solve by every configured solver.
//! - Every other live type → not handled, with the reason.
//!
//! No work when the store already knows the answer: a version solved by that
//! solver, analysed, flagged missing, or without a source distribution (for
//! security indicators). Only registered and enabled indexes become work; an
//! unregistered index is a dead letter naming it, a disabled one is skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::api::{AdviceRequestSpec, SecurityIndicatorRunSpec, SolverRunSpec};
use crate::messages::{
    AdviserTrigger, HashMismatch, Message, MessageBody, MessageKind, SolverName, VersionSelector,
};
use crate::package::{Domain, IndexUrl, PackageName, PackageVersion};
use crate::store::{ArtifactUpdate, FlagUpdate, Sha256, VersionFlag, VersionKey};
use crate::terms::RecommendationType;

use super::AdmissionConfig;
use super::expand::Listing;
use super::names;

/// Most dependency indexes a SolverRun carries (the CRD's `maxItems`).
pub const MAX_DEPENDENCY_INDEXES: usize = 20;
/// Longest `origin` an AdviceRequest accepts (its rule's, the CRD's `maxLength`).
pub const MAX_ORIGIN_LEN: usize = crate::package::OriginUrlRule::RULE.max_len;

/// What the store knows of one package version on one index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionState {
    pub is_missing: bool,
    pub provides_source_distro: bool,
    /// Solvers with a recorded outcome (failures included: fail only once).
    pub solved_by: BTreeSet<String>,
    /// A security-indicator outcome is recorded (errors included).
    pub analysed: bool,
}

/// What admission reads before deciding a batch: a snapshot, fetched once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Registered indexes and whether each is enabled.
    pub indexes: BTreeMap<IndexUrl, bool>,
    /// Versions the store has a row for; an absent key is a version it has never seen.
    pub versions: HashMap<VersionKey, VersionState>,
    /// What each index lists for a package (only fetched for version expansion).
    pub listings: HashMap<(PackageName, IndexUrl), Listing>,
    /// Versions of a package on an index the store has rows for, with `is_missing`
    /// (for MissingPackage).
    pub package_versions: HashMap<(PackageName, IndexUrl), Vec<(PackageVersion, bool)>>,
}

/// A resource to create if absent.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    SolverRun {
        name: String,
        spec: SolverRunSpec,
        /// For a re-solve: remove the recorded outcome of (version, solver) once the
        /// resource is created, so that the new outcome is recorded.
        rearm: Option<Box<Rearm>>,
    },
    SecurityIndicatorRun {
        name: String,
        spec: SecurityIndicatorRunSpec,
    },
    AdviceRequest {
        name: String,
        spec: Box<AdviceRequestSpec>,
    },
}

impl Resource {
    pub fn name(&self) -> &str {
        match self {
            Self::SolverRun { name, .. }
            | Self::SecurityIndicatorRun { name, .. }
            | Self::AdviceRequest { name, .. } => name,
        }
    }

    pub fn kind(&self) -> crate::store::ResourceKind {
        match self {
            Self::SolverRun { .. } => crate::store::ResourceKind::SolverRun,
            Self::SecurityIndicatorRun { .. } => crate::store::ResourceKind::SecurityIndicatorRun,
            Self::AdviceRequest { .. } => crate::store::ResourceKind::AdviceRequest,
        }
    }
}

/// Remove a recorded solver outcome (the store's `rearm_solver`), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rearm {
    pub version: VersionKey,
    pub solver: SolverName,
    pub reason: String,
}

/// The work and store writes one message asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub resources: Vec<Resource>,
    pub flags: Vec<FlagUpdate>,
    pub artifacts: Vec<ArtifactUpdate>,
    /// Parts that need nothing, with the reason.
    pub skipped: Vec<String>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.flags.is_empty() && self.artifacts.is_empty()
    }

    /// The plan, or a skip with the collected reasons when nothing is left to do.
    fn into_decision(self) -> Decision {
        if self.is_empty() {
            let reason = if self.skipped.is_empty() {
                "nothing to do".to_string()
            } else {
                self.skipped.join("; ")
            };
            Decision::Skip { reason }
        } else {
            Decision::Apply(self)
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Create these resources if absent and write these flags and artifacts.
    Apply(Plan),
    /// No work: the store already knows the answer, or the index is disabled.
    Skip { reason: String },
    /// A valid message of a type the operator does not act on.
    NotHandled { reason: String },
    /// The message cannot be handled as it is.
    DeadLetter {
        reason: &'static str,
        detail: String,
    },
}

impl Decision {
    fn dead(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::DeadLetter {
            reason,
            detail: detail.into(),
        }
    }
}

/// Decides what one parsed message asks for. Pure: the same inputs give the same
/// decision, in the same order of resources.
pub fn decide(message: &Message, config: &AdmissionConfig, known: &Known) -> Decision {
    match decide_body(message, config, known) {
        Ok(decision) | Err(decision) => decision,
    }
}

fn decide_body(
    message: &Message,
    config: &AdmissionConfig,
    known: &Known,
) -> Result<Decision, Decision> {
    let invalid = |err: crate::messages::InvalidField| {
        // `parse` has validated these fields already; a failure here means the
        // message was built in code without `validate`.
        Decision::dead("invalid_value", err.to_string())
    };
    match &message.body {
        MessageBody::UnresolvedPackage(body) => {
            let request = body.request().map_err(invalid)?;
            let solvers = solvers_for(request.solver.as_ref(), config)?;
            let mut plan = Plan::default();
            let indexes = work_indexes(&request.indexes, known, &mut plan)?;
            for index in &indexes {
                let versions = versions_of(&request.name, &request.versions, index, known)?;
                plan.skipped.extend(versions.skipped);
                for version in versions.versions {
                    let key = VersionKey::new(request.name.clone(), version, index.clone());
                    solve(&key, &solvers, known, &mut plan);
                }
            }
            Ok(plan.into_decision())
        }
        MessageBody::PackageReleased(body) => {
            let release = body.release().map_err(invalid)?;
            let key = VersionKey::new(release.name, release.version, release.index);
            let solvers = solvers_for(None, config)?;
            let mut plan = Plan::default();
            if work_index(&key.index, known, &mut plan)? {
                solve(&key, &solvers, known, &mut plan);
            }
            Ok(plan.into_decision())
        }
        MessageBody::SolvedPackage(body) => {
            let release = body.release().map_err(invalid)?;
            let key = VersionKey::new(release.name, release.version, release.index);
            Ok(analyse(&key, known))
        }
        MessageBody::SiUnanalyzedPackage(body) => {
            let release = body.release().map_err(invalid)?;
            let key = VersionKey::new(release.name, release.version, release.index);
            Ok(analyse(&key, known))
        }
        MessageBody::AdviserTrigger(body) => advise(message, body),
        MessageBody::MissingPackage(body) => {
            let package = body.package().map_err(invalid)?;
            registered(&package.index, known)?;
            let listed = known
                .package_versions
                .get(&(package.name.clone(), package.index.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            if listed.is_empty() {
                return Ok(Decision::Skip {
                    reason: format!(
                        "the store knows no version of {} on {}",
                        package.name, package.index
                    ),
                });
            }
            let flags: Vec<FlagUpdate> = listed
                .iter()
                .filter(|(_, is_missing)| !is_missing)
                .map(|(version, _)| FlagUpdate {
                    version: VersionKey::new(
                        package.name.clone(),
                        version.clone(),
                        package.index.clone(),
                    ),
                    flag: VersionFlag::IsMissing,
                    value: true,
                })
                .collect();
            if flags.is_empty() {
                return Ok(Decision::Skip {
                    reason: format!(
                        "every known version of {} on {} is already flagged missing",
                        package.name, package.index
                    ),
                });
            }
            Ok(Decision::Apply(Plan {
                flags,
                ..Plan::default()
            }))
        }
        MessageBody::MissingVersion(body) => {
            let release = body.release().map_err(invalid)?;
            let key = VersionKey::new(release.name, release.version, release.index);
            registered(&key.index, known)?;
            Ok(flag(key, VersionFlag::IsMissing, true, known))
        }
        MessageBody::UpdateProvidesSourceDistro(body) => {
            let release = body.release().map_err(invalid)?;
            let key = VersionKey::new(release.name, release.version, release.index);
            registered(&key.index, known)?;
            Ok(flag(
                key,
                VersionFlag::ProvidesSourceDistro,
                body.value,
                known,
            ))
        }
        MessageBody::HashMismatch(body) => rehash(body, config, known),
        other => Ok(Decision::NotHandled {
            reason: not_handled_reason(other.kind()).to_string(),
        }),
    }
}

/// Why the operator does not act on a type it parses.
pub fn not_handled_reason(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::UnrevsolvedPackage => {
            "UnrevsolvedPackage: reverse solving is not run by this operator (Thoth's investigator never scheduled it either)"
        }
        MessageKind::CveProvided => {
            "CVEProvided: only fed kebechet-administrator, which this operator does not run"
        }
        MessageKind::AdviseJustification => {
            "AdviseJustification: a metrics-only message (Thoth counted it in a gauge)"
        }
        MessageKind::ProvenanceCheckerTrigger => {
            "ProvenanceCheckerTrigger: provenance checks are not run by this operator"
        }
        MessageKind::PackageExtractTrigger => {
            "PackageExtractTrigger: image extraction is not run by this operator"
        }
        MessageKind::BuildAnalysisTrigger => {
            "BuildAnalysisTrigger: build analysis is not run by this operator"
        }
        MessageKind::KebechetTrigger => "KebechetTrigger: Kebechet is not run by this operator",
        MessageKind::KebechetRunUrlTrigger => {
            "KebechetRunUrlTrigger: Kebechet is not run by this operator"
        }
        MessageKind::InspectionCompleted => {
            "InspectionCompleted: graph-sync of Amun inspections is not run by this operator"
        }
        MessageKind::ThothRepoInit => {
            "ThothRepoInit: repository initialisation is not run by this operator"
        }
        MessageKind::UnresolvedPackage
        | MessageKind::SiUnanalyzedPackage
        | MessageKind::SolvedPackage
        | MessageKind::PackageReleased
        | MessageKind::HashMismatch
        | MessageKind::MissingPackage
        | MessageKind::MissingVersion
        | MessageKind::UpdateProvidesSourceDistro
        | MessageKind::AdviserTrigger => "handled",
    }
}

/// The solvers a message fans out to: the one it names (which must be configured),
/// or every configured solver.
fn solvers_for(
    named: Option<&SolverName>,
    config: &AdmissionConfig,
) -> Result<Vec<SolverName>, Decision> {
    match named {
        Some(solver) if config.solvers.contains(solver) => Ok(vec![solver.clone()]),
        Some(solver) => Err(Decision::dead(
            "unknown_solver",
            format!(
                "solver {solver} is not configured (configured: {})",
                list_or_none(config.solvers.iter().map(SolverName::as_str))
            ),
        )),
        None if config.solvers.is_empty() => Err(Decision::Skip {
            reason: "no solvers are configured".to_string(),
        }),
        None => Ok(config.solvers.clone()),
    }
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = items.collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

/// An index the store must have registered: otherwise the message is a dead letter.
fn registered(index: &IndexUrl, known: &Known) -> Result<bool, Decision> {
    known.indexes.get(index).copied().ok_or_else(|| {
        Decision::dead(
            "unknown_index",
            format!(
                "index {index} is not registered (`thoth-operator index add {index}` registers it)"
            ),
        )
    })
}

/// Whether work may be created on `index`: registered (else dead letter) and
/// enabled (else a skipped part).
fn work_index(index: &IndexUrl, known: &Known, plan: &mut Plan) -> Result<bool, Decision> {
    let enabled = registered(index, known)?;
    if !enabled {
        plan.skipped.push(format!("index {index} is disabled"));
    }
    Ok(enabled)
}

/// The enabled indexes among those requested; no request means every enabled index
/// (Thoth reads every registered index).
fn work_indexes(
    requested: &[IndexUrl],
    known: &Known,
    plan: &mut Plan,
) -> Result<Vec<IndexUrl>, Decision> {
    if requested.is_empty() {
        let enabled: Vec<IndexUrl> = known
            .indexes
            .iter()
            .filter(|(_, enabled)| **enabled)
            .map(|(index, _)| index.clone())
            .collect();
        if enabled.is_empty() {
            plan.skipped.push("no index is enabled".to_string());
        }
        return Ok(enabled);
    }
    // Unknown indexes first, so that the dead letter names one whatever the order.
    for index in requested {
        registered(index, known)?;
    }
    let mut out: Vec<IndexUrl> = Vec::new();
    for index in requested {
        if !out.contains(index) && work_index(index, known, plan)? {
            out.push(index.clone());
        }
    }
    Ok(out)
}

/// The versions a message's selector stands for on one index.
pub(crate) struct Versions {
    pub versions: Vec<PackageVersion>,
    pub skipped: Vec<String>,
}

fn versions_of(
    name: &PackageName,
    selector: &VersionSelector,
    index: &IndexUrl,
    known: &Known,
) -> Result<Versions, Decision> {
    match selector {
        VersionSelector::Exact(version) => Ok(Versions {
            versions: vec![version.clone()],
            skipped: Vec::new(),
        }),
        VersionSelector::All => match known.listings.get(&(name.clone(), index.clone())) {
            Some(Listing::Versions {
                versions,
                not_pep440,
            }) => Ok(Versions {
                versions: versions.clone(),
                skipped: not_pep440
                    .iter()
                    .map(|raw| format!("{name} {raw:?} listed by {index} is not a PEP 440 version"))
                    .chain(
                        versions
                            .is_empty()
                            .then(|| format!("{index} lists no release of {name}")),
                    )
                    .collect(),
            }),
            Some(Listing::NotFound) => Ok(Versions {
                versions: Vec::new(),
                skipped: vec![format!("{index} does not list {name}")],
            }),
            Some(Listing::Unavailable { detail }) => Err(Decision::dead(
                "index_unavailable",
                format!("could not list the versions of {name} on {index}: {detail}"),
            )),
            None => Err(Decision::dead(
                "index_unavailable",
                format!("the versions of {name} on {index} were not fetched"),
            )),
        },
    }
}

fn dependency_indexes(known: &Known) -> Vec<String> {
    known
        .indexes
        .iter()
        .filter(|(_, enabled)| **enabled)
        .map(|(index, _)| index.as_str().to_string())
        .take(MAX_DEPENDENCY_INDEXES)
        .collect()
}

fn solver_spec(key: &VersionKey, solver: &SolverName, known: &Known) -> SolverRunSpec {
    SolverRunSpec {
        package_name: key.name.as_str().to_string(),
        // The spelling the index uses: it becomes the solver's Workflow parameter.
        package_version: Some(key.version.as_sent().to_string()),
        index_url: key.index.as_str().to_string(),
        solver: solver.as_str().to_string(),
        dependency_index_urls: dependency_indexes(known),
        debug: false,
    }
}

/// One SolverRun per solver that has no outcome for `key` yet, unless the version
/// is flagged missing.
fn solve(key: &VersionKey, solvers: &[SolverName], known: &Known, plan: &mut Plan) {
    let state = known.versions.get(key);
    if state.is_some_and(|s| s.is_missing) {
        plan.skipped
            .push(format!("{key} is flagged missing from its index"));
        return;
    }
    for solver in solvers {
        if state.is_some_and(|s| s.solved_by.contains(solver.as_str())) {
            plan.skipped
                .push(format!("{key} is already solved by {solver}"));
            continue;
        }
        plan.resources.push(Resource::SolverRun {
            name: names::solver_run(key, solver),
            spec: solver_spec(key, solver, known),
            rearm: None,
        });
    }
}

/// A SecurityIndicatorRun unless the version is analysed, missing or has no sdist.
fn analyse(key: &VersionKey, known: &Known) -> Decision {
    let mut plan = Plan::default();
    match work_index(&key.index, known, &mut plan) {
        Err(decision) => return decision,
        Ok(false) => return plan.into_decision(),
        Ok(true) => {}
    }
    if let Some(state) = known.versions.get(key) {
        let known_answer = if state.analysed {
            Some("is already analysed by the security indicators")
        } else if state.is_missing {
            Some("is flagged missing from its index")
        } else if !state.provides_source_distro {
            Some("provides no source distribution to analyse")
        } else {
            None
        };
        if let Some(why) = known_answer {
            return Decision::Skip {
                reason: format!("{key} {why}"),
            };
        }
    }
    plan.resources.push(Resource::SecurityIndicatorRun {
        name: names::security_indicator_run(key),
        spec: SecurityIndicatorRunSpec {
            package_name: key.name.as_str().to_string(),
            package_version: key.version.as_sent().to_string(),
            index_url: key.index.as_str().to_string(),
            aggregation_function: "process_data".to_string(),
        },
    });
    Decision::Apply(plan)
}

fn flag_label(flag: VersionFlag, value: bool) -> String {
    format!("{}={value}", flag.column())
}

/// Sets one flag, unless the store already holds that value.
fn flag(key: VersionKey, flag: VersionFlag, value: bool, known: &Known) -> Decision {
    let current = known.versions.get(&key).map(|state| match flag {
        VersionFlag::IsMissing => state.is_missing,
        VersionFlag::ProvidesSourceDistro => state.provides_source_distro,
    });
    if current == Some(value) {
        return Decision::Skip {
            reason: format!("{key} already has {}", flag_label(flag, value)),
        };
    }
    Decision::Apply(Plan {
        flags: vec![FlagUpdate {
            version: key,
            flag,
            value,
        }],
        ..Plan::default()
    })
}

/// A digest naming one hash mismatch: its two hash lists, normalised and sorted.
fn mismatch_digest(body: &HashMismatch) -> String {
    let normal = |hashes: &[String]| -> String {
        let mut list: Vec<String> = hashes
            .iter()
            .map(|h| h.trim().trim_start_matches("sha256:").to_ascii_lowercase())
            .collect();
        list.sort();
        list.dedup();
        list.join(",")
    };
    names::identity_hash(&[
        &normal(&body.missing_from_source),
        &normal(&body.missing_from_database),
    ])
}

/// HashMismatch: clear `present` on each artifact the index no longer serves and
/// re-solve the version with every configured solver.
fn rehash(
    body: &HashMismatch,
    config: &AdmissionConfig,
    known: &Known,
) -> Result<Decision, Decision> {
    let release = body
        .release()
        .map_err(|e| Decision::dead("invalid_value", e.to_string()))?;
    let key = VersionKey::new(release.name, release.version, release.index);
    let mut plan = Plan::default();
    for (position, raw) in body.missing_from_source.iter().enumerate() {
        let digest = raw.trim().trim_start_matches("sha256:");
        let sha256 = Sha256::parse(digest).map_err(|e| {
            Decision::dead(
                "invalid_value",
                format!("field `missing_from_source[{position}]`: {e}"),
            )
        })?;
        plan.artifacts.push(ArtifactUpdate {
            version: key.clone(),
            sha256,
            artifact_name: None,
            present: false,
        });
    }
    if !work_index(&key.index, known, &mut plan)? {
        return Ok(plan.into_decision());
    }
    if known.versions.get(&key).is_some_and(|s| s.is_missing) {
        plan.skipped
            .push(format!("{key} is flagged missing from its index"));
        return Ok(plan.into_decision());
    }
    let solvers = match solvers_for(None, config) {
        Ok(solvers) => solvers,
        Err(Decision::Skip { reason }) => {
            plan.skipped.push(reason);
            return Ok(plan.into_decision());
        }
        Err(other) => return Err(other),
    };
    let mismatch = mismatch_digest(body);
    for solver in &solvers {
        plan.resources.push(Resource::SolverRun {
            name: names::solver_rerun(&key, solver, &mismatch),
            spec: solver_spec(&key, solver, known),
            rearm: Some(Box::new(Rearm {
                version: key.clone(),
                solver: solver.clone(),
                reason: format!("hash mismatch {mismatch}: the index's artifacts changed"),
            })),
        });
    }
    Ok(plan.into_decision())
}

fn positive(field: &str, value: Option<u64>) -> Result<Option<i64>, Decision> {
    match value {
        None => Ok(None),
        Some(n) => match i64::try_from(n) {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(Decision::dead(
                "invalid_value",
                format!("field `{field}`: {n} is not a positive number the adviser accepts"),
            )),
        },
    }
}

fn recommendation_type(raw: &str) -> Result<RecommendationType, Decision> {
    raw.trim().parse().map_err(
        |_| {
            Decision::dead(
                "invalid_value",
                format!(
                    "field `recommendation_type`: {raw:?} is not one of latest, performance, security, stable, testing"
                ),
            )
        },
    )
}

/// AdviserTrigger → one AdviceRequest named by its job id (or, without one, by a
/// digest of the request).
fn advise(message: &Message, body: &AdviserTrigger) -> Result<Decision, Decision> {
    let invalid = |e: crate::messages::InvalidField| Decision::dead("invalid_value", e.to_string());
    let name = match body.job().map_err(invalid)? {
        Some(job) => names::advice_request(&job),
        None => {
            let json = message
                .to_json()
                .map_err(|e| Decision::dead("invalid_value", e.to_string()))?;
            names::advice_request_without_job(&json.to_string())
        }
    };
    let origin = body.origin().map_err(invalid)?;
    let source_type = body.source().map_err(invalid)?;
    let objects = |list: &Option<Vec<crate::messages::JsonObject>>| {
        list.as_ref().map(|items| {
            items
                .iter()
                .map(|item| item.clone().into_iter().collect())
                .collect()
        })
    };
    let spec = AdviceRequestSpec {
        job_id: name.clone(),
        recommendation_type: recommendation_type(&body.recommendation_type)?,
        origin: origin.map(|o| o.as_sent().to_string()),
        source_type,
        count: positive("count", body.count)?,
        limit: positive("limit", body.limit)?,
        limit_latest_versions: positive("limit_latest_versions", body.limit_latest_versions)?,
        dev: body.dev,
        debug: body.debug,
        authenticated: body.authenticated,
        re_run_adviser_id: body
            .re_run_of()
            .map_err(invalid)?
            .map(|id| id.as_str().to_string()),
        kebechet_metadata: body
            .kebechet_metadata
            .as_ref()
            .map(|m| m.clone().into_iter().collect()),
        justification: objects(&body.justification),
        stack_info: objects(&body.stack_info),
    };
    Ok(Decision::Apply(Plan {
        resources: vec![Resource::AdviceRequest {
            name,
            spec: Box::new(spec),
        }],
        ..Plan::default()
    }))
}

/// What the gatherer must fetch for `message`: index listings (version expansion).
pub(crate) fn listings_needed(message: &Message, known: &Known) -> Vec<(PackageName, IndexUrl)> {
    let MessageBody::UnresolvedPackage(body) = &message.body else {
        return Vec::new();
    };
    let Ok(request) = body.request() else {
        return Vec::new();
    };
    if request.versions != VersionSelector::All {
        return Vec::new();
    }
    let mut scratch = Plan::default();
    work_indexes(&request.indexes, known, &mut scratch)
        .unwrap_or_default()
        .into_iter()
        .map(|index| (request.name.clone(), index))
        .collect()
}

/// What the gatherer must fetch for `message`: the state of these versions, and of
/// every version of these packages. Call after the listings are in `known`.
pub(crate) fn versions_needed(
    message: &Message,
    known: &Known,
) -> (Vec<VersionKey>, Option<(PackageName, IndexUrl)>) {
    let release_key = |release: Result<crate::messages::PackageRelease, _>| {
        release
            .ok()
            .map(|r| VersionKey::new(r.name, r.version, r.index))
            .into_iter()
            .collect()
    };
    match &message.body {
        MessageBody::UnresolvedPackage(body) => {
            let Ok(request) = body.request() else {
                return (Vec::new(), None);
            };
            let mut scratch = Plan::default();
            let indexes = work_indexes(&request.indexes, known, &mut scratch).unwrap_or_default();
            let mut keys = Vec::new();
            for index in indexes {
                if let Ok(versions) = versions_of(&request.name, &request.versions, &index, known) {
                    keys.extend(versions.versions.into_iter().map(|version| {
                        VersionKey::new(request.name.clone(), version, index.clone())
                    }));
                }
            }
            (keys, None)
        }
        MessageBody::PackageReleased(body) => (release_key(body.release()), None),
        MessageBody::SolvedPackage(body) => (release_key(body.release()), None),
        MessageBody::SiUnanalyzedPackage(body) => (release_key(body.release()), None),
        MessageBody::MissingVersion(body) => (release_key(body.release()), None),
        MessageBody::UpdateProvidesSourceDistro(body) => (release_key(body.release()), None),
        MessageBody::HashMismatch(body) => (release_key(body.release()), None),
        MessageBody::MissingPackage(body) => {
            (Vec::new(), body.package().ok().map(|p| (p.name, p.index)))
        }
        _ => (Vec::new(), None),
    }
}

#[cfg(test)]
mod tests;
