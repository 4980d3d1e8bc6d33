//! Small helpers over `metadata` of untyped objects, and the name and label
//! rules the API server enforces.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::Cause;

pub(crate) fn str_field<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub(crate) fn name(object: &Value) -> &str {
    str_field(object, "/metadata/name").unwrap_or("")
}

pub(crate) fn namespace(object: &Value) -> &str {
    str_field(object, "/metadata/namespace").unwrap_or("")
}

pub(crate) fn uid(object: &Value) -> &str {
    str_field(object, "/metadata/uid").unwrap_or("")
}

pub(crate) fn resource_version(object: &Value) -> &str {
    str_field(object, "/metadata/resourceVersion").unwrap_or("")
}

pub(crate) fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Makes sure `object` is an object with a `metadata` object.
pub(crate) fn ensure_metadata(object: &mut Value) {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    if let Some(root) = object.as_object_mut() {
        let entry = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
    }
}

/// The `metadata` map, created when absent (None only if that failed, which it cannot).
pub(crate) fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    ensure_metadata(object);
    object.get_mut("metadata").and_then(Value::as_object_mut)
}

pub(crate) fn set_meta(object: &mut Value, key: &str, value: Value) {
    if let Some(meta) = metadata_mut(object) {
        meta.insert(key.to_string(), value);
    }
}

pub(crate) fn remove_meta(object: &mut Value, key: &str) -> Option<Value> {
    metadata_mut(object).and_then(|meta| meta.remove(key))
}

/// Everything but `metadata` (and `status` when `without_status`): what a
/// generation bump is decided on.
pub(crate) fn spec_part(object: &Value, without_status: bool) -> Map<String, Value> {
    let mut rest = object.as_object().cloned().unwrap_or_default();
    rest.remove("metadata");
    rest.remove("apiVersion");
    rest.remove("kind");
    if without_status {
        rest.remove("status");
    }
    rest
}

const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Refusals for a name: RFC 1123 label for namespaces, subdomain otherwise.
pub(crate) fn name_causes(name: &str, label_only: bool) -> Vec<Cause> {
    let ok = if label_only {
        is_dns_label(name)
    } else {
        is_dns_subdomain(name)
    };
    if ok {
        return Vec::new();
    }
    let rule = if label_only {
        DNS1123_LABEL_MESSAGE
    } else {
        DNS1123_SUBDOMAIN_MESSAGE
    };
    vec![Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: \"{name}\": {rule}"),
        field: "metadata.name".into(),
    }]
}

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && s.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name_part(s)
}

/// Refusals for `metadata.labels` (keys are qualified names, values at most 63 characters).
pub(crate) fn label_causes(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(labels) = object.pointer("/metadata/labels") else {
        return causes;
    };
    let Some(labels) = labels.as_object() else {
        if !labels.is_null() {
            causes.push(Cause {
                reason: "FieldValueTypeInvalid".into(),
                message: "Invalid value: must be a map of strings".into(),
                field: "metadata.labels".into(),
            });
        }
        return causes;
    };
    for (key, value) in labels {
        let (prefix, name) = match key.rsplit_once('/') {
            Some((prefix, name)) => (Some(prefix), name),
            None => (None, key.as_str()),
        };
        if !is_qualified_name_part(name) || prefix.is_some_and(|p| !is_dns_subdomain(p)) {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                field: "metadata.labels".into(),
            });
        }
        match value.as_str() {
            Some(v) if is_label_value(v) => {}
            _ => causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {value}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                field: format!("metadata.labels.{key}"),
            }),
        }
    }
    causes
}

/// Paths present in `before` but not in `after`, as `spec.a` / `spec.list[0].b`:
/// the unknown fields pruning dropped.
pub(crate) fn dropped_fields(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_dropped(before, after, "", &mut out);
    out
}

fn collect_dropped(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match a.get(key) {
                    Some(kept) => collect_dropped(value, kept, &path, out),
                    None => out.push(path),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (value, kept)) in b.iter().zip(a).enumerate() {
                collect_dropped(value, kept, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dropped_fields_name_every_pruned_path() {
        let before = json!({"spec": {"a": 1, "b": [{"c": 1, "d": 2}]}, "x": 1});
        let after = json!({"spec": {"a": 1, "b": [{"c": 1}]}});
        assert_eq!(
            dropped_fields(&before, &after),
            vec!["spec.b[0].d".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn names_follow_rfc_1123() {
        assert!(name_causes("solver-run.x1", false).is_empty());
        assert!(!name_causes("Solver_Run", false).is_empty());
        assert!(!name_causes("a.b", true).is_empty());
        assert!(!name_causes("", false).is_empty());
        assert!(!name_causes(&"a".repeat(64), true).is_empty());
    }

    #[test]
    fn labels_are_checked_key_and_value() {
        let ok = json!({"metadata": {"labels": {"app.kubernetes.io/name": "thoth", "x": ""}}});
        assert!(label_causes(&ok).is_empty());
        let bad = json!({"metadata": {"labels": {"-x": "a b"}}});
        assert_eq!(label_causes(&bad).len(), 2);
    }
}
