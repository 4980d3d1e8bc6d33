//! Patterns the CRD schemas enforce, each taken from its value's one [`Rule`] in
//! `crate::package`, so that what a message may carry and what the API server accepts never
//! disagree.
//!
//! [`Rule`]: crate::package::Rule

use crate::package::{
    Domain, IndexUrlRule, JobIdRule, PackageNameRule, PackageVersionRule, SolverNameRule,
};

/// A Python project name as PEP 508 allows it (before PEP 503 normalisation).
pub const PACKAGE_NAME_PATTERN: &str = PackageNameRule::RULE.pattern;
/// A PEP 440 version (legacy versions are refused).
pub const PACKAGE_VERSION_PATTERN: &str = PackageVersionRule::RULE.pattern;
/// An http(s) URL without credentials, of unreserved characters, `%XX` escapes and the
/// delimiters `/ : ? # & = + , @` only.
pub const HTTP_URL_PATTERN: &str = IndexUrlRule::RULE.pattern;
/// Thoth's solver naming scheme: `solver-<os>-<os version>-py<XY>`.
pub const SOLVER_NAME_PATTERN: &str = SolverNameRule::RULE.pattern;
/// A Kubernetes DNS-1123 label, which Thoth job ids already are (`adviser-210312182025-5e8c…`).
pub const DNS_LABEL_PATTERN: &str = JobIdRule::RULE.pattern;
/// A Python identifier in lower case (the aggregation function is a function name).
pub const FUNCTION_NAME_PATTERN: &str = r"^[a-z_][a-z0-9_]*$";
