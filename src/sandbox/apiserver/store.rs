//! The object store: every object of every served kind, one global
//! resourceVersion counter, the event log that watches resume from, and the
//! write semantics of the real API server (metadata, generation, status
//! subresource, finalizers, garbage collection, CRD lifecycle).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::apply::{self, ApplyError, ApplyRequest};
use super::error::{ApiError, Cause, Subject};
use super::meta;
use super::patch;
use super::resource::{
    CRD_GROUP, CRD_PLURAL, ResourceType, StorageKey, builtin_types, types_from_crd,
};
use super::selector::{FieldSelector, LabelSelector};

pub type ObjectKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the event log and sent to watchers.
#[derive(Debug)]
pub struct WatchRecord {
    pub rv: u64,
    pub key: StorageKey,
    pub namespace: String,
    pub event: EventType,
    pub object: Arc<Value>,
    /// The object before a modification or deletion: selector watches turn a modification
    /// into ADDED/DELETED with it, and lists continued from an older version undo changes with it.
    pub previous: Option<Arc<Value>>,
    encoded: OnceLock<Bytes>,
}

impl WatchRecord {
    /// The watch line `{"type":..,"object":..}\n`, encoded once for all watchers.
    pub fn encoded(&self) -> Bytes {
        self.encoded
            .get_or_init(|| encode_event(self.event.as_str(), &self.object))
            .clone()
    }
}

pub fn encode_event(event_type: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// `fieldValidation`: what happens to fields the schema does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Dropped silently.
    #[default]
    Ignore,
    /// Dropped, with one warning each (the server's default for API requests).
    Warn,
    /// The request is refused, naming them.
    Strict,
}

/// Warnings a write collects for the client (`Warning` response headers).
/// Clones share the list, so nested writes (apply creating) report into it too.
#[derive(Debug, Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    pub fn push(&self, warning: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(warning);
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Who writes and how.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub field_manager: String,
    pub dry_run: bool,
    pub force: bool,
    pub field_validation: FieldValidation,
    pub warnings: Warnings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    /// Whether the request named a policy (propagationPolicy or orphanDependents) rather
    /// than leaving it to the default.
    pub propagation_given: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn has_selectors(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }

    pub fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && meta::namespace(object) != ns
        {
            return false;
        }
        if let Some(labels) = &self.labels
            && !labels.matches(&meta::labels(object))
        {
            return false;
        }
        if let Some(fields) = &self.fields
            && !fields.matches(object)
        {
            return false;
        }
        true
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub filter: Filter,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub exact: bool,
}

#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// Current state as synthetic ADDED events, then changes.
    Current,
    /// Changes after this resourceVersion.
    After(u64),
}

pub struct WatchStart {
    pub initial: Vec<Arc<Value>>,
    pub backlog: Vec<Arc<WatchRecord>>,
    pub receiver: broadcast::Receiver<Arc<WatchRecord>>,
    pub resource_version: u64,
}

pub struct Store {
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

fn namespace_key() -> StorageKey {
    StorageKey {
        group: String::new(),
        plural: "namespaces".into(),
    }
}

fn crd_key() -> StorageKey {
    StorageKey {
        group: CRD_GROUP.into(),
        plural: CRD_PLURAL.into(),
    }
}

/// Namespaces the NamespaceLifecycle admission plugin refuses to delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| GENERATE_NAME_ALPHABET[rng.random_range(0..GENERATE_NAME_ALPHABET.len())] as char)
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A continue token: the list's resourceVersion and the last key returned.
fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    hex_encode(format!("{rv}\u{0}{}\u{0}{}", key.0, key.1).as_bytes())
}

fn decode_continue(token: &str) -> Option<(u64, ObjectKey)> {
    let raw = String::from_utf8(hex_decode(token)?).ok()?;
    let mut parts = raw.split('\u{0}');
    let rv = parts.next()?.parse().ok()?;
    let ns = parts.next()?.to_string();
    let name = parts.next()?.to_string();
    Some((rv, (ns, name)))
}

fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version \"{raw}\": it must be an unsigned integer"
        ))
    })
}

