//! Server-side apply: field ownership per manager (`metadata.managedFields`,
//! `fieldsV1`), merging an applied configuration into the live object, and
//! conflicts when another manager owns a field with a different value.
//!
//! Field sets use the real `fieldsV1` encoding (`f:<field>`, `k:<key json>`,
//! `v:<value json>`, `.` for a node owned as a whole). Without the object's
//! OpenAPI schema, list semantics are fixed: `metadata.finalizers` is a set,
//! `metadata.ownerReferences` a map keyed by `uid`, every other list atomic
//! (so `x-kubernetes-list-type: map` lists are owned and replaced as a whole).
//! Objects are treated as structs (no `.` entry) except `metadata.labels` and
//! `metadata.annotations`, which are maps as in the real server. Fields the
//! real server strips from ownership (`apiVersion`, `kind`, `metadata.name`,
//! `metadata.namespace`, `metadata.uid`, `metadata.resourceVersion`,
//! `metadata.generation`, `metadata.creationTimestamp`, `metadata.managedFields`,
//! ...) are never recorded.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// A field owned by another manager that the applied configuration would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldConflict {
    pub(crate) manager: String,
    /// Path in the form the API server prints it, e.g. `.spec.solver`.
    pub(crate) field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApplyError {
    /// Rendered as the API server does: `Apply failed with N conflict(s): conflict with "m": .spec.x`.
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, render_conflicts(.0))]
    Conflicts(Vec<FieldConflict>),
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

fn render_conflicts(conflicts: &[FieldConflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("conflict with \"{}\": {}", c.manager, c.field))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to apply and on whose behalf.
#[derive(Debug, Clone)]
pub(crate) struct ApplyRequest<'a> {
    pub(crate) manager: &'a str,
    pub(crate) force: bool,
    /// `apiVersion` recorded in the managedFields entry.
    pub(crate) api_version: &'a str,
    /// `time` recorded in the managedFields entry (RFC 3339).
    pub(crate) now: &'a str,
    /// Set when applying through the `/status` subresource: only `status` is
    /// merged and the entry records `subresource: status`.
    pub(crate) subresource: Option<&'a str>,
}

