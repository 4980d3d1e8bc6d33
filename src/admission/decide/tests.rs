use serde_json::{Value, json};

use super::*;
use crate::messages::{ParseConfig, parse};
use crate::terms::SourceType;

const PYPI: &str = "https://pypi.org/simple";
const OTHER: &str = "https://example.com/simple";
const DISABLED: &str = "https://disabled.example.com/simple";
const RHEL: &str = "solver-rhel-8-py38";
const FEDORA: &str = "solver-fedora-35-py310";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn config() -> AdmissionConfig {
    AdmissionConfig::new(
        "thoth",
        vec![
            SolverName::parse(RHEL).unwrap(),
            SolverName::parse(FEDORA).unwrap(),
        ],
    )
}

fn index(url: &str) -> IndexUrl {
    IndexUrl::parse(url).unwrap()
}

fn key(name: &str, version: &str, url: &str) -> VersionKey {
    VersionKey::new(
        PackageName::parse(name).unwrap(),
        PackageVersion::parse(version).unwrap(),
        index(url),
    )
}

fn known() -> Known {
    Known {
        indexes: [
            (index(PYPI), true),
            (index(OTHER), true),
            (index(DISABLED), false),
        ]
        .into_iter()
        .collect(),
        ..Known::default()
    }
}

fn with_state(mut known: Known, key: VersionKey, state: VersionState) -> Known {
    known.versions.insert(key, state);
    known
}

fn fresh() -> VersionState {
    VersionState {
        provides_source_distro: true,
        ..VersionState::default()
    }
}

fn message(topic: &str, body: Value) -> Message {
    let mut body = body;
    let object = body.as_object_mut().unwrap();
    object.entry("component_name").or_insert(json!("test"));
    object.entry("service_version").or_insert(json!("0.1"));
    parse(topic, body.to_string().as_bytes(), &ParseConfig::default()).unwrap()
}

fn unresolved(version: Option<&str>, indexes: Option<Vec<&str>>, solver: Option<&str>) -> Message {
    message(
        "thoth.investigator.unresolved-package",
        json!({"package_name": "TextDistance", "package_version": version,
               "index_url": indexes, "solver": solver}),
    )
}

fn release(topic: &str, name: &str, version: &str, url: &str) -> Message {
    message(
        topic,
        json!({"package_name": name, "package_version": version, "index_url": url,
               "solver": RHEL, "value": false}),
    )
}

fn plan(decision: Decision) -> Plan {
    match decision {
        Decision::Apply(plan) => plan,
        other => panic!("expected a plan, got {other:?}"),
    }
}

fn solver_runs(plan: &Plan) -> Vec<(String, String, String)> {
    plan.resources
        .iter()
        .map(|r| match r {
            Resource::SolverRun { spec, .. } => (
                spec.package_version.clone().unwrap_or_default(),
                spec.index_url.clone(),
                spec.solver.clone(),
            ),
            other => panic!("not a SolverRun: {other:?}"),
        })
        .collect()
}

fn dead_reason(decision: &Decision) -> &'static str {
    match decision {
        Decision::DeadLetter { reason, .. } => reason,
        other => panic!("expected a dead letter, got {other:?}"),
    }
}

fn skip_reason(decision: &Decision) -> &str {
    match decision {
        Decision::Skip { reason } => reason,
        other => panic!("expected a skip, got {other:?}"),
    }
}

// --- UnresolvedPackage ---------------------------------------------------------------

#[test]
fn an_unresolved_package_fans_out_to_every_configured_solver() {
    let decision = decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), None),
        &config(),
        &known(),
    );
    let plan = plan(decision);
    assert_eq!(
        solver_runs(&plan),
        [
            ("4.2.0".into(), PYPI.into(), RHEL.into()),
            ("4.2.0".into(), PYPI.into(), FEDORA.into())
        ]
    );
    let Resource::SolverRun { name, spec, rearm } = &plan.resources[0] else {
        unreachable!()
    };
    assert_eq!(spec.package_name, "textdistance", "the PEP 503 name");
    assert_eq!(
        name,
        &names::solver_run(
            &key("textdistance", "4.2.0", PYPI),
            &SolverName::parse(RHEL).unwrap()
        )
    );
    assert_eq!(rearm, &None);
    assert_eq!(
        spec.dependency_index_urls,
        [OTHER, PYPI],
        "every enabled index, not the disabled one"
    );
}

