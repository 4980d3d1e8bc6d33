//! Admission against the in-memory API server (with our CRDs) and a real
//! PostgreSQL: records in, resources, flags and ledger rows out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apiserver::FaultConfig;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use thoth_operator::admission::{AdmissionConfig, Admitter, Record, RecordFate};
use thoth_operator::api::{AdviceRequest, SecurityIndicatorRun};
use thoth_operator::package::{IndexUrl, PackageName, PackageVersion};

use crate::harness::{self, NAMESPACE, PYPI};
use thoth_operator::messages::TopicPrefix;
use thoth_operator::store::{
    Fate, ResourceKind, SolverOutcome, SolverStatus, VersionFlag, VersionKey,
};

const RHEL: &str = "solver-rhel-8-py38";
const FEDORA: &str = "solver-fedora-35-py310";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The shared harness, admission configured with two solvers, and an offset counter.
struct Harness {
    base: harness::Harness,
    config: AdmissionConfig,
    offset: i64,
}

impl std::ops::Deref for Harness {
    type Target = harness::Harness;

    fn deref(&self) -> &harness::Harness {
        &self.base
    }
}

impl Harness {
    async fn start() -> Self {
        let base = harness::Harness::start().await;
        let config = base.config(&[RHEL, FEDORA], TopicPrefix::none());
        Self {
            base,
            config,
            offset: 0,
        }
    }

    fn admitter(&self) -> Admitter {
        self.base.admitter(self.config.clone())
    }

    async fn shutdown(self) {
        self.base.shutdown().await;
    }

    /// A record of `topic` with the next offset of partition 0.
    fn record(&mut self, topic: &str, body: Value) -> Record {
        let mut body = body;
        let object = body.as_object_mut().unwrap();
        object.entry("component_name").or_insert(json!("test"));
        object.entry("service_version").or_insert(json!("0.1"));
        self.raw(topic, Some(body.to_string().into_bytes()))
    }

    fn raw(&mut self, topic: &str, payload: Option<Vec<u8>>) -> Record {
        self.offset += 1;
        Record {
            topic: topic.to_string(),
            partition: 0,
            offset: self.offset,
            payload,
            timestamp_ms: Some(1_700_000_000_000),
        }
    }

    async fn ledger(&self, record: &Record) -> Fate {
        self.store
            .ledger_entry(&record.topic, record.partition, record.offset)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no ledger row for offset {}", record.offset))
            .fate
    }
}

fn key(name: &str, version: &str) -> VersionKey {
    VersionKey::new(
        PackageName::parse(name).unwrap(),
        PackageVersion::parse(version).unwrap(),
        IndexUrl::parse(PYPI).unwrap(),
    )
}

fn release(name: &str, version: &str) -> Value {
    json!({"package_name": name, "package_version": version, "index_url": PYPI})
}

fn names_of(fate: &RecordFate) -> Vec<String> {
    match fate {
        RecordFate::Created { resources, .. } | RecordFate::Duplicate { resources, .. } => {
            resources.iter().map(|r| r.name.clone()).collect()
        }
        other => panic!("no resources in {other:?}"),
    }
}

