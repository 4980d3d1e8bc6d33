//! OpenAPI v3 documents, as far as clients need them: kubectl reads them to learn
//! that the server validates fields itself (`fieldValidation` on PATCH), so it
//! skips client-side validation and sends `fieldValidation=Strict`. Every served
//! kind gets its paths; custom resources also get their `openAPIV3Schema`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::discovery::VERSION;
use super::resource::ResourceType;

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn served_group_versions(types: &[Arc<ResourceType>]) -> BTreeMap<String, Vec<Arc<ResourceType>>> {
    let mut out: BTreeMap<String, Vec<Arc<ResourceType>>> = BTreeMap::new();
    for rt in types {
        out.entry(group_version_path(&rt.group, &rt.version))
            .or_default()
            .push(rt.clone());
    }
    out
}

/// `/openapi/v3`: where each group/version's document is, with a content hash.
pub(crate) fn root(types: &[Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    for (path, group_types) in served_group_versions(types) {
        let document = group_version_document(&group_types);
        let hash = hex(&Sha256::digest(document.to_string().as_bytes()));
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", &hash[..32])}),
        );
    }
    json!({"paths": paths})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `/openapi/v3/{api/v1 | apis/g/v}`, or None when nothing is served there.
pub(crate) fn group_version(types: &[Arc<ResourceType>], path: &str) -> Option<Value> {
    let groups = served_group_versions(types);
    groups
        .get(path.trim_matches('/'))
        .map(|t| group_version_document(t))
}

pub(crate) fn schema_name(rt: &ResourceType) -> String {
    let group: Vec<&str> = if rt.group.is_empty() {
        vec!["io", "k8s", "api", "core"]
    } else {
        rt.group.split('.').rev().collect()
    };
    format!("{}.{}.{}", group.join("."), rt.version, rt.kind)
}

fn query_parameter(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(rt: &ResourceType, action: &str, parameters: &[&str]) -> Value {
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    json!({
        "operationId": format!("{action}{}", rt.kind),
        "parameters": parameters.iter().map(|p| query_parameter(p)).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    })
}

fn group_version_document(types: &[Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let prefix = format!("/{}", group_version_path(&rt.group, &rt.version));
        let scope = if rt.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("{prefix}{scope}/{}", rt.plural);
        let item = format!("{collection}/{{name}}");
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            collection,
            json!({
                "get": operation(rt, "list", &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
                "post": operation(rt, "post", &write),
            }),
        );
        let mut item_ops = json!({
            "get": operation(rt, "get", &[]),
            "put": operation(rt, "put", &write),
            "patch": operation(rt, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
            "delete": operation(rt, "delete", &["dryRun", "propagationPolicy"]),
        });
        item_ops["delete"]["x-kubernetes-group-version-kind"] =
            json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        paths.insert(item.clone(), item_ops);
        if rt.status_subresource {
            paths.insert(
                format!("{item}/status"),
                json!({
                    "get": operation(rt, "get", &[]),
                    "put": operation(rt, "put", &write),
                    "patch": operation(rt, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                }),
            );
        }
        let mut schema = rt.raw_schema.clone().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        schema["x-kubernetes-group-version-kind"] =
            json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
        schemas.insert(schema_name(rt), schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", VERSION.0, VERSION.1)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
