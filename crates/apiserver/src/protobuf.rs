//! Just enough of the Kubernetes protobuf encoding to accept the bodies typed
//! clients send for the built-in kinds served here: Namespaces (`kubectl create
//! namespace`) and Secrets (Helm keeps its releases in Secrets, written by client-go
//! in protobuf). A general decoder would need every generated message; other kinds
//! are refused with 415, as by a server without the protobuf serializer.

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ProtobufError {
    #[error("protobuf body is truncated or malformed at byte {0}")]
    Malformed(usize),
    #[error("protobuf body lacks the \"k8s\\0\" envelope")]
    NoEnvelope,
    #[error("protobuf bodies of kind {0} are not supported; send JSON")]
    UnsupportedKind(String),
}

const MAGIC: &[u8] = b"k8s\0";

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.at)
                .ok_or(ProtobufError::Malformed(self.at))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed(self.at))
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtobufError> {
        if self.at >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                self.at = self
                    .at
                    .checked_add(width)
                    .filter(|end| *end <= self.data.len())
                    .ok_or(ProtobufError::Malformed(self.at))?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtobufError::Malformed(self.at))?;
                let end = self
                    .at
                    .checked_add(len)
                    .filter(|end| *end <= self.data.len())
                    .ok_or(ProtobufError::Malformed(self.at))?;
                let bytes = &self.data[self.at..end];
                self.at = end;
                Field::Bytes(bytes)
            }
            _ => return Err(ProtobufError::Malformed(self.at)),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn text(bytes: &[u8]) -> Value {
    json!(String::from_utf8_lossy(bytes))
}

fn push(map: &mut Map<String, Value>, key: &str, value: Value) {
    let entry = map.entry(key).or_insert_with(|| json!([]));
    if let Some(items) = entry.as_array_mut() {
        items.push(value);
    }
}

fn time(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut seconds = 0i64;
    while let Some((number, field)) = reader.next()? {
        if let (1, Field::Varint(v)) = (number, field) {
            seconds = v as i64;
        }
    }
    Ok(chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn string_pair(bytes: &[u8]) -> Result<(String, Value), ProtobufError> {
    let mut reader = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), json!(""));
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (2, Field::Bytes(b)) => value = text(b),
            _ => {}
        }
    }
    Ok((key, value))
}

fn owner_reference(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = Map::new();
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => drop(out.insert("kind".into(), text(b))),
            (3, Field::Bytes(b)) => drop(out.insert("name".into(), text(b))),
            (4, Field::Bytes(b)) => drop(out.insert("uid".into(), text(b))),
            (5, Field::Bytes(b)) => drop(out.insert("apiVersion".into(), text(b))),
            (6, Field::Varint(v)) => drop(out.insert("controller".into(), json!(v != 0))),
            (7, Field::Varint(v)) => drop(out.insert("blockOwnerDeletion".into(), json!(v != 0))),
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

fn object_meta(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => drop(out.insert("name".into(), text(b))),
            (2, Field::Bytes(b)) => drop(out.insert("generateName".into(), text(b))),
            (3, Field::Bytes(b)) => drop(out.insert("namespace".into(), text(b))),
            (5, Field::Bytes(b)) => drop(out.insert("uid".into(), text(b))),
            (6, Field::Bytes(b)) => drop(out.insert("resourceVersion".into(), text(b))),
            (7, Field::Varint(v)) => drop(out.insert("generation".into(), json!(v as i64))),
            (8, Field::Bytes(b)) => drop(out.insert("creationTimestamp".into(), time(b)?)),
            (11, Field::Bytes(b)) => {
                let (k, v) = string_pair(b)?;
                labels.insert(k, v);
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = string_pair(b)?;
                annotations.insert(k, v);
            }
            (13, Field::Bytes(b)) => push(&mut out, "ownerReferences", owner_reference(b)?),
            (14, Field::Bytes(b)) => push(&mut out, "finalizers", text(b)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        out.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        out.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(Value::Object(out))
}

fn namespace(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = json!({"apiVersion": "v1", "kind": "Namespace"});
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let mut spec = Reader::new(b);
                let mut finalizers = Vec::new();
                while let Some((n, f)) = spec.next()? {
                    if let (1, Field::Bytes(s)) = (n, f) {
                        finalizers.push(text(s));
                    }
                }
                out["spec"] = json!({"finalizers": finalizers});
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One `map<string, bytes>` entry, its bytes as base64 (their JSON form).
fn bytes_pair(bytes: &[u8]) -> Result<(String, Value), ProtobufError> {
    let mut entry = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), Vec::new());
    while let Some((n, f)) = entry.next()? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Field::Bytes(v)) => value = v.to_vec(),
            _ => {}
        }
    }
    let encoded = serde_json::to_value(k8s_openapi::ByteString(value))
        .map_err(|_| ProtobufError::Malformed(entry.at))?;
    Ok((key, encoded))
}

