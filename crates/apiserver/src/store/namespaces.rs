//! Namespaces: objects need an existing, non-terminating namespace; the system
//! namespaces cannot be deleted; deleting one empties it first.

use std::sync::Arc;

use serde_json::Value;

use super::Inner;
use super::options::Propagation;
use crate::error::{ApiError, Subject};
use crate::meta;
use crate::resource::{ResourceType, StorageKey};

pub(super) fn namespace_key() -> StorageKey {
    StorageKey {
        group: String::new(),
        plural: "namespaces".into(),
    }
}

/// Namespaces the NamespaceLifecycle admission plugin refuses to delete.
pub(super) const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Inner {
    pub(super) fn check_namespace(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        if namespace.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
        let ns = self
            .collections
            .get(&namespace_key())
            .and_then(|c| c.get(&(String::new(), namespace.to_string())));
        match ns {
            None => Err(ApiError::not_found(Subject::new(
                "",
                "namespaces",
                namespace,
            ))),
            Some(ns) if meta::is_deleting(ns) => Err(ApiError::forbidden(
                rt.subject(name),
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Deletes every object in a namespace being deleted.
    pub(super) fn empty_namespace(&mut self, namespace: &str) {
        let victims: Vec<(StorageKey, Arc<Value>)> = self
            .collections
            .iter()
            .flat_map(|(key, c)| {
                c.range((namespace.to_string(), String::new())..)
                    .take_while(|(k, _)| k.0 == namespace)
                    .map(move |(_, o)| (key.clone(), o.clone()))
            })
            .collect();
        for (key, object) in victims {
            self.delete_object(&key, &object, Propagation::Background);
        }
    }
}
