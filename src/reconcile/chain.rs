//! The AdviceRequest's part of the chain, as Thoth's loop does it: an adviser run that could not
//! resolve some packages leads to SolverRuns for them (one per configured solver), the advice waits
//! until they finished, then runs once more with `reRunAdviserId` set to its first result.
//!
//! Pure decisions only; `controller` reads the cluster and the store, asks these functions, and
//! applies the answer. Names are functions of identity (design invariant 2), so a repeated step,
//! a restarted operator or a SolverRun the ingestion already created converge on one resource.

use crate::admission::names::{identity_hash, solver_run as solver_run_name};
use crate::api::{AdviceRequest, SolverRunSpec};
use crate::messages::SolverName;
use crate::store::{AdviceUnresolved, VersionKey};

/// Condition on an AdviceRequest while it waits for the SolverRuns of its unresolved packages:
/// `True` while waiting, `False` once the re-run started.
pub const AWAITING_SOLVERS_CONDITION: &str = "AwaitingSolvers";

/// The index an unresolved package without one is solved against (Thoth's default index).
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// One SolverRun an advice waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitedSolve {
    /// The SolverRun's name: the ingestion's name for the same identity when the version is known.
    pub name: String,
    pub spec: SolverRunSpec,
    /// Set when the adviser named a version: the store can then say whether it is solved.
    pub version: Option<VersionKey>,
}

/// Whether a finished advice run leads to solving: it reported unresolved packages and is not
/// itself a re-run (Thoth re-runs an advice once; a re-run that still misses packages is final).
pub fn needs_solvers(advice: &AdviceRequest, unresolved: &[AdviceUnresolved]) -> bool {
    advice.spec.re_run_adviser_id.is_none() && !unresolved.is_empty()
}

/// The SolverRuns for `unresolved`, one per package and solver in `solvers`, sorted by name and
/// without duplicates. Solver names their rule refuses are left out (the configuration is
/// checked at start; this keeps a bad entry from becoming an invalid resource).
pub fn awaited_solves(unresolved: &[AdviceUnresolved], solvers: &[String]) -> Vec<AwaitedSolve> {
    let mut solves: Vec<AwaitedSolve> = Vec::new();
    let solvers: Vec<SolverName> = solvers
        .iter()
        .filter_map(|s| SolverName::parse(s).ok())
        .collect();
    for package in unresolved {
        let index = package
            .index
            .as_ref()
            .map_or(DEFAULT_INDEX, |i| i.as_str())
            .to_string();
        let version = match (&package.version, crate::package::IndexUrl::parse(&index)) {
            (Some(version), Ok(index)) => Some(VersionKey::new(
                package.name.clone(),
                version.clone(),
                index,
            )),
            _ => None,
        };
        for solver in &solvers {
            let name = match &version {
                Some(key) => solver_run_name(key, solver),
                None => any_version_name(package.name.as_str(), &index, solver),
            };
            solves.push(AwaitedSolve {
                name,
                spec: SolverRunSpec {
                    package_name: package.name.as_str().to_string(),
                    package_version: package.version.as_ref().map(|v| v.as_str().to_string()),
                    index_url: index.clone(),
                    solver: solver.as_str().to_string(),
                    dependency_index_urls: Vec::new(),
                    debug: false,
                },
                version: version.clone(),
            });
        }
    }
    solves.sort_by(|a, b| a.name.cmp(&b.name));
    solves.dedup_by(|a, b| a.name == b.name);
    solves
}

/// `<package>-<solver>-<hash>` for a solve of every version the index lists; the hash (of the
/// name, index and solver) keeps apart what sanitising or cutting merges.
fn any_version_name(package: &str, index: &str, solver: &SolverName) -> String {
    let hash = identity_hash(&["SolverRun", package, "", index, solver.as_str()]);
    let mut readable = String::new();
    for c in format!("{package}-{}", solver.as_str()).chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
    }
    readable.truncate(63 - hash.len() - 1);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        hash
    } else {
        format!("{readable}-{hash}")
    }
}

/// Where one awaited SolverRun stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolveState {
    /// No such SolverRun, and the store holds no outcome for it: it must be created.
    Missing,
    /// It exists and has not finished.
    Unfinished,
    /// It finished (any outcome: "fail only once"), or is gone with its outcome in the store.
    Finished,
}

/// What the waiting advice does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep {
    /// Create the SolverRuns at these positions, then wait.
    Create(Vec<usize>),
    /// Wait for this many unfinished SolverRuns.
    Wait(usize),
    /// Every SolverRun finished: run the advice again.
    ReRun,
}

