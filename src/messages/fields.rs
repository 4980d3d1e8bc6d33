//! Validated views of the free-form fields a message carries.
//!
//! The wire models keep every field as the producer spelled it, so that a
//! message re-serialises exactly; these types are what the rest of the
//! operator reads instead (invariant 5: nothing unvalidated reaches a Workflow).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::package::{
    Constrained, Domain, IndexUrl, JobIdRule, OriginUrl, PackageError, PackageName, PackageVersion,
};
pub use crate::package::{JobId, SolverName};

/// Longest job id or inspection id we accept: they become Kubernetes object names and
/// labels, which stop at 63 characters (the job id's rule).
pub const MAX_IDENTIFIER_LEN: usize = JobIdRule::RULE.max_len;

/// A field whose value was well typed but not acceptable, named by its path in
/// the message body (`package_name`, `metadata.package_index`, `missing_from_source[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {detail}")]
pub struct InvalidField {
    pub field: String,
    pub detail: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, detail: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            detail: detail.to_string(),
        }
    }
}

/// A constrained value from message field `field`. Surrounding whitespace is forgiven
/// (a hand-written message's), and the trimmed spelling is what [`Constrained::as_sent`]
/// keeps and what reaches a resource's spec.
pub(crate) fn value<D: Domain>(field: &str, raw: &str) -> Result<Constrained<D>, InvalidField> {
    Constrained::parse(raw.trim()).map_err(|e: PackageError| InvalidField::new(field, e))
}

pub(crate) fn package_name(field: &str, raw: &str) -> Result<PackageName, InvalidField> {
    value(field, raw)
}

pub(crate) fn package_version(field: &str, raw: &str) -> Result<PackageVersion, InvalidField> {
    value(field, raw)
}

pub(crate) fn index_url(field: &str, raw: &str) -> Result<IndexUrl, InvalidField> {
    value(field, raw)
}

pub(crate) fn solver_name(field: &str, raw: &str) -> Result<SolverName, InvalidField> {
    value(field, raw)
}

pub(crate) fn job_id(field: &str, raw: &str) -> Result<JobId, InvalidField> {
    value(field, raw)
}

/// A name, version and index that together identify one release on one index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRelease {
    pub name: PackageName,
    pub version: PackageVersion,
    pub index: IndexUrl,
}

impl PackageRelease {
    pub(crate) fn from_fields(
        name: &str,
        version: &str,
        index: &str,
    ) -> Result<Self, InvalidField> {
        Ok(Self {
            name: package_name("package_name", name)?,
            version: package_version("package_version", version)?,
            index: index_url("index_url", index)?,
        })
    }
}

/// Which versions of a package a message asks about. Thoth reads an absent,
/// empty or `*` version in an UnresolvedPackage message as "every version the
/// index lists".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionSelector {
    All,
    Exact(PackageVersion),
}

impl VersionSelector {
    pub(crate) fn from_field(field: &str, raw: Option<&str>) -> Result<Self, InvalidField> {
        match raw.map(str::trim) {
            None | Some("") | Some("*") => Ok(Self::All),
            Some(version) => package_version(field, version).map(Self::Exact),
        }
    }
}

/// The id of an Amun inspection whose results are to be synced: a DNS label, as a job id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InspectionId(JobId);

impl InspectionId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidField> {
        job_id(field, raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for InspectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn optional_job_id(raw: Option<&str>) -> Result<Option<JobId>, InvalidField> {
    raw.map(|id| job_id("job_id", id)).transpose()
}

/// An http(s) URL from a message (a repository or project URL), by the origin's rule.
pub(crate) fn http_url(field: &str, raw: &str) -> Result<OriginUrl, InvalidField> {
    value(field, raw)
}

/// A credential carried in a message: serialised as the plain string the
/// producer sent, never shown by `Debug`, so that logging a message cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_selector_reads_absent_empty_and_star_as_all() {
        for raw in [None, Some(""), Some(" "), Some("*")] {
            assert_eq!(
                VersionSelector::from_field("package_version", raw),
                Ok(VersionSelector::All),
                "{raw:?}"
            );
        }
        assert_eq!(
            VersionSelector::from_field("package_version", Some("4.2.0")),
            Ok(VersionSelector::Exact(
                PackageVersion::parse("4.2.0").unwrap()
            ))
        );
        let err = VersionSelector::from_field("package_version", Some(">=1.0")).unwrap_err();
        assert_eq!(err.field, "package_version");
    }

    #[test]
    fn identifiers_must_be_dns_labels() {
        assert!(solver_name("solver", "solver-fedora-35-py310").is_ok());
        assert!(job_id("job_id", "adviser-210312182025-5e8c8f2a1b3c4d5e").is_ok());
        for bad in [
            "",
            "Solver-RHEL",
            "solver_rhel",
            "-solver",
            "solver-",
            "a;b",
        ] {
            let err = solver_name("solver", bad).unwrap_err();
            assert_eq!(err.field, "solver", "{bad:?}");
        }
        assert!(job_id("job_id", &"a".repeat(MAX_IDENTIFIER_LEN + 1)).is_err());
    }

    #[test]
    fn an_identifier_of_exactly_the_limit_is_accepted() {
        let longest = "a".repeat(MAX_IDENTIFIER_LEN);
        assert_eq!(
            InspectionId::parse("inspection_id", &longest)
                .unwrap()
                .as_str(),
            longest
        );
        let err = InspectionId::parse("inspection_id", &format!("{longest}a")).unwrap_err();
        assert_eq!(err.field, "inspection_id");
        assert_eq!(
            job_id("job_id", "adviser-1").unwrap().to_string(),
            "adviser-1"
        );
    }

    #[test]
    fn an_absent_job_id_is_none_and_a_present_one_is_checked() {
        assert_eq!(optional_job_id(None), Ok(None));
        assert_eq!(
            optional_job_id(Some("adviser-1"))
                .unwrap()
                .unwrap()
                .as_str(),
            "adviser-1"
        );
        assert_eq!(
            optional_job_id(Some("Adviser")).unwrap_err().field,
            "job_id"
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert_eq!(
            http_url("url", " https://github.com/thoth-station/adviser ")
                .unwrap()
                .as_str(),
            "https://github.com/thoth-station/adviser"
        );
        assert!(http_url("url", "http://example.com").is_ok());
        for bad in ["git@github.com:x/y.git", "ssh://github.com/x", "not a url"] {
            assert_eq!(http_url("url", bad).unwrap_err().field, "url", "{bad}");
        }
    }

    #[test]
    fn a_release_names_the_field_it_refuses() {
        let release =
            PackageRelease::from_fields("Flask", "2.0.1", "https://pypi.org/simple/").unwrap();
        assert_eq!(
            (
                release.name.as_str(),
                release.version.as_str(),
                release.index.as_str()
            ),
            ("flask", "2.0.1", "https://pypi.org/simple")
        );
        for ((name, version, index), field) in [
            (("-x", "1", "https://pypi.org/simple"), "package_name"),
            (("x", "1;", "https://pypi.org/simple"), "package_version"),
            (("x", "1", "pypi.org"), "index_url"),
        ] {
            let err = PackageRelease::from_fields(name, version, index).unwrap_err();
            assert_eq!(err.field, field);
            assert!(
                err.to_string().starts_with(&format!("field `{field}`: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn sensitive_values_are_not_debug_printed() {
        let secret = Sensitive::new("hunter2");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?}"), "Sensitive(<redacted>)");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"hunter2\"");
    }
}
