//! `/openapi/v2`: the Swagger 2.0 document of every served kind, as kube-apiserver
//! publishes it. kubectl reads it when `/openapi/v3` is missing (older servers): the
//! PATCH operation of a kind must list the `fieldValidation` query parameter for
//! kubectl to leave validation to the server, and the `definitions` are what it
//! validates against client-side otherwise. Custom resource schemas are converted
//! the way apiextensions-apiserver converts them for v2 (`ToStructuralOpenAPIV2`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::discovery::VERSION;
use super::openapi::schema_name;
use super::resource::ResourceType;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

fn meta_ref(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{META}.{name}")})
}

fn definition_ref(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{name}")})
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "kind": rt.kind, "version": rt.version})
}

fn camel(part: &str) -> String {
    part.split(['.', '-'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The group/version infix of operation ids: `CoreV1`, `ThothStationNinjaV1alpha1`.
fn group_version_id(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "Core".to_string()
    } else {
        camel(&rt.group)
    };
    format!("{group}{}", camel(&rt.version))
}

fn tag(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "core".to_string()
    } else {
        let joined = camel(&rt.group);
        let mut chars = joined.chars();
        match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => String::new(),
        }
    };
    format!("{group}_{}", rt.version)
}

fn query(name: &str, description: &str) -> Value {
    json!({"uniqueItems": true, "type": "string", "description": description, "name": name, "in": "query"})
}

fn query_parameters(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|name| {
            let description = match *name {
                "dryRun" => "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
                "fieldManager" => "fieldManager is a name associated with the actor or entity that is making these changes.",
                "fieldValidation" => "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: unknown fields are silently dropped - Warn: a warning is sent for each unknown field that is dropped (the default) - Strict: the request fails with a BadRequest error naming the unknown fields",
                "force" => "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.",
                "labelSelector" => "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
                "fieldSelector" => "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
                "watch" => "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
                "propagationPolicy" => "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
                _ => "",
            };
            query(name, description)
        })
        .collect()
}

fn body(schema: Value) -> Value {
    json!({"name": "body", "in": "body", "required": true, "schema": schema})
}

struct Op<'a> {
    rt: &'a ResourceType,
    verb: &'a str,
    action: &'a str,
    id: String,
    parameters: Vec<Value>,
    response: Value,
    consumes: Vec<&'a str>,
}

impl Op<'_> {
    fn render(self) -> Value {
        let mut responses = json!({
            "200": {"description": "OK", "schema": self.response},
            "401": {"description": "Unauthorized"},
        });
        if matches!(self.verb, "post" | "put") {
            responses["201"] = json!({"description": "Created", "schema": self.response});
        }
        json!({
            "description": format!("{} the specified {}", self.action, self.rt.kind),
            "consumes": if self.consumes.is_empty() { vec!["*/*"] } else { self.consumes },
            "produces": ["application/json", "application/yaml"],
            "schemes": ["https"],
            "tags": [tag(self.rt)],
            "operationId": self.id,
            "parameters": self.parameters,
            "responses": responses,
            "x-kubernetes-action": self.verb,
            "x-kubernetes-group-version-kind": gvk(self.rt),
        })
    }
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({"uniqueItems": true, "type": "string", "description": description, "name": name, "in": "path", "required": true})
}

fn pretty() -> Value {
    query("pretty", "If 'true', then the output is pretty printed.")
}

