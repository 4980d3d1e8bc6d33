//! The patch formats of PATCH requests: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch (as far as the built-in kinds served
//! here need it).
//!
//! The strategic merge patch has no per-kind OpenAPI knowledge. It is a merge
//! patch plus the directives kubectl sends: `$patch: replace|delete|merge` in
//! maps and list elements, `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
//! and `$setElementOrder/<field>` (accepted, order not enforced). Lists of
//! objects are merged by `name` when the elements carry one (by `uid` for
//! `ownerReferences`), `metadata.finalizers` is merged as a set (its real patch
//! strategy), and every other list is replaced.

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub(crate) enum PatchError {
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(String),
    #[error("JSON patch could not be applied: {0}")]
    JsonPatchFailed(String),
    #[error("invalid strategic merge patch: {0}")]
    InvalidStrategic(String),
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902, all-or-nothing: on error `target` is unchanged.
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_array() {
        return Err(PatchError::InvalidJsonPatch(
            "a JSON patch must be a list of operations".into(),
        ));
    }
    // As the real API server (evanphx/json-patch): `test` of a missing path against `null`
    // succeeds. kube's finalizer helper relies on it to add the first finalizer.
    let operations: Vec<Value> = patch
        .as_array()
        .into_iter()
        .flatten()
        .filter(|op| {
            let missing_null_test = op.get("op").and_then(Value::as_str) == Some("test")
                && op.get("value").is_some_and(Value::is_null)
                && op
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|path| target.pointer(path).is_none());
            !missing_null_test
        })
        .cloned()
        .collect();
    let ops: json_patch::Patch = serde_json::from_value(Value::Array(operations))
        .map_err(|e| PatchError::InvalidJsonPatch(e.to_string()))?;
    // Patching a copy keeps `target` untouched on failure without relying on
    // the crate's undo path.
    let mut patched = target.clone();
    json_patch::patch_unsafe(&mut patched, &ops)
        .map_err(|e| PatchError::JsonPatchFailed(e.to_string()))?;
    *target = patched;
    Ok(())
}

