//! Deleting objects: preconditions, finalizers holding an object with a
//! `deletionTimestamp`, propagation policies, and a CRD taking its objects along.

use std::sync::Arc;

use serde_json::{Value, json};

use super::events::EventType;
use super::namespaces::{IMMORTAL_NAMESPACES, namespace_key};
use super::options::{DeleteOptions, Propagation};
use super::{Inner, crd_key, now};
use crate::error::ApiError;
use crate::meta;
use crate::resource::{ResourceType, StorageKey};

impl Inner {
    pub(super) fn delete(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        if rt.storage_key() == namespace_key() && IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                rt.subject(name),
                "this namespace may not be deleted",
            ));
        }
        let Some(old) = self.object(rt, namespace, name) else {
            return Err(ApiError::not_found(rt.subject(name)));
        };
        if let Some(uid) = &options.precondition_uid
            && uid != meta::uid(&old)
        {
            return Err(ApiError::conflict(
                rt.subject(name),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&old)
                ),
            ));
        }
        if let Some(rv) = &options.precondition_rv
            && rv != meta::resource_version(&old)
        {
            return Err(ApiError::conflict(
                rt.subject(name),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::resource_version(&old)
                ),
            ));
        }
        if options.dry_run {
            return Ok(self.served(rt, &old));
        }
        let key = rt.storage_key();
        let uid = meta::uid(&old).to_string();
        if options.propagation == Propagation::Orphan {
            self.orphan_dependents(&uid);
        }
        let object = if meta::is_deleting(&old) && options.propagation_given {
            self.redelete(&key, &old, options.propagation)
        } else {
            self.delete_object(&key, &old, options.propagation)
        };
        if options.propagation == Propagation::Foreground {
            self.delete_dependents(&uid);
        }
        self.collect_garbage();
        Ok(self.served(rt, &object))
    }

    /// Deletes or, when finalizers (or a foreground deletion) hold it, marks the object.
    /// Deleting an object already being deleted, with a policy, rewrites its
    /// garbage-collection finalizers for that policy, as registry/generic/registry/store.go
    /// (deletionFinalizersForGarbageCollection) does for types without graceful deletion:
    /// Foreground adds foregroundDeletion, Background and Orphan remove it (orphaning is
    /// immediate here, so no orphan finalizer). With no finalizer left the object goes.
    pub(super) fn redelete(
        &mut self,
        key: &StorageKey,
        old: &Arc<Value>,
        propagation: Propagation,
    ) -> Arc<Value> {
        if *key == namespace_key() {
            return old.clone();
        }
        let object_key = (
            meta::namespace(old).to_string(),
            meta::name(old).to_string(),
        );
        let before = meta::finalizers(old);
        let mut finalizers: Vec<String> = before
            .iter()
            .filter(|f| *f != "foregroundDeletion" && *f != "orphan")
            .cloned()
            .collect();
        if propagation == Propagation::Foreground && self.has_dependents(meta::uid(old)) {
            finalizers.push("foregroundDeletion".into());
            self.foreground_pending
                .insert((key.clone(), object_key.clone()));
        } else {
            self.foreground_pending
                .remove(&(key.clone(), object_key.clone()));
        }
        if finalizers == before {
            return old.clone();
        }
        let mut updated = (**old).clone();
        let rv = self.next_rv();
        meta::set_meta(&mut updated, "resourceVersion", json!(rv.to_string()));
        if finalizers.is_empty() {
            meta::remove_meta(&mut updated, "finalizers");
            let updated = Arc::new(updated);
            self.take(key, &object_key);
            self.emit(key, EventType::Deleted, updated.clone(), Some(old.clone()));
            self.after_removal(key, &updated);
            return updated;
        }
        meta::set_meta(&mut updated, "finalizers", json!(finalizers));
        let updated = Arc::new(updated);
        self.put(key, updated.clone());
        self.emit(key, EventType::Modified, updated.clone(), Some(old.clone()));
        updated
    }

    pub(super) fn delete_object(
        &mut self,
        key: &StorageKey,
        old: &Arc<Value>,
        propagation: Propagation,
    ) -> Arc<Value> {
        if meta::is_deleting(old) {
            return old.clone();
        }
        let is_namespace = *key == namespace_key();
        let mut finalizers = meta::finalizers(old);
        let has_dependents =
            propagation == Propagation::Foreground && self.has_dependents(meta::uid(old));
        if has_dependents && !finalizers.iter().any(|f| f == "foregroundDeletion") {
            finalizers.push("foregroundDeletion".into());
        }
        if finalizers.is_empty() && !is_namespace {
            let rv = self.next_rv();
            let mut last = (**old).clone();
            meta::set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
            let last = Arc::new(last);
            let object_key = (
                meta::namespace(old).to_string(),
                meta::name(old).to_string(),
            );
            self.take(key, &object_key);
            self.emit(key, EventType::Deleted, last.clone(), Some(old.clone()));
            self.after_removal(key, &last);
            return last;
        }
        let mut marked = (**old).clone();
        meta::set_meta(&mut marked, "deletionTimestamp", json!(now()));
        meta::set_meta(&mut marked, "deletionGracePeriodSeconds", json!(0));
        if !finalizers.is_empty() {
            meta::set_meta(&mut marked, "finalizers", json!(finalizers));
        }
        if let Some(generation) = old.pointer("/metadata/generation").and_then(Value::as_i64)
            && generation > 0
        {
            meta::set_meta(&mut marked, "generation", json!(generation + 1));
        }
        if is_namespace {
            marked["status"] = json!({"phase": "Terminating"});
            self.terminating_namespaces
                .insert(meta::name(old).to_string());
        }
        let rv = self.next_rv();
        meta::set_meta(&mut marked, "resourceVersion", json!(rv.to_string()));
        let marked = Arc::new(marked);
        if has_dependents {
            self.foreground_pending.insert((
                key.clone(),
                (
                    meta::namespace(old).to_string(),
                    meta::name(old).to_string(),
                ),
            ));
        }
        self.put(key, marked.clone());
        self.emit(key, EventType::Modified, marked.clone(), Some(old.clone()));
        if is_namespace {
            self.empty_namespace(meta::name(old));
        }
        marked
    }

    /// Removes an object whose deletion is complete (its last finalizer is gone).
    pub(super) fn remove_now(&mut self, key: &StorageKey, last: Arc<Value>, previous: Arc<Value>) {
        let object_key = (
            meta::namespace(&last).to_string(),
            meta::name(&last).to_string(),
        );
        self.take(key, &object_key);
        self.emit(key, EventType::Deleted, last.clone(), Some(previous));
        self.after_removal(key, &last);
    }

    /// Side effects of an object going away: a CRD stops being served and takes its objects with it.
    pub(super) fn after_removal(&mut self, key: &StorageKey, removed: &Value) {
        if *key == crd_key() {
            let group = meta::str_field(removed, "/spec/group")
                .unwrap_or("")
                .to_string();
            let plural = meta::str_field(removed, "/spec/names/plural")
                .unwrap_or("")
                .to_string();
            self.types
                .retain(|(g, _, p), _| !(g == &group && p == &plural));
            let storage = StorageKey { group, plural };
            if let Some(objects) = self.collections.remove(&storage) {
                for (_, object) in objects {
                    let rv = self.next_rv();
                    let mut last = (*object).clone();
                    meta::set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
                    self.emit(&storage, EventType::Deleted, Arc::new(last), Some(object));
                }
            }
        }
    }
}
