//! One declaration per constrained value (design invariant 6): each [`Rule`] holds a value's
//! pattern, length limit, normalisation and human description, and [`Constrained<D>`] is the
//! value once its rule accepted it. The parser ([`Constrained::parse`]), the CRD schema
//! (`Constrained<D>`'s `JsonSchema`, or [`schema`] for a spec field kept as a string) and the
//! store's column limits (`store::limits`) all come from the rule, so what a message may carry,
//! what the API server accepts and what a column holds never disagree (`tests/it/values.rs`
//! checks parser ⇔ schema over arbitrary strings).
//!
//! Identities use normal forms, so that one release is one identity: PEP 503 names, PEP 440
//! versions (normalised by `pep440_rs`, the parser uv is built on: `1.0beta2` ≡ `1.0b2`) and
//! canonical index URLs (Thoth's legacy `pypi.python.org` is `pypi.org`). The spelling the
//! producer sent stays available ([`Constrained::as_sent`]) for the solver's parameters and
//! for display.
//!
//! Decisions (issue 8):
//! - Legacy (non-PEP 440) versions such as `.1` or `-n.0.18.44-` are refused at parse, naming
//!   the field: pip has not installed them since 22 (PEP 440 only), and accepting them would
//!   mean an identity no normal form defines.
//! - An index URL carrying credentials (`https://user:token@host/simple`) is refused, with a
//!   message that does not repeat them: stripping would silently solve against another
//!   (anonymous) view of the index, and the credentials would still have reached our logs
//!   through the producer's message. Private indexes are registered without credentials.
//! - IP-literal and loopback index hosts (`http://127.0.0.1:3141/simple`) are accepted: local
//!   package indexes (devpi, the sandbox's own) serve there, and which hosts an index may be on
//!   is a decision of the index registry (`thoth-operator index`), not of the value's syntax.
//!   IPv6 literals are not accepted (no index we know of is served on one).
//! - Origins are http(s) URLs of the same grammar, whose path, query and fragment hold only
//!   unreserved characters, `%XX` escapes and `/ : ? # & = + , @`: no quote, whitespace,
//!   `{{`/`}}`, `$ ( ) ; ! *`, backtick, `< > |` or backslash can appear in any value that can
//!   reach a Workflow parameter, so no Argo expression (`{{workflow.…}}`) or shell syntax can
//!   be smuggled in, and no URL grows when the url crate canonicalises it.
//! - Versions whose PEP 440 normal form could outgrow the limit (a spelling over 91
//!   characters that is not a normal form already) are refused, naming the field; every
//!   normal form then fits the limit and reads back as itself ([`Lengthening`]).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// How one kind of value is constrained: everything the parser, the CRD schema and the store
/// need to know about it.
#[derive(Debug)]
pub struct Rule {
    /// What the value is, for messages: `package version`.
    pub what: &'static str,
    /// An anchored regular expression the value as sent must match; the CRD's `pattern`.
    /// It is in the syntax both Go's RE2 (the real API server) and Rust's `regex` (ours)
    /// read alike.
    pub pattern: &'static str,
    /// The most characters the value may have, as sent and in normal form; the CRD's
    /// `maxLength` and the store column's width.
    pub max_len: usize,
    /// What the pattern means, for people: the end of "… is not <description>".
    pub description: &'static str,
    /// For a value whose normalisation may lengthen it: by how much, and which values are
    /// normal forms already. `None`: the normal form is never longer than the spelling.
    pub lengthening: Option<Lengthening>,
}

/// How far normalisation may lengthen a value (PEP 440: `1.0r` → `1.0.post0`), so that a
/// normal form stays within [`Rule::max_len`] and reads back as itself: a spelling longer
/// than `max_len - at_most` is accepted only when it is a normal form already. The CRD says
/// the same (`anyOf`: short enough, or matching `normal_pattern`), so parser and schema agree.
#[derive(Debug)]
pub struct Lengthening {
    /// The most characters normalisation adds to any value the pattern accepts.
    pub at_most: usize,
    /// An anchored regular expression matching exactly the accepted values that are their own
    /// normal form (a property test checks it against the normalisation).
    pub normal_pattern: &'static str,
}

/// One kind of constrained value: its [`Rule`] and its normalisation.
pub trait Domain {
    const RULE: Rule;

    /// The compiled [`Rule::pattern`] (each domain keeps its own, compiled once).
    fn regex() -> &'static Regex;

    /// The compiled [`Lengthening::normal_pattern`], when the rule has one.
    fn normal_regex() -> Option<&'static Regex>;

    /// The normal form of a value the pattern accepted. It never refuses such a value
    /// (the pattern is the whole rule), and it is idempotent.
    fn normalise(sent: &str) -> String {
        sent.to_string()
    }
}

/// Why a value was refused: what it is and what was wrong, never the value itself when it
/// may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    /// Longer than a spelling may be whose normal form is to fit (see [`Lengthening`]).
    #[error(
        "{what} is longer than {max} characters and not in normal form (normalising it could make it longer than {max_normal}; send the normal form)"
    )]
    TooLongToNormalise {
        what: &'static str,
        max: usize,
        max_normal: usize,
    },
    #[error("{what} {value:?} is not {description}")]
    Invalid {
        what: &'static str,
        value: String,
        description: &'static str,
    },
    /// The value is a URL with a user or password; neither is repeated here.
    #[error(
        "{what} carries credentials before '@' (refused, never stored or shown; register the index without them)"
    )]
    Credentials { what: &'static str },
}