fn insert_map(out: &mut Value, key: &str, map: Map<String, Value>) {
    if !map.is_empty() {
        out[key] = Value::Object(map);
    }
}

/// A Secret (`k8s.io/api/core/v1` generated.proto: metadata 1, data 2 as a map of bytes,
/// type 3, stringData 4, immutable 5); the bytes of `data` become base64, as in JSON.
fn secret(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = json!({"apiVersion": "v1", "kind": "Secret"});
    let mut data = Map::new();
    let mut string_data = Map::new();
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let (k, v) = bytes_pair(b)?;
                data.insert(k, v);
            }
            (3, Field::Bytes(b)) => out["type"] = text(b),
            (4, Field::Bytes(b)) => {
                let (k, v) = string_pair(b)?;
                string_data.insert(k, v);
            }
            (5, Field::Varint(v)) => out["immutable"] = json!(v != 0),
            _ => {}
        }
    }
    insert_map(&mut out, "data", data);
    insert_map(&mut out, "stringData", string_data);
    Ok(out)
}

/// A ConfigMap (generated.proto: metadata 1, data 2, binaryData 3 as a map of bytes,
/// immutable 4), as `kubectl create configmap` sends it.
fn config_map(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    let mut data = Map::new();
    let mut binary = Map::new();
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                let (k, v) = string_pair(b)?;
                data.insert(k, v);
            }
            (3, Field::Bytes(b)) => {
                let (k, v) = bytes_pair(b)?;
                binary.insert(k, v);
            }
            (4, Field::Varint(v)) => out["immutable"] = json!(v != 0),
            _ => {}
        }
    }
    insert_map(&mut out, "data", data);
    insert_map(&mut out, "binaryData", binary);
    Ok(out)
}

/// The `name` (field 1) of a LocalObjectReference.
fn local_reference(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = Map::new();
    while let Some((number, field)) = reader.next()? {
        if let (1, Field::Bytes(b)) = (number, field) {
            out.insert("name".into(), text(b));
        }
    }
    Ok(Value::Object(out))
}

/// A ServiceAccount (generated.proto: metadata 1, imagePullSecrets 3, automount 4), as
/// `kubectl create serviceaccount` sends it. Its legacy `secrets` (2) are not kept: no
/// client this server serves writes them.
fn service_account(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = json!({"apiVersion": "v1", "kind": "ServiceAccount"});
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (3, Field::Bytes(b)) => {
                if let Some(root) = out.as_object_mut() {
                    push(root, "imagePullSecrets", local_reference(b)?);
                }
            }
            (4, Field::Varint(v)) => out["automountServiceAccountToken"] = json!(v != 0),
            _ => {}
        }
    }
    Ok(out)
}

