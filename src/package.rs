//! Package identity shared by every stage: PEP 503 names and canonical index URLs.
//!
//! Thoth compares packages by their normalised name and treats the legacy
//! `pypi.python.org` index as `pypi.org`; doing the same here keeps our resource
//! names and database keys identical for every spelling a producer may send.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest package name we accept; PyPI itself has none, but names become parts
/// of Kubernetes object names and database keys, and no real project comes close.
pub const MAX_PACKAGE_NAME_LEN: usize = 200;
/// Longest version string we accept (PEP 440 versions are short in practice).
pub const MAX_PACKAGE_VERSION_LEN: usize = 100;
/// Longest index URL we accept.
pub const MAX_INDEX_URL_LEN: usize = 500;

const LEGACY_PYPI_HOST: &str = "pypi.python.org";
const PYPI_HOST: &str = "pypi.org";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("package name is empty")]
    EmptyName,
    #[error("package name {0:?} is longer than {MAX_PACKAGE_NAME_LEN} characters")]
    NameTooLong(String),
    #[error(
        "package name {0:?} is not a valid Python project name (letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
    )]
    InvalidName(String),
    #[error("package version is empty")]
    EmptyVersion,
    #[error("package version {0:?} is longer than {MAX_PACKAGE_VERSION_LEN} characters")]
    VersionTooLong(String),
    #[error(
        "package version {0:?} has characters a PEP 440 version cannot have (allowed: letters, digits, '.', '-', '_', '+', '!')"
    )]
    InvalidVersion(String),
    #[error("index URL is empty")]
    EmptyIndexUrl,
    #[error("index URL {0:?} is longer than {MAX_INDEX_URL_LEN} characters")]
    IndexUrlTooLong(String),
    #[error("index URL {url:?} is not a valid URL: {reason}")]
    InvalidIndexUrl { url: String, reason: String },
    #[error("index URL {0:?} must use http or https")]
    IndexUrlScheme(String),
}