/// A value its domain's rule accepted: the normal form (what identities, comparisons,
/// serialisation and the store use) and the spelling it was sent in.
pub struct Constrained<D> {
    normal: String,
    sent: String,
    domain: PhantomData<fn() -> D>,
}

impl<D: Domain> Constrained<D> {
    /// Checks `raw` exactly as sent (no trimming: the CRD schema does not trim either)
    /// against `D`'s rule and normalises it.
    ///
    /// # Errors
    /// [`PackageError`] saying which check failed.
    pub fn parse(raw: &str) -> Result<Self, PackageError> {
        let rule = &D::RULE;
        if raw.is_empty() {
            return Err(PackageError::Empty { what: rule.what });
        }
        if raw.chars().count() > rule.max_len {
            return Err(PackageError::TooLong {
                what: rule.what,
                max: rule.max_len,
            });
        }
        if !D::regex().is_match(raw) {
            if has_userinfo(raw) {
                return Err(PackageError::Credentials { what: rule.what });
            }
            return Err(PackageError::Invalid {
                what: rule.what,
                value: raw.to_string(),
                description: rule.description,
            });
        }
        if let (Some(lengthening), Some(normal_regex)) = (&rule.lengthening, D::normal_regex()) {
            let max = rule.max_len - lengthening.at_most;
            if raw.chars().count() > max && !normal_regex.is_match(raw) {
                return Err(PackageError::TooLongToNormalise {
                    what: rule.what,
                    max,
                    max_normal: rule.max_len,
                });
            }
        }
        let normal = D::normalise(raw);
        // The rule's guarantee (no normal form outgrows the limit, so each reads back and fits
        // its column), kept even if a normalisation were ever to break it.
        if normal.chars().count() > rule.max_len {
            return Err(PackageError::TooLong {
                what: rule.what,
                max: rule.max_len,
            });
        }
        Ok(Self {
            normal,
            sent: raw.to_string(),
            domain: PhantomData,
        })
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.normal
    }

    /// The spelling the producer sent (`1.0beta2` where [`Self::as_str`] is `1.0b2`).
    pub fn as_sent(&self) -> &str {
        &self.sent
    }
}

/// Whether `raw` looks like a URL with a user or password (`scheme://user:pw@host`).
fn has_userinfo(raw: &str) -> bool {
    let Some((_, rest)) = raw.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

impl<D> Clone for Constrained<D> {
    fn clone(&self) -> Self {
        Self {
            normal: self.normal.clone(),
            sent: self.sent.clone(),
            domain: PhantomData,
        }
    }
}

impl<D> fmt::Debug for Constrained<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.normal, f)
    }
}

/// Equality, order and hash are those of the normal form: two spellings of one value are
/// one value.
impl<D> PartialEq for Constrained<D> {
    fn eq(&self, other: &Self) -> bool {
        self.normal == other.normal
    }
}

impl<D> Eq for Constrained<D> {}

impl<D> Hash for Constrained<D> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normal.hash(state);
    }
}

impl<D> PartialOrd for Constrained<D> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<D> Ord for Constrained<D> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.normal.cmp(&other.normal)
    }
}

impl<D> fmt::Display for Constrained<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normal)
    }
}

impl<D: Domain> FromStr for Constrained<D> {
    type Err = PackageError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl<D: Domain> TryFrom<String> for Constrained<D> {
    type Error = PackageError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl<D> From<Constrained<D>> for String {
    fn from(value: Constrained<D>) -> Self {
        value.normal
    }
}

impl<D> Serialize for Constrained<D> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normal)
    }
}

impl<'de, D: Domain> Deserialize<'de> for Constrained<D> {
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl<D: Domain> JsonSchema for Constrained<D> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        D::RULE.what.replace(' ', "_").into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        schema::<D>(generator)
    }
}

/// The CRD schema of a value of domain `D`: a string of 1 to `max_len` characters matching
/// the rule's pattern (and, for a rule with a [`Lengthening`], short enough or a normal form
/// already). For a spec field kept as a `String`:
/// `#[schemars(schema_with = "crate::package::schema::<D>")]`.
pub fn schema<D: Domain>(_: &mut SchemaGenerator) -> Schema {
    let rule = &D::RULE;
    match &rule.lengthening {
        None => json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": rule.max_len,
            "pattern": rule.pattern,
        }),
        Some(lengthening) => json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": rule.max_len,
            "pattern": rule.pattern,
            "anyOf": [
                {"maxLength": rule.max_len - lengthening.at_most},
                {"pattern": lengthening.normal_pattern},
            ],
        }),
    }
}

/// The CRD schema of a list of values of domain `D`, at most `MAX` of them.
pub fn list_schema<D: Domain, const MAX: usize>(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": MAX,
        "items": schema::<D>(generator),
    })
}

