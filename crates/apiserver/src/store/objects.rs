//! Creating, updating and patching objects: metadata the server owns, generation on
//! spec changes only, `generateName`, the status subresource, admission (defaulting,
//! pruning, validation) and CRDs that start serving their resources.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::EventType;
use super::options::{FieldValidation, PatchType, WriteOptions};
use super::{Inner, now};
use crate::apply::{self, ApplyError, ApplyRequest};
use crate::error::{ApiError, Cause};
use crate::meta;
use crate::patch;
use crate::resource::{CRD_GROUP, CRD_PLURAL, ResourceType, types_from_crd};

const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `names.SimpleNameGenerator`: a `generateName` prefix longer than 58 characters
/// (`maxNameLength` 63 minus `randomLength` 5) is cut to 58 before the 5 random ones
/// are added, so that a generated name fits a label.
const MAX_GENERATE_NAME_PREFIX: usize = 58;

/// The name generated from `prefix`: at most 58 characters of it (cut at a
/// character boundary; a valid prefix is ASCII), then 5 random characters.
fn generated_name(prefix: &str) -> String {
    let mut end = prefix.len().min(MAX_GENERATE_NAME_PREFIX);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &prefix[..end], generated_suffix())
}

fn generated_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| GENERATE_NAME_ALPHABET[rng.random_range(0..GENERATE_NAME_ALPHABET.len())] as char)
        .collect()
}

impl Inner {
    /// Checks kind/apiVersion and the namespace of a body against the request.
    pub(super) fn check_body(
        rt: &ResourceType,
        namespace: &str,
        body: &mut Value,
    ) -> Result<(), ApiError> {
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
    pub(super) fn admit(
        rt: &ResourceType,
        object: &mut Value,
        options: &WriteOptions,
    ) -> Result<(), ApiError> {
        let name = meta::name(object).to_string();
        if rt.group.is_empty() && rt.plural == "secrets" {
            fold_string_data(object);
        }
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

    pub(super) fn create(
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
            name = generated_name(&prefix);
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

    pub(super) fn update(
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
    pub(super) fn split_subresource(
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
    pub(super) fn commit_update(
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
    pub(super) fn patch(
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

/// A Secret's `stringData` is write-only: the real server encodes each entry into `data`
/// (base64), where it wins over a `data` entry of the same key, and never stores it.
fn fold_string_data(secret: &mut Value) {
    let Some(root) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(plain)) = root.remove("stringData") else {
        return;
    };
    let data = root
        .entry("data")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(data) = data.as_object_mut() {
        for (key, value) in plain {
            let bytes = value.as_str().unwrap_or_default().as_bytes().to_vec();
            if let Ok(encoded) = serde_json::to_value(k8s_openapi::ByteString(bytes)) {
                data.insert(key, encoded);
            }
        }
    }
}
