//! Version expansion: which versions a package index lists for a package, read
//! through the simple repository API — PEP 691 JSON
//! (`application/vnd.pypi.simple.v1+json`) when the index offers it, PEP 503 HTML
//! otherwise. Versions come from PEP 700's `versions` key when present, else from
//! the distribution file names (wheel, egg and sdist naming).
//!
//! An index that cannot be reached is a [`Listing::Unavailable`], never an error of
//! the batch: package indexes are outside the operator's control, and a record
//! that depends on one is dead-lettered (to be replayed) rather than stalling its
//! partition.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use backon::Retryable;

use crate::package::{IndexUrl, PackageName, PackageVersion, normalize_package_name};
use crate::telemetry::error_chain;

use super::RetryPolicy;

/// PEP 691's JSON media type, version 1.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";
/// What we ask for: JSON first, PEP 691's HTML and plain PEP 503 HTML as fallbacks.
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// What an index lists for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The versions listed, newest first (PEP 440 order), and the listed version
    /// strings that are not PEP 440 versions (skipped).
    Versions {
        versions: Vec<PackageVersion>,
        not_pep440: Vec<String>,
    },
    /// The index answered 404: it does not know the package.
    NotFound,
    /// The index could not be read (connection, timeout, 5xx after retries, an
    /// unreadable page), with what went wrong.
    Unavailable { detail: String },
}

/// Timeouts and limits of the index client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexClientConfig {
    pub connect_timeout: Duration,
    /// For the whole request, body included.
    pub request_timeout: Duration,
    /// Pages larger than this are refused (PyPI's largest JSON pages are a few MB).
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    pub user_agent: String,
}

impl Default for IndexClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 32 * 1024 * 1024,
            retry: RetryPolicy::default(),
            user_agent: concat!("thoth-operator/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexClientError {
    #[error("failed to build the package index HTTP client")]
    Build(#[source] reqwest::Error),
}

/// Reads package listings from simple-API indexes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IndexClient {
    http: reqwest::Client,
    config: IndexClientConfig,
}

/// A failed fetch, and whether trying again may help.
struct FetchError {
    detail: String,
    transient: bool,
}