impl Store {
    pub fn new(window: usize) -> Self {
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

    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.lock()
            .types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub fn types(&self) -> Vec<Arc<ResourceType>> {
        self.lock().types.values().cloned().collect()
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Every later change, with the version current when subscribing.
    pub fn subscribe(&self) -> (u64, broadcast::Receiver<Arc<WatchRecord>>) {
        let inner = self.lock();
        (inner.rv, inner.sender.subscribe())
    }

    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let inner = self.lock();
        inner
            .object(rt, namespace, name)
            .map(|o| inner.served(rt, &o))
            .ok_or_else(|| ApiError::not_found(rt.subject(name)))
    }

    pub fn list(&self, rt: &ResourceType, options: &ListOptions) -> Result<ListResult, ApiError> {
        let inner = self.lock();
        inner.list(rt, options)
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        body: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().create(rt, namespace, body, options)
    }

    /// PUT. Returns the object and whether it was created.
    pub fn update(
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
    pub fn patch(
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

    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().delete(rt, namespace, name, options)
    }

    pub fn delete_collection(
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

    pub fn watch(
        &self,
        rt: &ResourceType,
        from: WatchFrom,
        filter: &Filter,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let key = rt.storage_key();
        let receiver = inner.sender.subscribe();
        match from {
            WatchFrom::Current => {
                let initial = inner
                    .collection(&key)
                    .map(|c| c.values().filter(|o| filter.matches(o)).cloned().collect())
                    .unwrap_or_default();
                Ok(WatchStart {
                    initial,
                    backlog: Vec::new(),
                    receiver,
                    resource_version: inner.rv,
                })
            }
            WatchFrom::After(rv) => {
                let floor = inner.floors.get(&key).copied().unwrap_or(0);
                if rv < floor {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        floor + 1
                    )));
                }
                let start = inner.log.partition_point(|r| r.rv <= rv);
                let backlog = inner
                    .log
                    .range(start..)
                    .filter(|r| r.key == key)
                    .cloned()
                    .collect();
                Ok(WatchStart {
                    initial: Vec::new(),
                    backlog,
                    receiver,
                    resource_version: inner.rv,
                })
            }
        }
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

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(
        &mut self,
        key: &StorageKey,
        event: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let rv = meta::resource_version(&object).parse().unwrap_or(self.rv);
        let record = Arc::new(WatchRecord {
            rv,
            key: key.clone(),
            namespace: meta::namespace(&object).to_string(),
            event,
            object,
            previous,
            encoded: OnceLock::new(),
        });
        self.log.push_back(record.clone());
        while self.log.len() > self.window {
            if let Some(evicted) = self.log.pop_front() {
                self.floors.insert(evicted.key.clone(), evicted.rv);
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(record);
    }

    fn put(&mut self, key: &StorageKey, object: Arc<Value>) -> Option<Arc<Value>> {
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

    fn take(&mut self, key: &StorageKey, object_key: &ObjectKey) -> Option<Arc<Value>> {
        let removed = self.collections.get_mut(key)?.remove(object_key)?;
        if !meta::owner_uids(&removed).is_empty() {
            self.objects_with_owners = self.objects_with_owners.saturating_sub(1);
        }
        self.foreground_pending
            .remove(&(key.clone(), object_key.clone()));
        Some(removed)
    }

    fn list(&self, rt: &ResourceType, options: &ListOptions) -> Result<ListResult, ApiError> {
        let key = rt.storage_key();
        let mut list_rv = self.rv;
        let mut after: Option<ObjectKey> = None;
        if let Some(token) = &options.continue_token {
            let (rv, last) = decode_continue(token).ok_or_else(|| {
                ApiError::bad_request(
                    "continue key is not valid: could not decode the continue token",
                )
            })?;
            list_rv = rv;
            after = Some(last);
        } else if let Some(raw) = options
            .resource_version
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "0")
        {
            let asked = parse_rv(raw)?;
            if asked > self.rv {
                return Err(ApiError::resource_version_too_large(asked, self.rv));
            }
            if options.exact {
                list_rv = asked;
            }
        }
        let empty = BTreeMap::new();
        let current = self.collection(&key).unwrap_or(&empty);
        // Every page of a list shows the collection as of the list's version, as etcd
        // serves a continue token from its snapshot.
        let snapshot;
        let collection = if list_rv < self.rv {
            snapshot = self
                .collection_at(&key, current, list_rv)
                .ok_or_else(|| match options.continue_token {
                    Some(_) => ApiError::gone(format!(
                        "The provided continue parameter is too old to display a consistent list result (resourceVersion {list_rv}). You can start a new list without the continue parameter."
                    )),
                    None => ApiError::gone(format!(
                        "too old resource version: {list_rv} ({})",
                        self.rv
                    )),
                })?;
            &snapshot
        } else {
            current
        };
        let range: Box<dyn Iterator<Item = (&ObjectKey, &Arc<Value>)>> =
            match (&after, &options.filter.namespace) {
                (Some(last), _) => Box::new(
                    collection
                        .range(last.clone()..)
                        .filter(move |(k, _)| *k != last),
                ),
                (None, Some(ns)) if rt.namespaced => {
                    Box::new(collection.range((ns.clone(), String::new())..))
                }
                _ => Box::new(collection.iter()),
            };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut more = false;
        let mut remaining = 0usize;
        for (object_key, object) in range {
            if let Some(ns) = &options.filter.namespace
                && rt.namespaced
                && &object_key.0 != ns
            {
                if object_key.0.as_str() > ns.as_str() {
                    break;
                }
                continue;
            }
            if !options.filter.matches(object) {
                continue;
            }
            if let Some(limit) = options.limit
                && items.len() >= limit
            {
                more = true;
                remaining += 1;
                continue;
            }
            last_key = Some(object_key.clone());
            items.push(
                if object.get("apiVersion").and_then(Value::as_str)
                    == Some(rt.api_version().as_str())
                {
                    object.clone()
                } else {
                    Arc::new(self.served(rt, object))
                },
            );
        }
        let continue_token = match (more, last_key) {
            (true, Some(last)) => Some(encode_continue(list_rv, &last)),
            _ => None,
        };
        let remaining = (more && !options.filter.has_selectors()).then_some(remaining);
        Ok(ListResult {
            items,
            resource_version: list_rv,
            continue_token,
            remaining,
        })
    }

    /// `current` as it was at `rv`, rebuilt by undoing the logged changes since;
    /// None when some of them have left the log.
    fn collection_at(
        &self,
        key: &StorageKey,
        current: &BTreeMap<ObjectKey, Arc<Value>>,
        rv: u64,
    ) -> Option<BTreeMap<ObjectKey, Arc<Value>>> {
        if rv < self.floors.get(key).copied().unwrap_or(0) {
            return None;
        }
        let mut collection = current.clone();
        let object_key = |object: &Value| {
            (
                meta::namespace(object).to_string(),
                meta::name(object).to_string(),
            )
        };
        for record in self
            .log
            .iter()
            .rev()
            .take_while(|r| r.rv > rv)
            .filter(|r| r.key == *key)
        {
            match (record.event, &record.previous) {
                (EventType::Added, _) => {
                    collection.remove(&object_key(&record.object));
                }
                (_, Some(previous)) => {
                    collection.insert(object_key(previous), previous.clone());
                }
                (_, None) => return None,
            }
        }
        Some(collection)
    }

    fn check_namespace(
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

    /// Checks kind/apiVersion and the namespace of a body against the request.
    fn check_body(rt: &ResourceType, namespace: &str, body: &mut Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let api_version = rt.api_version();
        match body.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => body["apiVersion"] = json!(api_version),
            Some(v) if v == api_version => {}
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
        }
        match body.get("kind").and_then(Value::as_str) {
            None | Some("") => body["kind"] = json!(rt.kind),
            Some(k) if k == rt.kind => {}
            Some(k) => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    rt.kind
                )));
            }
        }
        if rt.namespaced {
            match meta::str_field(body, "/metadata/namespace") {
                None | Some("") => meta::set_meta(body, "namespace", json!(namespace)),
                Some(ns) if ns == namespace => {}
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        } else {
            meta::remove_meta(body, "namespace");
        }
        Ok(())
    }