#[test]
fn an_unresolved_package_naming_a_solver_gets_only_that_solver() {
    let plan = plan(decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), Some(FEDORA)),
        &config(),
        &known(),
    ));
    assert_eq!(
        solver_runs(&plan),
        [("4.2.0".into(), PYPI.into(), FEDORA.into())]
    );
}

#[test]
fn a_solver_that_is_not_configured_is_a_dead_letter_naming_it() {
    let decision = decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), Some("solver-ubi-9-py39")),
        &config(),
        &known(),
    );
    assert_eq!(dead_reason(&decision), "unknown_solver");
    let Decision::DeadLetter { detail, .. } = decision else {
        unreachable!()
    };
    assert!(detail.contains("solver-ubi-9-py39"), "{detail}");
}

#[test]
fn an_unregistered_index_is_a_dead_letter_naming_it() {
    let decision = decide(
        &unresolved(
            Some("1.0"),
            Some(vec![PYPI, "https://unknown.example.org/simple/"]),
            None,
        ),
        &config(),
        &known(),
    );
    assert_eq!(dead_reason(&decision), "unknown_index");
    let Decision::DeadLetter { detail, .. } = decision else {
        unreachable!()
    };
    assert!(
        detail.contains("https://unknown.example.org/simple"),
        "{detail}"
    );
}

#[test]
fn a_disabled_index_is_skipped_and_the_enabled_ones_still_get_work() {
    let plan = plan(decide(
        &unresolved(Some("1.0"), Some(vec![DISABLED, PYPI]), Some(RHEL)),
        &config(),
        &known(),
    ));
    assert_eq!(
        solver_runs(&plan),
        [("1.0".into(), PYPI.into(), RHEL.into())]
    );
    assert!(plan.skipped[0].contains("disabled"), "{:?}", plan.skipped);

    let only_disabled = decide(
        &unresolved(Some("1.0"), Some(vec![DISABLED]), None),
        &config(),
        &known(),
    );
    assert!(skip_reason(&only_disabled).contains("disabled"));
}

#[test]
fn no_index_in_the_message_means_every_enabled_index() {
    let plan = plan(decide(
        &unresolved(Some("1.0"), None, Some(RHEL)),
        &config(),
        &known(),
    ));
    assert_eq!(
        solver_runs(&plan),
        [
            ("1.0".into(), OTHER.into(), RHEL.into()),
            ("1.0".into(), PYPI.into(), RHEL.into())
        ]
    );
}

#[test]
fn no_work_for_a_version_already_solved_by_that_solver() {
    let mut state = fresh();
    state.solved_by.insert(RHEL.to_string());
    let known = with_state(known(), key("textdistance", "4.2.0", PYPI), state);
    let plan = plan(decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), None),
        &config(),
        &known,
    ));
    assert_eq!(
        solver_runs(&plan),
        [("4.2.0".into(), PYPI.into(), FEDORA.into())]
    );
    assert!(plan.skipped[0].contains("already solved by solver-rhel-8-py38"));

    let decision = decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), Some(RHEL)),
        &config(),
        &known,
    );
    assert!(skip_reason(&decision).contains("already solved"));
}

#[test]
fn no_work_for_a_version_flagged_missing() {
    let mut state = fresh();
    state.is_missing = true;
    let known = with_state(known(), key("textdistance", "4.2.0", PYPI), state);
    let decision = decide(
        &unresolved(Some("4.2.0"), Some(vec![PYPI]), None),
        &config(),
        &known,
    );
    assert!(skip_reason(&decision).contains("flagged missing"));
}

#[test]
fn no_configured_solver_means_nothing_to_solve() {
    let config = AdmissionConfig::new("thoth", Vec::new());
    let decision = decide(
        &unresolved(Some("1.0"), Some(vec![PYPI]), None),
        &config,
        &known(),
    );
    assert!(skip_reason(&decision).contains("no solvers"));
}