#[tokio::test]
async fn every_handled_type_becomes_resources_flags_or_ledger_rows() {
    let mut h = Harness::start().await;
    // MissingPackage flags the versions the store knows.
    h.store
        .ensure_versions(&[key("pyifd", "1.0")])
        .await
        .unwrap();
    let mut solved_release = release("PyYAML", "5.3.1");
    solved_release["solver"] = json!(RHEL);
    let records = vec![
        h.record(
            "thoth.investigator.unresolved-package",
            json!({"package_name": "textdistance", "package_version": "4.2.0",
                   "index_url": [PYPI], "solver": RHEL}),
        ),
        h.record(
            "thoth.package-release.package-released",
            release("thoth-common", "0.10.0"),
        ),
        h.record("thoth.solver.solved-package", solved_release),
        h.record(
            "thoth.investigator.si-unanalyzed-package",
            release("crossbar", "0.10.0"),
        ),
        h.record(
            "thoth.adviser-trigger",
            json!({"recommendation_type": "latest", "job_id": "adviser-210312182025-5e8c8f2a1b3c4d5e",
                   "source_type": "CLI", "version": "v5"}),
        ),
        h.record(
            "thoth.package-update.missing-package",
            json!({"package_name": "pyifd", "index_url": PYPI}),
        ),
        h.record(
            "thoth.package-update.missing-package-version",
            release("google-resumable-media", "1.2.0"),
        ),
        h.record(
            "thoth.update-provides-source-distro",
            json!({"package_name": "ipywidgets", "package_version": "6.0.0rc2",
                   "index_url": PYPI, "value": false}),
        ),
        h.record(
            "thoth.package-update.hash-mismatch",
            json!({"package_name": "click", "package_version": "7.1.2", "index_url": PYPI,
                   "missing_from_source": [SHA_A], "missing_from_database": []}),
        ),
        h.record("thoth.cve-update.cve-provided", release("jinja2", "2.10")),
        h.raw("thoth.solver.solved-package", Some(b"{not json".to_vec())),
        h.raw("thoth.solver.solved-package", None),
    ];
    let fates = h.admitter().admit(&records).await.unwrap();
    assert_eq!(fates.len(), records.len());
    let labels: Vec<&str> = fates.iter().map(RecordFate::label).collect();
    assert_eq!(
        labels,
        [
            "created",
            "created",
            "created",
            "created",
            "created",
            "flag_set",
            "flag_set",
            "flag_set",
            "created",
            "not_handled",
            "dead_letter",
            "dead_letter"
        ]
    );
    assert_eq!(names_of(&fates[0]).len(), 1, "the named solver only");
    assert_eq!(names_of(&fates[1]).len(), 2, "every configured solver");
    assert_eq!(names_of(&fates[8]).len(), 2, "a re-solve by every solver");
    assert!(
        matches!(
            &fates[10],
            RecordFate::DeadLetter {
                reason: "malformed_json",
                ..
            }
        ),
        "{:?}",
        fates[10]
    );
    assert!(matches!(
        &fates[11],
        RecordFate::DeadLetter {
            reason: "empty_body",
            ..
        }
    ));

    // The resources exist, as the fates say.
    let solver_runs = h.solver_runs().await;
    assert_eq!(solver_runs.len(), 1 + 2 + 2);
    let textdistance = solver_runs
        .iter()
        .find(|r| r.spec.package_name == "textdistance")
        .unwrap();
    assert_eq!(textdistance.spec.package_version.as_deref(), Some("4.2.0"));
    assert_eq!(textdistance.spec.solver, RHEL);
    assert_eq!(
        textdistance.metadata.annotations.as_ref().unwrap()["thoth-station.ninja/source-message"],
        format!(
            "thoth.investigator.unresolved-package/0/{}",
            records[0].offset
        )
    );
    let si: Vec<SecurityIndicatorRun> = Api::namespaced(h.client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut si_packages: Vec<&str> = si.iter().map(|r| r.spec.package_name.as_str()).collect();
    si_packages.sort();
    assert_eq!(si_packages, ["crossbar", "pyyaml"]);
    let advice: AdviceRequest = Api::namespaced(h.client.clone(), NAMESPACE)
        .get("adviser-210312182025-5e8c8f2a1b3c4d5e")
        .await
        .unwrap();
    assert_eq!(advice.spec.job_id, "adviser-210312182025-5e8c8f2a1b3c4d5e");

    // The flags and the artifact are in the store.
    assert!(h.store.is_missing(&key("pyifd", "1.0")).await.unwrap());
    assert!(
        h.store
            .is_missing(&key("google-resumable-media", "1.2.0"))
            .await
            .unwrap()
    );
    let ipywidgets = h
        .store
        .version(&key("ipywidgets", "6.0.0rc2"))
        .await
        .unwrap()
        .unwrap();
    assert!(!ipywidgets.provides_source_distro);
    let sha = thoth_operator::store::Sha256::parse(SHA_A).unwrap();
    assert_eq!(
        h.store
            .artifact_present(&key("click", "7.1.2"), &sha)
            .await
            .unwrap(),
        Some(false)
    );

    // Every record has its ledger row with the matching fate.
    for (record, fate) in records.iter().zip(&fates) {
        let row = h.ledger(record).await;
        assert_eq!(
            row.as_str(),
            match fate.label() {
                "not_handled" => "skipped",
                "dead_letter" => "dead_lettered",
                other => other,
            },
            "{fate:?}"
        );
    }
    assert_eq!(
        h.ledger(&records[6]).await,
        Fate::FlagSet {
            flag: "is_missing=true".into()
        }
    );
    let Fate::Skipped { reason } = h.ledger(&records[9]).await else {
        panic!("CVEProvided is recorded as skipped");
    };
    assert!(reason.starts_with("not handled: CVEProvided"), "{reason}");
    let Fate::DeadLettered { reason } = h.ledger(&records[10]).await else {
        panic!("malformed JSON is dead-lettered");
    };
    assert!(reason.starts_with("malformed_json"), "{reason}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_thousand_copies_of_one_message_give_one_resource() {
    let mut h = Harness::start().await;
    let body = json!({"package_name": "textdistance", "package_version": "4.2.0",
                      "index_url": [PYPI], "solver": RHEL});
    let records: Vec<Record> = (0..1000)
        .map(|_| h.record("thoth.investigator.unresolved-package", body.clone()))
        .collect();
    let admitter = h.admitter();
    // Two batches, as a consumer would cut them; the second finds the resource.
    let mut fates = admitter.admit(&records[..400]).await.unwrap();
    fates.extend(admitter.admit(&records[400..]).await.unwrap());
    assert_eq!(h.solver_runs().await.len(), 1);
    assert_eq!(fates[0].label(), "created");
    let name = names_of(&fates[0]);
    for fate in &fates[1..] {
        assert_eq!(fate.label(), "duplicate", "{fate:?}");
        assert_eq!(names_of(fate), name);
    }
    let Fate::Duplicate(resource) = h.ledger(&records[999]).await else {
        panic!("recorded as a duplicate");
    };
    assert_eq!(resource.name, name[0]);
    assert_eq!(resource.kind, ResourceKind::SolverRun);
    h.shutdown().await;
}

#[tokio::test]
async fn redelivery_and_two_replicas_converge_on_the_same_objects_and_fates() {
    let mut h = Harness::start().await;
    let records = vec![
        h.record(
            "thoth.package-release.package-released",
            release("flask", "2.0.1"),
        ),
        h.record(
            "thoth.package-update.missing-package-version",
            release("flask", "0.1"),
        ),
    ];
    let (one, two) = (h.admitter(), h.admitter());
    let (a, b) = tokio::join!(one.admit(&records), two.admit(&records));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(h.solver_runs().await.len(), 2);
    // Each of the two SolverRuns was created by exactly one replica; the other found it.
    let mut created: Vec<String> = [&a[0], &b[0]]
        .iter()
        .flat_map(|fate| match fate {
            RecordFate::Created { resources, .. } => resources.clone(),
            _ => Vec::new(),
        })
        .map(|r| r.name)
        .collect();
    created.sort();
    let mut expected = names_of(&a[0]);
    expected.extend(match &a[0] {
        RecordFate::Created { existing, .. } => existing.iter().map(|r| r.name.clone()).collect(),
        _ => Vec::new(),
    });
    expected.sort();
    assert_eq!(created, expected, "{a:?} {b:?}");
    // The flag message: whichever replica reads the store after the other committed finds the
    // flag already set and skips; at least one of them set it, and neither did anything else.
    let flag_fates = [a[1].label(), b[1].label()];
    assert!(
        flag_fates
            .iter()
            .all(|f| *f == "flag_set" || *f == "skipped"),
        "{flag_fates:?}"
    );
    assert!(flag_fates.contains(&"flag_set"), "{flag_fates:?}");
    // Redelivered later: duplicates, and the ledger keeps the first fate.
    let again = one.admit(&records).await.unwrap();
    assert_eq!(again[0].label(), "duplicate");
    assert_eq!(names_of(&again[0]), names_of(&a[0]));
    assert!(matches!(h.ledger(&records[0]).await, Fate::Created(_)));
    assert_eq!(h.solver_runs().await.len(), 2);
    h.shutdown().await;
}

#[tokio::test]
async fn an_unknown_index_is_a_dead_letter_naming_it() {
    let mut h = Harness::start().await;
    let record = h.record(
        "thoth.package-release.package-released",
        json!({"package_name": "a", "package_version": "1.0",
               "index_url": "https://private.example.com/simple"}),
    );
    let fates = h
        .admitter()
        .admit(std::slice::from_ref(&record))
        .await
        .unwrap();
    let RecordFate::DeadLetter { reason, detail } = &fates[0] else {
        panic!("{fates:?}");
    };
    assert_eq!(*reason, "unknown_index");
    assert!(
        detail.contains("https://private.example.com/simple"),
        "{detail}"
    );
    let Fate::DeadLettered { reason } = h.ledger(&record).await else {
        panic!("dead-lettered in the ledger");
    };
    assert!(reason.contains("https://private.example.com/simple"));
    assert!(h.solver_runs().await.is_empty());

    // Registered but disabled: skipped, not dead-lettered.
    h.store
        .set_index_enabled(
            &IndexUrl::parse("https://private.example.com/simple").unwrap(),
            false,
        )
        .await
        .unwrap();
    let mut replay = record.clone();
    replay.offset += 100;
    let fates = h.admitter().admit(&[replay]).await.unwrap();
    assert_eq!(fates[0].label(), "skipped", "{fates:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn no_work_when_the_store_already_knows_the_answer() {
    let mut h = Harness::start().await;
    let version = key("textdistance", "4.2.0");
    let outcomes: Vec<SolverOutcome> = [RHEL, FEDORA]
        .iter()
        .map(|solver| SolverOutcome {
            version: version.clone(),
            solver: solver.to_string(),
            status: SolverStatus::Error,
            document_id: None,
            duration: None,
        })
        .collect();
    h.store
        .ensure_versions(std::slice::from_ref(&version))
        .await
        .unwrap();
    h.store.record_solver_outcomes(&outcomes).await.unwrap();
    h.store
        .set_flags(&[thoth_operator::store::FlagUpdate {
            version: key("crossbar", "0.10.0"),
            flag: VersionFlag::ProvidesSourceDistro,
            value: false,
        }])
        .await
        .unwrap();
    let records = vec![
        h.record(
            "thoth.investigator.unresolved-package",
            json!({"package_name": "textdistance", "package_version": "4.2.0", "index_url": [PYPI]}),
        ),
        h.record(
            "thoth.investigator.si-unanalyzed-package",
            release("crossbar", "0.10.0"),
        ),
    ];
    let fates = h.admitter().admit(&records).await.unwrap();
    let RecordFate::Skipped { reason } = &fates[0] else {
        panic!("{fates:?}");
    };
    assert!(
        reason.contains("already solved by solver-rhel-8-py38"),
        "{reason}"
    );
    let RecordFate::Skipped { reason } = &fates[1] else {
        panic!("{fates:?}");
    };
    assert!(reason.contains("no source distribution"), "{reason}");
    assert!(matches!(h.ledger(&records[0]).await, Fate::Skipped { .. }));
    assert!(h.solver_runs().await.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn a_hash_mismatch_re_arms_the_solver_outcome_it_re_solves() {
    let mut h = Harness::start().await;
    let version = key("click", "7.1.2");
    h.store
        .ensure_versions(std::slice::from_ref(&version))
        .await
        .unwrap();
    h.store
        .record_solver_outcomes(&[SolverOutcome {
            version: version.clone(),
            solver: RHEL.into(),
            status: SolverStatus::Success,
            document_id: Some("solver-1".into()),
            duration: None,
        }])
        .await
        .unwrap();
    let body = json!({"package_name": "click", "package_version": "7.1.2", "index_url": PYPI,
                      "missing_from_source": [SHA_A], "missing_from_database": []});
    let record = h.record("thoth.package-update.hash-mismatch", body.clone());
    let fates = h.admitter().admit(&[record]).await.unwrap();
    assert_eq!(names_of(&fates[0]).len(), 2);
    assert!(
        !h.store.is_solved(&version, RHEL).await.unwrap(),
        "re-armed"
    );
    // The same mismatch again: the same re-solves, found, and nothing re-armed twice.
    h.store
        .record_solver_outcomes(&[SolverOutcome {
            version: version.clone(),
            solver: RHEL.into(),
            status: SolverStatus::Success,
            document_id: Some("solver-2".into()),
            duration: None,
        }])
        .await
        .unwrap();
    let again = h.record("thoth.package-update.hash-mismatch", body);
    let fates = h.admitter().admit(&[again]).await.unwrap();
    assert_eq!(fates[0].label(), "duplicate");
    assert!(h.store.is_solved(&version, RHEL).await.unwrap());
    h.shutdown().await;
}

#[tokio::test]
async fn an_api_server_outage_is_a_transient_error_and_nothing_is_recorded() {
    let mut h = Harness::start().await;
    let record = h.record(
        "thoth.package-release.package-released",
        release("flask", "2.0.1"),
    );
    h.server.faults().set(FaultConfig {
        error_share: 1.0,
        ..FaultConfig::default()
    });
    let err = h
        .admitter()
        .admit(std::slice::from_ref(&record))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        h.store
            .ledger_entry(&record.topic, 0, record.offset)
            .await
            .unwrap()
            .is_none()
    );
    h.server.faults().clear();
    let fates = h.admitter().admit(&[record]).await.unwrap();
    assert_eq!(fates[0].label(), "created");
    h.shutdown().await;
}

// --- version expansion from a local index -------------------------------------------

#[derive(Clone, Default)]
struct LocalIndex {
    requests: Arc<AtomicUsize>,
}

const FILES: [&str; 4] = [
    "textdistance-4.2.0.tar.gz",
    "textdistance-4.2.1-py3-none-any.whl",
    "textdistance-4.2.1.tar.gz",
    "textdistance-latest.tar.gz",
];

async fn project_page(
    State(index): State<LocalIndex>,
    Path((flavour, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    index.requests.fetch_add(1, Ordering::SeqCst);
    if name != "textdistance" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if flavour == "json" && accept.contains("application/vnd.pypi.simple.v1+json") {
        let files: Vec<Value> = FILES
            .iter()
            .map(|f| json!({"filename": f, "url": format!("../../files/{f}"), "hashes": {}}))
            .collect();
        let body = json!({"meta": {"api-version": "1.0"}, "name": name, "files": files});
        (
            [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
            body.to_string(),
        )
            .into_response()
    } else {
        let links: String = FILES
            .iter()
            .map(|f| format!("<a href=\"../../files/{f}#sha256=00\">{f}</a><br/>\n"))
            .collect();
        (
            [(header::CONTENT_TYPE, "text/html")],
            format!("<!DOCTYPE html><html><body>{links}</body></html>"),
        )
            .into_response()
    }
}

async fn serve_index() -> (String, LocalIndex) {
    let state = LocalIndex::default();
    let app = axum::Router::new()
        .route(
            "/{flavour}/simple/{name}/",
            axum::routing::get(project_page),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (format!("http://{address}"), state)
}

#[tokio::test]
async fn a_star_version_is_expanded_from_a_local_json_or_html_index() {
    let (base, local) = serve_index().await;
    let mut h = Harness::start().await;
    for flavour in ["json", "html"] {
        let url = format!("{base}/{flavour}/simple");
        h.store
            .set_index_enabled(&IndexUrl::parse(&url).unwrap(), true)
            .await
            .unwrap();
        let records: Vec<Record> = (0..3)
            .map(|_| {
                h.record(
                    "thoth.investigator.unresolved-package",
                    json!({"package_name": "TextDistance", "package_version": "*",
                           "index_url": [url.clone()], "solver": RHEL}),
                )
            })
            .collect();
        let before = local.requests.load(Ordering::SeqCst);
        let fates = h.admitter().admit(&records).await.unwrap();
        assert_eq!(
            local.requests.load(Ordering::SeqCst) - before,
            1,
            "one listing per package and index per batch"
        );
        let RecordFate::Created {
            resources, skipped, ..
        } = &fates[0]
        else {
            panic!("{fates:?}");
        };
        assert_eq!(resources.len(), 2, "{flavour}: 4.2.1 and 4.2.0");
        assert!(
            skipped
                .iter()
                .any(|s| s.contains("\"latest\"") && s.contains("not a PEP 440 version")),
            "{skipped:?}"
        );
        assert_eq!(fates[1].label(), "duplicate");
        let mut versions: Vec<String> = h
            .solver_runs()
            .await
            .into_iter()
            .filter(|r| r.spec.index_url == url)
            .filter_map(|r| r.spec.package_version)
            .collect();
        versions.sort();
        assert_eq!(versions, ["4.2.0", "4.2.1"], "{flavour}");
    }

    // A package the index does not know is skipped; an index that is down is dead-lettered.
    let unknown = h.record(
        "thoth.investigator.unresolved-package",
        json!({"package_name": "nothing-here", "index_url": [format!("{base}/json/simple")]}),
    );
    let down_url = "http://127.0.0.1:9/simple";
    h.store
        .set_index_enabled(&IndexUrl::parse(down_url).unwrap(), true)
        .await
        .unwrap();
    let down = h.record(
        "thoth.investigator.unresolved-package",
        json!({"package_name": "textdistance", "index_url": [down_url]}),
    );
    let fates = h.admitter().admit(&[unknown, down]).await.unwrap();
    let RecordFate::Skipped { reason } = &fates[0] else {
        panic!("{fates:?}");
    };
    assert!(reason.contains("does not list nothing-here"), "{reason}");
    assert!(
        matches!(
            &fates[1],
            RecordFate::DeadLetter {
                reason: "index_unavailable",
                ..
            }
        ),
        "{:?}",
        fates[1]
    );
    h.shutdown().await;
}

// --- the command line: index, publish, trace ----------------------------------------

fn operator_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_thoth-operator"));
    command
        .args(args)
        .envs(env.iter().copied())
        .env_remove("THOTH_DEPLOYMENT_NAME");
    command
}

fn outcome(output: std::process::Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the binary without blocking the runtime (the test's API server runs on it).
async fn operator_async(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let command = tokio::process::Command::from(operator_command(args, env));
    outcome({
        let mut command = command;
        command.output().await.unwrap()
    })
}

fn operator(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    outcome(operator_command(args, env).output().unwrap())
}

#[tokio::test]
async fn index_add_enable_disable_and_list_manage_what_becomes_work() {
    let h = Harness::start().await;
    let url = h.database_url();
    let env = [("DATABASE_URL", url.as_str())];
    let (ok, out, err) =
        operator_async(&["index", "add", "https://Example.com/simple/"], &env).await;
    assert!(ok, "{err}");
    assert_eq!(out, "registered https://example.com/simple (enabled)\n");
    let (_, out, _) = operator_async(&["index", "add", "https://example.com/simple"], &env).await;
    assert!(out.contains("already registered"), "{out}");
    let (ok, out, _) =
        operator_async(&["index", "disable", "https://example.com/simple"], &env).await;
    assert!(ok);
    assert_eq!(out, "https://example.com/simple is now disabled\n");
    let (_, out, _) = operator_async(&["index", "list"], &env).await;
    assert_eq!(
        out,
        "disabled  https://example.com/simple\nenabled   https://pypi.org/simple\n"
    );
    let indexes = h.store.indexes(true).await.unwrap();
    assert_eq!(indexes.len(), 1, "only pypi.org is enabled: {indexes:?}");
    let (ok, _, err) = operator_async(&["index", "add", "ftp://example.com"], &env).await;
    assert!(!ok);
    assert!(err.contains("invalid index URL"), "{err}");
    h.shutdown().await;
}

#[test]
fn publish_sends_a_validated_message_that_a_plain_consumer_reads_back() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message as _};

    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let (ok, out, err) = operator(
        &[
            "publish",
            "SolvedPackage",
            "--set",
            "package_name=PyYAML",
            "--set",
            "package_version=5.3.1",
            "--set",
            "index_url=https://pypi.org/simple",
            "--set",
            "solver=solver-rhel-8-py38",
            "--kafka-bootstrap-servers",
            &bootstrap,
            "--deployment-name",
            "ocp4-test",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("sent SolvedPackage to ocp4-test.thoth.solver.solved-package partition "),
        "{out}"
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "publish-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&["ocp4-test.thoth.solver.solved-package"])
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let payload = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no message within 30 s"
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            break message.payload().unwrap().to_vec();
        }
    };
    let body: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(body["package_name"], "PyYAML");
    assert_eq!(body["component_name"], "thoth-operator");
    assert_eq!(body["version"], "v1");

    // A message the catalogue refuses is not sent.
    let (ok, _, err) = operator(
        &[
            "publish",
            "SolvedPackage",
            "--set",
            "package_name=PyYAML",
            "--kafka-bootstrap-servers",
            &bootstrap,
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("package_version"), "{err}");
}

#[tokio::test]
async fn trace_shows_a_message_its_resources_their_attempts_and_the_package_outcomes() {
    use thoth_operator::store::{WorkflowAttempt, WorkflowPhase};

    let mut h = Harness::start().await;
    let record = h.record(
        "thoth.investigator.unresolved-package",
        json!({"package_name": "textdistance", "package_version": "4.2.0",
               "index_url": [PYPI], "solver": RHEL}),
    );
    let fates = h
        .admitter()
        .admit(std::slice::from_ref(&record))
        .await
        .unwrap();
    let name = names_of(&fates[0]).remove(0);
    h.store
        .record_attempt(&WorkflowAttempt {
            resource_kind: ResourceKind::SolverRun,
            resource_namespace: NAMESPACE.into(),
            resource_name: name.clone(),
            attempt: 1,
            workflow_namespace: "thoth-middletier".into(),
            workflow_name: format!("{name}-1"),
            phase: WorkflowPhase::Succeeded,
            created_at: None,
            started_at: None,
            finished_at: None,
            message: None,
            result_document_id: None,
        })
        .await
        .unwrap();
    h.store
        .record_solver_outcomes(&[SolverOutcome {
            version: key("textdistance", "4.2.0"),
            solver: RHEL.into(),
            status: SolverStatus::Success,
            document_id: None,
            duration: None,
        }])
        .await
        .unwrap();
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    h.server.write_kubeconfig(kubeconfig.path()).unwrap();
    let url = h.database_url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("KUBECONFIG", kubeconfig.path().to_str().unwrap()),
    ];
    let offset = record.offset.to_string();
    let message_args = [
        "trace",
        "--topic",
        "thoth.investigator.unresolved-package",
        "--partition",
        "0",
        "--offset",
        &offset,
        "--namespace",
        NAMESPACE,
        "-o",
        "json",
    ];
    let (ok, out, err) = operator_async(&message_args, &env).await;
    assert!(ok, "{err}");
    let trace: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trace["messages"][0]["fate"], "created");
    assert_eq!(trace["resources"][0]["name"], json!(name));
    assert_eq!(trace["resources"][0]["exists"], true);
    assert_eq!(trace["resources"][0]["attempts"][0]["phase"], "Succeeded");

    let (ok, out, err) = operator_async(
        &[
            "trace",
            "--package",
            "TextDistance",
            "--package-version",
            "4.2.0",
            "--namespace",
            NAMESPACE,
        ],
        &env,
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("SolverRun {NAMESPACE}/{name}")),
        "{out}"
    );
    assert!(out.contains("attempt 1  thoth-middletier/"), "{out}");
    assert!(out.contains("4.2.0  solver-rhel-8-py38  success"), "{out}");
    assert!(
        out.contains(&format!("thoth.investigator.unresolved-package/0/{offset}")),
        "{out}"
    );
    h.shutdown().await;
}
