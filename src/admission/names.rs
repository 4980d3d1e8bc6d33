//! Resource names as a function of identity (invariant 2): the same identity,
//! however spelled in a message, always yields the same name, so create-if-absent
//! turns every duplicate into "already exists".
//!
//! Names are DNS-1123 labels (lower-case `[a-z0-9-]`, alphanumeric at both ends,
//! at most 63 characters), which also makes them valid DNS-1123 subdomains and
//! leaves Workflow names built from them within label limits. A readable prefix
//! (package, version, solver) is followed by a hash of the full identity, which
//! carries what the prefix leaves out (the index URL, cut-off text).

use sha2::{Digest, Sha256};

use crate::messages::{JobId, SolverName};
use crate::store::VersionKey;

/// Longest name produced: a DNS-1123 label.
pub const MAX_NAME_LEN: usize = 63;
/// Hex digits of the identity hash in a name (40 bits).
const HASH_LEN: usize = 10;

/// `<package>-<version>-<solver>-<hash>`: one SolverRun per (name, version, index, solver).
pub fn solver_run(key: &VersionKey, solver: &SolverName) -> String {
    let hash = identity_hash(&[
        "SolverRun",
        key.name.as_str(),
        key.version.as_str(),
        key.index.as_str(),
        solver.as_str(),
    ]);
    readable_name(
        &[key.name.as_str(), key.version.as_str(), solver.as_str()],
        &hash,
    )
}

/// A re-solve of a version whose artifacts changed (HashMismatch): its own identity,
/// the solve plus the mismatch it answers (`mismatch` is a digest of the message's
/// hash lists), so that the same mismatch redelivered is one resource and a later
/// mismatch is another.
pub fn solver_rerun(key: &VersionKey, solver: &SolverName, mismatch: &str) -> String {
    let hash = identity_hash(&[
        "SolverRun",
        key.name.as_str(),
        key.version.as_str(),
        key.index.as_str(),
        solver.as_str(),
        mismatch,
    ]);
    readable_name(
        &[
            key.name.as_str(),
            key.version.as_str(),
            solver.as_str(),
            "rehash",
        ],
        &hash,
    )
}

/// `<package>-<version>-<hash>`: one SecurityIndicatorRun per (name, version, index).
pub fn security_indicator_run(key: &VersionKey) -> String {
    let hash = identity_hash(&[
        "SecurityIndicatorRun",
        key.name.as_str(),
        key.version.as_str(),
        key.index.as_str(),
    ]);
    readable_name(&[key.name.as_str(), key.version.as_str()], &hash)
}

/// The job id itself: Thoth's job ids are DNS labels already ([`JobId`] checks it),
/// and the user API and Thoth's tools look results up by it.
pub fn advice_request(job: &JobId) -> String {
    job.as_str().to_string()
}

/// For an AdviserTrigger without a job id: `adviser-<hash>` of the request body, so a
/// redelivered request maps to the same resource.
pub fn advice_request_without_job(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("adviser-{}", &hex(&digest)[..16])
}

/// A digest of several strings, each length-prefixed so that no two lists collide by
/// concatenation.
pub fn identity_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())[..HASH_LEN].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Joins `parts` (sanitised to `[a-z0-9-]`) and `hash` with `-`, cutting the readable
/// part so that the whole fits [`MAX_NAME_LEN`].
fn readable_name(parts: &[&str], hash: &str) -> String {
    let mut readable = String::new();
    for part in parts {
        let part = sanitise(part);
        if part.is_empty() {
            continue;
        }
        if !readable.is_empty() {
            readable.push('-');
        }
        readable.push_str(&part);
    }
    let room = MAX_NAME_LEN - hash.len() - 1;
    if readable.len() > room {
        readable.truncate(room);
    }
    let readable = readable.trim_matches('-');
    if readable.is_empty() {
        // A name must start with a letter or digit; the hash does.
        return hash.to_string();
    }
    format!("{readable}-{hash}")
}

/// Lower case; every run of characters outside `[a-z0-9]` becomes one `-`; no `-` at
/// either end.
fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut dash = false;
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

