//! One rule per value (issue 8, design invariant 6), checked as a property: for every
//! constrained value, "the parser accepts" ⇔ "the CRD schema accepts" — through the
//! in-memory API server's validator, on the field of the CRD that carries the value — and
//! normalisation is idempotent (the normal form is accepted and is its own normal form).
//!
//! Inputs are arbitrary strings, plus strings drawn from near each rule's grammar (an
//! arbitrary string rarely looks like a version), so both sides of the equivalence are
//! exercised.

use apiserver::CompiledSchema;
use proptest::prelude::*;
use serde_json::{Value, json};
use thoth_operator::api;
use thoth_operator::package::{
    Constrained, Domain, IndexUrlRule, JobIdRule, OriginUrlRule, PackageNameRule,
    PackageVersionRule, SolverNameRule,
};

fn compiled(plural: &str) -> CompiledSchema {
    let crd = api::all_crds()
        .into_iter()
        .find(|crd| crd.spec.names.plural == plural)
        .expect("CRD exists");
    let crd = serde_json::to_value(crd).expect("CRD serialises");
    CompiledSchema::from_crd_version(&crd, api::VERSION).expect("our schema compiles")
}

/// Where a value of each domain lives in a CRD: the plural, a valid spec, and the field.
struct Field {
    schema: CompiledSchema,
    kind: &'static str,
    spec: Value,
    field: &'static str,
}

impl Field {
    fn new(plural: &str, kind: &'static str, spec: Value, field: &'static str) -> Self {
        Self {
            schema: compiled(plural),
            kind,
            spec,
            field,
        }
    }

    /// Whether the API server's validator accepts `value` in this field.
    fn accepts(&self, value: &str) -> bool {
        let mut spec = self.spec.clone();
        spec[self.field] = json!(value);
        let object = json!({
            "apiVersion": api::API_VERSION, "kind": self.kind,
            "metadata": {"name": "x", "namespace": "thoth"}, "spec": spec,
        });
        self.schema.validate(&object).is_empty()
    }
}

/// Compiling a CRD's schema takes milliseconds; each property compiles each field once.
macro_rules! field_once {
    ($make:expr) => {{
        static FIELD: std::sync::LazyLock<Field> = std::sync::LazyLock::new(|| $make);
        &*FIELD
    }};
}

fn solver_field(field: &'static str) -> Field {
    Field::new(
        "solverruns",
        "SolverRun",
        json!({"packageName": "flask", "packageVersion": "2.0.1",
               "indexUrl": "https://pypi.org/simple", "solver": "solver-rhel-8-py38"}),
        field,
    )
}

fn advice_field(field: &'static str) -> Field {
    Field::new(
        "advicerequests",
        "AdviceRequest",
        json!({"jobId": "adviser-1", "recommendationType": "latest"}),
        field,
    )
}

/// The property for one domain and one input.
fn agrees<D: Domain>(field: &Field, raw: &str) -> Result<(), TestCaseError> {
    let parsed = Constrained::<D>::parse(raw);
    prop_assert_eq!(
        parsed.is_ok(),
        field.accepts(raw),
        "{} {:?}: parser {:?}",
        D::RULE.what,
        raw,
        parsed
    );
    if let Ok(value) = parsed {
        let again = Constrained::<D>::parse(value.as_str());
        prop_assert!(
            again
                .as_ref()
                .is_ok_and(|again| again.as_str() == value.as_str()),
            "{} {:?}: normal form {:?} reads back as {:?}",
            D::RULE.what,
            raw,
            value.as_str(),
            again
        );
        prop_assert!(field.accepts(value.as_str()));
    }
    Ok(())
}

/// Strings near a version: digits, separators and every PEP 440 word, in any order.
fn near_version() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[0-9]{1,3}",
        Just(".".to_string()),
        Just("-".to_string()),
        Just("_".to_string()),
        Just("+".to_string()),
        Just("!".to_string()),
        "(a|b|c|rc|alpha|beta|pre|preview|post|rev|r|dev|v|V|RC|Beta|local|ubuntu)",
        "[0-9]{19,20}",
        Just(" ".to_string()),
    ];
    proptest::collection::vec(piece, 1..8).prop_map(|pieces| pieces.concat())
}

/// Strings near a URL: schemes, hosts (names, IPv4, loopback, with credentials), ports,
/// paths with and without characters the rule refuses.
fn near_url() -> impl Strategy<Value = String> {
    (
        "(https?|HTTP|ftp|file)://",
        "(user:token@|token@)?",
        prop_oneof![
            "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){0,2}",
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            Just("localhost".to_string()),
            Just("[::1]".to_string()),
        ],
        "(:[0-9]{1,6})?",
        r#"(/[a-zA-Z0-9._~%{}"' @?#$();!*|<>&=+,:`\\-]{0,12}){0,3}"#,
    )
        .prop_map(|(scheme, user, host, port, path)| format!("{scheme}{user}{host}{port}{path}"))
}

/// URLs at the length limit: a host and a path or query filled with one character (or
/// escape) up to a few characters either side of 500, so that a canonical form that grew
/// (a quote percent-encoded) would show.
fn long_url() -> impl Strategy<Value = String> {
    (
        "https?://(pypi\\.org|EXAMPLE\\.com:443|10\\.0\\.0\\.1)",
        "(/simple/|/simple\\?q=|\\?|/|#)",
        prop_oneof![
            Just("a"),
            Just("'"),
            Just("%27"),
            Just("~"),
            Just("/"),
            Just("./"),
            Just("%zz")
        ],
        480usize..=520,
    )
        .prop_map(|(start, middle, fill, len)| {
            let mut url = format!("{start}{middle}");
            while url.len() < len {
                url.push_str(fill);
            }
            url
        })
}