    /// Defaulting, pruning and validation of the object as stored.
    fn admit(
        rt: &ResourceType,
        object: &mut Value,
        options: &WriteOptions,
    ) -> Result<(), ApiError> {
        let name = meta::name(object).to_string();
        let mut causes: Vec<Cause> = meta::name_causes(&name, rt.plural == "namespaces");
        causes.extend(meta::label_causes(object));
        if let Some(schema) = &rt.schema {
            let before =
                (options.field_validation != FieldValidation::Ignore).then(|| object.clone());
            schema.prune(object);
            if let Some(before) = before {
                let unknown = meta::dropped_fields(&before, object);
                if options.field_validation == FieldValidation::Warn {
                    for field in &unknown {
                        options.warnings.push(format!("unknown field \"{field}\""));
                    }
                } else if !unknown.is_empty() {
                    let listed: Vec<String> = unknown
                        .iter()
                        .map(|f| format!("unknown field \"{f}\""))
                        .collect();
                    return Err(ApiError::bad_request(format!(
                        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                        listed.join(", "),
                        kind = rt.kind,
                        version = rt.version
                    )));
                }
            }
            schema.apply_defaults(object);
            causes.extend(schema.validate(object).into_iter().map(|e| Cause {
                reason: e.reason.cause_reason().to_string(),
                message: e.message,
                field: e.field,
            }));
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_causes(
                &rt.kind,
                rt.subject(&name),
                causes,
            ))
        }
    }

    fn create(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        mut body: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Self::check_body(rt, namespace, &mut body)?;
        let mut name = meta::name(&body).to_string();
        if name.is_empty() {
            let prefix = meta::str_field(&body, "/metadata/generateName")
                .unwrap_or("")
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid_causes(
                    &rt.kind,
                    rt.subject(""),
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            name = format!("{prefix}{}", generated_suffix());
            meta::set_meta(&mut body, "name", json!(name));
        }
        self.check_namespace(rt, namespace, &name)?;
        // As etcd storage does: a version that parses to non-zero means the client
        // sent back an object it read, which a create must not silently accept.
        let sent_resource_version = meta::resource_version(&body)
            .parse::<u64>()
            .is_ok_and(|rv| rv != 0);
        if rt.status_subresource
            && rt.is_custom()
            && let Some(root) = body.as_object_mut()
        {
            root.remove("status");
        }
        let timestamp = now();
        for key in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "resourceVersion",
        ] {
            meta::remove_meta(&mut body, key);
        }
        meta::set_meta(&mut body, "uid", json!(uuid::Uuid::new_v4().to_string()));
        meta::set_meta(&mut body, "creationTimestamp", json!(timestamp));
        meta::set_meta(&mut body, "generation", json!(1));
        if rt.plural == "namespaces" && rt.group.is_empty() {
            body["spec"] = json!({"finalizers": ["kubernetes"]});
            body["status"] = json!({"phase": "Active"});
        }
        Self::admit(rt, &mut body, options)?;
        if sent_resource_version && !options.dry_run {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if rt.group == CRD_GROUP && rt.plural == CRD_PLURAL {
            let types = types_from_crd(&body)?;
            body["status"] = crd_status(&body);
            if !options.dry_run {
                for t in types {
                    self.register(t);
                }
            }
        }
        let key = rt.storage_key();
        let object_key = Self::object_key(rt, namespace, &name);
        if self
            .collections
            .get(&key)
            .is_some_and(|c| c.contains_key(&object_key))
        {
            return Err(ApiError::already_exists(rt.subject(&name)));
        }
        // Server-side apply creates with managedFields already recorded and no manager here.
        if !options.field_manager.is_empty() {
            apply::record_update(
                None,
                &mut body,
                &options.field_manager,
                &rt.api_version(),
                &timestamp,
                None,
            );
        }
        if options.dry_run {
            return Ok(body);
        }
        let rv = self.next_rv();
        meta::set_meta(&mut body, "resourceVersion", json!(rv.to_string()));
        let stored = Arc::new(body);
        self.put(&key, stored.clone());
        self.emit(&key, EventType::Added, stored.clone(), None);
        self.collect_if_orphaned(&key, &stored);
        Ok(self.served(rt, &stored))
    }

    fn update(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut body: Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        Self::check_body(rt, namespace, &mut body)?;
        match meta::name(&body) {
            "" => meta::set_meta(&mut body, "name", json!(name)),
            n if n == name => {}
            n => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        let Some(old) = self.object(rt, namespace, name) else {
            if rt.allow_create_on_update && subresource.is_none() {
                // Storage's guaranteed update resets the version when it creates.
                meta::remove_meta(&mut body, "resourceVersion");
                return self.create(rt, namespace, body, options).map(|o| (o, true));
            }
            return Err(ApiError::not_found(rt.subject(name)));
        };
        match meta::resource_version(&body) {
            "" if !rt.allow_unconditional_update => {
                return Err(ApiError::invalid_causes(
                    &rt.kind,
                    rt.subject(name),
                    vec![Cause {
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: 0x0: must be specified for an update".into(),
                        field: "metadata.resourceVersion".into(),
                    }],
                ));
            }
            "" => {}
            rv if rv != meta::resource_version(&old) => {
                return Err(ApiError::stale(rt.subject(name)));
            }
            _ => {}
        }
        let candidate = self.split_subresource(rt, &old, body, subresource);
        let mut candidate = candidate;
        let timestamp = now();
        apply::record_update(
            Some(&old),
            &mut candidate,
            &options.field_manager,
            &rt.api_version(),
            &timestamp,
            subresource,
        );
        self.commit_update(rt, &old, candidate, options)
            .map(|o| (o, false))
    }

    /// On the main resource, status is kept from `old`; on `/status`, only status is taken.
    fn split_subresource(
        &self,
        rt: &ResourceType,
        old: &Value,
        mut new: Value,
        subresource: Option<&str>,
    ) -> Value {
        match subresource {
            Some("status") => {
                let mut merged = old.clone();
                match new.get_mut("status").map(Value::take) {
                    Some(status) => merged["status"] = status,
                    None => {
                        if let Some(root) = merged.as_object_mut() {
                            root.remove("status");
                        }
                    }
                }
                if let Some(rv) = new.pointer("/metadata/resourceVersion").cloned() {
                    meta::set_meta(&mut merged, "resourceVersion", rv);
                }
                merged
            }
            _ if rt.status_subresource => {
                if let Some(root) = new.as_object_mut() {
                    match old.get("status") {
                        Some(status) => {
                            root.insert("status".into(), status.clone());
                        }
                        None => {
                            root.remove("status");
                        }
                    }
                }
                new
            }
            _ => new,
        }
    }

    /// Stores `candidate` as the successor of `old`: server-owned metadata is kept,
    /// generation bumps on spec changes, no-ops are not writes, and an object
    /// whose last finalizer went while it was being deleted goes away.
    fn commit_update(
        &mut self,
        rt: &ResourceType,
        old: &Arc<Value>,
        mut candidate: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let name = meta::name(old).to_string();
        for key in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match old.pointer(&format!("/metadata/{key}")) {
                Some(value) => meta::set_meta(&mut candidate, key, value.clone()),
                None => {
                    meta::remove_meta(&mut candidate, key);
                }
            }
        }
        meta::remove_meta(&mut candidate, "selfLink");
        if meta::is_deleting(old) {
            let before: HashSet<String> = meta::finalizers(old).into_iter().collect();
            let added: Vec<String> = meta::finalizers(&candidate)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid_causes(
                    &rt.kind,
                    rt.subject(&name),
                    vec![Cause {
                        reason: "FieldValueForbidden".into(),
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        Self::admit(rt, &mut candidate, options)?;
        let is_crd = rt.group == CRD_GROUP && rt.plural == CRD_PLURAL;
        let new_types = if is_crd {
            let types = types_from_crd(&candidate)?;
            if candidate.get("status").is_none_or(Value::is_null) {
                candidate["status"] = crd_status(&candidate);
            }
            Some(types)
        } else {
            None
        };
        let without_status = rt.status_subresource;
        if meta::spec_part(old, without_status) != meta::spec_part(&candidate, without_status) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::set_meta(&mut candidate, "generation", json!(generation + 1));
        }
        meta::set_meta(
            &mut candidate,
            "resourceVersion",
            json!(meta::resource_version(old)),
        );
        if candidate
            .pointer("/metadata/ownerReferences")
            .is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty()))
        {
            meta::remove_meta(&mut candidate, "ownerReferences");
        }
        if candidate
            .pointer("/metadata/finalizers")
            .is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty()))
        {
            meta::remove_meta(&mut candidate, "finalizers");
        }
        if without_managed_fields(&candidate) == without_managed_fields(old) {
            return Ok(self.served(rt, old));
        }
        if options.dry_run {
            return Ok(self.served(rt, &candidate));
        }
        if let Some(types) = new_types {
            for t in types {
                self.register(t);
            }
        }
        let key = rt.storage_key();
        let rv = self.next_rv();
        meta::set_meta(&mut candidate, "resourceVersion", json!(rv.to_string()));
        let stored = Arc::new(candidate);
        if meta::is_deleting(&stored) && meta::finalizers(&stored).is_empty() {
            self.remove_now(&key, stored.clone(), old.clone());
            self.collect_garbage();
        } else {
            self.put(&key, stored.clone());
            self.emit(&key, EventType::Modified, stored.clone(), Some(old.clone()));
            self.collect_if_orphaned(&key, &stored);
        }
        Ok(self.served(rt, &stored))
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        let timestamp = now();
        let api_version = rt.api_version();
        let old = self.object(rt, namespace, name);
        if patch_type == PatchType::Apply {
            if options.field_manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let request = ApplyRequest {
                manager: &options.field_manager,
                force: options.force,
                api_version: &api_version,
                now: &timestamp,
                subresource,
            };
            let mut applied = body.clone();
            Self::check_body(rt, namespace, &mut applied)?;
            match meta::name(&applied) {
                "" => meta::set_meta(&mut applied, "name", json!(name)),
                n if n == name => {}
                n => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
            }
            // A resourceVersion in the applied configuration is a precondition, as on an update;
            // the merge below drops it because the server owns the field. When apply creates,
            // registry/generic/registry/store.go Update takes the create path before comparing
            // versions, so the resourceVersion is ignored; a uid, though, is refused
            // (handlers/patch.go applyPatch).
            let applied_uid = meta::uid(&applied).to_string();
            if old.is_none() && subresource.is_none() && !applied_uid.is_empty() {
                return Err(ApiError::conflict(
                    rt.subject(name),
                    &format!(
                        "uid mismatch: the provided object specified uid {applied_uid}, and no existing object was found"
                    ),
                ));
            }
            let precondition = meta::resource_version(&applied).to_string();
            if let Some(old) = &old
                && !precondition.is_empty()
                && precondition != meta::resource_version(old)
            {
                return Err(ApiError::stale(rt.subject(name)));
            }
            let merged =
                apply::apply(old.as_deref(), &applied, &request).map_err(|err| match err {
                    ApplyError::Conflicts(ref conflicts) => {
                        let mut conflict =
                            ApiError::conflict(rt.subject(name), "").with_message(err.to_string());
                        conflict.details.causes = conflicts
                            .iter()
                            .map(|c| Cause {
                                reason: "FieldManagerConflict".into(),
                                message: format!("conflict with \"{}\"", c.manager),
                                field: c.field.clone(),
                            })
                            .collect();
                        conflict
                    }
                    ApplyError::Invalid(why) => ApiError::bad_request(why),
                })?;
            return match old {
                None => {
                    if subresource.is_some() {
                        return Err(ApiError::not_found(rt.subject(name)));
                    }
                    self.create(
                        rt,
                        namespace,
                        merged,
                        &WriteOptions {
                            field_manager: String::new(),
                            ..options.clone()
                        },
                    )
                    .map(|o| (o, true))
                }
                Some(old) => {
                    let mut candidate = self.split_subresource(rt, &old, merged, subresource);
                    meta::ensure_metadata(&mut candidate);
                    self.commit_update(rt, &old, candidate, options)
                        .map(|o| (o, false))
                }
            };
        }
        let Some(old) = old else {
            return Err(ApiError::not_found(rt.subject(name)));
        };
        let mut patched: Value = (*old).clone();
        match patch_type {
            PatchType::Merge => patch::merge_patch(&mut patched, body),
            PatchType::Json => patch::json_patch(&mut patched, body).map_err(|e| ApiError {
                code: 422,
                reason: "Invalid".into(),
                ..ApiError::bad_request(e.to_string())
            })?,
            PatchType::Strategic => {
                if rt.is_custom() {
                    return Err(ApiError::unsupported_media_type(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    ));
                }
                patch::strategic_merge_patch(&mut patched, body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            PatchType::Apply => {}
        }
        if meta::resource_version(&patched) != meta::resource_version(&old) {
            return Err(ApiError::stale(rt.subject(name)));
        }
        if meta::name(&patched) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&patched)
            )));
        }
        let mut candidate = self.split_subresource(rt, &old, patched, subresource);
        apply::record_update(
            Some(&old),
            &mut candidate,
            &options.field_manager,
            &api_version,
            &timestamp,
            subresource,
        );
        self.commit_update(rt, &old, candidate, options)
            .map(|o| (o, false))
    }

    fn delete(
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
    fn redelete(
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

    fn delete_object(
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
    fn remove_now(&mut self, key: &StorageKey, last: Arc<Value>, previous: Arc<Value>) {
        let object_key = (
            meta::namespace(&last).to_string(),
            meta::name(&last).to_string(),
        );
        self.take(key, &object_key);
        self.emit(key, EventType::Deleted, last.clone(), Some(previous));
        self.after_removal(key, &last);
    }

    /// Side effects of an object going away: a CRD stops being served and takes its objects with it.
    fn after_removal(&mut self, key: &StorageKey, removed: &Value) {
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

    /// Whether the garbage collector would find every owner `object` names absent: each
    /// looked up by kind and name (in the dependent's namespace for namespaced kinds) with
    /// its uid compared. An owner of a kind not served keeps the dependent, as the
    /// collector cannot decide then.
    fn owners_all_absent(&self, object: &Value) -> bool {
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
    fn collect_if_orphaned(&mut self, key: &StorageKey, object: &Arc<Value>) {
        if self.owners_all_absent(object) {
            self.delete_object(key, object, Propagation::Background);
            self.collect_garbage();
        }
    }

    fn has_dependents(&self, uid: &str) -> bool {
        self.objects_with_owners > 0
            && self
                .collections
                .values()
                .flat_map(|c| c.values())
                .any(|o| meta::owner_uids(o).iter().any(|u| u == uid))
    }

    fn dependents_of(&self, uid: &str) -> Vec<(StorageKey, Arc<Value>)> {
        if self.objects_with_owners == 0 {
            return Vec::new();
        }
        self.collections
            .iter()
            .flat_map(|(key, c)| c.values().map(move |o| (key.clone(), o.clone())))
            .filter(|(_, o)| meta::owner_uids(o).iter().any(|u| u == uid))
            .collect()
    }

    fn orphan_dependents(&mut self, uid: &str) {
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

    fn delete_dependents(&mut self, uid: &str) {
        for (key, dependent) in self.dependents_of(uid) {
            self.delete_object(&key, &dependent, Propagation::Background);
        }
    }

    /// Deletes every object in a namespace being deleted.
    fn empty_namespace(&mut self, namespace: &str) {
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

    /// What the garbage collector and the namespace controller would do next,
    /// done now: dependents of vanished owners go, foreground deletions finish
    /// when their dependents are gone, empty terminating namespaces go.
    fn collect_garbage(&mut self) {
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

impl ApiError {
    fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// The status the API server's CRD controllers settle on for an acceptable definition.
fn crd_status(crd: &Value) -> Value {
    let time = now();
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": time, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": time, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_widgets() -> (Store, Arc<ResourceType>) {
        let store = Store::new(100);
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}}}]
            }
        });
        let crd_type = store.resolve(CRD_GROUP, "v1", CRD_PLURAL).unwrap();
        store
            .create(&crd_type, "", crd, &WriteOptions::default())
            .unwrap();
        let widgets = store.resolve("example.com", "v1", "widgets").unwrap();
        (store, widgets)
    }

    fn widget(name: &str) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 1}})
    }

    #[test]
    fn resource_versions_increase_and_generation_follows_spec_only() {
        let (store, rt) = store_with_widgets();
        let created = store
            .create(&rt, "default", widget("a"), &WriteOptions::default())
            .unwrap();
        let rv1: u64 = meta::resource_version(&created).parse().unwrap();
        assert_eq!(created["metadata"]["generation"], 1);
        let (status_only, _) = store
            .patch(
                &rt,
                "default",
                "a",
                PatchType::Merge,
                &json!({"status": {"phase": "Done"}}),
                Some("status"),
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(status_only["metadata"]["generation"], 1);
        assert!(meta::resource_version(&status_only).parse::<u64>().unwrap() > rv1);
        let (spec, _) = store
            .patch(
                &rt,
                "default",
                "a",
                PatchType::Merge,
                &json!({"spec": {"size": 2}, "status": {"phase": "Ignored"}}),
                None,
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(spec["metadata"]["generation"], 2);
        assert_eq!(spec["status"]["phase"], "Done");
    }

    #[test]
    fn stale_updates_conflict_and_duplicates_already_exist() {
        let (store, rt) = store_with_widgets();
        let created = store
            .create(&rt, "default", widget("a"), &WriteOptions::default())
            .unwrap();
        assert_eq!(
            store
                .create(&rt, "default", widget("a"), &WriteOptions::default())
                .unwrap_err()
                .reason,
            "AlreadyExists"
        );
        let mut stale = created.clone();
        stale["spec"]["size"] = json!(5);
        store
            .update(
                &rt,
                "default",
                "a",
                stale.clone(),
                None,
                &WriteOptions::default(),
            )
            .unwrap();
        let err = store
            .update(&rt, "default", "a", stale, None, &WriteOptions::default())
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    }

    #[test]
    fn finalizers_hold_deletion_until_removed() {
        let (store, rt) = store_with_widgets();
        let mut w = widget("a");
        w["metadata"]["finalizers"] = json!(["example.com/hold"]);
        store
            .create(&rt, "default", w, &WriteOptions::default())
            .unwrap();
        let marked = store
            .delete(&rt, "default", "a", &DeleteOptions::default())
            .unwrap();
        assert!(meta::is_deleting(&marked));
        assert!(store.get(&rt, "default", "a").is_ok());
        store
            .patch(
                &rt,
                "default",
                "a",
                PatchType::Merge,
                &json!({"metadata": {"finalizers": null}}),
                None,
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(store.get(&rt, "default", "a").unwrap_err().code, 404);
    }

    #[test]
    fn dependents_of_a_deleted_owner_are_collected() {
        let (store, rt) = store_with_widgets();
        let owner = store
            .create(&rt, "default", widget("owner"), &WriteOptions::default())
            .unwrap();
        let mut dependent = widget("dependent");
        dependent["metadata"]["ownerReferences"] = json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "owner", "uid": owner["metadata"]["uid"]}]);
        store
            .create(&rt, "default", dependent, &WriteOptions::default())
            .unwrap();
        store
            .delete(&rt, "default", "owner", &DeleteOptions::default())
            .unwrap();
        assert_eq!(
            store.get(&rt, "default", "dependent").unwrap_err().code,
            404
        );
    }

    #[test]
    fn system_namespaces_cannot_be_deleted() {
        let store = Store::new(10);
        let ns = store.resolve("", "v1", "namespaces").unwrap();
        let err = store
            .delete(&ns, "", "default", &DeleteOptions::default())
            .unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "namespaces \"default\" is forbidden: this namespace may not be deleted"
        );
    }

    #[test]
    fn objects_need_an_existing_namespace() {
        let (store, rt) = store_with_widgets();
        let err = store
            .create(&rt, "nowhere", widget("a"), &WriteOptions::default())
            .unwrap_err();
        assert_eq!(err.code, 404);
        assert_eq!(err.message, "namespaces \"nowhere\" not found");
    }

    #[test]
    fn watch_from_an_evicted_version_is_gone() {
        let store = Store::new(2);
        let ns = store.resolve("", "v1", "namespaces").unwrap();
        for n in ["a", "b", "c"] {
            store
                .create(
                    &ns,
                    "",
                    json!({"metadata": {"name": n}}),
                    &WriteOptions::default(),
                )
                .unwrap();
        }
        let err = store
            .watch(&ns, WatchFrom::After(1), &Filter::default())
            .err()
            .unwrap();
        assert_eq!(err.code, 410);
        let rv = store.current_rv();
        assert!(
            store
                .watch(&ns, WatchFrom::After(rv - 1), &Filter::default())
                .is_ok()
        );
    }

    #[test]
    fn lists_page_with_continue_tokens() {
        let (store, rt) = store_with_widgets();
        for i in 0..5 {
            store
                .create(
                    &rt,
                    "default",
                    widget(&format!("w{i}")),
                    &WriteOptions::default(),
                )
                .unwrap();
        }
        let options = ListOptions {
            limit: Some(2),
            ..ListOptions::default()
        };
        let first = store.list(&rt, &options).unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.remaining, Some(3));
        let next = ListOptions {
            limit: Some(10),
            continue_token: first.continue_token,
            ..ListOptions::default()
        };
        let rest = store.list(&rt, &next).unwrap();
        assert_eq!(rest.items.len(), 3);
        assert!(rest.continue_token.is_none());
        assert_eq!(rest.resource_version, first.resource_version);
    }
}