/// Merges `applied` into `live` (or builds a new object when `live` is None) and
/// returns the result with `metadata.managedFields` updated. Fields the manager
/// applied before but omits now are removed when no other manager owns them.
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    request: &ApplyRequest<'_>,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".into(),
        ));
    }
    if request.manager.is_empty() {
        return Err(ApplyError::Invalid(
            "fieldManager is required for apply requests".into(),
        ));
    }
    let applied = restrict_to_subresource(applied, request.subresource);
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    if !result.is_object() {
        result = json!({});
    }
    let mut entries = read_managed_fields(live.unwrap_or(&Value::Null));
    let applier = Identity {
        manager: request.manager.to_string(),
        operation: Operation::Apply,
        subresource: request.subresource.map(str::to_string),
    };
    let applied_set = field_set_of(&applied);
    let previous = entries
        .iter()
        .find(|e| e.identity == applier)
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut conflicts = Vec::new();
    let mut forced: Vec<(usize, Vec<String>)> = Vec::new();
    for path in applied_set.members() {
        // A node owned as a whole (`.`) conflicts through its fields only.
        if applied_set
            .node(&path)
            .is_some_and(|n| !n.children.is_empty())
        {
            continue;
        }
        let applied_value = value_at(&applied, &path);
        let live_value = value_at(&result, &path);
        if applied_value == live_value {
            continue;
        }
        for (index, entry) in entries.iter().enumerate() {
            if entry.identity.manager == applier.manager || !entry.fields.contains(&path) {
                continue;
            }
            if request.force {
                forced.push((index, path.clone()));
            } else {
                conflicts.push(FieldConflict {
                    manager: entry.identity.manager.clone(),
                    field: render_path(&path),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
        conflicts.dedup();
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (index, path) in forced {
        entries[index].fields.remove(&path);
    }

    // Fields this manager applied before and omits now go away, unless
    // someone else still owns them (or something beneath them).
    let others: Vec<&FieldSet> = entries
        .iter()
        .filter(|e| e.identity != applier)
        .map(|e| &e.fields)
        .collect();
    let mut doomed: Vec<Vec<String>> = previous
        .members()
        .into_iter()
        .filter(|path| !applied_set.contains(path))
        .filter(|path| !others.iter().any(|set| set.owns_at_or_below(path)))
        .collect();
    // Whole list elements before their fields: an element found by its key
    // must be removed before the key field itself is gone.
    doomed.sort_by_key(Vec::len);
    for path in &doomed {
        remove_at(&mut result, path);
    }

    merge_applied(&mut result, &applied, &[]);

    upsert_entry(
        &mut entries,
        applier,
        applied_set,
        request.api_version,
        request.now,
        true,
    );
    write_managed_fields(&mut result, &entries);
    Ok(result)
}

/// Records an ordinary write (create, update, patch) by `manager` in
/// `new.metadata.managedFields` (operation `Update`), taking over the fields it
/// changed relative to `old`, so that a later apply by someone else conflicts.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    subresource: Option<&str>,
) {
    if !new.is_object() {
        return;
    }
    let base = if new
        .get("metadata")
        .is_some_and(|m| m.get("managedFields").is_some())
    {
        read_managed_fields(new)
    } else {
        read_managed_fields(old.unwrap_or(&Value::Null))
    };
    let mut entries = base;
    let old_value = old.cloned().unwrap_or_else(|| json!({}));
    let new_set = field_set_of(new);
    let old_set = field_set_of(&old_value);

    let changed: Vec<Vec<String>> = new_set
        .members()
        .into_iter()
        .filter(|path| value_at(new, path) != value_at(&old_value, path))
        .collect();
    let removed: Vec<Vec<String>> = old_set
        .members()
        .into_iter()
        .filter(|path| !new_set.contains(path))
        .collect();

    let updater = Identity {
        manager: manager.to_string(),
        operation: Operation::Update,
        subresource: subresource.map(str::to_string),
    };
    for entry in entries.iter_mut() {
        for path in changed.iter().chain(&removed) {
            if entry.identity != updater {
                entry.fields.remove(path);
            }
        }
    }
    if let Some(entry) = entries.iter_mut().find(|e| e.identity == updater) {
        for path in &removed {
            entry.fields.remove(path);
        }
    }
    if !changed.is_empty() || old.is_none() {
        let mut owned = entries
            .iter()
            .find(|e| e.identity == updater)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        for path in &changed {
            owned.insert(path);
        }
        upsert_entry(&mut entries, updater, owned, api_version, now, false);
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed_fields(new, &entries);
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operation {
    Apply,
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    manager: String,
    operation: Operation,
    subresource: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    identity: Identity,
    api_version: String,
    time: Option<String>,
    fields: FieldSet,
}

/// A set of field paths as a tree keyed by `fieldsV1` path elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldSet {
    /// The node itself is in the set (`.` entry, or a leaf).
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((head, rest)) => self.children.get(head).is_some_and(|c| c.contains(rest)),
        }
    }

    fn node(&self, path: &[String]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((head, rest)) => self.children.get(head)?.node(rest),
        }
    }

    fn owns_at_or_below(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => !self.is_empty(),
            Some((head, rest)) => self
                .children
                .get(head)
                .is_some_and(|c| c.owns_at_or_below(rest)),
        }
    }

    fn remove(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = false,
            Some((head, rest)) => {
                if let Some(child) = self.children.get_mut(head) {
                    child.remove(rest);
                    if child.is_empty() {
                        self.children.remove(head);
                    }
                }
            }
        }
    }

    fn members(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_members(&mut prefix, &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (key, child) in &self.children {
            prefix.push(key.clone());
            child.collect_members(prefix, out);
            prefix.pop();
        }
    }

    fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), json!({}));
        }
        for (key, child) in &self.children {
            map.insert(key.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    fn from_fields_v1(value: &Value) -> Self {
        let mut set = FieldSet::default();
        let Some(map) = value.as_object() else {
            return set;
        };
        if map.is_empty() {
            set.member = true;
        }
        for (key, child) in map {
            if key == "." {
                set.member = true;
            } else if key.starts_with("f:") || key.starts_with("k:") || key.starts_with("v:") {
                set.children
                    .insert(key.clone(), FieldSet::from_fields_v1(child));
            }
        }
        set
    }
}

/// Metadata fields the real field manager strips from every set.
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Atomic,
    Set,
    MapByUid,
}