/// A DeleteOptions body (`k8s.io/apimachinery/pkg/apis/meta/v1` generated.proto:
/// gracePeriodSeconds 1, preconditions 2 {uid 1, resourceVersion 2}, orphanDependents 3,
/// propagationPolicy 4, dryRun 5), as client-go sends it with a typed client's delete.
fn delete_options(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = json!({"apiVersion": "v1", "kind": "DeleteOptions"});
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Varint(v)) => out["gracePeriodSeconds"] = json!(v as i64),
            (2, Field::Bytes(b)) => {
                let mut preconditions = Map::new();
                let mut inner = Reader::new(b);
                while let Some((n, f)) = inner.next()? {
                    match (n, f) {
                        (1, Field::Bytes(v)) => drop(preconditions.insert("uid".into(), text(v))),
                        (2, Field::Bytes(v)) => {
                            drop(preconditions.insert("resourceVersion".into(), text(v)))
                        }
                        _ => {}
                    }
                }
                out["preconditions"] = Value::Object(preconditions);
            }
            (3, Field::Varint(v)) => out["orphanDependents"] = json!(v != 0),
            (4, Field::Bytes(b)) => out["propagationPolicy"] = text(b),
            (5, Field::Bytes(b)) => {
                if let Some(root) = out.as_object_mut() {
                    push(root, "dryRun", text(b));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Decodes a `k8s\0`-enveloped protobuf body into the JSON object it encodes.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoEnvelope)?;
    let mut reader = Reader::new(envelope);
    let (mut kind, mut raw) = (String::new(), &[][..]);
    while let Some((number, field)) = reader.next()? {
        match (number, field) {
            (1, Field::Bytes(type_meta)) => {
                let mut tm = Reader::new(type_meta);
                while let Some((n, f)) = tm.next()? {
                    if let (2, Field::Bytes(k)) = (n, f) {
                        kind = String::from_utf8_lossy(k).into_owned();
                    }
                }
            }
            (2, Field::Bytes(bytes)) => raw = bytes,
            _ => {}
        }
    }
    match kind.as_str() {
        "Namespace" => namespace(raw),
        "Secret" => secret(raw),
        "ConfigMap" => config_map(raw),
        "ServiceAccount" => service_account(raw),
        "DeleteOptions" => delete_options(raw),
        _ => Err(ProtobufError::UnsupportedKind(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_sends_it() {
        let label = [field(1, b"team"), field(2, b"thoth")].concat();
        let meta = [field(1, b"ops"), field(11, &label)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let unknown = [field(1, &type_meta), field(2, &field(1, &meta))].concat();
        let body = [MAGIC, &unknown[..]].concat();
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded["metadata"]["name"], "ops");
        assert_eq!(decoded["metadata"]["labels"]["team"], "thoth");
        assert_eq!(decoded["kind"], "Namespace");
    }

    #[test]
    fn decodes_a_secret_as_client_go_sends_it() {
        let meta = field(1, b"sh.helm.release.v1.thoth.v1");
        let data = [field(1, b"release"), field(2, b"\x00\xffhi")].concat();
        let string_data = [field(1, b"note"), field(2, b"plain")].concat();
        let secret = [
            field(1, &meta),
            field(2, &data),
            field(3, b"helm.sh/release.v1"),
            field(4, &string_data),
            vec![5 << 3, 1],
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let unknown = [field(1, &type_meta), field(2, &secret)].concat();
        let decoded = decode(&[MAGIC, &unknown[..]].concat()).unwrap();
        assert_eq!(decoded["metadata"]["name"], "sh.helm.release.v1.thoth.v1");
        assert_eq!(decoded["data"]["release"], "AP9oaQ==");
        assert_eq!(decoded["type"], "helm.sh/release.v1");
        assert_eq!(decoded["stringData"]["note"], "plain");
        assert_eq!(decoded["immutable"], true);
    }

    #[test]
    fn decodes_a_config_map_and_a_service_account() {
        let meta = field(1, b"extra");
        let data = [field(1, b"a"), field(2, b"b")].concat();
        let binary = [field(1, b"bin"), field(2, b"\x01")].concat();
        let map = [field(1, &meta), field(2, &data), field(3, &binary)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let decoded =
            decode(&[MAGIC, &[field(1, &type_meta), field(2, &map)].concat()].concat()).unwrap();
        assert_eq!(decoded["data"]["a"], "b");
        assert_eq!(decoded["binaryData"]["bin"], "AQ==");

        let account = [
            field(1, &meta),
            field(3, &field(1, b"regcred")),
            vec![4 << 3, 0],
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"ServiceAccount")].concat();
        let decoded =
            decode(&[MAGIC, &[field(1, &type_meta), field(2, &account)].concat()].concat())
                .unwrap();
        assert_eq!(decoded["imagePullSecrets"], json!([{"name": "regcred"}]));
        assert_eq!(decoded["automountServiceAccountToken"], false);
    }

    #[test]
    fn decodes_delete_options_as_client_go_sends_them() {
        let preconditions = [field(1, b"u-1"), field(2, b"42")].concat();
        let options = [
            vec![1 << 3, 0],
            field(2, &preconditions),
            field(4, b"Foreground"),
            field(5, b"All"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"DeleteOptions")].concat();
        let unknown = [field(1, &type_meta), field(2, &options)].concat();
        let decoded = decode(&[MAGIC, &unknown[..]].concat()).unwrap();
        assert_eq!(decoded["gracePeriodSeconds"], 0);
        assert_eq!(decoded["preconditions"]["uid"], "u-1");
        assert_eq!(decoded["preconditions"]["resourceVersion"], "42");
        assert_eq!(decoded["propagationPolicy"], "Foreground");
        assert_eq!(decoded["dryRun"], json!(["All"]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode(b"nope"), Err(ProtobufError::NoEnvelope));
        assert!(decode(b"k8s\0\x0a\xff\xff").is_err());
    }
}