/// Paths of one kind: collection, item and (when enabled) status.
fn kind_paths(rt: &ResourceType, paths: &mut Map<String, Value>) {
    let prefix = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    let scope = if rt.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let namespaced = if rt.namespaced { "Namespaced" } else { "" };
    let gv = group_version_id(rt);
    let object = definition_ref(&schema_name(rt));
    let list = definition_ref(&format!("{}List", schema_name(rt)));
    let collection = format!("{prefix}{scope}/{}", rt.plural);
    let item = format!("{collection}/{{name}}");
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    let patch_write = ["dryRun", "fieldManager", "fieldValidation", "force"];
    let list_params = [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "resourceVersionMatch",
        "timeoutSeconds",
        "allowWatchBookmarks",
        "sendInitialEvents",
        "watch",
    ];
    let mut scope_parameters = vec![pretty()];
    if rt.namespaced {
        scope_parameters.insert(
            0,
            path_parameter(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ),
        );
    }
    let kind = &rt.kind;
    let op = |verb: &'static str, action: &'static str, id: String| Op {
        rt,
        verb,
        action,
        id,
        parameters: Vec::new(),
        response: object.clone(),
        consumes: Vec::new(),
    };
    let mut list_op = op(
        "list",
        "list or watch objects of kind",
        format!("list{gv}{namespaced}{kind}"),
    );
    list_op.parameters = query_parameters(&list_params);
    list_op.response = list.clone();
    let mut create = op("post", "create", format!("create{gv}{namespaced}{kind}"));
    create.parameters = [vec![body(object.clone())], query_parameters(&write)].concat();
    let mut delete_collection = op(
        "deletecollection",
        "delete collection of",
        format!("deletecollection{gv}{namespaced}{kind}"),
    );
    delete_collection.parameters = query_parameters(&[
        "dryRun",
        "propagationPolicy",
        "labelSelector",
        "fieldSelector",
    ]);
    delete_collection.response = meta_ref("Status");
    paths.insert(
        collection,
        json!({
            "get": list_op.render(),
            "post": create.render(),
            "delete": delete_collection.render(),
            "parameters": scope_parameters,
        }),
    );

    let mut item_parameters = vec![path_parameter("name", &format!("name of the {kind}"))];
    item_parameters.extend(scope_parameters.iter().cloned());
    let patch_consumes = |rt: &ResourceType| {
        let mut types = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        if !rt.is_custom() {
            types.push("application/strategic-merge-patch+json");
        }
        types.push("application/apply-patch+yaml");
        types
    };
    let item_ops = |suffix: &str, id_suffix: &str| {
        let read = op(
            "get",
            "read",
            format!("read{gv}{namespaced}{kind}{id_suffix}"),
        );
        let mut replace = op(
            "put",
            "replace",
            format!("replace{gv}{namespaced}{kind}{id_suffix}"),
        );
        replace.parameters = [vec![body(object.clone())], query_parameters(&write)].concat();
        let mut patch = op(
            "patch",
            "partially update",
            format!("patch{gv}{namespaced}{kind}{id_suffix}"),
        );
        patch.parameters = [
            vec![body(meta_ref("Patch"))],
            query_parameters(&patch_write),
        ]
        .concat();
        patch.consumes = patch_consumes(rt);
        let mut out = json!({
            "get": read.render(),
            "put": replace.render(),
            "patch": patch.render(),
            "parameters": item_parameters,
        });
        if suffix.is_empty() {
            let mut delete = op("delete", "delete", format!("delete{gv}{namespaced}{kind}"));
            delete.parameters = [
                vec![json!({"name": "body", "in": "body", "schema": meta_ref("DeleteOptions")})],
                query_parameters(&["dryRun", "propagationPolicy"]),
            ]
            .concat();
            delete.response = meta_ref("Status");
            out["delete"] = delete.render();
        }
        out
    };
    paths.insert(item.clone(), item_ops("", ""));
    if rt.status_subresource {
        paths.insert(format!("{item}/status"), item_ops("/status", "Status"));
    }
    if rt.namespaced {
        let mut all = op(
            "list",
            "list or watch objects of kind",
            format!("list{gv}{kind}ForAllNamespaces"),
        );
        all.parameters = query_parameters(&list_params);
        all.response = list;
        paths.insert(
            format!("{prefix}/{}", rt.plural),
            json!({"get": all.render(), "parameters": [pretty()]}),
        );
    }
}

/// The v2 form of a CRD version's `openAPIV3Schema`, as apiextensions-apiserver
/// publishes it: junctors dropped; nullable fields untyped and no longer required;
/// `x-kubernetes-preserve-unknown-fields` without `properties`/`items`; arrays left
/// without items untyped. Other `x-kubernetes-*` extensions stay.
pub(crate) fn to_v2_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    convert(&mut out);
    out
}

fn convert(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    for junctor in ["allOf", "oneOf", "anyOf", "not"] {
        object.remove(junctor);
    }
    if object.remove("nullable") == Some(Value::Bool(true)) {
        object.remove("type");
        object.remove("items");
        object.remove("properties");
    }
    if object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        object.remove("items");
        object.remove("properties");
    }
    if object.get("type").and_then(Value::as_str) == Some("array") && !object.contains_key("items")
    {
        object.remove("type");
    }
    let nullable: Vec<String> = object
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .filter(|(_, p)| p.get("nullable") == Some(&Value::Bool(true)))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    let nullable_values = object
        .get("additionalProperties")
        .and_then(|a| a.get("nullable"))
        == Some(&Value::Bool(true));
    if let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) {
        if nullable_values {
            required.clear();
        } else {
            required.retain(|r| r.as_str().is_none_or(|r| !nullable.iter().any(|n| n == r)));
        }
    }
    if object
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        object.remove("required");
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(convert);
    }
    match object.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(convert),
        Some(items) => convert(items),
        None => {}
    }
    if let Some(additional) = object.get_mut("additionalProperties") {
        convert(additional);
    }
    if object.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
        && object.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
    {
        add_type_meta(object);
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert("metadata".into(), meta_ref("ObjectMeta"));
        }
    }
}