/// A package name normalised as PEP 503 says: lower case, every run of `-`, `_`
/// and `.` replaced by a single `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    pub fn parse(raw: &str) -> Result<Self, PackageError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PackageError::EmptyName);
        }
        if trimmed.chars().count() > MAX_PACKAGE_NAME_LEN {
            return Err(PackageError::NameTooLong(trimmed.to_string()));
        }
        let valid_chars = trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let alnum_ends = trimmed.starts_with(|c: char| c.is_ascii_alphanumeric())
            && trimmed.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_chars || !alnum_ends {
            return Err(PackageError::InvalidName(trimmed.to_string()));
        }
        Ok(Self(normalize_package_name(trimmed)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PackageName {
    type Error = PackageError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PackageName> for String {
    fn from(value: PackageName) -> Self {
        value.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// PEP 503 normalisation of a name, without validating it.
pub fn normalize_package_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_separator_run = false;
    for c in raw.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    out
}

/// A package version as a producer sent it, checked for length and for
/// characters PEP 440 (and its legacy forms) can contain. Versions are not
/// rewritten: `1.0` and `1.0.0` stay distinct, as they are on an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageVersion(String);

impl PackageVersion {
    pub fn parse(raw: &str) -> Result<Self, PackageError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PackageError::EmptyVersion);
        }
        if trimmed.chars().count() > MAX_PACKAGE_VERSION_LEN {
            return Err(PackageError::VersionTooLong(trimmed.to_string()));
        }
        let valid = trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'));
        if !valid {
            return Err(PackageError::InvalidVersion(trimmed.to_string()));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PackageVersion {
    type Error = PackageError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PackageVersion> for String {
    fn from(value: PackageVersion) -> Self {
        value.0
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package index URL in canonical form: parsed, http(s) only, without a
/// trailing slash, and with the legacy `pypi.python.org` host replaced by
/// `pypi.org`, as Thoth does everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexUrl(String);

impl IndexUrl {
    pub fn parse(raw: &str) -> Result<Self, PackageError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PackageError::EmptyIndexUrl);
        }
        if trimmed.len() > MAX_INDEX_URL_LEN {
            return Err(PackageError::IndexUrlTooLong(trimmed.to_string()));
        }
        let mut url = url::Url::parse(trimmed).map_err(|e| PackageError::InvalidIndexUrl {
            url: trimmed.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PackageError::IndexUrlScheme(trimmed.to_string()));
        }
        if url.host_str() == Some(LEGACY_PYPI_HOST) {
            url.set_host(Some(PYPI_HOST))
                .map_err(|e| PackageError::InvalidIndexUrl {
                    url: trimmed.to_string(),
                    reason: e.to_string(),
                })?;
        }
        url.set_fragment(None);
        let mut canonical = url.to_string();
        while canonical.ends_with('/') && url.path() != "/" {
            canonical.pop();
        }
        if url.path() == "/" && url.query().is_none() {
            canonical.pop();
        }
        // Percent-encoding can make the canonical form longer than what was sent.
        if canonical.len() > MAX_INDEX_URL_LEN {
            return Err(PackageError::IndexUrlTooLong(canonical));
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IndexUrl {
    type Error = PackageError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IndexUrl> for String {
    fn from(value: IndexUrl) -> Self {
        value.0
    }
}

impl fmt::Display for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_as_pep_503_says() {
        for (raw, expected) in [
            ("Django", "django"),
            ("ruamel.yaml", "ruamel-yaml"),
            ("zope__interface", "zope-interface"),
            ("A-_.B", "a-b"),
            ("thoth-common", "thoth-common"),
            ("  PyYAML ", "pyyaml"),
        ] {
            assert_eq!(PackageName::parse(raw).unwrap().as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert_eq!(PackageName::parse(" "), Err(PackageError::EmptyName));
        assert!(matches!(
            PackageName::parse("-leading"),
            Err(PackageError::InvalidName(_))
        ));
        assert!(matches!(
            PackageName::parse("has space"),
            Err(PackageError::InvalidName(_))
        ));
        assert!(matches!(
            PackageName::parse("../etc/passwd"),
            Err(PackageError::InvalidName(_))
        ));
        assert!(matches!(
            PackageName::parse(&"a".repeat(MAX_PACKAGE_NAME_LEN + 1)),
            Err(PackageError::NameTooLong(_))
        ));
    }

    #[test]
    fn versions_keep_their_spelling_but_refuse_shell_characters() {
        assert_eq!(
            PackageVersion::parse("6.0.0rc2").unwrap().as_str(),
            "6.0.0rc2"
        );
        assert_eq!(
            PackageVersion::parse("1!2.0+local.7").unwrap().as_str(),
            "1!2.0+local.7"
        );
        assert!(matches!(
            PackageVersion::parse("1.0; rm -rf /"),
            Err(PackageError::InvalidVersion(_))
        ));
        assert_eq!(PackageVersion::parse(""), Err(PackageError::EmptyVersion));
    }

    #[test]
    fn legacy_pypi_host_becomes_pypi_org() {
        for raw in [
            "https://pypi.python.org/simple",
            "https://pypi.python.org/simple/",
            "https://pypi.org/simple",
            "https://PYPI.org/simple/",
        ] {
            assert_eq!(
                IndexUrl::parse(raw).unwrap().as_str(),
                "https://pypi.org/simple",
                "{raw}"
            );
        }
    }

    #[test]
    fn the_canonical_form_must_fit_too() {
        // 200 two-byte characters: 400 bytes as sent, 1,200 once percent-encoded.
        let raw = format!("https://example.com/{}", "é".repeat(200));
        assert!(raw.len() <= MAX_INDEX_URL_LEN);
        assert!(matches!(
            IndexUrl::parse(&raw),
            Err(PackageError::IndexUrlTooLong(_))
        ));
    }

    #[test]
    fn lengths_up_to_each_limit_are_accepted() {
        let name = "a".repeat(MAX_PACKAGE_NAME_LEN);
        assert_eq!(PackageName::parse(&name).unwrap().as_str(), name);
        let version = "1".repeat(MAX_PACKAGE_VERSION_LEN);
        assert_eq!(PackageVersion::parse(&version).unwrap().as_str(), version);
        assert_eq!(
            PackageVersion::parse(&format!("{version}1")),
            Err(PackageError::VersionTooLong(format!("{version}1")))
        );
        let prefix = "https://example.com/";
        let url = format!("{prefix}{}", "a".repeat(MAX_INDEX_URL_LEN - prefix.len()));
        assert_eq!(IndexUrl::parse(&url).unwrap().as_str(), url);
        assert!(matches!(
            IndexUrl::parse(&format!("{url}a")),
            Err(PackageError::IndexUrlTooLong(_))
        ));
    }

    #[test]
    fn the_canonical_form_is_what_every_spelling_prints_and_serialises_as() {
        let name = PackageName::parse("Ruamel.YAML").unwrap();
        let version = PackageVersion::parse(" 0.17.21 ").unwrap();
        let index = IndexUrl::parse("https://pypi.python.org/simple/").unwrap();
        assert_eq!(name.to_string(), "ruamel-yaml");
        assert_eq!(version.to_string(), "0.17.21");
        assert_eq!(index.to_string(), "https://pypi.org/simple");
        assert_eq!(String::from(name.clone()), "ruamel-yaml");
        assert_eq!(String::from(version.clone()), "0.17.21");
        assert_eq!(String::from(index.clone()), "https://pypi.org/simple");
        let json = serde_json::json!(["ruamel_yaml", "0.17.21", "https://PYPI.org/simple"]);
        let (n, v, i): (PackageName, PackageVersion, IndexUrl) =
            serde_json::from_value(json).unwrap();
        assert_eq!((&n, &v, &i), (&name, &version, &index));
        assert_eq!(
            serde_json::to_value((&n, &v, &i)).unwrap(),
            serde_json::json!(["ruamel-yaml", "0.17.21", "https://pypi.org/simple"])
        );
        for bad in [
            serde_json::json!(["-x", "1", "https://pypi.org/simple"]),
            serde_json::json!(["x", "1;", "https://pypi.org/simple"]),
            serde_json::json!(["x", "1", "ftp://pypi.org/simple"]),
        ] {
            assert!(
                serde_json::from_value::<(PackageName, PackageVersion, IndexUrl)>(bad.clone())
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_index_url_keeps_its_query_and_a_bare_host_loses_its_slash() {
        for (raw, canonical) in [
            ("https://example.com/", "https://example.com"),
            ("https://example.com", "https://example.com"),
            (
                "https://example.com/?token=x",
                "https://example.com/?token=x",
            ),
            ("https://example.com/simple//", "https://example.com/simple"),
            (
                "https://example.com/simple/#top",
                "https://example.com/simple",
            ),
            (
                "  http://Example.COM:80/simple ",
                "http://example.com/simple",
            ),
        ] {
            assert_eq!(IndexUrl::parse(raw).unwrap().as_str(), canonical, "{raw}");
        }
        assert_eq!(IndexUrl::parse("  "), Err(PackageError::EmptyIndexUrl));
    }

    #[test]
    fn other_indexes_are_kept_and_checked() {
        assert_eq!(
            IndexUrl::parse(
                "https://tensorflow.pypi.thoth-station.ninja/index/manylinux2010/AVX2/simple/"
            )
            .unwrap()
            .as_str(),
            "https://tensorflow.pypi.thoth-station.ninja/index/manylinux2010/AVX2/simple"
        );
        assert!(matches!(
            IndexUrl::parse("not a url"),
            Err(PackageError::InvalidIndexUrl { .. })
        ));
        assert!(matches!(
            IndexUrl::parse("ftp://example.com/simple"),
            Err(PackageError::IndexUrlScheme(_))
        ));
    }
}