macro_rules! domain {
    ($(#[$meta:meta])* $domain:ident => $alias:ident, $rule:expr $(, normalise = $normalise:expr)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $domain {}

        impl Domain for $domain {
            const RULE: Rule = $rule;

            fn regex() -> &'static Regex {
                static REGEX: LazyLock<Regex> = LazyLock::new(|| {
                    // The patterns are constants, checked by a test.
                    #[allow(clippy::expect_used)]
                    Regex::new(<$domain as Domain>::RULE.pattern).expect("the rule's pattern compiles")
                });
                &REGEX
            }

            fn normal_regex() -> Option<&'static Regex> {
                static REGEX: LazyLock<Option<Regex>> = LazyLock::new(|| {
                    // The patterns are constants, checked by a test.
                    #[allow(clippy::expect_used)]
                    <$domain as Domain>::RULE.lengthening.as_ref().map(|lengthening| {
                        Regex::new(lengthening.normal_pattern).expect("the normal pattern compiles")
                    })
                });
                REGEX.as_ref()
            }

            $(fn normalise(sent: &str) -> String {
                ($normalise)(sent)
            })?
        }

        $(#[$meta])*
        pub type $alias = Constrained<$domain>;
    };
}

/// An http(s) URL as the rules below read it: scheme, a DNS name (its last label starting
/// with a letter) or an IPv4 address, an optional port up to 65535, and a path, query and
/// fragment of unreserved characters (`A-Z a-z 0-9 - . _ ~`), `%` escapes (`%2F`) and the
/// delimiters real index and repository URLs use (`/ : ? # & = + , @`) only. No user or
/// password, whitespace, quote, `$ ( ) ; ! *`, backtick, `{ }`, `< >`, `|` or backslash: none
/// of shell or template syntax, and nothing the URL parser would percent-encode (it encodes
/// `'` in a query, so 500 characters of quotes would become 1,500), so that the canonical
/// form is never longer than the URL as sent. The `url` crate accepts every URL the pattern
/// accepts, so parser and schema agree.
macro_rules! http_url_pattern {
    () => {
        concat!(
            r"^[Hh][Tt][Tt][Pp][Ss]?://",
            r"(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?",
            r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
            r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?",
            r"([/?#]([A-Za-z0-9._~&+,=:@/?#-]|%[0-9A-Fa-f]{2})*)?$"
        )
    };
}

domain!(
    /// A Python project name as PEP 508 allows it; normal form PEP 503's (lower case, each
    /// run of `-`, `_`, `.` one `-`), as Thoth compares names.
    PackageNameRule => PackageName,
    Rule {
        what: "package name",
        pattern: r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        // PyPI has no limit, but names become parts of object names and keys, and no real
        // project comes close.
        max_len: 200,
        description: "a Python project name (letters, digits, '-', '_' and '.', starting and ending with a letter or digit)",
        lengthening: None,
    },
    normalise = normalize_package_name
);

domain!(
    /// A PEP 440 version (public part and local label); normal form PEP 440's, as
    /// `pep440_rs` prints it. Numbers have at most 18 digits (they fit the parser's u64).
    PackageVersionRule => PackageVersion,
    Rule {
        what: "package version",
        pattern: concat!(
            r"^[Vv]?([0-9]{1,18}!)?[0-9]{1,18}(\.[0-9]{1,18})*",
            r"([-_.]?([Aa][Ll][Pp][Hh][Aa]|[Bb][Ee][Tt][Aa]|[Pp][Rr][Ee][Vv][Ii][Ee][Ww]|[Pp][Rr][Ee]|[Rr][Cc]|[AaBbCc])([-_.]?[0-9]{1,18})?)?",
            r"(-[0-9]{1,18}|[-_.]?([Pp][Oo][Ss][Tt]|[Rr][Ee][Vv]|[Rr])([-_.]?[0-9]{1,18})?)?",
            r"([-_.]?[Dd][Ee][Vv]([-_.]?[0-9]{1,18})?)?",
            r"(\+([0-9]{1,18}|[0-9]*[A-Za-z][A-Za-z0-9]*)([-_.]([0-9]{1,18}|[0-9]*[A-Za-z][A-Za-z0-9]*))*)?$"
        ),
        max_len: 100,
        description: "a PEP 440 version (legacy versions are not accepted)",
        // Normalising adds at most 9: `c` → `rc0` (2), `r` → `.post0` (5), `dev` → `.dev0`
        // (2); every other change (epoch 0, `v`, leading zeros, separators, case) shortens
        // or keeps the length.
        lengthening: Some(Lengthening {
            at_most: 9,
            normal_pattern: concat!(
                r"^([1-9][0-9]{0,17}!)?(0|[1-9][0-9]{0,17})(\.(0|[1-9][0-9]{0,17}))*",
                r"((a|b|rc)(0|[1-9][0-9]{0,17}))?(\.post(0|[1-9][0-9]{0,17}))?(\.dev(0|[1-9][0-9]{0,17}))?",
                r"(\+(0|[1-9][0-9]{0,17}|[0-9]*[a-z][a-z0-9]*)(\.(0|[1-9][0-9]{0,17}|[0-9]*[a-z][a-z0-9]*))*)?$"
            ),
        }),
    },
    normalise = normalise_version
);

domain!(
    /// A package index's simple-API URL ([`http_url_pattern`]); normal form: parsed, no
    /// default port, no fragment, no trailing slash, lower-case host, `pypi.python.org` as
    /// `pypi.org`. Loopback and IPv4 hosts are accepted (local indexes).
    IndexUrlRule => IndexUrl,
    Rule {
        what: "index URL",
        pattern: http_url_pattern!(),
        max_len: 500,
        description: "an http(s) URL without credentials (host name or IPv4 address; letters, digits, %XX escapes and - . _ ~ / : ? # & = + , @ only)",
        lengthening: None,
    },
    normalise = canonical_index_url
);

