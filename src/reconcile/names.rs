//! Names of the resources the chain creates: a function of their identity (design invariant 2), so
//! a repeated reconcile or a second replica finds the one it created before.

use sha2::{Digest, Sha256};

use crate::store::VersionKey;

/// `si-<name>-<version>-<hash>`: at most 63 characters, lower case; the hash (of the PEP 503
/// name, version and canonical index) keeps identities apart that sanitising or cutting merges.
pub(crate) fn security_indicator_run_name(key: &VersionKey) -> String {
    let mut hasher = Sha256::new();
    for part in [key.name.as_str(), key.version.as_str(), key.index.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut stem = String::from("si-");
    for c in format!("{}-{}", key.name.as_str(), key.version.as_str()).chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            stem.push(c);
        } else if !stem.ends_with('-') {
            stem.push('-');
        }
    }
    stem.truncate(63 - hash.len() - 1);
    let stem = stem.trim_end_matches('-');
    format!("{stem}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{IndexUrl, PackageName, PackageVersion};

    fn key(name: &str, version: &str) -> VersionKey {
        VersionKey::new(
            PackageName::parse(name).expect("name"),
            PackageVersion::parse(version).expect("version"),
            IndexUrl::parse("https://pypi.org/simple").expect("index"),
        )
    }

    #[test]
    fn names_are_short_lower_case_labels_and_tell_colliding_identities_apart() {
        let a = security_indicator_run_name(&key("ruamel.yaml", "1.0.1"));
        let b = security_indicator_run_name(&key("ruamel-yaml", "1.0-1"));
        assert!(a.starts_with("si-ruamel-yaml-1-0-1-"));
        assert_ne!(a, b);
        let long = security_indicator_run_name(&key(&"x".repeat(150), "1.0"));
        assert!(long.len() <= 63, "{long}");
        assert!(
            long.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_eq!(a, security_indicator_run_name(&key("ruamel.yaml", "1.0.1")));
    }
}
