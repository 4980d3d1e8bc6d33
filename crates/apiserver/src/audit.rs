//! The audit log: which resource requests the server served, for whom, with which answer.
//!
//! A record holds what an RBAC rule is matched against (the request attributes of
//! `k8s.io/apiserver/pkg/endpoints/request.RequestInfo`: verb, API group, resource,
//! subresource, namespace, name) so that a test can check a client's requests against a
//! set of Roles and ClusterRoles. Discovery and OpenAPI requests are not recorded: every
//! authenticated user may read them (the `system:discovery` and `system:public-info-viewer`
//! ClusterRoles), so no application's RBAC grants them.
//!
//! This server authenticates nobody. The user of a request is the one it impersonates
//! (`Impersonate-User`, as `kubectl --as` and client-go's impersonation config send it),
//! else [`ANONYMOUS`]: a test gives each client it wants told apart its own identity.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, Method};

/// The user of requests that impersonate no one.
pub const ANONYMOUS: &str = "system:anonymous";

/// The header naming the impersonated user.
pub const IMPERSONATE_USER: &str = "Impersonate-User";

/// One served resource request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditRecord {
    /// `Impersonate-User` of the request, or [`ANONYMOUS`].
    pub user: String,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`.
    pub verb: String,
    /// The API group, empty for the core group.
    pub group: String,
    /// The version in the path (RBAC ignores it; kept for reading the log).
    pub version: String,
    /// The resource's plural name, without the subresource.
    pub resource: String,
    /// `status` for `/status` requests.
    pub subresource: Option<String>,
    /// The namespace in the path; `None` for cluster-scoped kinds and all-namespace requests.
    pub namespace: Option<String>,
    /// The object's name for requests on one object.
    pub name: Option<String>,
    /// The HTTP status code of the answer (200 for a watch that was opened).
    pub code: u16,
}

impl AuditRecord {
    /// The resource as RBAC rules name it: `plural` or `plural/subresource`.
    pub fn rbac_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }
}

/// The verb of a resource request, as RequestInfo derives it from the method and path.
pub(crate) fn verb(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

pub(crate) fn user(headers: &HeaderMap) -> String {
    headers
        .get(IMPERSONATE_USER)
        .and_then(|v| v.to_str().ok())
        .filter(|u| !u.is_empty())
        .unwrap_or(ANONYMOUS)
        .to_string()
}

/// The records of a server started with the audit log on; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditLog {
    records: Arc<Mutex<Vec<AuditRecord>>>,
}

impl AuditLog {
    pub(crate) fn push(&self, record: AuditRecord) {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(record);
    }

    pub(crate) fn records(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_request_info() {
        assert_eq!(verb(&Method::GET, false, true), "watch");
        assert_eq!(verb(&Method::GET, true, false), "get");
        assert_eq!(verb(&Method::GET, false, false), "list");
        assert_eq!(verb(&Method::POST, false, false), "create");
        assert_eq!(verb(&Method::PUT, true, false), "update");
        assert_eq!(verb(&Method::PATCH, true, false), "patch");
        assert_eq!(verb(&Method::DELETE, true, false), "delete");
        assert_eq!(verb(&Method::DELETE, false, false), "deletecollection");
    }

    #[test]
    fn the_user_is_the_impersonated_one_or_anonymous() {
        let mut headers = HeaderMap::new();
        assert_eq!(user(&headers), ANONYMOUS);
        headers.insert(
            IMPERSONATE_USER,
            "system:serviceaccount:ops:op".parse().unwrap(),
        );
        assert_eq!(user(&headers), "system:serviceaccount:ops:op");
    }
}