/// Whether `name` is a DNS-1123 label (what every name above is).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{IndexUrl, PackageName, PackageVersion};

    fn key(name: &str, version: &str, index: &str) -> VersionKey {
        VersionKey::new(
            PackageName::parse(name).unwrap(),
            PackageVersion::parse(version).unwrap(),
            IndexUrl::parse(index).unwrap(),
        )
    }

    fn solver(name: &str) -> SolverName {
        SolverName::parse(name).unwrap()
    }

    #[test]
    fn every_spelling_of_one_identity_gives_one_name() {
        let a = solver_run(
            &key("PyYAML", "5.3.1", "https://pypi.python.org/simple/"),
            &solver("solver-rhel-8-py38"),
        );
        let b = solver_run(
            &key("pyyaml", "5.3.1", "https://pypi.org/simple"),
            &solver("solver-rhel-8-py38"),
        );
        assert_eq!(a, b);
        assert!(a.starts_with("pyyaml-5-3-1-solver-rhel-8-py38-"), "{a}");
        assert!(is_dns_label(&a), "{a}");
    }

    #[test]
    fn each_part_of_the_identity_changes_the_name() {
        let base = key("flask", "2.0.1", "https://pypi.org/simple");
        let s = solver("solver-rhel-8-py38");
        let name = solver_run(&base, &s);
        assert_ne!(
            name,
            solver_run(&key("flask", "2.0.1", "https://example.com/simple"), &s),
            "index"
        );
        assert_ne!(
            name,
            solver_run(&key("flask", "2.0.1.0", "https://pypi.org/simple"), &s),
            "version"
        );
        assert_ne!(name, solver_run(&base, &solver("solver-fedora-35-py310")));
        // Versions that sanitise alike stay apart through the hash.
        assert_ne!(
            solver_run(&key("a", "1.0-1", "https://pypi.org/simple"), &s),
            solver_run(&key("a", "1.0.1", "https://pypi.org/simple"), &s)
        );
        assert_ne!(name, solver_rerun(&base, &s, "abc"));
        assert_ne!(
            solver_rerun(&base, &s, "abc"),
            solver_rerun(&base, &s, "abd")
        );
        assert_ne!(security_indicator_run(&base), name);
    }

    #[test]
    fn long_identities_are_cut_to_a_label_and_stay_distinct() {
        let long = "a".repeat(200);
        let one = security_indicator_run(&key(&long, "1.0", "https://pypi.org/simple"));
        let two = security_indicator_run(&key(&long, "1.1", "https://pypi.org/simple"));
        assert_eq!(one.len(), MAX_NAME_LEN);
        assert!(is_dns_label(&one) && is_dns_label(&two));
        assert_ne!(one, two);
        let odd = solver_run(
            &key("x", "1!2.0+Local_7", "https://pypi.org/simple"),
            &solver("solver-rhel-8-py38"),
        );
        assert!(is_dns_label(&odd), "{odd}");
        assert!(odd.starts_with("x-1-2-0-local-7-"), "{odd}");
    }

    #[test]
    fn advice_requests_are_named_by_job_id_or_by_a_digest_of_the_request() {
        let job = JobId::parse("adviser-210312182025-5e8c8f2a1b3c4d5e").unwrap();
        assert_eq!(
            advice_request(&job),
            "adviser-210312182025-5e8c8f2a1b3c4d5e"
        );
        let a = advice_request_without_job("{\"x\":1}");
        assert_eq!(a, advice_request_without_job("{\"x\":1}"));
        assert_ne!(a, advice_request_without_job("{\"x\":2}"));
        assert!(is_dns_label(&a), "{a}");
    }

    #[test]
    fn identity_hash_parts_cannot_run_together() {
        assert_ne!(identity_hash(&["ab", "c"]), identity_hash(&["a", "bc"]));
    }

    /// `is_dns_label` is the check the other tests lean on: it must refuse each way a name
    /// can fail to be a DNS-1123 label, and accept the longest one.
    #[test]
    fn is_dns_label_refuses_every_non_label_and_accepts_the_longest() {
        for good in ["a", "0", "a-b", "a--b", &"a".repeat(MAX_NAME_LEN)] {
            assert!(is_dns_label(good), "{good:?}");
        }
        for bad in [
            "",
            &"a".repeat(MAX_NAME_LEN + 1),
            "A",
            "a_b",
            "a.b",
            "-a",
            "a-",
            "é",
        ] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
    }
}