/// The next step for SolverRuns in `states` (positions as in [`awaited_solves`]).
pub fn next_step(states: &[SolveState]) -> ChainStep {
    let missing: Vec<usize> = states
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == SolveState::Missing)
        .map(|(i, _)| i)
        .collect();
    if !missing.is_empty() {
        return ChainStep::Create(missing);
    }
    match states
        .iter()
        .filter(|s| **s == SolveState::Unfinished)
        .count()
    {
        0 => ChainStep::ReRun,
        waiting => ChainStep::Wait(waiting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{IndexUrl, PackageName, PackageVersion};
    use crate::reconcile::workflow::fixtures::advice_request;

    fn unresolved(name: &str, version: Option<&str>, index: Option<&str>) -> AdviceUnresolved {
        AdviceUnresolved {
            name: PackageName::parse(name).expect("name"),
            version: version.map(|v| PackageVersion::parse(v).expect("version")),
            index: index.map(|i| IndexUrl::parse(i).expect("index")),
        }
    }

    fn solvers() -> Vec<String> {
        vec!["solver-rhel-8-py38".into(), "solver-fedora-35-py310".into()]
    }

    #[test]
    fn each_package_is_solved_by_each_solver_under_the_ingestions_names() {
        let packages = [
            unresolved("Flask", Some("2.0.1"), Some("https://pypi.org/simple")),
            unresolved("werkzeug", Some("2.0.2"), None),
        ];
        let solves = awaited_solves(&packages, &solvers());
        assert_eq!(solves.len(), 4);
        let flask = VersionKey::new(
            PackageName::parse("flask").expect("name"),
            PackageVersion::parse("2.0.1").expect("version"),
            IndexUrl::parse("https://pypi.org/simple").expect("index"),
        );
        let rhel = SolverName::parse("solver-rhel-8-py38").expect("solver");
        let expected = solver_run_name(&flask, &rhel);
        let found = solves
            .iter()
            .find(|s| s.name == expected)
            .expect("the ingestion's name for flask 2.0.1 on rhel");
        assert_eq!(found.spec.package_version.as_deref(), Some("2.0.1"));
        assert_eq!(found.spec.solver, "solver-rhel-8-py38");
        assert_eq!(found.version.as_ref(), Some(&flask));
        // No index given: Thoth's default index.
        assert!(
            solves
                .iter()
                .filter(|s| s.spec.package_name == "werkzeug")
                .all(|s| s.spec.index_url == DEFAULT_INDEX)
        );
    }

    #[test]
    fn the_same_packages_give_the_same_names_and_duplicates_collapse() {
        let packages = [
            unresolved("flask", Some("2.0.1"), None),
            unresolved("flask", Some("2.0.1"), Some(DEFAULT_INDEX)),
        ];
        let once = awaited_solves(&packages, &solvers());
        assert_eq!(once.len(), 2, "{once:?}");
        assert_eq!(once, awaited_solves(&packages[..1], &solvers()));
    }

    #[test]
    fn versionless_packages_get_distinct_valid_names_and_solve_every_version() {
        let packages = [
            unresolved("ruamel.yaml", None, None),
            unresolved("ruamel-yaml", None, Some("https://example.org/simple")),
            unresolved(&"x".repeat(150), None, None),
        ];
        let solves = awaited_solves(&packages, &solvers()[..1]);
        assert_eq!(solves.len(), 3);
        assert_ne!(solves[0].name, solves[1].name);
        for solve in &solves {
            assert!(
                crate::admission::names::is_dns_label(&solve.name),
                "{}",
                solve.name
            );
            assert_eq!(solve.spec.package_version, None);
            assert_eq!(solve.version, None);
        }
    }

    #[test]
    fn invalid_solver_names_are_left_out() {
        let packages = [unresolved("flask", Some("2.0.1"), None)];
        let solves = awaited_solves(&packages, &["Not A Solver".to_string()]);
        assert!(solves.is_empty());
    }

    #[test]
    fn only_a_first_run_with_unresolved_packages_needs_solvers() {
        let packages = [unresolved("flask", None, None)];
        let mut advice = advice_request("adviser-1");
        assert!(needs_solvers(&advice, &packages));
        assert!(!needs_solvers(&advice, &[]));
        advice.spec.re_run_adviser_id = Some("adviser-1".into());
        assert!(!needs_solvers(&advice, &packages));
    }

    #[test]
    fn missing_runs_are_created_first_then_unfinished_ones_awaited_then_the_advice_re_runs() {
        use SolveState::*;
        assert_eq!(
            next_step(&[Finished, Missing, Unfinished, Missing]),
            ChainStep::Create(vec![1, 3])
        );
        assert_eq!(
            next_step(&[Finished, Unfinished, Unfinished]),
            ChainStep::Wait(2)
        );
        assert_eq!(next_step(&[Finished, Finished]), ChainStep::ReRun);
        assert_eq!(next_step(&[]), ChainStep::ReRun);
    }
}