domain!(
    /// An http(s) URL a message points at (AdviserTrigger's `origin`, a repository), kept
    /// as sent: the same grammar as an index URL, so no quote, newline or `{{` can reach
    /// the adviser's parameters.
    OriginUrlRule => OriginUrl,
    Rule {
        what: "origin",
        pattern: http_url_pattern!(),
        max_len: 500,
        description: "an http(s) repository URL (host name or IPv4 address; letters, digits, %XX escapes and - . _ ~ / : ? # & = + , @ only)",
        lengthening: None,
    }
);

domain!(
    /// A solver's name as Thoth's `solvers` ConfigMap and its solver-name parser
    /// (`solver-<os name>-<os version>-py<XY>`) have it: `solver-rhel-8.0-py36`,
    /// `solver-fedora-35-py310`; `solver-rhel-py38` (no OS version) is not one.
    SolverNameRule => SolverName,
    Rule {
        what: "solver name",
        pattern: r"^solver-[a-z0-9]+-[0-9]+(\.[0-9]+)*-py[0-9]{2,3}$",
        max_len: 63,
        description: "a solver name solver-<os>-<os version>-py<python version>, e.g. solver-rhel-8.0-py36",
        lengthening: None,
    }
);

domain!(
    /// A producer-chosen job id (`adviser-210312182025-5e8c8f2a1b3c4d5e`), which Thoth uses
    /// as the Workflow name and result document id: a DNS-1123 label.
    JobIdRule => JobId,
    Rule {
        what: "job id",
        pattern: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_len: 63,
        description: "a lower-case DNS label (a-z, 0-9 and '-', starting and ending with a letter or digit)",
        lengthening: None,
    }
);

domain!(
    /// The id of a result document a Workflow wrote (its `document-id` output parameter,
    /// e.g. the Workflow name): letters, digits, `-`, `_`, `.`.
    DocumentIdRule => DocumentId,
    Rule {
        what: "document id",
        pattern: r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        max_len: 200,
        description: "a document id (letters, digits, '-', '_' and '.', starting and ending with a letter or digit)",
        lengthening: None,
    }
);

domain!(
    /// A Kubernetes namespace in configuration (`THOTH_*_NAMESPACE`): a DNS-1123 label.
    NamespaceRule => Namespace,
    Rule {
        what: "namespace",
        pattern: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_len: 63,
        description: "a Kubernetes namespace (a lower-case DNS label)",
        lengthening: None,
    }
);

/// A DNS-1123 subdomain, the API server's rule for most object names: lower-case labels
/// joined by dots, 253 characters in all and no limit per label (the real server has none).
/// One pattern for every such name ([`TemplateNameRule`], [`ServiceAccountNameRule`]).
const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// The longest DNS-1123 subdomain.
const DNS_SUBDOMAIN_MAX_LEN: usize = 253;

domain!(
    /// A WorkflowTemplate's name in configuration: a DNS-1123 subdomain.
    TemplateNameRule => TemplateName,
    Rule {
        what: "WorkflowTemplate name",
        pattern: DNS_SUBDOMAIN_PATTERN,
        max_len: DNS_SUBDOMAIN_MAX_LEN,
        description: "a Kubernetes object name (a lower-case DNS subdomain)",
        lengthening: None,
    }
);

domain!(
    /// A service account's name in configuration (the Workflows' `serviceAccountName`): a
    /// DNS-1123 subdomain.
    ServiceAccountNameRule => ServiceAccountName,
    Rule {
        what: "service account name",
        pattern: DNS_SUBDOMAIN_PATTERN,
        max_len: DNS_SUBDOMAIN_MAX_LEN,
        description: "a Kubernetes object name (a lower-case DNS subdomain)",
        lengthening: None,
    }
);

/// Longest package name (its rule's limit).
pub const MAX_PACKAGE_NAME_LEN: usize = PackageNameRule::RULE.max_len;
/// Longest package version (its rule's limit).
pub const MAX_PACKAGE_VERSION_LEN: usize = PackageVersionRule::RULE.max_len;
/// Longest index URL, as sent and canonical (its rule's limit).
pub const MAX_INDEX_URL_LEN: usize = IndexUrlRule::RULE.max_len;

const LEGACY_PYPI_HOST: &str = "pypi.python.org";
const PYPI_HOST: &str = "pypi.org";

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

/// PEP 440's normal form of a version the pattern accepted. `pep440_rs` reads every such
/// version (a property test checks it); were it ever to refuse one, the spelling as sent is
/// the safest identity left.
fn normalise_version(sent: &str) -> String {
    pep440_rs::Version::from_str(sent).map_or_else(|_| sent.to_string(), |v| v.to_string())
}