fn list_kind(path: &[String]) -> ListKind {
    match path {
        [meta, field] if meta == "f:metadata" && field == "f:finalizers" => ListKind::Set,
        [meta, field] if meta == "f:metadata" && field == "f:ownerReferences" => ListKind::MapByUid,
        _ => ListKind::Atomic,
    }
}

fn is_granular_map(path: &[String]) -> bool {
    matches!(path, [meta, field] if meta == "f:metadata" && (field == "f:labels" || field == "f:annotations"))
}

fn field_set_of(object: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    let Some(map) = object.as_object() else {
        return set;
    };
    let mut path = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => continue,
            "metadata" => {
                let Some(meta) = value.as_object() else {
                    continue;
                };
                path.push("f:metadata".to_string());
                for (meta_key, meta_value) in meta {
                    if STRIPPED_METADATA.contains(&meta_key.as_str()) {
                        continue;
                    }
                    collect(meta_key, meta_value, &mut path, &mut set);
                }
                path.pop();
            }
            _ => collect(key, value, &mut path, &mut set),
        }
    }
    set
}

fn collect(key: &str, value: &Value, path: &mut Vec<String>, set: &mut FieldSet) {
    if value.is_null() {
        return;
    }
    path.push(format!("f:{key}"));
    collect_value(value, path, set);
    path.pop();
}

fn collect_value(value: &Value, path: &mut Vec<String>, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            if is_granular_map(path) {
                set.insert(path);
            }
            for (key, child) in map {
                collect(key, child, path, set);
            }
        }
        Value::Array(list) if !list.is_empty() => match list_kind(path) {
            ListKind::Atomic => set.insert(path),
            ListKind::Set => {
                for element in list {
                    path.push(format!("v:{element}"));
                    set.insert(path);
                    path.pop();
                }
            }
            ListKind::MapByUid => {
                for element in list {
                    let Some(uid) = element.get("uid") else {
                        continue;
                    };
                    path.push(format!("k:{}", json!({"uid": uid})));
                    set.insert(path);
                    collect_value(element, path, set);
                    path.pop();
                }
            }
        },
        _ => set.insert(path),
    }
}

/// The element of `list` a `k:`/`v:` path element designates.
fn find_element(list: &[Value], element: &str) -> Option<usize> {
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        list.iter().position(|candidate| {
            key.iter()
                .all(|(name, wanted)| candidate.get(name) == Some(wanted))
        })
    } else if let Some(value) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(value).ok()?;
        list.iter().position(|candidate| *candidate == wanted)
    } else {
        None
    }
}

fn value_at<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut current = root;
    for element in path {
        current = match element.strip_prefix("f:") {
            Some(field) => current.get(field)?,
            None => {
                let list = current.as_array()?;
                &list[find_element(list, element)?]
            }
        };
    }
    Some(current)
}

fn remove_at(root: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = root;
    for element in parents {
        current = match element.strip_prefix("f:") {
            Some(field) => match current.get_mut(field) {
                Some(next) => next,
                None => return,
            },
            None => {
                let Some(list) = current.as_array_mut() else {
                    return;
                };
                let Some(index) = find_element(list, element) else {
                    return;
                };
                &mut list[index]
            }
        };
    }
    match last.strip_prefix("f:") {
        Some(field) => {
            if let Some(map) = current.as_object_mut() {
                map.remove(field);
            }
        }
        None => {
            if let Some(list) = current.as_array_mut()
                && let Some(index) = find_element(list, last)
            {
                list.remove(index);
            }
        }
    }
}

/// `.spec.x`, `.metadata.ownerReferences[uid="1"]`, `.metadata.finalizers[="a"]`.
fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = element.strip_prefix("k:") {
            let rendered = serde_json::from_str::<Map<String, Value>>(key)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|_| key.to_string());
            out.push_str(&format!("[{rendered}]"));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