impl IndexClient {
    pub fn new(config: IndexClientConfig) -> Result<Self, IndexClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(IndexClientError::Build)?;
        Ok(Self { http, config })
    }

    /// The versions `index` lists for `name`, retrying transient failures.
    pub async fn versions(&self, index: &IndexUrl, name: &PackageName) -> Listing {
        let url = format!("{}/{}/", index.as_str(), name.as_str());
        let fetch = || async { self.fetch(&url).await };
        let fetched = fetch
            .retry(self.config.retry.backoff())
            .when(|err: &FetchError| err.transient)
            .await;
        match fetched {
            Ok(None) => Listing::NotFound,
            Ok(Some((content_type, body))) => parse_listing(name, content_type.as_deref(), &body),
            Err(err) => Listing::Unavailable { detail: err.detail },
        }
    }

    /// `Ok(None)` for 404; otherwise the content type and the body.
    async fn fetch(&self, url: &str) -> Result<Option<(Option<String>, Vec<u8>)>, FetchError> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|e| FetchError {
                detail: format!("GET {url}: {}", error_chain(&e)),
                transient: true,
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(FetchError {
                detail: format!("GET {url}: HTTP {status}"),
                transient: status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| FetchError {
            detail: format!("GET {url}: reading the body: {}", error_chain(&e)),
            transient: true,
        })? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(FetchError {
                    detail: format!(
                        "GET {url}: the page exceeds {} bytes",
                        self.config.max_body_bytes
                    ),
                    transient: false,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some((content_type, body)))
    }
}

/// A PEP 691 project page (the fields we read).
#[derive(serde::Deserialize)]
struct ProjectPage {
    #[serde(default)]
    files: Vec<ProjectFile>,
    /// PEP 700 (API version 1.1): every version, including those without files.
    #[serde(default)]
    versions: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct ProjectFile {
    filename: String,
}

/// Reads a project page: JSON when the content type says so (or the body looks
/// like JSON), HTML otherwise.
pub fn parse_listing(name: &PackageName, content_type: Option<&str>, body: &[u8]) -> Listing {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let looks_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let json = match media.as_deref() {
        Some(SIMPLE_JSON) | Some("application/json") => true,
        Some("text/html") | Some("application/vnd.pypi.simple.v1+html") => false,
        _ => looks_json,
    };
    let raw_versions: Vec<String> = if json {
        match serde_json::from_slice::<ProjectPage>(body) {
            Ok(page) => match page.versions {
                Some(versions) => versions,
                None => page
                    .files
                    .iter()
                    .filter_map(|f| version_from_filename(name, &f.filename))
                    .collect(),
            },
            Err(e) => {
                return Listing::Unavailable {
                    detail: format!("the project page is not PEP 691 JSON: {e}"),
                };
            }
        }
    } else {
        let text = String::from_utf8_lossy(body);
        anchor_texts(&text)
            .filter_map(|filename| version_from_filename(name, &filename))
            .collect()
    };
    versions_from_strings(raw_versions)
}

/// Sorts the listed strings into PEP 440 versions (newest first, one per
/// version, in its normal form) and the rest.
fn versions_from_strings(raw: Vec<String>) -> Listing {
    let mut parsed: Vec<pep440_rs::Version> = Vec::new();
    let mut not_pep440 = BTreeSet::new();
    for text in raw {
        match text.trim().parse::<pep440_rs::Version>() {
            Ok(version) => parsed.push(version),
            Err(_) => {
                not_pep440.insert(text);
            }
        }
    }
    parsed.sort_by(|a, b| b.cmp(a));
    parsed.dedup();
    let mut versions = Vec::with_capacity(parsed.len());
    for version in parsed {
        let normal = version.to_string();
        match PackageVersion::parse(&normal) {
            Ok(version) => versions.push(version),
            Err(_) => {
                not_pep440.insert(normal);
            }
        }
    }
    Listing::Versions {
        versions,
        not_pep440: not_pep440.into_iter().collect(),
    }
}

static ANCHOR: LazyLock<regex::Regex> = LazyLock::new(|| {
    // PEP 503 pages are one anchor per file whose text is the file name; a full
    // HTML parser would add a dependency for this one shape.
    regex::Regex::new(r"(?is)<a\b[^>]*>(.*?)</a\s*>").unwrap_or_else(|_| unreachable!())
});

fn anchor_texts(html: &str) -> impl Iterator<Item = String> + '_ {
    ANCHOR.captures_iter(html).filter_map(|c| {
        let text = c.get(1)?.as_str().trim();
        (!text.is_empty()).then(|| unescape(text))
    })
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

const SDIST_SUFFIXES: [&str; 6] = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"];

/// The version in a distribution file name: wheels and eggs by their fixed
/// `-`-separated fields, sdists by removing the project name (which may itself
/// contain `-`) from `<name>-<version>.<ext>`.
pub fn version_from_filename(name: &PackageName, filename: &str) -> Option<String> {
    let filename = filename.trim();
    if let Some(stem) = filename
        .strip_suffix(".whl")
        .or_else(|| filename.strip_suffix(".egg"))
    {
        let mut fields = stem.split('-');
        let dist = fields.next()?;
        let version = fields.next()?;
        return (normalize_package_name(dist) == name.as_str()).then(|| version.to_string());
    }
    let stem = SDIST_SUFFIXES
        .iter()
        .find_map(|suffix| filename.strip_suffix(suffix))?;
    stem.match_indices('-').find_map(|(at, _)| {
        let (dist, rest) = stem.split_at(at);
        let version = &rest[1..];
        (normalize_package_name(dist) == name.as_str() && !version.is_empty())
            .then(|| version.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> PackageName {
        PackageName::parse(raw).unwrap()
    }

    fn versions(listing: &Listing) -> (Vec<&str>, Vec<&str>) {
        match listing {
            Listing::Versions {
                versions,
                not_pep440,
            } => (
                versions.iter().map(PackageVersion::as_str).collect(),
                not_pep440.iter().map(String::as_str).collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_names_give_their_versions() {
        let n = name("ruamel.yaml");
        assert_eq!(
            version_from_filename(&n, "ruamel.yaml-0.17.21.tar.gz").as_deref(),
            Some("0.17.21")
        );
        assert_eq!(
            version_from_filename(&n, "ruamel.yaml-0.17.21-py3-none-any.whl").as_deref(),
            Some("0.17.21")
        );
        assert_eq!(
            version_from_filename(&name("thoth-common"), "thoth-common-0.10.0.zip").as_deref(),
            Some("0.10.0")
        );
        assert_eq!(
            version_from_filename(&name("thoth-common"), "thoth_common-0.10.0-py3.8.egg")
                .as_deref(),
            Some("0.10.0")
        );
        assert_eq!(version_from_filename(&n, "other-1.0.tar.gz"), None);
        assert_eq!(version_from_filename(&n, "ruamel.yaml-0.1.exe"), None);
    }

    #[test]
    fn pep_691_json_lists_versions_from_files_newest_first() {
        let body = serde_json::json!({
            "meta": {"api-version": "1.0"},
            "name": "flask",
            "files": [
                {"filename": "Flask-1.0.tar.gz", "url": "x", "hashes": {}},
                {"filename": "Flask-2.0.1-py3-none-any.whl", "url": "x", "hashes": {}},
                {"filename": "Flask-2.0.1.tar.gz", "url": "x", "hashes": {}},
                {"filename": "Flask-0.1dev-r1.tar.gz", "url": "x", "hashes": {}},
                {"filename": "Flask-2.0.0RC1.tar.gz", "url": "x", "hashes": {}},
                {"filename": "Flask-weird.version.tar.gz", "url": "x", "hashes": {}}
            ]
        });
        let listing = parse_listing(
            &name("Flask"),
            Some(SIMPLE_JSON),
            body.to_string().as_bytes(),
        );
        let (found, skipped) = versions(&listing);
        assert_eq!(
            found,
            ["2.0.1", "2.0.0rc1", "1.0"],
            "normal forms, newest first"
        );
        assert_eq!(skipped, ["0.1dev-r1", "weird.version"]);
    }

    #[test]
    fn pep_700_versions_are_used_when_present() {
        let body = br#"{"meta":{"api-version":"1.1"},"name":"a","files":[],"versions":["1.0","2.0rc1","x y"]}"#;
        let listing = parse_listing(&name("a"), Some(SIMPLE_JSON), body);
        let (found, skipped) = versions(&listing);
        assert_eq!(found, ["2.0rc1", "1.0"]);
        assert_eq!(skipped, ["x y"]);
    }

    #[test]
    fn pep_503_html_is_read_from_the_anchor_texts() {
        let html = r#"<!DOCTYPE html><html><body><h1>Links for black</h1>
            <a href="../../packages/black-22.1.0.tar.gz#sha256=ab">black-22.1.0.tar.gz</a><br/>
            <A HREF="x" data-requires-python="&gt;=3.6">black-22.1.0-py3-none-any.whl</A>
            <a href="y">black-19.3b0.tar.gz</a>
            </body></html>"#;
        let listing = parse_listing(
            &name("black"),
            Some("text/html; charset=utf-8"),
            html.as_bytes(),
        );
        let (found, skipped) = versions(&listing);
        assert_eq!(found, ["22.1.0", "19.3b0"]);
        assert!(skipped.is_empty());
    }

    #[test]
    fn an_unreadable_json_page_is_unavailable_not_empty() {
        let listing = parse_listing(&name("a"), Some(SIMPLE_JSON), b"{not json");
        assert!(
            matches!(listing, Listing::Unavailable { .. }),
            "{listing:?}"
        );
    }
}
