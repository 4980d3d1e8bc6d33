//! The `/openapi/v2` document in gnostic's `openapi.v2.Document` protobuf form
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`). client-go asks
//! for nothing else: without it kubectl cannot read v2 at all. Only the parts of the
//! message set this server's document uses are encoded; field numbers follow
//! gnostic's `openapiv2/OpenAPIv2.proto`. Extension and `default`/`enum`/`example`
//! values travel as YAML text (JSON is YAML), as gnostic carries them.

use serde_json::{Map, Value};

/// One protobuf message being written; proto3 leaves out default values.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    /// Repeated strings are written even when empty.
    fn repeated_string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, 0);
            self.varint(value as u64);
        }
    }

    fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `Any { yaml = 2 }`.
fn any(value: &Value) -> Message {
    let mut out = Message::default();
    out.string(2, &value.to_string());
    out
}

/// `NamedAny { name = 1; value = 2 }` for every `x-` key, in the field given.
fn vendor_extensions(out: &mut Message, field: u32, object: &Value) {
    if let Some(map) = object.as_object() {
        for (name, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, any(value));
            out.message(field, named);
        }
    }
}

fn named(name: &str, value: Message) -> Message {
    let mut out = Message::default();
    out.string(1, name);
    out.message(2, value);
    out
}

fn schema(value: &Value) -> Message {
    let mut out = Message::default();
    let number = |key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let integer = |key: &str| value.get(key).and_then(Value::as_i64).unwrap_or(0);
    let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
    out.string(1, &text(value, "$ref"));
    out.string(2, &text(value, "format"));
    out.string(3, &text(value, "title"));
    out.string(4, &text(value, "description"));
    if let Some(default) = value.get("default") {
        out.message(5, any(default));
    }
    out.double(6, number("multipleOf"));
    out.double(7, number("maximum"));
    out.boolean(8, flag("exclusiveMaximum"));
    out.double(9, number("minimum"));
    out.boolean(10, flag("exclusiveMinimum"));
    out.int64(11, integer("maxLength"));
    out.int64(12, integer("minLength"));
    out.string(13, &text(value, "pattern"));
    out.int64(14, integer("maxItems"));
    out.int64(15, integer("minItems"));
    out.boolean(16, flag("uniqueItems"));
    out.int64(17, integer("maxProperties"));
    out.int64(18, integer("minProperties"));
    for required in strings(value, "required") {
        out.repeated_string(19, &required);
    }
    for item in value
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(20, any(item));
    }
    match value.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            out.message(21, item);
        }
        Some(additional @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(additional));
            out.message(21, item);
        }
        _ => {}
    }
    let types = match value.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(_)) => strings(value, "type"),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut type_item = Message::default();
        for t in types {
            type_item.repeated_string(1, &t);
        }
        out.message(22, type_item);
    }
    match value.get("items") {
        Some(Value::Array(items)) => {
            let mut items_item = Message::default();
            for item in items {
                items_item.message(1, schema(item));
            }
            out.message(23, items_item);
        }
        Some(item @ Value::Object(_)) => {
            let mut items_item = Message::default();
            items_item.message(1, schema(item));
            out.message(23, items_item);
        }
        _ => {}
    }
    for part in value
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(24, schema(part));
    }
    if let Some(properties) = value.get("properties").and_then(Value::as_object) {
        out.message(25, named_schemas(properties));
    }
    out.boolean(27, flag("readOnly"));
    if let Some(example) = value.get("example") {
        out.message(30, any(example));
    }
    vendor_extensions(&mut out, 31, value);
    out
}

/// `Properties`/`Definitions { repeated NamedSchema additional_properties = 1 }`.
fn named_schemas(map: &Map<String, Value>) -> Message {
    let mut out = Message::default();
    for (name, value) in map {
        out.message(1, named(name, schema(value)));
    }
    out
}

/// `ParametersItem`: a `$ref`, a body parameter or a query/path parameter.
fn parameter(value: &Value) -> Message {
    let mut item = Message::default();
    let reference = text(value, "$ref");
    if !reference.is_empty() {
        let mut json_reference = Message::default();
        json_reference.string(1, &reference);
        item.message(2, json_reference);
        return item;
    }
    let mut parameter = Message::default();
    let location = text(value, "in");
    let required = value
        .get("required")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let unique = value
        .get("uniqueItems")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if location == "body" {
        let mut body = Message::default();
        body.string(1, &text(value, "description"));
        body.string(2, &text(value, "name"));
        body.string(3, &location);
        body.boolean(4, required);
        if let Some(s) = value.get("schema") {
            body.message(5, schema(s));
        }
        vendor_extensions(&mut body, 6, value);
        parameter.message(1, body);
    } else {
        // Query and path sub-schemas share their first fields; they differ from `type` on.
        let mut sub = Message::default();
        sub.boolean(1, required);
        sub.string(2, &location);
        sub.string(3, &text(value, "description"));
        sub.string(4, &text(value, "name"));
        let field = if location == "path" {
            sub.string(5, &text(value, "type"));
            sub.boolean(19, unique);
            vendor_extensions(&mut sub, 22, value);
            4
        } else {
            sub.string(6, &text(value, "type"));
            sub.boolean(20, unique);
            vendor_extensions(&mut sub, 23, value);
            3
        };
        let mut non_body = Message::default();
        non_body.message(field, sub);
        parameter.message(2, non_body);
    }
    item.message(1, parameter);
    item
}

fn operation(value: &Value) -> Message {
    let mut out = Message::default();
    for tag in strings(value, "tags") {
        out.repeated_string(1, &tag);
    }
    out.string(2, &text(value, "summary"));
    out.string(3, &text(value, "description"));
    out.string(5, &text(value, "operationId"));
    for produced in strings(value, "produces") {
        out.repeated_string(6, &produced);
    }
    for consumed in strings(value, "consumes") {
        out.repeated_string(7, &consumed);
    }
    for p in value
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(8, parameter(p));
    }
    if let Some(responses) = value.get("responses").and_then(Value::as_object) {
        let mut codes = Message::default();
        for (code, response) in responses {
            let mut body = Message::default();
            body.string(1, &text(response, "description"));
            if let Some(s) = response.get("schema") {
                let mut schema_item = Message::default();
                schema_item.message(1, schema(s));
                body.message(2, schema_item);
            }
            let mut response_value = Message::default();
            response_value.message(1, body);
            codes.message(1, named(code, response_value));
        }
        out.message(9, codes);
    }
    for scheme in strings(value, "schemes") {
        out.repeated_string(10, &scheme);
    }
    vendor_extensions(&mut out, 13, value);
    out
}

fn path_item(value: &Value) -> Message {
    let mut out = Message::default();
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = value.get(method) {
            out.message(field, operation(op));
        }
    }
    for p in value
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(9, parameter(p));
    }
    vendor_extensions(&mut out, 10, value);
    out
}

/// Encodes the JSON Swagger document as an `openapi.v2.Document`.
pub(crate) fn encode(document: &Value) -> Vec<u8> {
    let mut out = Message::default();
    out.string(1, &text(document, "swagger"));
    if let Some(info) = document.get("info") {
        let mut message = Message::default();
        message.string(1, &text(info, "title"));
        message.string(2, &text(info, "version"));
        message.string(3, &text(info, "description"));
        out.message(2, message);
    }
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        let mut message = Message::default();
        for (path, item) in paths {
            message.message(2, named(path, path_item(item)));
        }
        out.message(8, message);
    }
    if let Some(definitions) = document.get("definitions").and_then(Value::as_object) {
        out.message(9, named_schemas(definitions));
    }
    vendor_extensions(&mut out, 16, document);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_keyed_and_length_delimited() {
        let bytes = encode(&json!({"swagger": "2.0", "info": {"title": "K", "version": "v1"}}));
        assert_eq!(
            bytes,
            vec![
                0x0a, 3, b'2', b'.', b'0', // swagger = 1
                0x12, 7, 0x0a, 1, b'K', 0x12, 2, b'v', b'1', // info = 2
            ]
        );
    }

    #[test]
    fn long_messages_get_multi_byte_lengths() {
        let mut message = Message::default();
        message.string(1, &"a".repeat(300));
        assert_eq!(&message.0[..3], &[0x0a, 0xac, 0x02]);
    }
}