fn restrict_to_subresource(applied: &Value, subresource: Option<&str>) -> Value {
    match subresource {
        None => applied.clone(),
        Some(name) => {
            let mut out = Map::new();
            for key in ["apiVersion", "kind", name] {
                if let Some(value) = applied.get(key) {
                    out.insert(key.to_string(), value.clone());
                }
            }
            Value::Object(out)
        }
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_applied(target: &mut Value, applied: &Value, path: &[String]) {
    let (Value::Object(target_map), Value::Object(applied_map)) = (&mut *target, applied) else {
        *target = without_nulls(applied);
        return;
    };
    for (key, value) in applied_map {
        if path.is_empty() && key == "metadata" {
            // The server owns these; an apply never sets them.
            let mut metadata = value.clone();
            if let Some(meta) = metadata.as_object_mut() {
                for owned_by_server in [
                    "managedFields",
                    "resourceVersion",
                    "uid",
                    "creationTimestamp",
                    "generation",
                ] {
                    meta.remove(owned_by_server);
                }
            }
            let slot = target_map
                .entry("metadata".to_string())
                .or_insert_with(|| json!({}));
            let mut child_path = path.to_vec();
            child_path.push("f:metadata".into());
            merge_applied(slot, &metadata, &child_path);
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        let mut child_path = path.to_vec();
        child_path.push(format!("f:{key}"));
        match value {
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert_with(|| json!({}));
                merge_applied(slot, value, &child_path);
            }
            Value::Array(list) => {
                let merged = match (list_kind(&child_path), target_map.get(key)) {
                    (ListKind::Set, Some(Value::Array(existing))) => {
                        let mut merged = existing.clone();
                        for element in list {
                            if !merged.contains(element) {
                                merged.push(element.clone());
                            }
                        }
                        merged
                    }
                    (ListKind::MapByUid, Some(Value::Array(existing))) => {
                        let mut merged = existing.clone();
                        for element in list {
                            let uid = element.get("uid");
                            match merged
                                .iter()
                                .position(|e| uid.is_some() && e.get("uid") == uid)
                            {
                                Some(index) => {
                                    merge_applied(&mut merged[index], element, &child_path)
                                }
                                None => merged.push(without_nulls(element)),
                            }
                        }
                        merged
                    }
                    _ => list.iter().map(without_nulls).collect(),
                };
                target_map.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                target_map.insert(key.clone(), scalar.clone());
            }
        }
    }
}

fn read_managed_fields(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|raw| {
            let manager = raw.get("manager")?.as_str()?.to_string();
            let operation = match raw.get("operation").and_then(Value::as_str) {
                Some("Apply") => Operation::Apply,
                _ => Operation::Update,
            };
            Some(Entry {
                identity: Identity {
                    manager,
                    operation,
                    subresource: raw
                        .get("subresource")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                },
                api_version: raw
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: raw.get("time").and_then(Value::as_str).map(str::to_string),
                fields: raw
                    .get("fieldsV1")
                    .map(FieldSet::from_fields_v1)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn upsert_entry(
    entries: &mut Vec<Entry>,
    identity: Identity,
    fields: FieldSet,
    api_version: &str,
    now: &str,
    keep_when_empty: bool,
) {
    match entries.iter_mut().find(|e| e.identity == identity) {
        Some(entry) => {
            entry.fields = fields;
            entry.api_version = api_version.to_string();
            entry.time = Some(now.to_string());
        }
        None => entries.push(Entry {
            identity,
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            fields,
        }),
    }
    entries.retain(|e| {
        !e.fields.is_empty() || (keep_when_empty && e.identity.operation == Operation::Apply)
    });
}

fn write_managed_fields(object: &mut Value, entries: &[Entry]) {
    let rendered: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut map = Map::new();
            map.insert("manager".into(), json!(entry.identity.manager));
            map.insert(
                "operation".into(),
                json!(match entry.identity.operation {
                    Operation::Apply => "Apply",
                    Operation::Update => "Update",
                }),
            );
            map.insert("apiVersion".into(), json!(entry.api_version));
            if let Some(time) = &entry.time {
                map.insert("time".into(), json!(time));
            }
            map.insert("fieldsType".into(), json!("FieldsV1"));
            map.insert("fieldsV1".into(), entry.fields.to_fields_v1());
            if let Some(subresource) = &entry.identity.subresource {
                map.insert("subresource".into(), json!(subresource));
            }
            Value::Object(map)
        })
        .collect();
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata".to_string())
        .or_insert_with(|| json!({}));
    if let Some(meta) = metadata.as_object_mut() {
        if rendered.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    fn request(manager: &str) -> ApplyRequest<'_> {
        ApplyRequest {
            manager,
            force: false,
            api_version: "example.com/v1alpha1",
            now: NOW,
            subresource: None,
        }
    }

    fn run(name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "example.com/v1alpha1",
            "kind": "SolverRun",
            "metadata": {"name": name, "namespace": "thoth"},
            "spec": spec
        })
    }

    fn entry<'v>(object: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
        object["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    #[test]
    fn apply_creates_and_records_fields_v1() {
        let applied = json!({
            "apiVersion": "example.com/v1alpha1",
            "kind": "SolverRun",
            "metadata": {"name": "a", "namespace": "thoth", "labels": {"app": "thoth"},
                         "finalizers": ["thoth/cleanup"],
                         "ownerReferences": [{"uid": "u1", "name": "owner", "kind": "X", "apiVersion": "v1"}]},
            "spec": {"packageName": "flask", "solvers": ["s1", "s2"], "index": {"url": "https://pypi.org/simple"}}
        });
        let created = apply(None, &applied, &request("thoth-operator")).unwrap();
        assert_eq!(created["spec"], applied["spec"]);
        let managed = entry(&created, "thoth-operator", "Apply").expect("apply entry");
        assert_eq!(managed["apiVersion"], "example.com/v1alpha1");
        assert_eq!(managed["time"], NOW);
        assert_eq!(managed["fieldsType"], "FieldsV1");
        assert!(managed.get("subresource").is_none());
        assert_eq!(
            managed["fieldsV1"],
            json!({
                "f:metadata": {
                    "f:finalizers": {"v:\"thoth/cleanup\"": {}},
                    "f:labels": {".": {}, "f:app": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {
                        ".": {}, "f:apiVersion": {}, "f:kind": {}, "f:name": {}, "f:uid": {}
                    }}
                },
                "f:spec": {"f:index": {"f:url": {}}, "f:packageName": {}, "f:solvers": {}}
            })
        );
    }

    #[test]
    fn reapplying_without_a_field_removes_it() {
        let first = apply(
            None,
            &run("a", json!({"packageName": "flask", "version": "1.0"})),
            &request("m"),
        )
        .unwrap();
        let second = apply(
            Some(&first),
            &run("a", json!({"packageName": "flask"})),
            &request("m"),
        )
        .unwrap();
        assert_eq!(second["spec"], json!({"packageName": "flask"}));
        assert_eq!(
            entry(&second, "m", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:packageName": {}}})
        );
    }

    #[test]
    fn omitted_fields_owned_by_another_manager_stay() {
        let first = apply(
            None,
            &run("a", json!({"packageName": "flask", "version": "1.0"})),
            &request("a"),
        )
        .unwrap();
        let shared = apply(
            Some(&first),
            &run("a", json!({"version": "1.0"})),
            &request("b"),
        )
        .unwrap();
        let dropped = apply(
            Some(&shared),
            &run("a", json!({"packageName": "flask"})),
            &request("a"),
        )
        .unwrap();
        assert_eq!(
            dropped["spec"],
            json!({"packageName": "flask", "version": "1.0"})
        );
    }

    #[test]
    fn conflicting_apply_is_refused_and_force_takes_ownership() {
        let first = apply(
            None,
            &run("a", json!({"solver": "s1", "x": 1})),
            &request("alice"),
        )
        .unwrap();
        let error = apply(
            Some(&first),
            &run("a", json!({"solver": "s2"})),
            &request("bob"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            ApplyError::Conflicts(vec![FieldConflict {
                manager: "alice".into(),
                field: ".spec.solver".into()
            }])
        );
        assert_eq!(
            error.to_string(),
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.solver"
        );

        // The same value is no conflict: ownership is shared.
        let shared = apply(
            Some(&first),
            &run("a", json!({"solver": "s1"})),
            &request("bob"),
        )
        .unwrap();
        assert_eq!(
            entry(&shared, "bob", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:solver": {}}})
        );
        assert_eq!(
            entry(&shared, "alice", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:solver": {}, "f:x": {}}})
        );

        let forced = apply(
            Some(&first),
            &run("a", json!({"solver": "s2"})),
            &ApplyRequest {
                force: true,
                ..request("bob")
            },
        )
        .unwrap();
        assert_eq!(forced["spec"]["solver"], "s2");
        assert_eq!(
            entry(&forced, "alice", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:x": {}}})
        );
        assert_eq!(
            entry(&forced, "bob", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:solver": {}}})
        );
        // Alice now omitting x removes it; solver is Bob's and stays.
        let after = apply(Some(&forced), &run("a", json!({})), &request("alice")).unwrap();
        assert_eq!(after["spec"], json!({"solver": "s2"}));
    }

    #[test]
    fn several_conflicts_are_listed() {
        let first = apply(None, &run("a", json!({"a": 1, "b": 2})), &request("alice")).unwrap();
        let error = apply(
            Some(&first),
            &run("a", json!({"a": 3, "b": 4})),
            &request("bob"),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Apply failed with 2 conflicts: conflict with \"alice\": .spec.a, conflict with \"alice\": .spec.b"
        );
    }

    #[test]
    fn record_update_takes_ownership_so_a_later_apply_conflicts() {
        let mut created = run("a", json!({"solver": "s1"}));
        record_update(None, &mut created, "kubectl-create", "v1", NOW, None);
        assert_eq!(
            entry(&created, "kubectl-create", "Update").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:solver": {}}})
        );
        let error = apply(
            Some(&created),
            &run("a", json!({"solver": "s2"})),
            &request("operator"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            ApplyError::Conflicts(vec![FieldConflict {
                manager: "kubectl-create".into(),
                field: ".spec.solver".into()
            }])
        );
    }

    #[test]
    fn record_update_moves_changed_fields_away_from_appliers() {
        let applied = apply(
            None,
            &run("a", json!({"solver": "s1", "keep": true})),
            &request("operator"),
        )
        .unwrap();
        let mut edited = applied.clone();
        edited["spec"]["solver"] = json!("s9");
        edited["metadata"]["labels"] = json!({"edited": "yes"});
        record_update(
            Some(&applied),
            &mut edited,
            "kubectl-edit",
            "v1",
            "2026-01-02T00:00:00Z",
            None,
        );
        assert_eq!(
            entry(&edited, "operator", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:keep": {}}})
        );
        let editor = entry(&edited, "kubectl-edit", "Update").unwrap();
        assert_eq!(editor["time"], "2026-01-02T00:00:00Z");
        assert_eq!(
            editor["fieldsV1"],
            json!({"f:metadata": {"f:labels": {".": {}, "f:edited": {}}}, "f:spec": {"f:solver": {}}})
        );
        // The applier re-applying its old value now conflicts with the editor.
        let error = apply(
            Some(&edited),
            &run("a", json!({"solver": "s1", "keep": true})),
            &request("operator"),
        );
        assert!(matches!(error, Err(ApplyError::Conflicts(c)) if c[0].manager == "kubectl-edit"));
    }

    #[test]
    fn record_update_without_changes_adds_no_entry() {
        let mut created = run("a", json!({"solver": "s1"}));
        record_update(None, &mut created, "creator", "v1", NOW, None);
        let mut same = created.clone();
        record_update(Some(&created), &mut same, "someone-else", "v1", NOW, None);
        assert!(entry(&same, "someone-else", "Update").is_none());
        assert_eq!(
            same["metadata"]["managedFields"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn server_owned_metadata_is_never_recorded() {
        let mut object = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "n", "namespace": "x", "uid": "1", "resourceVersion": "5", "generation": 1,
                         "creationTimestamp": NOW, "deletionTimestamp": NOW,
                         "managedFields": [], "labels": {"a": "b"}},
        });
        record_update(None, &mut object, "m", "v1", NOW, None);
        assert_eq!(
            entry(&object, "m", "Update").unwrap()["fieldsV1"],
            json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        let applied = apply(
            Some(&object),
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "n", "resourceVersion": "999", "uid": "other"}}),
            &request("a"),
        )
        .unwrap();
        assert_eq!(applied["metadata"]["resourceVersion"], "5");
        assert_eq!(applied["metadata"]["uid"], "1");
        assert_eq!(
            entry(&applied, "a", "Apply").unwrap()["fieldsV1"],
            json!({})
        );
    }

    #[test]
    fn finalizers_are_a_set_and_owner_references_keyed_by_uid() {
        let first = apply(
            None,
            &json!({"metadata": {"name": "a", "finalizers": ["one"],
                                  "ownerReferences": [{"uid": "u1", "name": "p1"}]}}),
            &request("alice"),
        )
        .unwrap();
        let both = apply(
            Some(&first),
            &json!({"metadata": {"name": "a", "finalizers": ["two"],
                                  "ownerReferences": [{"uid": "u2", "name": "p2"}]}}),
            &request("bob"),
        )
        .unwrap();
        assert_eq!(both["metadata"]["finalizers"], json!(["one", "two"]));
        assert_eq!(
            both["metadata"]["ownerReferences"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let alice_leaves = apply(
            Some(&both),
            &json!({"metadata": {"name": "a"}}),
            &request("alice"),
        )
        .unwrap();
        assert_eq!(alice_leaves["metadata"]["finalizers"], json!(["two"]));
        assert_eq!(
            alice_leaves["metadata"]["ownerReferences"],
            json!([{"uid": "u2", "name": "p2"}])
        );
        let conflict = apply(
            Some(&both),
            &json!({"metadata": {"name": "a", "ownerReferences": [{"uid": "u1", "name": "renamed"}]}}),
            &request("bob"),
        )
        .unwrap_err();
        assert_eq!(
            conflict.to_string(),
            "Apply failed with 1 conflict: conflict with \"alice\": .metadata.ownerReferences[uid=\"u1\"].name"
        );
    }

    #[test]
    fn lists_are_atomic_by_default() {
        let first = apply(None, &run("a", json!({"args": ["a", "b"]})), &request("m")).unwrap();
        let second = apply(
            Some(&first),
            &run("a", json!({"args": ["c"]})),
            &request("m"),
        )
        .unwrap();
        assert_eq!(second["spec"]["args"], json!(["c"]));
        let error = apply(
            Some(&second),
            &run("a", json!({"args": ["d"]})),
            &request("other"),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Apply failed with 1 conflict: conflict with \"m\": .spec.args"
        );
    }

    #[test]
    fn status_subresource_apply_touches_only_status() {
        let live = apply(
            None,
            &run("a", json!({"solver": "s1"})),
            &request("operator"),
        )
        .unwrap();
        let mut status_apply = run("a", json!({"solver": "ignored"}));
        status_apply["status"] = json!({"phase": "Running"});
        let updated = apply(
            Some(&live),
            &status_apply,
            &ApplyRequest {
                subresource: Some("status"),
                ..request("operator")
            },
        )
        .unwrap();
        assert_eq!(updated["spec"]["solver"], "s1");
        assert_eq!(updated["status"]["phase"], "Running");
        let entries = updated["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let status_entry = entries
            .iter()
            .find(|e| e["subresource"] == "status")
            .unwrap();
        assert_eq!(
            status_entry["fieldsV1"],
            json!({"f:status": {"f:phase": {}}})
        );
        // The main-resource entry still owns the spec, untouched.
        let main = entries
            .iter()
            .find(|e| e.get("subresource").is_none())
            .unwrap();
        assert_eq!(main["fieldsV1"], json!({"f:spec": {"f:solver": {}}}));
    }

    #[test]
    fn null_in_applied_configuration_removes_the_field() {
        let first = apply(None, &run("a", json!({"a": 1, "b": 2})), &request("m")).unwrap();
        let second = apply(
            Some(&first),
            &run("a", json!({"a": null, "b": 2})),
            &request("m"),
        )
        .unwrap();
        assert_eq!(second["spec"], json!({"b": 2}));
    }

    #[test]
    fn invalid_requests_are_refused() {
        assert!(matches!(
            apply(None, &json!([1]), &request("m")),
            Err(ApplyError::Invalid(_))
        ));
        assert!(matches!(
            apply(None, &json!({}), &request("")),
            Err(ApplyError::Invalid(_))
        ));
    }

    #[test]
    fn malformed_managed_fields_are_ignored_not_fatal() {
        let live = json!({"metadata": {"name": "a", "managedFields": [
            {"manager": 5}, "junk", {"manager": "m", "operation": "Apply", "fieldsV1": "not an object"}
        ]}, "spec": {"x": 1}});
        let result = apply(
            Some(&live),
            &json!({"metadata": {"name": "a"}, "spec": {"x": 2}}),
            &request("n"),
        )
        .unwrap();
        assert_eq!(result["spec"]["x"], 2);
    }

    #[test]
    fn fields_v1_round_trips() {
        let raw = json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                         "f:spec": {"f:list": {"k:{\"name\":\"x\"}": {".": {}, "f:v": {}}}}});
        let set = FieldSet::from_fields_v1(&raw);
        assert_eq!(set.to_fields_v1(), raw);
        assert_eq!(set.members().len(), 4);
    }
}
