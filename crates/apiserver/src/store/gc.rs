//! The garbage collector, done at once after each write: dependents whose owners are
//! all gone, foreground deletions whose dependents are gone, empty terminating namespaces.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::EventType;
use super::namespaces::namespace_key;
use super::options::Propagation;
use super::{Inner, ObjectKey};
use crate::meta;
use crate::resource::StorageKey;

impl Inner {
    /// Whether the garbage collector would find every owner `object` names absent: each
    /// looked up by kind and name (in the dependent's namespace for namespaced kinds) with
    /// its uid compared. An owner of a kind not served keeps the dependent, as the
    /// collector cannot decide then.
    pub(super) fn owners_all_absent(&self, object: &Value) -> bool {
        let Some(refs) = object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .filter(|refs| !refs.is_empty())
        else {
            return false;
        };
        refs.iter().all(|owner| {
            let field = |name: &str| owner.get(name).and_then(Value::as_str).unwrap_or("");
            let (group, version) = field("apiVersion")
                .split_once('/')
                .unwrap_or(("", field("apiVersion")));
            let Some(rt) = self
                .types
                .values()
                .find(|t| t.group == group && t.version == version && t.kind == field("kind"))
            else {
                return false;
            };
            let namespace = if rt.namespaced {
                meta::namespace(object)
            } else {
                ""
            };
            self.collections
                .get(&rt.storage_key())
                .and_then(|c| c.get(&(namespace.to_string(), field("name").to_string())))
                .is_none_or(|live| meta::uid(live) != field("uid"))
        })
    }

    /// A dependent written with only absent owners goes, as the garbage collector removes it
    /// once it notices.
    pub(super) fn collect_if_orphaned(&mut self, key: &StorageKey, object: &Arc<Value>) {
        if self.owners_all_absent(object) {
            self.delete_object(key, object, Propagation::Background);
            self.collect_garbage();
        }
    }

    pub(super) fn has_dependents(&self, uid: &str) -> bool {
        self.objects_with_owners > 0
            && self
                .collections
                .values()
                .flat_map(|c| c.values())
                .any(|o| meta::owner_uids(o).iter().any(|u| u == uid))
    }

    pub(super) fn dependents_of(&self, uid: &str) -> Vec<(StorageKey, Arc<Value>)> {
        if self.objects_with_owners == 0 {
            return Vec::new();
        }
        self.collections
            .iter()
            .flat_map(|(key, c)| c.values().map(move |o| (key.clone(), o.clone())))
            .filter(|(_, o)| meta::owner_uids(o).iter().any(|u| u == uid))
            .collect()
    }

    pub(super) fn orphan_dependents(&mut self, uid: &str) {
        for (key, dependent) in self.dependents_of(uid) {
            let mut updated = (*dependent).clone();
            if let Some(refs) = updated
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty() {
                    meta::remove_meta(&mut updated, "ownerReferences");
                }
            }
            let rv = self.next_rv();
            meta::set_meta(&mut updated, "resourceVersion", json!(rv.to_string()));
            let updated = Arc::new(updated);
            self.put(&key, updated.clone());
            self.emit(&key, EventType::Modified, updated, Some(dependent));
        }
    }

    pub(super) fn delete_dependents(&mut self, uid: &str) {
        for (key, dependent) in self.dependents_of(uid) {
            self.delete_object(&key, &dependent, Propagation::Background);
        }
    }

    /// What the garbage collector and the namespace controller would do next,
    /// done now: dependents of vanished owners go, foreground deletions finish
    /// when their dependents are gone, empty terminating namespaces go.
    pub(super) fn collect_garbage(&mut self) {
        loop {
            let mut changed = false;
            if self.objects_with_owners > 0 {
                let live: HashSet<(String, String)> = self
                    .collections
                    .values()
                    .flat_map(|c| c.values())
                    .map(|o| (meta::namespace(o).to_string(), meta::uid(o).to_string()))
                    .collect();
                let orphans: Vec<(StorageKey, Arc<Value>)> = self
                    .collections
                    .iter()
                    .flat_map(|(key, c)| c.values().map(move |o| (key.clone(), o.clone())))
                    .filter(|(_, o)| {
                        let owners = meta::owner_uids(o);
                        !owners.is_empty()
                            && !meta::is_deleting(o)
                            && owners.iter().all(|u| {
                                !live.contains(&(meta::namespace(o).to_string(), u.clone()))
                                    && !live.contains(&(String::new(), u.clone()))
                            })
                    })
                    .collect();
                for (key, orphan) in orphans {
                    self.delete_object(&key, &orphan, Propagation::Background);
                    changed = true;
                }
            }
            let pending: Vec<(StorageKey, ObjectKey)> =
                self.foreground_pending.iter().cloned().collect();
            for (key, object_key) in pending {
                let Some(owner) = self
                    .collections
                    .get(&key)
                    .and_then(|c| c.get(&object_key))
                    .cloned()
                else {
                    self.foreground_pending.remove(&(key, object_key));
                    continue;
                };
                if self.has_dependents(meta::uid(&owner)) {
                    continue;
                }
                self.foreground_pending.remove(&(key.clone(), object_key));
                let mut updated = (*owner).clone();
                let remaining: Vec<String> = meta::finalizers(&owner)
                    .into_iter()
                    .filter(|f| f != "foregroundDeletion")
                    .collect();
                let rv = self.next_rv();
                meta::set_meta(&mut updated, "resourceVersion", json!(rv.to_string()));
                if remaining.is_empty() {
                    meta::remove_meta(&mut updated, "finalizers");
                    let updated = Arc::new(updated);
                    let object_key = (
                        meta::namespace(&updated).to_string(),
                        meta::name(&updated).to_string(),
                    );
                    self.take(&key, &object_key);
                    self.emit(&key, EventType::Deleted, updated.clone(), Some(owner));
                    self.after_removal(&key, &updated);
                } else {
                    meta::set_meta(&mut updated, "finalizers", json!(remaining));
                    let updated = Arc::new(updated);
                    self.put(&key, updated.clone());
                    self.emit(&key, EventType::Modified, updated, Some(owner));
                }
                changed = true;
            }
            let terminating: Vec<String> = self.terminating_namespaces.iter().cloned().collect();
            for namespace in terminating {
                let empty = self.collections.iter().all(|(key, c)| {
                    *key == namespace_key()
                        || c.range((namespace.clone(), String::new())..)
                            .next()
                            .is_none_or(|(k, _)| k.0 != namespace)
                });
                if !empty {
                    continue;
                }
                self.terminating_namespaces.remove(&namespace);
                let ns_key = namespace_key();
                if let Some(ns) = self.take(&ns_key, &(String::new(), namespace.clone())) {
                    let rv = self.next_rv();
                    let mut last = (*ns).clone();
                    meta::set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
                    if let Some(spec) = last.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                    self.emit(&ns_key, EventType::Deleted, Arc::new(last), Some(ns));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}