/// The canonical form of an index URL the pattern accepted (see [`IndexUrlRule`]).
fn canonical_index_url(sent: &str) -> String {
    let Ok(mut url) = url::Url::parse(sent) else {
        return sent.to_string();
    };
    if url.host_str() == Some(LEGACY_PYPI_HOST) {
        // Setting a valid host on an http(s) URL cannot fail.
        let _ = url.set_host(Some(PYPI_HOST));
    }
    url.set_fragment(None);
    let mut canonical = url.to_string();
    if url.query().is_none() {
        while canonical.ends_with('/') {
            canonical.pop();
        }
    } else if url.path() == "/" {
        // `http://host?q` reads back as `http://host/?q`; without the slash the canonical
        // form is never longer than what was sent. The host holds no '/', so the first
        // "/?" is the one after it.
        canonical = canonical.replacen("/?", "?", 1);
    }
    canonical
}

impl PackageVersion {
    /// The parsed PEP 440 version, for ordering releases (`1.10` after `1.9`).
    pub fn pep440(&self) -> Option<pep440_rs::Version> {
        pep440_rs::Version::from_str(&self.normal).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(result: Result<impl fmt::Debug, PackageError>) -> bool {
        matches!(result, Err(PackageError::Invalid { .. }))
    }

    #[test]
    fn every_rule_pattern_compiles_and_is_anchored() {
        fn check<D: Domain>() {
            let rule = &D::RULE;
            assert!(rule.pattern.starts_with('^') && rule.pattern.ends_with('$'));
            let _ = D::regex();
            if let Some(lengthening) = &rule.lengthening {
                let normal = lengthening.normal_pattern;
                assert!(normal.starts_with('^') && normal.ends_with('$'));
                assert!(D::normal_regex().is_some());
                assert!(lengthening.at_most < rule.max_len);
            }
        }
        check::<PackageNameRule>();
        check::<PackageVersionRule>();
        check::<IndexUrlRule>();
        check::<OriginUrlRule>();
        check::<SolverNameRule>();
        check::<JobIdRule>();
        check::<DocumentIdRule>();
        check::<NamespaceRule>();
        check::<TemplateNameRule>();
        check::<ServiceAccountNameRule>();
    }

    #[test]
    fn names_are_normalised_as_pep_503_says() {
        for (raw, expected) in [
            ("Django", "django"),
            ("ruamel.yaml", "ruamel-yaml"),
            ("zope__interface", "zope-interface"),
            ("A-_.B", "a-b"),
            ("thoth-common", "thoth-common"),
            ("PyYAML", "pyyaml"),
        ] {
            let name = PackageName::parse(raw).unwrap();
            assert_eq!(name.as_str(), expected, "{raw}");
            assert_eq!(name.as_sent(), raw);
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert_eq!(
            PackageName::parse(""),
            Err(PackageError::Empty {
                what: "package name"
            })
        );
        for bad in [
            "-leading",
            "has space",
            "../etc/passwd",
            " PyYAML",
            "a{{b}}",
        ] {
            assert!(invalid(PackageName::parse(bad)), "{bad:?}");
        }
        assert_eq!(
            PackageName::parse(&"a".repeat(MAX_PACKAGE_NAME_LEN + 1)),
            Err(PackageError::TooLong {
                what: "package name",
                max: MAX_PACKAGE_NAME_LEN
            })
        );
    }

    /// Issue 8, row 1 and its neighbours: every spelling PEP 440 gives one release is one
    /// identity, and the spelling sent is kept.
    #[test]
    fn spellings_of_one_release_are_one_version() {
        for (spellings, normal) in [
            (
                &[
                    "1.0b2",
                    "1.0beta2",
                    "1.0-beta.2",
                    "1.0B2",
                    "1.0.b2",
                    "v1.0b2",
                ][..],
                "1.0b2",
            ),
            (
                &["1.0rc1", "1.0c1", "1.0-rc1", "1.0pre1", "1.0preview1"][..],
                "1.0rc1",
            ),
            (&["1.0a0", "1.0a", "1.0alpha", "1.0-alpha-0"][..], "1.0a0"),
            (
                &["1.0.post1", "1.0-1", "1.0post1", "1.0-r1", "1.0rev1"][..],
                "1.0.post1",
            ),
            (
                &["1.0.dev0", "1.0dev", "1.0-dev0", "1.0_dev"][..],
                "1.0.dev0",
            ),
            (
                &["1.0+ubuntu-1", "1.0+UBUNTU.1", "1.0+ubuntu_1"][..],
                "1.0+ubuntu.1",
            ),
            (&["0!2.0", "2.0", "02.0", "V2.0"][..], "2.0"),
        ] {
            let versions: Vec<PackageVersion> = spellings
                .iter()
                .map(|s| PackageVersion::parse(s).unwrap())
                .collect();
            for (version, sent) in versions.iter().zip(spellings) {
                assert_eq!(version.as_str(), normal, "{sent}");
                assert_eq!(version.as_sent(), *sent);
                assert_eq!(version, &versions[0], "{sent}");
            }
        }
        // Distinct releases stay distinct: PEP 440 does not pad release segments away
        // for identity purposes in its normal form.
        assert_ne!(
            PackageVersion::parse("1.0").unwrap(),
            PackageVersion::parse("1.0.0").unwrap()
        );
    }

    /// Issue 8, row 2 and its neighbours: legacy versions are refused, naming the value.
    #[test]
    fn legacy_versions_are_refused() {
        for legacy in [
            ".1",
            "-n.0.18.44-",
            "1.0-SNAPSHOT",
            "2004d",
            "1.0; rm -rf /",
            "1.0 ",
            "latest",
            "1.0.*",
            "1.0a.",
            "{{workflow.name}}",
        ] {
            let err = PackageVersion::parse(legacy).unwrap_err();
            assert!(
                matches!(err, PackageError::Invalid { .. }),
                "{legacy:?}: {err}"
            );
            assert!(err.to_string().contains("PEP 440"), "{err}");
        }
        assert!(PackageVersion::parse(&"1".repeat(MAX_PACKAGE_VERSION_LEN)).is_err());
    }

    /// Issue 8, row 4 and its neighbours: credentials are refused without repeating them;
    /// loopback and IP-literal hosts (local indexes) are accepted.
    #[test]
    fn index_urls_with_credentials_are_refused_without_the_secret() {
        for url in [
            "https://user:token@pypi.example.com/simple",
            "https://token@pypi.example.com/simple",
            "http://user:p%40ss@10.0.0.1:8080/simple",
            "https://:secret@pypi.example.com",
        ] {
            let err = IndexUrl::parse(url).unwrap_err();
            assert_eq!(err, PackageError::Credentials { what: "index URL" });
            let text = err.to_string();
            for secret in ["token", "secret", "p%40ss", "user"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        for (url, canonical) in [
            (
                "http://127.0.0.1:3141/simple/",
                "http://127.0.0.1:3141/simple",
            ),
            (
                "http://localhost:8080/simple",
                "http://localhost:8080/simple",
            ),
            ("http://10.1.2.3/simple", "http://10.1.2.3/simple"),
            (
                "http://192.168.0.10:65535/root/pypi",
                "http://192.168.0.10:65535/root/pypi",
            ),
            ("https://pypi.org/simple/@x", "https://pypi.org/simple/@x"),
        ] {
            assert_eq!(IndexUrl::parse(url).unwrap().as_str(), canonical, "{url}");
        }
        for bad in [
            "http://256.0.0.1/simple",
            "http://127.0.0.1:65536/simple",
            "ftp://pypi.org/simple",
            "https://pypi.org/simple/{{inputs.parameters.x}}",
            "https://pypi.org/simple\"",
            "https://pypi.org/sim ple",
            "file:///etc/passwd",
        ] {
            assert!(invalid(IndexUrl::parse(bad)), "{bad:?}");
        }
    }

    /// A canonical URL never outgrows the limit (issue 8 audit): nothing the url crate would
    /// percent-encode is accepted (`'` in a query becomes `%27`, so 500 characters of quotes
    /// would become 1,500), and the longest URL accepted keeps a canonical form within it.
    #[test]
    fn a_canonical_url_never_exceeds_the_limit() {
        let base = "https://example.com/simple?q=";
        let fill = MAX_INDEX_URL_LEN - base.len();
        let quotes = format!("{base}{}", "'".repeat(fill));
        assert_eq!(quotes.len(), MAX_INDEX_URL_LEN);
        assert!(invalid(IndexUrl::parse(&quotes)), "quotes accepted");
        for longest in [
            format!("{base}{}", "a".repeat(fill)),
            format!("{base}{}", "%27".repeat(fill / 3)),
            format!(
                "HTTP://EXAMPLE.com:443/{}",
                "~".repeat(MAX_INDEX_URL_LEN - 23)
            ),
        ] {
            assert!(longest.len() <= MAX_INDEX_URL_LEN);
            let url = IndexUrl::parse(&longest).unwrap();
            assert!(url.as_str().len() <= MAX_INDEX_URL_LEN, "{url}");
            assert_eq!(
                IndexUrl::parse(url.as_str()).unwrap().as_str(),
                url.as_str()
            );
        }
    }

    /// Each character class with a meaning to a shell or a template is refused in a URL,
    /// wherever it is (path, query, fragment); the RFC 3986 characters real index and
    /// repository URLs use are kept.
    #[test]
    fn urls_refuse_shell_and_template_metacharacters() {
        for bad in [
            "'", "\"", "$", "(", ")", ";", "`", "{", "}", "<", ">", "|", "\\", "!", "*", " ", "\t",
            "\n", "\r", "%", "%g1", "%zz",
        ] {
            for url in [
                format!("https://example.com/a{bad}b"),
                format!("https://example.com/a?b={bad}"),
                format!("https://example.com/a#{bad}"),
            ] {
                assert!(invalid(IndexUrl::parse(&url)), "{url:?}");
                assert!(OriginUrl::parse(&url).is_err(), "{url:?}");
            }
        }
        for good in [
            "https://pypi.org/simple",
            "https://download.pytorch.org/whl/cu118",
            "https://tensorflow.pypi.thoth-station.ninja/index/manylinux2010/AVX2/simple",
            "https://example.com/api/v4/projects/12/packages/pypi/simple",
            "https://example.com/simple?token=a-b_c.d~e&x=1+2,3",
            "https://example.com/~user/simple/%40scope",
            "https://github.com/thoth-station/ps-ip.git#main",
            "http://127.0.0.1:3141/root/pypi/+simple",
        ] {
            assert!(IndexUrl::parse(good).is_ok(), "{good}");
            assert!(OriginUrl::parse(good).is_ok(), "{good}");
        }
    }

    /// Long versions (issue 8 audit): normalisation may lengthen a spelling (`1.1…crdev` →
    /// `1.1…rc0.post0.dev0`); whatever is accepted has a normal form within the limit that
    /// reads back as itself, and the longest normal forms are accepted as they are.
    #[test]
    fn a_long_version_has_a_normal_form_that_reads_back() {
        let long = format!("1{}crdev", ".1".repeat(47));
        assert_eq!(long.len(), MAX_PACKAGE_VERSION_LEN);
        assert_eq!(
            PackageVersion::parse(&long),
            Err(PackageError::TooLongToNormalise {
                what: "package version",
                max: MAX_PACKAGE_VERSION_LEN - 9,
                max_normal: MAX_PACKAGE_VERSION_LEN,
            })
        );
        let short = format!("11{}crdev", ".1".repeat(42));
        assert_eq!(short.len(), MAX_PACKAGE_VERSION_LEN - 9);
        let version = PackageVersion::parse(&short).unwrap();
        assert_eq!(version.as_str().len(), MAX_PACKAGE_VERSION_LEN);
        assert_eq!(PackageVersion::parse(version.as_str()).unwrap(), version);
        let normal = format!("11{}rc0.post0.dev0", ".1".repeat(42));
        assert_eq!(normal.len(), MAX_PACKAGE_VERSION_LEN);
        assert_eq!(PackageVersion::parse(&normal).unwrap().as_str(), normal);
        let value = serde_json::to_value(&version).unwrap();
        assert_eq!(
            serde_json::from_value::<PackageVersion>(value).unwrap(),
            version
        );
    }

    /// A DNS-1123 subdomain has no per-label limit (only 253 in all), as the real API server
    /// reads it: a 64-character label is a valid service account or template name.
    #[test]
    fn subdomains_have_no_limit_per_label() {
        let long_label = format!("{}.argo", "a".repeat(64));
        assert!(ServiceAccountName::parse(&long_label).is_ok());
        assert!(TemplateName::parse(&long_label).is_ok());
        let longest = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        assert!(ServiceAccountName::parse(&longest).is_ok());
        assert!(ServiceAccountName::parse(&format!("{longest}c")).is_err());
        for bad in [
            "Argo", "argo.", ".argo", "ar_go", "-argo", "argo..x", "argo-",
        ] {
            assert!(invalid(ServiceAccountName::parse(bad)), "{bad}");
        }
    }

    #[test]
    fn legacy_pypi_host_becomes_pypi_org() {
        for raw in [
            "https://pypi.python.org/simple",
            "https://pypi.python.org/simple/",
            "https://pypi.org/simple",
            "https://PYPI.org/simple/",
            "https://pypi.org:443/simple#top",
        ] {
            assert_eq!(
                IndexUrl::parse(raw).unwrap().as_str(),
                "https://pypi.org/simple",
                "{raw}"
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
                "https://example.com?token=x",
            ),
            ("https://example.com?token=x", "https://example.com?token=x"),
            ("https://example.com/simple//", "https://example.com/simple"),
            ("http://Example.COM:80/simple", "http://example.com/simple"),
        ] {
            let url = IndexUrl::parse(raw).unwrap();
            assert_eq!(url.as_str(), canonical, "{raw}");
            assert_eq!(IndexUrl::parse(url.as_str()).unwrap().as_str(), canonical);
        }
    }

    /// Issue 8, row 3: Thoth's solver names, with an OS version of one or more numbers.
    #[test]
    fn solver_names_follow_thoths_scheme() {
        for good in [
            "solver-rhel-8.0-py36",
            "solver-rhel-8-py38",
            "solver-fedora-35-py310",
            "solver-ubi-8.4.1-py39",
        ] {
            assert!(SolverName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "solver-rhel-py38",
            "solver-rhel-8.0",
            "Solver-RHEL-8-py38",
            "solver-rhel-8.-py38",
            "solver-rhel-8..0-py38",
            "solver-rhel-8.0-py3",
            "rhel-8-py38",
        ] {
            assert!(invalid(SolverName::parse(bad)), "{bad}");
        }
    }

    /// Issue 8, row 5: origins are http(s) URLs; quotes, newlines and template syntax of
    /// any kind are refused.
    #[test]
    fn origins_are_repository_urls_and_nothing_else() {
        assert!(OriginUrl::parse("https://github.com/thoth-station/ps-ip").is_ok());
        for bad in [
            "https://github.com/x\"y",
            "https://github.com/x\ny",
            "https://github.com/{{workflow.name}}",
            "https://github.com/x}}",
            "https://github.com/${HOME}",
            "https://github.com/x'y z",
            "https://github.com/`id`",
            "git@github.com:thoth-station/ps-ip.git",
            "ssh://github.com/x",
        ] {
            assert!(OriginUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_canonical_form_is_what_every_spelling_prints_and_serialises_as() {
        let name = PackageName::parse("Ruamel.YAML").unwrap();
        let version = PackageVersion::parse("0.17.21").unwrap();
        let index = IndexUrl::parse("https://pypi.python.org/simple/").unwrap();
        assert_eq!(name.to_string(), "ruamel-yaml");
        assert_eq!(index.to_string(), "https://pypi.org/simple");
        assert_eq!(String::from(name.clone()), "ruamel-yaml");
        let json = serde_json::json!(["ruamel_yaml", "0.17.21", "https://PYPI.org/simple"]);
        let (n, v, i): (PackageName, PackageVersion, IndexUrl) =
            serde_json::from_value(json).unwrap();
        assert_eq!((&n, &v, &i), (&name, &version, &index));
        assert_eq!(
            serde_json::to_value((&n, &v, &i)).unwrap(),
            serde_json::json!(["ruamel-yaml", "0.17.21", "https://pypi.org/simple"])
        );
    }

    #[test]
    fn the_schema_is_the_rule() {
        let mut generator = SchemaGenerator::default();
        let schema = schema::<SolverNameRule>(&mut generator);
        assert_eq!(schema.get("pattern").unwrap(), SolverNameRule::RULE.pattern);
        assert_eq!(schema.get("maxLength").unwrap(), 63);
        assert_eq!(schema.get("minLength").unwrap(), 1);
    }

    /// A domain without a normal form of its own (origins, solver names, ids) keeps the value
    /// exactly as sent: the default normalisation is the identity, not some other string.
    #[test]
    fn a_value_without_a_normal_form_is_its_spelling() {
        for raw in [
            "https://GitHub.com/Thoth-Station/ps-ip/",
            "http://10.0.0.1:8080/x?y=1#z",
        ] {
            let origin = OriginUrl::parse(raw).unwrap();
            assert_eq!(origin.as_str(), raw);
        }
        assert_eq!(
            SolverName::parse("solver-rhel-8.0-py36").unwrap().as_str(),
            "solver-rhel-8.0-py36"
        );
    }

    /// `max_len` is the longest value accepted, not the first refused one.
    #[test]
    fn a_value_of_exactly_the_longest_length_is_accepted() {
        let longest = "a".repeat(MAX_PACKAGE_NAME_LEN);
        assert_eq!(PackageName::parse(&longest).unwrap().as_str(), longest);
        let job = "j".repeat(JobIdRule::RULE.max_len);
        assert!(JobId::parse(&job).is_ok());
    }

    /// Logs (`{:?}`) show the normal form, the value an identity is made of.
    #[test]
    fn debug_prints_the_normal_form() {
        let name = PackageName::parse("Ruamel.YAML").unwrap();
        assert_eq!(format!("{name:?}"), "\"ruamel-yaml\"");
    }

    /// Hash agrees with equality: spellings of one value hash alike (they are one key of a
    /// map), and the hash is that of the normal form, so different values spread out.
    #[test]
    fn spellings_of_one_value_hash_alike_and_as_their_normal_form() {
        use std::collections::hash_map::DefaultHasher;
        fn hash_of(value: &impl Hash) -> u64 {
            let mut hasher = DefaultHasher::new();
            value.hash(&mut hasher);
            hasher.finish()
        }
        let a = PackageName::parse("Ruamel.YAML").unwrap();
        let b = PackageName::parse("ruamel_yaml").unwrap();
        let c = PackageName::parse("django").unwrap();
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&a), hash_of(&"ruamel-yaml".to_string()));
        assert_ne!(hash_of(&a), hash_of(&c));
    }

    /// `<` and `>` compare normal forms, as `Ord` does: `B` sorts after `a` although the
    /// spelling `B` is before `a` in ASCII.
    #[test]
    fn comparison_operators_order_by_the_normal_form() {
        let upper_b = PackageName::parse("B").unwrap();
        let a = PackageName::parse("a").unwrap();
        assert!(a < upper_b);
        assert!(upper_b > a);
        assert_eq!(a.partial_cmp(&upper_b), Some(Ordering::Less));
        assert_eq!(
            a.partial_cmp(&PackageName::parse("A").unwrap()),
            Some(Ordering::Equal)
        );
    }

    /// A CRD field of a constrained type carries its rule inline (the API server's
    /// structural schemas have no `$ref`); a list field carries its size limit and the rule
    /// of its items.
    #[test]
    fn crd_fields_of_constrained_types_carry_their_rule_inline() {
        #[derive(JsonSchema)]
        #[allow(dead_code)]
        struct Spec {
            name: PackageName,
            #[schemars(schema_with = "list_schema::<IndexUrlRule, 3>")]
            indexes: Vec<String>,
        }
        let schema = schemars::schema_for!(Spec).to_value();
        let name = &schema["properties"]["name"];
        assert_eq!(name["pattern"], PackageNameRule::RULE.pattern, "{schema}");
        assert_eq!(name["maxLength"], MAX_PACKAGE_NAME_LEN);
        assert!(name.get("$ref").is_none(), "{schema}");
        let indexes = &schema["properties"]["indexes"];
        assert_eq!(indexes["type"], "array");
        assert_eq!(indexes["maxItems"], 3);
        assert_eq!(indexes["items"]["pattern"], IndexUrlRule::RULE.pattern);
        assert_eq!(indexes["items"]["maxLength"], MAX_INDEX_URL_LEN);
    }

    /// Releases are ordered as PEP 440 orders them (`1.10` after `1.9`), from the parsed
    /// version of every accepted spelling.
    #[test]
    fn versions_order_as_pep_440_releases() {
        let v = |s: &str| PackageVersion::parse(s).unwrap().pep440().unwrap();
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.0b2") < v("1.0"));
        assert_eq!(v("1.0beta2"), v("1.0b2"));
    }
}