/// Strategic merge patch: merge patch plus `$patch`/`$retainKeys` directives and
/// lists merged by their merge key where the kind defines one.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch_map) = patch else {
        return Err(PatchError::InvalidStrategic(format!(
            "the patch must be a JSON object, not {}",
            type_name(patch)
        )));
    };
    let mut result = target.clone();
    merge_map(&mut result, patch_map, "")?;
    *target = result;
    Ok(())
}

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The `$patch` directive of a map, if any.
fn directive<'a>(map: &'a Map<String, Value>, path: &str) -> Result<Option<&'a str>, PatchError> {
    match map.get(PATCH_DIRECTIVE) {
        None => Ok(None),
        Some(Value::String(d)) if matches!(d.as_str(), "replace" | "delete" | "merge") => {
            Ok(Some(d.as_str()))
        }
        Some(other) => Err(PatchError::InvalidStrategic(format!(
            "{}: unknown $patch directive {other}; expected replace, delete or merge",
            if path.is_empty() { "<root>" } else { path }
        ))),
    }
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(without_directives(map)),
        Value::Array(list) => Value::Array(list.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn merge_map(target: &mut Value, patch: &Map<String, Value>, path: &str) -> Result<(), PatchError> {
    match directive(patch, path)? {
        Some("replace") => {
            *target = Value::Object(without_directives(patch));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return Ok(());
    };
    for (key, value) in patch {
        if key == PATCH_DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(doomed) = value else {
                return Err(PatchError::InvalidStrategic(format!(
                    "{}: {key} must be a list",
                    child_path(path, field)
                )));
            };
            if let Some(Value::Array(list)) = target_map.get_mut(field) {
                list.retain(|element| !doomed.contains(element));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::InvalidStrategic(format!(
                "{}: unknown directive {key}",
                if path.is_empty() { "<root>" } else { path }
            )));
        }
        let here = child_path(path, key);
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(child_patch) => {
                if directive(child_patch, &here)? == Some("delete") {
                    target_map.remove(key);
                    continue;
                }
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_map(slot, child_patch, &here)?;
            }
            Value::Array(patch_list) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_list(slot, patch_list, key, &here)?;
            }
            scalar => {
                target_map.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keep) = retain else {
            return Err(PatchError::InvalidStrategic(format!(
                "{}: $retainKeys must be a list of field names",
                if path.is_empty() { "<root>" } else { path }
            )));
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target_map.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

/// The key list elements are merged by, or None when the list is replaced.
fn merge_key(field: &str, patch_list: &[Value]) -> Option<&'static str> {
    let objects: Vec<&Map<String, Value>> = patch_list
        .iter()
        .filter_map(Value::as_object)
        .filter(|m| !(m.len() == 1 && m.contains_key(PATCH_DIRECTIVE)))
        .collect();
    if objects.is_empty() || objects.len() + count_list_directives(patch_list) != patch_list.len() {
        return None;
    }
    let key = if field == "ownerReferences" {
        "uid"
    } else {
        "name"
    };
    objects.iter().all(|m| m.contains_key(key)).then_some(key)
}

fn count_list_directives(list: &[Value]) -> usize {
    list.iter()
        .filter(|v| {
            v.as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key(PATCH_DIRECTIVE))
        })
        .count()
}

fn merge_list(
    target: &mut Value,
    patch_list: &[Value],
    field: &str,
    path: &str,
) -> Result<(), PatchError> {
    // `[{"$patch": "replace"}, ...]` replaces the list with the other elements.
    let replace = patch_list.iter().any(|v| {
        v.as_object()
            .and_then(|m| m.get(PATCH_DIRECTIVE))
            .and_then(Value::as_str)
            == Some("replace")
            && v.as_object().is_some_and(|m| m.len() == 1)
    });
    let elements: Vec<&Value> = patch_list
        .iter()
        .filter(|v| {
            !v.as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key(PATCH_DIRECTIVE))
        })
        .collect();
    if replace {
        *target = Value::Array(elements.into_iter().map(strip_directives).collect());
        return Ok(());
    }
    if path == "metadata.finalizers" && elements.iter().all(|v| v.is_string()) {
        let mut merged = target.as_array().cloned().unwrap_or_default();
        for element in elements {
            if !merged.contains(element) {
                merged.push(element.clone());
            }
        }
        *target = Value::Array(merged);
        return Ok(());
    }
    let Some(key) = merge_key(field, patch_list) else {
        *target = Value::Array(elements.into_iter().map(strip_directives).collect());
        return Ok(());
    };
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(list) = target else {
        return Ok(());
    };
    for element in elements {
        let Value::Object(element_patch) = element else {
            continue;
        };
        let id = &element_patch[key];
        let position = list
            .iter()
            .position(|existing| existing.get(key) == Some(id));
        let element_path = format!("{path}[{key}={id}]");
        match (directive(element_patch, &element_path)?, position) {
            (Some("delete"), Some(index)) => {
                list.remove(index);
            }
            (Some("delete"), None) => {}
            (Some("replace"), Some(index)) => {
                list[index] = Value::Object(without_directives(element_patch));
            }
            (_, Some(index)) => merge_map(&mut list[index], element_patch, &element_path)?,
            (_, None) => list.push(Value::Object(without_directives(element_patch))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": null}}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {}}));
        let mut scalar = json!({"a": 1});
        merge_patch(&mut scalar, &json!("text"));
        assert_eq!(scalar, json!("text"));
    }

    #[test]
    fn json_patch_applies_every_operation() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/labels/a", "value": "1"},
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "replace", "path": "/spec/list/0", "value": 10},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "copy", "from": "/metadata/labels/b", "path": "/spec/copied"},
                {"op": "move", "from": "/spec/copied", "path": "/spec/moved"}
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"list": [10, 2, 3], "moved": "2"}})
        );
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let original = json!({"a": 1, "b": [1]});
        let mut doc = original.clone();
        let error = json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/a", "value": 2},
                {"op": "test", "path": "/b/0", "value": 2}
            ]),
        )
        .unwrap_err();
        assert!(matches!(error, PatchError::JsonPatchFailed(_)), "{error}");
        assert_eq!(doc, original);
        let error =
            json_patch(&mut doc, &json!([{"op": "remove", "path": "/missing"}])).unwrap_err();
        assert!(matches!(error, PatchError::JsonPatchFailed(_)));
        assert_eq!(doc, original);
    }

    #[test]
    fn a_test_of_a_missing_path_against_null_succeeds_as_in_the_real_api_server() {
        let mut doc = json!({"metadata": {"name": "a"}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
            ]),
        )
        .expect("applies");
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
    }

    #[test]
    fn malformed_json_patches_are_refused() {
        let mut doc = json!({});
        for bad in [
            json!({"op": "add"}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"path": "/a"}]),
        ] {
            assert!(
                matches!(
                    json_patch(&mut doc, &bad),
                    Err(PatchError::InvalidJsonPatch(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn strategic_merge_behaves_like_merge_patch_for_maps_and_scalars() {
        let mut doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
        strategic_merge_patch(
            &mut doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"x": 2}}),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": 2}})
        );
    }

    #[test]
    fn lists_of_named_objects_merge_by_name() {
        let mut doc = json!({"spec": {"versions": [
            {"name": "v1", "served": true, "storage": true},
            {"name": "v2", "served": false}
        ]}});
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {
                "$setElementOrder/versions": [{"name": "v1"}, {"name": "v2"}, {"name": "v3"}],
                "versions": [{"name": "v2", "served": true}, {"name": "v3", "served": true}]
            }}),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"spec": {"versions": [
                {"name": "v1", "served": true, "storage": true},
                {"name": "v2", "served": true},
                {"name": "v3", "served": true}
            ]}})
        );
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"versions": [{"name": "v1", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(doc["spec"]["versions"].as_array().unwrap().len(), 2);
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"versions": [{"name": "v2", "$patch": "replace", "served": false}]}}),
        )
        .unwrap();
        assert_eq!(
            doc["spec"]["versions"][0],
            json!({"name": "v2", "served": false})
        );
    }

    #[test]
    fn other_lists_are_replaced() {
        let mut doc =
            json!({"spec": {"finalizers": ["kubernetes"], "args": ["a", "b"], "objs": [{"x": 1}]}});
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"args": ["c"], "objs": [{"x": 2}], "finalizers": ["other"]}}),
        )
        .unwrap();
        assert_eq!(doc["spec"]["args"], json!(["c"]));
        // Only metadata.finalizers is a set; a Namespace's spec.finalizers is replaced.
        assert_eq!(doc["spec"]["finalizers"], json!(["other"]));
        assert_eq!(doc["spec"]["objs"], json!([{"x": 2}]));
    }

    #[test]
    fn list_replace_directive_replaces_the_whole_list() {
        let mut doc = json!({"items": [{"name": "a"}, {"name": "b"}]});
        strategic_merge_patch(
            &mut doc,
            &json!({"items": [{"$patch": "replace"}, {"name": "c"}]}),
        )
        .unwrap();
        assert_eq!(doc, json!({"items": [{"name": "c"}]}));
    }

    #[test]
    fn finalizers_merge_as_a_set_and_primitive_deletions_apply() {
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        strategic_merge_patch(&mut doc, &json!({"metadata": {"finalizers": ["b", "c"]}})).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["a", "b", "c"]));
        strategic_merge_patch(
            &mut doc,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}}),
        )
        .unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let mut doc =
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "X"}]}});
        strategic_merge_patch(
            &mut doc,
            &json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "name": "b"}]}}),
        )
        .unwrap();
        assert_eq!(
            doc["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "a", "kind": "X", "controller": true}, {"uid": "2", "name": "b"}])
        );
    }

    #[test]
    fn map_directives() {
        let mut doc = json!({"spec": {"a": {"x": 1, "y": 2}, "b": {"z": 1}, "keep": 1}});
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"a": {"$patch": "replace", "w": 0}, "b": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(doc, json!({"spec": {"a": {"w": 0}, "keep": 1}}));
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"$retainKeys": ["a"], "a": {"v": 1}}}),
        )
        .unwrap();
        assert_eq!(doc, json!({"spec": {"a": {"w": 0, "v": 1}}}));
    }

    #[test]
    fn invalid_strategic_patches_leave_the_target_alone() {
        let original = json!({"spec": {"a": 1}});
        let mut doc = original.clone();
        for bad in [
            json!([1]),
            json!({"spec": {"a": 2, "b": {"$patch": "explode"}}}),
            json!({"spec": {"$deleteFromPrimitiveList/l": "x"}}),
            json!({"spec": {"$unknown": 1}}),
        ] {
            let error = strategic_merge_patch(&mut doc, &bad).unwrap_err();
            assert!(
                matches!(error, PatchError::InvalidStrategic(_)),
                "{bad}: {error}"
            );
            assert_eq!(doc, original, "{bad}");
        }
    }
}
