//! Messages about one package: what the knowledge graph lacks, what an index
//! published or dropped, what a solver or security analysis found.
//!
//! Field names, types and optionality follow thoth-messaging's pydantic models;
//! fields stay as the producer spelled them, the validated view comes from the
//! accessors (which `parse` has already run once, so they succeed on a parsed message).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::catalogue::Validate;
use super::fields::{
    self, InvalidField, PackageRelease, SolverName, VersionSelector, index_url, package_name,
    package_version,
};
use crate::package::{IndexUrl, PackageName, PackageVersion};

/// A package (and optionally a version, indexes and solver) the knowledge
/// graph has no solver result for. Sent by graph-refresh-job with every field
/// set, and by the adviser's self-heal task with version `*` and no index.
///
/// `index_url` is a list in thoth-messaging's current model (graph-refresh-job
/// sends `[url]`, the investigator iterates it). Producers of the same schema
/// version once sent a single string; we read that as a one-element list, so
/// the message re-serialises in the current form. Like every optional field
/// it is written as `null` when unset, never left out, because the
/// investigator's handler indexes the key unconditionally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnresolvedPackage {
    pub package_name: String,
    #[serde(default, deserialize_with = "one_or_many_strings")]
    pub index_url: Option<Vec<String>>,
    #[serde(default)]
    pub package_version: Option<String>,
    #[serde(default)]
    pub solver: Option<String>,
}

/// `null`, a string, or a list of strings, read as an optional list.
fn one_or_many_strings<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a list of strings or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![value.to_string()]))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(Some(items))
        }
    }

    deserializer.deserialize_any(OneOrMany)
}

/// The validated request an UnresolvedPackage message makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedRequest {
    pub name: PackageName,
    pub versions: VersionSelector,
    /// The indexes asked for. Empty (no list, `null` or `[]`): every
    /// registered index, as Thoth reads it.
    pub indexes: Vec<IndexUrl>,
    /// `None`: every configured solver.
    pub solver: Option<SolverName>,
}

impl UnresolvedPackage {
    pub fn request(&self) -> Result<UnresolvedRequest, InvalidField> {
        let indexes = self
            .index_url
            .iter()
            .flatten()
            .enumerate()
            .map(|(position, raw)| index_url(&format!("index_url[{position}]"), raw))
            .collect::<Result<_, _>>()?;
        Ok(UnresolvedRequest {
            name: package_name("package_name", &self.package_name)?,
            versions: VersionSelector::from_field(
                "package_version",
                self.package_version.as_deref(),
            )?,
            indexes,
            solver: self
                .solver
                .as_deref()
                .map(|raw| fields::solver_name("solver", raw))
                .transpose()?,
        })
    }
}

impl Validate for UnresolvedPackage {
    fn validate(&self) -> Result<(), InvalidField> {
        self.request().map(drop)
    }
}

/// A name and version with no index (reverse dependencies are index-independent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAndVersion {
    pub name: PackageName,
    pub version: PackageVersion,
}

/// A package version whose reverse dependencies were never computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnrevsolvedPackage {
    pub package_name: String,
    pub package_version: String,
}

impl UnrevsolvedPackage {
    pub fn package(&self) -> Result<NameAndVersion, InvalidField> {
        Ok(NameAndVersion {
            name: package_name("package_name", &self.package_name)?,
            version: package_version("package_version", &self.package_version)?,
        })
    }
}

impl Validate for UnrevsolvedPackage {
    fn validate(&self) -> Result<(), InvalidField> {
        self.package().map(drop)
    }
}

macro_rules! release_message {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            pub package_name: String,
            pub package_version: String,
            pub index_url: String,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The validated name (PEP 503), version and canonical index.
            pub fn release(&self) -> Result<PackageRelease, InvalidField> {
                PackageRelease::from_fields(&self.package_name, &self.package_version, &self.index_url)
            }
        }
    };
}

release_message!(
    /// A release that has no security-indicator aggregate yet.
    SiUnanalyzedPackage {}
);

impl Validate for SiUnanalyzedPackage {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release().map(drop)
    }
}

release_message!(
    /// One entry of a solver's result: this release was solved by this solver.
    SolvedPackage { solver: String }
);

impl SolvedPackage {
    pub fn solver_name(&self) -> Result<SolverName, InvalidField> {
        fields::solver_name("solver", &self.solver)
    }
}

impl Validate for SolvedPackage {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release()?;
        self.solver_name().map(drop)
    }
}

release_message!(
    /// A release newly seen on an index by package-releases-job.
    PackageReleased {}
);

impl Validate for PackageReleased {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release().map(drop)
    }
}

release_message!(
    /// The artifact hashes an index lists differ from those in the database.
    HashMismatch {
        missing_from_source: Vec<String>,
        missing_from_database: Vec<String>,
    }
);

/// Artifact digests are sha256 hex strings (optionally `sha256:`-prefixed); we
/// check them because they end up in SQL updates and logs.
fn check_artifact_hash(field: &str, index: usize, raw: &str) -> Result<(), InvalidField> {
    let digest = raw.strip_prefix("sha256:").unwrap_or(raw);
    if digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(InvalidField::new(
            format!("{field}[{index}]"),
            format_args!("{raw:?} is not a sha256 digest (64 hexadecimal digits)"),
        ))
    }
}

impl Validate for HashMismatch {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release()?;
        for (field, hashes) in [
            ("missing_from_source", &self.missing_from_source),
            ("missing_from_database", &self.missing_from_database),
        ] {
            for (index, hash) in hashes.iter().enumerate() {
                check_artifact_hash(field, index, hash)?;
            }
        }
        Ok(())
    }
}

/// A package that an index no longer lists at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingPackage {
    pub index_url: String,
    pub package_name: String,
}

/// A package name on one index, without a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageOnIndex {
    pub name: PackageName,
    pub index: IndexUrl,
}

impl MissingPackage {
    pub fn package(&self) -> Result<PackageOnIndex, InvalidField> {
        Ok(PackageOnIndex {
            name: package_name("package_name", &self.package_name)?,
            index: fields::index_url("index_url", &self.index_url)?,
        })
    }
}

impl Validate for MissingPackage {
    fn validate(&self) -> Result<(), InvalidField> {
        self.package().map(drop)
    }
}

release_message!(
    /// A release that an index no longer serves.
    MissingVersion {}
);

impl Validate for MissingVersion {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release().map(drop)
    }
}

release_message!(
    /// Whether a release ships a source distribution (false: wheels only, so
    /// security indicators cannot analyse it).
    UpdateProvidesSourceDistro { value: bool }
);

impl Validate for UpdateProvidesSourceDistro {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release().map(drop)
    }
}

release_message!(
    /// A release affected by a newly published CVE.
    CveProvided {}
);

impl Validate for CveProvided {
    fn validate(&self) -> Result<(), InvalidField> {
        self.release().map(drop)
    }
}