/// Versions at the length limit: a release of 40 to 50 parts and any suffix near a
/// version's, so that normalisation lengthening a spelling near 100 characters is reached.
fn long_version() -> impl Strategy<Value = String> {
    (
        "[0-9]{1,2}(\\.[0-9]{1,2}){40,50}",
        prop_oneof![
            near_version(),
            "(c|rc|a|b|alpha)?(-?r|-?rev|-?post|-[0-9])?(\\.?dev)?(\\+[a-z0-9]{1,3})?",
        ],
    )
        .prop_map(|(release, suffix)| format!("{release}{suffix}"))
}

fn near_solver() -> impl Strategy<Value = String> {
    "solver(-[a-z0-9.]{0,6}){0,4}-py[0-9]{1,4}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn package_names(raw in prop_oneof![any::<String>(), "[A-Za-z0-9._ -]{0,12}"]) {
        agrees::<PackageNameRule>(field_once!(solver_field("packageName")), &raw)?;
    }

    #[test]
    fn package_versions(raw in prop_oneof![any::<String>(), near_version(), long_version()]) {
        agrees::<PackageVersionRule>(field_once!(solver_field("packageVersion")), &raw)?;
        // The pattern admits only what pep440_rs reads (the normal form is its, not a fallback).
        if let Ok(version) = Constrained::<PackageVersionRule>::parse(&raw) {
            prop_assert!(version.pep440().is_some(), "{:?}", raw);
        }
        // The rule's Lengthening holds for every spelling the pattern admits: the normal
        // pattern matches exactly the spellings that are their own normal form, and
        // normalising adds at most `at_most` characters.
        if PackageVersionRule::regex().is_match(&raw) {
            let lengthening = PackageVersionRule::RULE.lengthening.as_ref().unwrap();
            let normal = PackageVersionRule::normalise(&raw);
            let is_normal = PackageVersionRule::normal_regex().unwrap().is_match(&raw);
            prop_assert_eq!(is_normal, normal == raw, "{:?} → {:?}", raw, normal);
            prop_assert!(normal.len() <= raw.len() + lengthening.at_most, "{:?} → {:?}", raw, normal);
        }
    }

    #[test]
    fn index_urls(raw in prop_oneof![any::<String>(), near_url(), long_url()]) {
        agrees::<IndexUrlRule>(field_once!(solver_field("indexUrl")), &raw)?;
        // Canonicalising never lengthens a URL the pattern admits.
        if IndexUrlRule::regex().is_match(&raw) {
            let canonical = IndexUrlRule::normalise(&raw);
            prop_assert!(canonical.len() <= raw.len(), "{:?} → {:?}", raw, canonical);
        }
    }

    #[test]
    fn solver_names(raw in prop_oneof![any::<String>(), near_solver()]) {
        agrees::<SolverNameRule>(field_once!(solver_field("solver")), &raw)?;
    }

    #[test]
    fn job_ids(raw in prop_oneof![any::<String>(), "[a-z0-9-]{0,70}"]) {
        agrees::<JobIdRule>(field_once!(advice_field("jobId")), &raw)?;
    }

    #[test]
    fn origins(raw in prop_oneof![any::<String>(), near_url(), long_url()]) {
        agrees::<OriginUrlRule>(field_once!(advice_field("origin")), &raw)?;
    }
}

/// Issue 8's table, one row each, through both the parser and the CRD.
#[test]
fn each_row_of_the_issue_agrees_in_parser_and_crd() {
    let version = solver_field("packageVersion");
    let solver = solver_field("solver");
    let index = solver_field("indexUrl");
    // Row 1: two spellings of one release are one identity.
    let beta = Constrained::<PackageVersionRule>::parse("1.0beta2").unwrap();
    let b = Constrained::<PackageVersionRule>::parse("1.0b2").unwrap();
    assert_eq!(beta, b);
    assert_eq!(beta.as_sent(), "1.0beta2");
    assert!(version.accepts("1.0beta2") && version.accepts("1.0b2"));
    // Row 2: legacy versions are refused by both.
    for legacy in [".1", "-n.0.18.44-"] {
        assert!(Constrained::<PackageVersionRule>::parse(legacy).is_err());
        assert!(!version.accepts(legacy), "{legacy}");
    }
    // Row 3: Thoth's solver names.
    assert!(Constrained::<SolverNameRule>::parse("solver-rhel-8.0-py36").is_ok());
    assert!(solver.accepts("solver-rhel-8.0-py36"));
    assert!(Constrained::<SolverNameRule>::parse("solver-rhel-py38").is_err());
    assert!(!solver.accepts("solver-rhel-py38"));
    // Row 4: credentials are refused by both; local indexes are accepted by both.
    let secret = "https://user:token@pypi.example.com/simple";
    let err = Constrained::<IndexUrlRule>::parse(secret).unwrap_err();
    assert!(!err.to_string().contains("token"), "{err}");
    assert!(!index.accepts(secret));
    for local in [
        "http://127.0.0.1:3141/simple",
        "http://localhost:8080/simple",
    ] {
        assert!(Constrained::<IndexUrlRule>::parse(local).is_ok(), "{local}");
        assert!(index.accepts(local), "{local}");
    }
    // Row 5: an origin with a quote, a newline or `{{ }}`.
    let origin = advice_field("origin");
    for bad in [
        "https://github.com/a\"b",
        "https://github.com/a\nb",
        "https://github.com/{{workflow.name}}",
    ] {
        assert!(Constrained::<OriginUrlRule>::parse(bad).is_err(), "{bad:?}");
        assert!(!origin.accepts(bad), "{bad:?}");
    }
}
