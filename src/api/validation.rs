//! Patterns and limits the CRD schemas enforce, shared with the admission code so
//! that what a message may carry and what the API server accepts never disagree.

/// A Python project name as PEP 508 allows it (before PEP 503 normalisation).
pub const PACKAGE_NAME_PATTERN: &str = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$";
/// Characters a PEP 440 version (or a legacy version) may contain.
pub const PACKAGE_VERSION_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$";
/// An http(s) URL without whitespace.
pub const HTTP_URL_PATTERN: &str = r"^https?://[^\s/$.?#][^\s]*$";
/// Thoth's solver naming scheme: `solver-<os>-<os version>-py<XY>`.
pub const SOLVER_NAME_PATTERN: &str = r"^solver-[a-z0-9]+(-[a-z0-9.]+)*-py[0-9]{2,3}$";
/// A Kubernetes DNS-1123 label, which Thoth job ids already are (`adviser-210312182025-5e8c…`).
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A Python identifier in lower case (the aggregation function is a function name).
pub const FUNCTION_NAME_PATTERN: &str = r"^[a-z_][a-z0-9_]*$";