fn add_type_meta(object: &mut Map<String, Value>) {
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
        );
        properties.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. In CamelCase."}),
        );
    }
}

/// A served kind's definition: the CRD schema converted for v2 with TypeMeta and
/// an ObjectMeta reference, or an open object for built-in kinds.
fn kind_definition(rt: &ResourceType) -> Value {
    let mut schema = match &rt.raw_schema {
        Some(raw)
            if raw.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true)) =>
        {
            let mut converted = to_v2_schema(raw);
            if let Some(object) = converted.as_object_mut() {
                add_type_meta(object);
                let properties = object.entry("properties").or_insert_with(|| json!({}));
                if let Some(properties) = properties.as_object_mut() {
                    let mut metadata = meta_ref("ObjectMeta");
                    metadata["description"] = json!("Standard object's metadata.");
                    properties.insert("metadata".into(), metadata);
                }
            }
            converted
        }
        Some(_) => json!({"type": "object"}),
        None => builtin_definition(rt),
    };
    schema["x-kubernetes-group-version-kind"] = json!([gvk(rt)]);
    schema
}

/// Built-in kinds are validated by this server itself; their definitions name the
/// common fields and leave the rest open, so a client never refuses valid input.
fn builtin_definition(rt: &ResourceType) -> Value {
    let mut properties = json!({
        "metadata": meta_ref("ObjectMeta"),
    });
    if let Some(object) = properties.as_object_mut() {
        for (name, value) in [
            ("apiVersion", json!({"type": "string"})),
            ("kind", json!({"type": "string"})),
        ] {
            object.insert(name.into(), value);
        }
    }
    json!({
        "description": format!("{} as served by the in-memory API server.", rt.kind),
        "type": "object",
        "properties": properties,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn list_definition(rt: &ResourceType) -> Value {
    json!({
        "description": format!("{}List is a list of {}", rt.kind, rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "items": {"type": "array", "description": format!("List of {}.", rt.plural), "items": definition_ref(&schema_name(rt))},
            "metadata": meta_ref("ListMeta"),
        },
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.list_kind(), "version": rt.version}],
    })
}

/// The apimachinery definitions the kinds refer to.
fn meta_definitions() -> Vec<(String, Value)> {
    let string = || json!({"type": "string"});
    let strings = || json!({"type": "array", "items": {"type": "string"}});
    let string_map = || json!({"type": "object", "additionalProperties": {"type": "string"}});
    let int64 = || json!({"type": "integer", "format": "int64"});
    let time = || meta_ref("Time");
    [
        (
            "ObjectMeta",
            json!({
                "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
                "type": "object",
                "properties": {
                    "annotations": string_map(),
                    "creationTimestamp": time(),
                    "deletionGracePeriodSeconds": int64(),
                    "deletionTimestamp": time(),
                    "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                    "generateName": string(),
                    "generation": int64(),
                    "labels": string_map(),
                    "managedFields": {"type": "array", "items": meta_ref("ManagedFieldsEntry"), "x-kubernetes-list-type": "atomic"},
                    "name": string(),
                    "namespace": string(),
                    "ownerReferences": {"type": "array", "items": meta_ref("OwnerReference"), "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
                    "resourceVersion": string(),
                    "selfLink": string(),
                    "uid": string(),
                },
            }),
        ),
        (
            "ListMeta",
            json!({
                "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
                "type": "object",
                "properties": {"continue": string(), "remainingItemCount": int64(), "resourceVersion": string(), "selfLink": string()},
            }),
        ),
        (
            "OwnerReference",
            json!({
                "description": "OwnerReference contains enough information to let you identify an owning object.",
                "type": "object",
                "required": ["apiVersion", "kind", "name", "uid"],
                "properties": {
                    "apiVersion": string(), "blockOwnerDeletion": {"type": "boolean"}, "controller": {"type": "boolean"},
                    "kind": string(), "name": string(), "uid": string(),
                },
                "x-kubernetes-map-type": "atomic",
            }),
        ),
        (
            "ManagedFieldsEntry",
            json!({
                "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
                "type": "object",
                "properties": {
                    "apiVersion": string(), "fieldsType": string(), "fieldsV1": meta_ref("FieldsV1"),
                    "manager": string(), "operation": string(), "subresource": string(), "time": time(),
                },
            }),
        ),
        (
            "FieldsV1",
            json!({"description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.", "type": "object"}),
        ),
        (
            "Time",
            json!({"description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.", "type": "string", "format": "date-time"}),
        ),
        (
            "Patch",
            json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
        ),
        (
            "Preconditions",
            json!({"description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.", "type": "object", "properties": {"resourceVersion": string(), "uid": string()}}),
        ),
        (
            "DeleteOptions",
            json!({
                "description": "DeleteOptions may be provided when deleting an API object.",
                "type": "object",
                "properties": {
                    "apiVersion": string(), "kind": string(), "dryRun": strings(),
                    "gracePeriodSeconds": int64(), "orphanDependents": {"type": "boolean"},
                    "preconditions": meta_ref("Preconditions"), "propagationPolicy": string(),
                },
            }),
        ),
        (
            "Status",
            json!({
                "description": "Status is a return value for calls that don't return other objects.",
                "type": "object",
                "properties": {
                    "apiVersion": string(), "code": {"type": "integer", "format": "int32"}, "details": {"type": "object"},
                    "kind": string(), "message": string(), "metadata": meta_ref("ListMeta"), "reason": string(), "status": string(),
                },
            }),
        ),
    ]
    .into_iter()
    .map(|(name, schema)| (format!("{META}.{name}"), schema))
    .collect()
}

/// The whole `/openapi/v2` document.
pub(crate) fn document(types: &[Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    let mut definitions: Map<String, Value> = meta_definitions().into_iter().collect();
    for rt in types {
        kind_paths(rt, &mut paths);
        definitions.insert(schema_name(rt), kind_definition(rt));
        definitions.insert(format!("{}List", schema_name(rt)), list_definition(rt));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", VERSION.0, VERSION.1)},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

/// How `/openapi/v2` answers, by the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    Json,
    Protobuf,
}

/// What clients ask for; Go's media-type parser refuses the `@`, so responses are
/// labelled with [`PROTOBUF_CONTENT_TYPE`], as kube-apiserver labels them.
pub(crate) const PROTOBUF_MEDIA_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
pub(crate) const PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The representation the client prefers among those served, by `q` and then
/// order; None when it accepts none of them (406).
pub(crate) fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Option<Representation> {
    let mut ranges: Vec<(f32, usize, Representation)> = Vec::new();
    let mut any = false;
    for (index, range) in accept.into_iter().flat_map(|v| v.split(',')).enumerate() {
        any = true;
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let quality = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let representation = match media.as_str() {
            "application/json" | "application/*" | "*/*" => Representation::Json,
            PROTOBUF_MEDIA_TYPE | PROTOBUF_CONTENT_TYPE => Representation::Protobuf,
            _ => continue,
        };
        if quality > 0.0 {
            ranges.push((quality, index, representation));
        }
    }
    if !any {
        return Some(Representation::Json);
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.first().map(|r| r.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_junctors_are_dropped_for_v2() {
        let v3 = json!({
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "a": {"type": "string", "nullable": true},
                "b": {"type": "integer", "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"d": {"type": "string"}}},
                "e": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"}},
            }
        });
        let v2 = to_v2_schema(&v3);
        assert_eq!(v2["required"], json!(["b"]));
        assert_eq!(v2["properties"]["a"], json!({}));
        assert_eq!(
            v2["properties"]["b"],
            json!({"type": "integer", "x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            v2["properties"]["c"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            v2["properties"]["e"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
    }

    #[test]
    fn accept_negotiation_follows_quality_and_refuses_unserved_types() {
        assert_eq!(negotiate([]), Some(Representation::Json));
        assert_eq!(
            negotiate([PROTOBUF_MEDIA_TYPE]),
            Some(Representation::Protobuf)
        );
        assert_eq!(
            negotiate([
                "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            ]),
            Some(Representation::Protobuf)
        );
        assert_eq!(
            negotiate([
                "application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.1,application/json"
            ]),
            Some(Representation::Json)
        );
        assert_eq!(negotiate(["application/yaml"]), None);
        assert_eq!(
            negotiate(["application/com.github.proto-openapi.spec.v3@v1.0+protobuf"]),
            None
        );
    }
}
