//! The object store: every object of every served kind, one global
//! resourceVersion counter, the event log that watches resume from, and the
//! write semantics of the real API server (metadata, generation, status
//! subresource, finalizers, garbage collection, CRD lifecycle).
//!
//! This file holds the state ([`Store`] behind one lock) and the entry points; each
//! concept has its own file: `objects` (create, update, patch), `deletion`
//! (preconditions, finalizers, propagation), `gc` (the garbage collector),
//! `namespaces`, `events` (the event log and watches), `paging` (lists, selectors,
//! continue tokens) and `options` (what a request asks for).

mod deletion;
mod events;
mod gc;
mod namespaces;
mod objects;
mod options;
mod paging;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

pub(crate) use events::{EventType, WatchFrom, WatchRecord, encode_event};
pub(crate) use options::{DeleteOptions, FieldValidation, PatchType, Propagation, WriteOptions};
pub(crate) use paging::{Filter, ListOptions, ListResult};

use crate::error::ApiError;
use crate::meta;
use crate::resource::{CRD_GROUP, CRD_PLURAL, ResourceType, StorageKey, builtin_types};

pub(crate) type ObjectKey = (String, String);

pub(crate) struct Store {
    inner: Mutex<Inner>,
}

struct Inner {
    rv: u64,
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
    collections: HashMap<StorageKey, BTreeMap<ObjectKey, Arc<Value>>>,
    log: VecDeque<Arc<WatchRecord>>,
    window: usize,
    /// Per kind, the resourceVersion of the newest record evicted from the log:
    /// watches from an older version get 410 Gone.
    floors: HashMap<StorageKey, u64>,
    sender: broadcast::Sender<Arc<WatchRecord>>,
    objects_with_owners: usize,
    foreground_pending: HashSet<(StorageKey, ObjectKey)>,
    terminating_namespaces: HashSet<String>,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn crd_key() -> StorageKey {
    StorageKey {
        group: CRD_GROUP.into(),
        plural: CRD_PLURAL.into(),
    }
}

impl Store {
    pub(crate) fn new(window: usize) -> Self {
        let window = window.max(1);
        let (sender, _) = broadcast::channel(window.max(1024));
        let mut inner = Inner {
            rv: 0,
            types: BTreeMap::new(),
            collections: HashMap::new(),
            log: VecDeque::new(),
            window,
            floors: HashMap::new(),
            sender,
            objects_with_owners: 0,
            foreground_pending: HashSet::new(),
            terminating_namespaces: HashSet::new(),
        };
        for rt in builtin_types() {
            inner.register(rt);
        }
        let store = Self {
            inner: Mutex::new(inner),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            if let Some(rt) = store.resolve("", "v1", "namespaces") {
                let _ = store.create(&rt, "", namespace, &WriteOptions::default());
            }
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another request panicked; the data is still consistent
        // at operation boundaries because every operation validates before it mutates.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn resolve(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceType>> {
        self.lock()
            .types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub(crate) fn types(&self) -> Vec<Arc<ResourceType>> {
        self.lock().types.values().cloned().collect()
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub(crate) fn get(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let inner = self.lock();
        inner
            .object(rt, namespace, name)
            .map(|o| inner.served(rt, &o))
            .ok_or_else(|| ApiError::not_found(rt.subject(name)))
    }

    pub(crate) fn list(
        &self,
        rt: &ResourceType,
        options: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        let inner = self.lock();
        inner.list(rt, options)
    }

    pub(crate) fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        body: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().create(rt, namespace, body, options)
    }

    /// PUT. Returns the object and whether it was created.
    pub(crate) fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        self.lock()
            .update(rt, namespace, name, body, subresource, options)
    }

    /// PATCH. Returns the object and whether it was created (server-side apply only).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        self.lock()
            .patch(rt, namespace, name, patch_type, body, subresource, options)
    }

    pub(crate) fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().delete(rt, namespace, name, options)
    }

    pub(crate) fn delete_collection(
        &self,
        rt: &ResourceType,
        list: &ListOptions,
        options: &DeleteOptions,
    ) -> Result<Vec<Value>, ApiError> {
        let mut inner = self.lock();
        let victims = inner.list(
            rt,
            &ListOptions {
                filter: list.filter.clone(),
                ..ListOptions::default()
            },
        )?;
        let mut deleted = Vec::new();
        for object in victims.items {
            let (ns, name) = (
                meta::namespace(&object).to_string(),
                meta::name(&object).to_string(),
            );
            match inner.delete(rt, &ns, &name, options) {
                Ok(object) => deleted.push(object),
                Err(err) if err.code == 404 => {}
                Err(err) => return Err(err),
            }
        }
        Ok(deleted)
    }
}

impl Inner {
    fn register(&mut self, rt: ResourceType) {
        self.collections.entry(rt.storage_key()).or_default();
        self.types.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            Arc::new(rt),
        );
    }

    fn collection(&self, key: &StorageKey) -> Option<&BTreeMap<ObjectKey, Arc<Value>>> {
        self.collections.get(key)
    }

    fn object_key(rt: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
        let ns = if rt.namespaced { namespace } else { "" };
        (ns.to_string(), name.to_string())
    }

    fn object(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.collections
            .get(&rt.storage_key())?
            .get(&Self::object_key(rt, namespace, name))
            .cloned()
    }

    /// The object as served at `rt`'s version (versions share storage; no conversion beyond apiVersion).
    fn served(&self, rt: &ResourceType, object: &Value) -> Value {
        let mut object = object.clone();
        let api_version = rt.api_version();
        if object.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            object["apiVersion"] = json!(api_version);
        }
        object
    }

    pub(super) fn put(&mut self, key: &StorageKey, object: Arc<Value>) -> Option<Arc<Value>> {
        let object_key = (
            meta::namespace(&object).to_string(),
            meta::name(&object).to_string(),
        );
        if !meta::owner_uids(&object).is_empty() {
            self.objects_with_owners += 1;
        }
        let previous = self
            .collections
            .entry(key.clone())
            .or_default()
            .insert(object_key, object);
        if let Some(prev) = &previous
            && !meta::owner_uids(prev).is_empty()
        {
            self.objects_with_owners = self.objects_with_owners.saturating_sub(1);
        }
        previous
    }

    pub(super) fn take(&mut self, key: &StorageKey, object_key: &ObjectKey) -> Option<Arc<Value>> {
        let removed = self.collections.get_mut(key)?.remove(object_key)?;
        if !meta::owner_uids(&removed).is_empty() {
            self.objects_with_owners = self.objects_with_owners.saturating_sub(1);
        }
        self.foreground_pending
            .remove(&(key.clone(), object_key.clone()));
        Some(removed)
    }
}