fn listing(versions: &[&str], not_pep440: &[&str]) -> Listing {
    Listing::Versions {
        versions: versions
            .iter()
            .map(|v| PackageVersion::parse(v).unwrap())
            .collect(),
        not_pep440: not_pep440.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn a_star_or_missing_version_expands_into_every_listed_version() {
    let mut known = known();
    known.listings.insert(
        (PackageName::parse("textdistance").unwrap(), index(PYPI)),
        listing(&["4.2.1", "4.2.0"], &["latest-ish"]),
    );
    for version in [Some("*"), None, Some("")] {
        let message = unresolved(version, Some(vec![PYPI]), Some(RHEL));
        assert_eq!(
            listings_needed(&message, &known),
            [(PackageName::parse("textdistance").unwrap(), index(PYPI))]
        );
        let plan = plan(decide(&message, &config(), &known));
        assert_eq!(
            solver_runs(&plan),
            [
                ("4.2.1".into(), PYPI.into(), RHEL.into()),
                ("4.2.0".into(), PYPI.into(), RHEL.into())
            ],
            "{version:?}"
        );
        assert!(
            plan.skipped
                .iter()
                .any(|s| s.contains("\"latest-ish\"") && s.contains("not a PEP 440 version")),
            "{:?}",
            plan.skipped
        );
    }
    let exact = unresolved(Some("4.2.0"), Some(vec![PYPI]), Some(RHEL));
    assert!(listings_needed(&exact, &known).is_empty());
}

#[test]
fn expansion_skips_versions_the_store_knows_are_solved() {
    let mut state = fresh();
    state.solved_by.insert(RHEL.to_string());
    let mut known = with_state(known(), key("textdistance", "4.2.0", PYPI), state);
    known.listings.insert(
        (PackageName::parse("textdistance").unwrap(), index(PYPI)),
        listing(&["4.2.1", "4.2.0"], &[]),
    );
    let message = unresolved(Some("*"), Some(vec![PYPI]), Some(RHEL));
    let (keys, package) = versions_needed(&message, &known);
    assert_eq!(
        keys,
        [
            key("textdistance", "4.2.1", PYPI),
            key("textdistance", "4.2.0", PYPI)
        ]
    );
    assert_eq!(package, None);
    let plan = plan(decide(&message, &config(), &known));
    assert_eq!(
        solver_runs(&plan),
        [("4.2.1".into(), PYPI.into(), RHEL.into())]
    );
}

#[test]
fn an_index_that_does_not_list_the_package_or_lists_nothing_is_a_skip() {
    let name = PackageName::parse("textdistance").unwrap();
    let message = unresolved(Some("*"), Some(vec![PYPI]), None);
    let mut known = known();
    known
        .listings
        .insert((name.clone(), index(PYPI)), Listing::NotFound);
    assert!(skip_reason(&decide(&message, &config(), &known)).contains("does not list"));
    known
        .listings
        .insert((name, index(PYPI)), listing(&[], &["x"]));
    let reason = decide(&message, &config(), &known);
    assert!(
        skip_reason(&reason).contains("lists no release"),
        "{reason:?}"
    );
}

#[test]
fn an_unreachable_index_is_a_dead_letter_to_replay_later() {
    let name = PackageName::parse("textdistance").unwrap();
    let message = unresolved(Some("*"), Some(vec![PYPI]), None);
    let mut known = known();
    known.listings.insert(
        (name, index(PYPI)),
        Listing::Unavailable {
            detail: "connection refused".into(),
        },
    );
    let decision = decide(&message, &config(), &known);
    assert_eq!(dead_reason(&decision), "index_unavailable");
    // A listing the gatherer never fetched is treated the same way, not as "no versions".
    let decision = decide(&message, &config(), &self::known());
    assert_eq!(dead_reason(&decision), "index_unavailable");
}

// --- PackageReleased -----------------------------------------------------------------

#[test]
fn a_released_package_is_solved_by_every_configured_solver() {
    let message = release(
        "thoth.package-release.package-released",
        "thoth-common",
        "0.10.0",
        PYPI,
    );
    let plan = plan(decide(&message, &config(), &known()));
    assert_eq!(
        solver_runs(&plan),
        [
            ("0.10.0".into(), PYPI.into(), RHEL.into()),
            ("0.10.0".into(), PYPI.into(), FEDORA.into())
        ]
    );
    assert_eq!(
        versions_needed(&message, &known()).0,
        [key("thoth-common", "0.10.0", PYPI)]
    );
}

#[test]
fn a_released_package_on_an_unknown_or_disabled_index_is_dead_lettered_or_skipped() {
    let unknown = release(
        "thoth.package-release.package-released",
        "a",
        "1.0",
        "https://nope.example/simple",
    );
    assert_eq!(
        dead_reason(&decide(&unknown, &config(), &known())),
        "unknown_index"
    );
    let disabled = release(
        "thoth.package-release.package-released",
        "a",
        "1.0",
        DISABLED,
    );
    assert!(skip_reason(&decide(&disabled, &config(), &known())).contains("disabled"));
}

#[test]
fn a_released_package_solved_by_every_solver_needs_nothing() {
    let mut state = fresh();
    state.solved_by.insert(RHEL.into());
    state.solved_by.insert(FEDORA.into());
    let known = with_state(known(), key("a", "1.0", PYPI), state);
    let message = release("thoth.package-release.package-released", "a", "1.0", PYPI);
    let reason = decide(&message, &config(), &known);
    assert!(
        skip_reason(&reason).contains("already solved"),
        "{reason:?}"
    );
}

/// Issue 8, row 1 end to end: a store that knows `1.0beta2` solved (Thoth's store once solved
/// such a release again and again) makes a message for any other spelling of the release
/// (`1.0b2`, `1.0-beta.2`, `1.0B2`, and the name and index spelt otherwise) a skip, not work.
#[test]
fn another_spelling_of_a_solved_release_is_already_solved() {
    let mut state = fresh();
    state.solved_by.insert(RHEL.into());
    state.solved_by.insert(FEDORA.into());
    let known = with_state(
        known(),
        key(
            "TextDistance",
            "1.0beta2",
            "https://pypi.python.org/simple/",
        ),
        state,
    );
    for version in ["1.0b2", "1.0-beta.2", "1.0B2", "v1.0.b2"] {
        let decision = decide(
            &unresolved(Some(version), Some(vec![PYPI]), Some(RHEL)),
            &config(),
            &known,
        );
        assert!(
            skip_reason(&decision).contains("already solved"),
            "{version}: {decision:?}"
        );
        let message = release(
            "thoth.package-release.package-released",
            "TEXTDISTANCE",
            version,
            PYPI,
        );
        let decision = decide(&message, &config(), &known);
        assert!(
            skip_reason(&decision).contains("already solved"),
            "{version}: {decision:?}"
        );
    }
    // A different release is still work.
    let plan = plan(decide(
        &unresolved(Some("1.0b3"), Some(vec![PYPI]), Some(RHEL)),
        &config(),
        &known,
    ));
    assert_eq!(solver_runs(&plan).len(), 1);
}

// --- SolvedPackage / SIUnanalyzedPackage ----------------------------------------------

#[test]
fn solved_and_si_unanalyzed_packages_ask_for_one_security_indicator_run() {
    for topic in [
        "thoth.solver.solved-package",
        "thoth.investigator.si-unanalyzed-package",
    ] {
        let message = release(topic, "PyYAML", "5.3.1", "https://pypi.python.org/simple");
        let plan = plan(decide(&message, &config(), &known()));
        assert_eq!(plan.resources.len(), 1, "{topic}");
        let Resource::SecurityIndicatorRun { name, spec } = &plan.resources[0] else {
            panic!("{:?}", plan.resources[0]);
        };
        assert_eq!(
            name,
            &names::security_indicator_run(&key("pyyaml", "5.3.1", PYPI))
        );
        assert_eq!(spec.package_name, "pyyaml");
        assert_eq!(spec.index_url, PYPI);
        assert_eq!(spec.aggregation_function, "process_data");
    }
}

#[test]
fn no_security_indicator_run_when_analysed_missing_or_without_sdist() {
    let message = release("thoth.solver.solved-package", "a", "1.0", PYPI);
    for (state, why) in [
        (
            VersionState {
                analysed: true,
                ..fresh()
            },
            "already analysed",
        ),
        (
            VersionState {
                is_missing: true,
                ..fresh()
            },
            "flagged missing",
        ),
        (
            VersionState {
                provides_source_distro: false,
                ..fresh()
            },
            "no source distribution",
        ),
    ] {
        let known = with_state(known(), key("a", "1.0", PYPI), state);
        let decision = decide(&message, &config(), &known);
        assert!(skip_reason(&decision).contains(why), "{decision:?}");
    }
    let known = with_state(known(), key("a", "1.0", PYPI), fresh());
    assert!(matches!(
        decide(&message, &config(), &known),
        Decision::Apply(_)
    ));
}

#[test]
fn security_indicators_need_a_registered_enabled_index() {
    let unknown = release(
        "thoth.investigator.si-unanalyzed-package",
        "a",
        "1.0",
        "https://nope.example/simple",
    );
    assert_eq!(
        dead_reason(&decide(&unknown, &config(), &known())),
        "unknown_index"
    );
    let disabled = release("thoth.solver.solved-package", "a", "1.0", DISABLED);
    assert!(skip_reason(&decide(&disabled, &config(), &known())).contains("disabled"));
}

// --- AdviserTrigger ------------------------------------------------------------------

fn adviser(extra: Value) -> Message {
    let mut body = json!({
        "recommendation_type": "latest", "dev": false, "debug": false, "authenticated": true,
        "count": 1, "limit": null, "origin": "https://github.com/thoth-station/ps-ip",
        "job_id": "adviser-210312182025-5e8c8f2a1b3c4d5e", "limit_latest_versions": null,
        "re_run_adviser_id": null, "source_type": "KEBECHET",
        "kebechet_metadata": {"message_justification": 5}, "justification": null,
        "stack_info": [{"type": "INFO", "message": "x"}], "version": "v5"
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    message("thoth.adviser-trigger", body)
}

#[test]
fn an_adviser_trigger_asks_for_an_advice_request_named_by_its_job_id() {
    let plan = plan(decide(&adviser(json!({})), &config(), &Known::default()));
    let [Resource::AdviceRequest { name, spec }] = plan.resources.as_slice() else {
        panic!("{:?}", plan.resources);
    };
    assert_eq!(name, "adviser-210312182025-5e8c8f2a1b3c4d5e");
    assert_eq!(spec.job_id, *name);
    assert_eq!(spec.recommendation_type, RecommendationType::Latest);
    assert_eq!(spec.source_type, Some(SourceType::Kebechet));
    assert_eq!(spec.count, Some(1));
    assert!(spec.authenticated);
    assert_eq!(
        spec.kebechet_metadata.as_ref().unwrap()["message_justification"],
        json!(5)
    );
    assert_eq!(spec.stack_info.as_ref().unwrap()[0]["type"], json!("INFO"));
}

#[test]
fn an_adviser_trigger_without_job_id_is_named_by_its_content() {
    let first = plan(decide(
        &adviser(json!({"job_id": null})),
        &config(),
        &Known::default(),
    ));
    let again = plan(decide(
        &adviser(json!({"job_id": null})),
        &config(),
        &Known::default(),
    ));
    let other = plan(decide(
        &adviser(json!({"job_id": null, "count": 2})),
        &config(),
        &Known::default(),
    ));
    assert_eq!(first.resources[0].name(), again.resources[0].name());
    assert_ne!(first.resources[0].name(), other.resources[0].name());
    assert!(first.resources[0].name().starts_with("adviser-"));
}

#[test]
fn adviser_values_the_resource_would_refuse_are_dead_letters() {
    for extra in [
        json!({"recommendation_type": "fastest"}),
        json!({"count": 0}),
        json!({"limit": 0}),
    ] {
        let decision = decide(&adviser(extra.clone()), &config(), &Known::default());
        assert_eq!(dead_reason(&decision), "invalid_value", "{extra}");
    }
    let upper = plan(decide(
        &adviser(json!({"recommendation_type": "STABLE"})),
        &config(),
        &Known::default(),
    ));
    let Resource::AdviceRequest { spec, .. } = &upper.resources[0] else {
        unreachable!()
    };
    assert_eq!(spec.recommendation_type, RecommendationType::Stable);
}

/// Issue 8, row 5: an origin that is not an http(s) repository URL never becomes a
/// request; the parser refuses it, naming the field.
#[test]
fn origins_that_could_reach_a_parameter_are_refused_at_parse() {
    let long = format!("https://github.com/{}", "x".repeat(MAX_ORIGIN_LEN));
    for origin in [
        "https://github.com/x\"y",
        "https://github.com/x\ny",
        "https://github.com/{{workflow.name}}",
        "https://github.com/${HOME}",
        "https://github.com/x y",
        "git@github.com:thoth-station/ps-ip.git",
        long.as_str(),
    ] {
        let body = json!({
            "component_name": "user-api", "service_version": "0.26.1",
            "recommendation_type": "latest", "origin": origin, "version": "v5"
        });
        let err = parse(
            "thoth.adviser-trigger",
            body.to_string().as_bytes(),
            &ParseConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("origin"), "{origin:?}");
    }
    let Resource::AdviceRequest { spec, .. } =
        &plan(decide(&adviser(json!({})), &config(), &Known::default())).resources[0]
    else {
        unreachable!()
    };
    assert_eq!(
        spec.origin.as_deref(),
        Some("https://github.com/thoth-station/ps-ip")
    );
}

// --- flags -------------------------------------------------------------------------

#[test]
fn a_missing_version_sets_is_missing() {
    let message = release(
        "thoth.package-update.missing-package-version",
        "a",
        "1.0",
        PYPI,
    );
    let plan = plan(decide(&message, &config(), &known()));
    assert_eq!(
        plan.flags,
        [FlagUpdate {
            version: key("a", "1.0", PYPI),
            flag: VersionFlag::IsMissing,
            value: true
        }]
    );
    assert!(plan.resources.is_empty());
    let known = with_state(
        known(),
        key("a", "1.0", PYPI),
        VersionState {
            is_missing: true,
            ..fresh()
        },
    );
    assert!(
        skip_reason(&decide(&message, &config(), &known)).contains("already has is_missing=true")
    );
}

#[test]
fn flags_on_an_unregistered_index_are_dead_letters_but_a_disabled_index_still_takes_them() {
    let unknown = release(
        "thoth.package-update.missing-package-version",
        "a",
        "1.0",
        "https://nope.example/simple",
    );
    assert_eq!(
        dead_reason(&decide(&unknown, &config(), &known())),
        "unknown_index"
    );
    let disabled = release(
        "thoth.package-update.missing-package-version",
        "a",
        "1.0",
        DISABLED,
    );
    assert_eq!(plan(decide(&disabled, &config(), &known())).flags.len(), 1);
}

#[test]
fn update_provides_source_distro_sets_the_flag_to_the_message_value() {
    let message = release(
        "thoth.update-provides-source-distro",
        "ipywidgets",
        "6.0.0rc2",
        PYPI,
    );
    let plan = plan(decide(&message, &config(), &known()));
    assert_eq!(
        plan.flags,
        [FlagUpdate {
            version: key("ipywidgets", "6.0.0rc2", PYPI),
            flag: VersionFlag::ProvidesSourceDistro,
            value: false
        }]
    );
    let known = with_state(
        known(),
        key("ipywidgets", "6.0.0rc2", PYPI),
        VersionState {
            provides_source_distro: false,
            ..fresh()
        },
    );
    assert!(
        skip_reason(&decide(&message, &config(), &known)).contains("provides_source_distro=false")
    );
}

#[test]
fn a_missing_package_flags_every_known_version_not_yet_missing() {
    let message = message(
        "thoth.package-update.missing-package",
        json!({"package_name": "PyIFD", "index_url": PYPI}),
    );
    let package = (PackageName::parse("pyifd").unwrap(), index(PYPI));
    assert_eq!(
        versions_needed(&message, &known()),
        (Vec::new(), Some(package.clone()))
    );
    assert!(skip_reason(&decide(&message, &config(), &known())).contains("knows no version"));

    let mut known = known();
    known.package_versions.insert(
        package.clone(),
        vec![
            (PackageVersion::parse("1.0").unwrap(), false),
            (PackageVersion::parse("1.1").unwrap(), true),
            (PackageVersion::parse("2.0").unwrap(), false),
        ],
    );
    let plan = plan(decide(&message, &config(), &known));
    let flagged: Vec<&str> = plan
        .flags
        .iter()
        .map(|f| f.version.version.as_str())
        .collect();
    assert_eq!(flagged, ["1.0", "2.0"]);
    assert!(
        plan.flags
            .iter()
            .all(|f| f.flag == VersionFlag::IsMissing && f.value)
    );

    known
        .package_versions
        .insert(package, vec![(PackageVersion::parse("1.1").unwrap(), true)]);
    assert!(skip_reason(&decide(&message, &config(), &known)).contains("already flagged missing"));
}

// --- HashMismatch ------------------------------------------------------------------

fn mismatch(source: &[&str], database: &[&str]) -> Message {
    message(
        "thoth.package-update.hash-mismatch",
        json!({"package_name": "click", "package_version": "7.1.2", "index_url": PYPI,
               "missing_from_source": source, "missing_from_database": database}),
    )
}

#[test]
fn a_hash_mismatch_clears_present_and_re_solves_even_a_solved_version() {
    let mut state = fresh();
    state.solved_by.insert(RHEL.into());
    let known = with_state(known(), key("click", "7.1.2", PYPI), state);
    let message = mismatch(&[&format!("sha256:{}", SHA_A.to_uppercase())], &[SHA_B]);
    let plan = plan(decide(&message, &config(), &known));
    assert_eq!(plan.artifacts.len(), 1);
    assert_eq!(plan.artifacts[0].sha256.as_str(), SHA_A);
    assert!(!plan.artifacts[0].present);
    assert_eq!(
        solver_runs(&plan),
        [
            ("7.1.2".into(), PYPI.into(), RHEL.into()),
            ("7.1.2".into(), PYPI.into(), FEDORA.into())
        ]
    );
    for resource in &plan.resources {
        let Resource::SolverRun { name, rearm, .. } = resource else {
            unreachable!()
        };
        assert!(name.contains("rehash"), "{name}");
        let rearm = rearm
            .as_ref()
            .expect("a re-solve re-arms the solver outcome");
        assert_eq!(rearm.version, key("click", "7.1.2", PYPI));
    }
    // The same mismatch names the same re-solves; another mismatch names new ones.
    let again = plan_names(&decide(&mismatch(&[SHA_A], &[SHA_B]), &config(), &known));
    assert_eq!(again, plan_names(&Decision::Apply(plan)));
    let later = plan_names(&decide(&mismatch(&[SHA_B], &[]), &config(), &known));
    assert_ne!(again, later);
}

fn plan_names(decision: &Decision) -> Vec<String> {
    match decision {
        Decision::Apply(plan) => plan
            .resources
            .iter()
            .map(|r| r.name().to_string())
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hash_mismatch_on_a_disabled_index_or_missing_version_only_records_artifacts() {
    let message = message(
        "thoth.package-update.hash-mismatch",
        json!({"package_name": "click", "package_version": "7.1.2", "index_url": DISABLED,
               "missing_from_source": [SHA_A], "missing_from_database": []}),
    );
    let plan = plan(decide(&message, &config(), &known()));
    assert!(plan.resources.is_empty());
    assert_eq!(plan.artifacts.len(), 1);

    let known = with_state(
        known(),
        key("click", "7.1.2", PYPI),
        VersionState {
            is_missing: true,
            ..fresh()
        },
    );
    let plan = self::plan(decide(&mismatch(&[SHA_A], &[]), &config(), &known));
    assert!(plan.resources.is_empty());
    assert!(plan.skipped[0].contains("flagged missing"));

    let nothing = decide(&mismatch(&[], &[SHA_B]), &config(), &known);
    assert!(skip_reason(&nothing).contains("flagged missing"));
}

#[test]
fn a_hash_mismatch_on_an_unregistered_index_is_a_dead_letter() {
    let message = message(
        "thoth.package-update.hash-mismatch",
        json!({"package_name": "click", "package_version": "7.1.2",
               "index_url": "https://nope.example/simple",
               "missing_from_source": [], "missing_from_database": []}),
    );
    assert_eq!(
        dead_reason(&decide(&message, &config(), &known())),
        "unknown_index"
    );
}

// --- everything else ------------------------------------------------------------------

#[test]
fn every_other_live_type_is_not_handled_with_its_reason() {
    let samples = [
        (
            "thoth.investigator.unrevsolved-package",
            json!({"package_name": "tensorflow", "package_version": "1.11.0"}),
        ),
        (
            "thoth.cve-update.cve-provided",
            json!({"package_name": "jinja2", "package_version": "2.10", "index_url": PYPI}),
        ),
        (
            "thoth.advise-reporter.advise-justification",
            json!({"message": "m", "justification_type": "INFO", "count": 3, "adviser_version": "0.21.1"}),
        ),
        (
            "thoth.provenance-checker-trigger",
            json!({"debug": false, "authenticated": false, "version": "v4"}),
        ),
        (
            "thoth.package-extract-trigger",
            json!({"image": "quay.io/x/y:1", "environment_type": "runtime", "version": "v2"}),
        ),
        ("thoth.build-analysis-trigger", json!({})),
        (
            "thoth.kebechet-trigger",
            json!({"webhook_payload": {"event": "push", "service": "github", "payload": {}}}),
        ),
        ("thoth.kebechet-run-url-trigger", json!({"version": "v2"})),
        (
            "thoth.inspection-completed",
            json!({"inspection_id": "inspection-1"}),
        ),
        (
            "thoth.repo-init",
            json!({"project_url": "https://github.com/a/b"}),
        ),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (topic, body) in samples {
        let message = message(topic, body);
        let Decision::NotHandled { reason } = decide(&message, &config(), &known()) else {
            panic!("{topic}");
        };
        assert!(reason.starts_with(message.kind().name()), "{reason}");
        kinds.insert(message.kind());
    }
    let handled = MessageKind::ALL
        .iter()
        .filter(|k| not_handled_reason(**k) == "handled")
        .count();
    assert_eq!(
        kinds.len() + handled,
        MessageKind::ALL.len(),
        "every type is covered"
    );
}

#[test]
fn the_same_message_decides_the_same_way() {
    let message = unresolved(Some("4.2.0"), None, None);
    assert_eq!(
        decide(&message, &config(), &known()),
        decide(&message, &config(), &known())
    );
}

/// The dead letter for an unconfigured solver tells the producer which solvers are: the
/// configured list, or "none" when there is none.
#[test]
fn an_unconfigured_solver_dead_letter_lists_the_configured_solvers() {
    let message = unresolved(Some("4.2.0"), Some(vec![PYPI]), Some("solver-ubi-9-py39"));
    let Decision::DeadLetter { detail, .. } = decide(&message, &config(), &known()) else {
        panic!("expected a dead letter");
    };
    assert!(
        detail.ends_with(&format!("(configured: {RHEL}, {FEDORA})")),
        "{detail}"
    );
    let none = AdmissionConfig::new("thoth", Vec::new());
    let Decision::DeadLetter { detail, .. } = decide(&message, &none, &known()) else {
        panic!("expected a dead letter");
    };
    assert!(detail.ends_with("(configured: none)"), "{detail}");
}

/// Every message about one release asks the gatherer for that release's state: without
/// it `known` would say "never seen" and work the store already holds would be redone.
#[test]
fn every_release_message_asks_for_the_state_of_its_release() {
    let released = |kind: MessageKind| {
        release(
            kind.base_topic(),
            "Click",
            "7.1.2",
            "https://pypi.python.org/simple/",
        )
    };
    for message in [
        released(MessageKind::SolvedPackage),
        released(MessageKind::SiUnanalyzedPackage),
        released(MessageKind::MissingVersion),
        released(MessageKind::UpdateProvidesSourceDistro),
        released(MessageKind::PackageReleased),
        mismatch(&[SHA_A], &[]),
    ] {
        assert_eq!(
            versions_needed(&message, &known()),
            (vec![key("click", "7.1.2", PYPI)], None),
            "{:?}",
            message.kind()
        );
    }
}
