//! Structural-schema handling for custom resources: defaulting, pruning and
//! validation against a CRD version's `openAPIV3Schema`, with field paths in
//! the form the real API server reports them.
//!
//! Behaviour follows the apiextensions-apiserver: defaults are filled only
//! where the parent object exists (and replace a `null` of a non-nullable
//! field); pruning drops fields no schema knows unless
//! `x-kubernetes-preserve-unknown-fields` is set and never touches `apiVersion`,
//! `kind` or `metadata` of the resource root; validation reports kube-openapi's
//! messages translated to field errors exactly as `kubeOpenAPIResultToFieldErrors`
//! does (`spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"`).
//!
//! Not evaluated: `x-kubernetes-validations` (CEL rules) are skipped silently,
//! and `x-kubernetes-list-type: map` lists are checked for duplicate keys only.
//! Only a subset of string formats is checked (`date-time`, `date`, `byte`,
//! `uuid`, `ipv4`, `ipv6`, `cidr`, `hostname`, `duration`); unknown formats
//! are ignored, as kube-openapi ignores formats outside its registry.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("openAPIV3Schema at {path} is not usable: {reason}")]
    Unusable { path: String, reason: String },
}

/// Why a field was refused; maps to the `reason` of a `StatusCause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorReason {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Duplicate,
    Forbidden,
}

impl FieldErrorReason {
    /// The `StatusCause.reason` string Kubernetes uses for this kind of error.
    pub(crate) fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One refused field. `field` is a dotted path such as `spec.packageName` or
/// `spec.arguments.parameters[0].name`; `message` is the text after the path in
/// the API server's message, e.g. `Required value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: FieldErrorReason,
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `<field>: <message>`, the line the API server prints per cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "<root>: {}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// A compiled `openAPIV3Schema` of one CRD version.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    root: Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Date,
    Byte,
    Uuid,
    Ipv4,
    Ipv6,
    Cidr,
    Hostname,
    Duration,
}

impl Format {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "date-time" | "datetime" => Self::DateTime,
            "date" => Self::Date,
            "byte" => Self::Byte,
            "uuid" => Self::Uuid,
            "ipv4" => Self::Ipv4,
            "ipv6" => Self::Ipv6,
            "cidr" => Self::Cidr,
            "hostname" => Self::Hostname,
            "duration" => Self::Duration,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    regex: Regex,
}

#[derive(Debug, Clone, Default)]
enum Additional {
    #[default]
    Unspecified,
    Allowed(bool),
    Schema(Box<Node>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

#[derive(Debug, Clone, Default)]
struct Node {
    json_type: Option<JsonType>,
    nullable: bool,
    int_or_string: bool,
    preserve_unknown: bool,
    embedded_resource: bool,
    default: Option<Value>,
    enumeration: Option<Vec<Value>>,
    format: Option<(String, Format)>,
    pattern: Option<Pattern>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    exclusive_minimum: bool,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    multiple_of: Option<f64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    required: Vec<String>,
    properties: BTreeMap<String, Node>,
    additional: Additional,
    items: Option<Box<Node>>,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    not: Option<Box<Node>>,
    list_type: ListType,
}

impl CompiledSchema {
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, SchemaError> {
        Ok(Self {
            root: Node::compile(open_api_v3_schema, "openAPIV3Schema")?,
        })
    }

    /// Compiles the schema of version `version` of a CustomResourceDefinition
    /// object. A version without a schema gets the "accept anything" schema a
    /// CRD with `x-kubernetes-preserve-unknown-fields: true` at the root has.
    pub fn from_crd_version(crd: &Value, version: &str) -> Result<Self, SchemaError> {
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::Unusable {
                path: "spec.versions".into(),
                reason: "the CustomResourceDefinition has no versions list".into(),
            })?;
        let entry = versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            .ok_or_else(|| SchemaError::Unusable {
                path: "spec.versions".into(),
                reason: format!("no version named {version:?}"),
            })?;
        match entry.pointer("/schema/openAPIV3Schema") {
            Some(schema) => Self::compile(schema),
            None => Self::compile(&serde_json::json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true
            })),
        }
    }

    /// Fills in `default`s, as the API server does on create, update and read.
    pub fn apply_defaults(&self, object: &mut Value) {
        self.root.apply_defaults(object);
    }

    /// Drops fields the schema does not know, except under
    /// `x-kubernetes-preserve-unknown-fields`; never touches `apiVersion`,
    /// `kind` or `metadata` at the root.
    pub fn prune(&self, object: &mut Value) {
        self.root.prune(object, true);
    }

    /// Every violation of the schema, in document order.
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut path = Path::default();
        self.root.validate(object, &mut path, &mut errors);
        errors
    }
}

fn unusable(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Unusable {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn non_negative(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, SchemaError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| unusable(path, format!("{key} must be a non-negative integer"))),
    }
}

fn number(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, SchemaError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| unusable(path, format!("{key} must be a number"))),
    }
}

fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn sub_schemas(map: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<Node>, SchemaError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, s)| Node::compile(s, &format!("{path}.{key}[{i}]")))
            .collect(),
        Some(_) => Err(unusable(path, format!("{key} must be a list of schemas"))),
    }
}

impl Node {
    fn compile(schema: &Value, path: &str) -> Result<Self, SchemaError> {
        let Some(map) = schema.as_object() else {
            return Err(unusable(path, "a schema must be an object"));
        };
        let mut node = Node {
            nullable: flag(map, "nullable"),
            int_or_string: flag(map, "x-kubernetes-int-or-string"),
            preserve_unknown: flag(map, "x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag(map, "x-kubernetes-embedded-resource"),
            default: map.get("default").cloned(),
            exclusive_minimum: flag(map, "exclusiveMinimum"),
            exclusive_maximum: flag(map, "exclusiveMaximum"),
            unique_items: flag(map, "uniqueItems"),
            ..Node::default()
        };
        match map.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) if name.is_empty() => {}
            Some(Value::String(name)) => {
                node.json_type = Some(
                    JsonType::parse(name)
                        .ok_or_else(|| unusable(path, format!("unknown type {name:?}")))?,
                );
            }
            Some(_) => return Err(unusable(path, "type must be a string")),
        }
        if let Some(format) = map.get("format").and_then(Value::as_str)
            && let Some(known) = Format::parse(format)
        {
            node.format = Some((format.to_string(), known));
        }
        match map.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => node.enumeration = Some(values.clone()),
            Some(_) => return Err(unusable(path, "enum must be a list")),
        }
        if let Some(pattern) = map.get("pattern") {
            let source = pattern
                .as_str()
                .ok_or_else(|| unusable(path, "pattern must be a string"))?;
            let regex = Regex::new(source).map_err(|e| {
                unusable(
                    path,
                    format!("pattern {source:?} is not a valid regular expression: {e}"),
                )
            })?;
            node.pattern = Some(Pattern {
                source: source.to_string(),
                regex,
            });
        }
        node.min_length = non_negative(map, "minLength", path)?;
        node.max_length = non_negative(map, "maxLength", path)?;
        node.min_items = non_negative(map, "minItems", path)?;
        node.max_items = non_negative(map, "maxItems", path)?;
        node.min_properties = non_negative(map, "minProperties", path)?;
        node.max_properties = non_negative(map, "maxProperties", path)?;
        node.minimum = number(map, "minimum", path)?;
        node.maximum = number(map, "maximum", path)?;
        node.multiple_of = number(map, "multipleOf", path)?;
        if node.multiple_of.is_some_and(|m| m <= 0.0) {
            return Err(unusable(path, "multipleOf must be greater than 0"));
        }
        match map.get("required") {
            None | Some(Value::Null) => {}
            Some(Value::Array(names)) => {
                for name in names {
                    let name = name
                        .as_str()
                        .ok_or_else(|| unusable(path, "required must list property names"))?;
                    node.required.push(name.to_string());
                }
            }
            Some(_) => return Err(unusable(path, "required must be a list")),
        }
        match map.get("properties") {
            None | Some(Value::Null) => {}
            Some(Value::Object(props)) => {
                for (name, prop) in props {
                    let child = Node::compile(prop, &format!("{path}.properties.{name}"))?;
                    node.properties.insert(name.clone(), child);
                }
            }
            Some(_) => return Err(unusable(path, "properties must be an object")),
        }
        node.additional = match map.get("additionalProperties") {
            None | Some(Value::Null) => Additional::Unspecified,
            Some(Value::Bool(allowed)) => Additional::Allowed(*allowed),
            Some(schema) => Additional::Schema(Box::new(Node::compile(
                schema,
                &format!("{path}.additionalProperties"),
            )?)),
        };
        node.items = match map.get("items") {
            None | Some(Value::Null) => None,
            Some(schema @ Value::Object(_)) => {
                Some(Box::new(Node::compile(schema, &format!("{path}.items"))?))
            }
            Some(_) => return Err(unusable(path, "items must be a single schema")),
        };
        node.all_of = sub_schemas(map, "allOf", path)?;
        node.any_of = sub_schemas(map, "anyOf", path)?;
        node.one_of = sub_schemas(map, "oneOf", path)?;
        node.not = match map.get("not") {
            None | Some(Value::Null) => None,
            Some(schema) => Some(Box::new(Node::compile(schema, &format!("{path}.not"))?)),
        };
        node.list_type = match map.get("x-kubernetes-list-type").and_then(Value::as_str) {
            None | Some("atomic") => ListType::Atomic,
            Some("set") => ListType::Set,
            Some("map") => {
                let keys = map
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                if keys.is_empty() {
                    return Err(unusable(
                        path,
                        "x-kubernetes-list-type: map needs x-kubernetes-list-map-keys",
                    ));
                }
                ListType::Map(keys)
            }
            Some(other) => {
                return Err(unusable(
                    path,
                    format!("unknown x-kubernetes-list-type {other:?}"),
                ));
            }
        };
        Ok(node)
    }

    fn is_non_nullable_null(&self, value: &Value) -> bool {
        value.is_null() && !self.nullable
    }

    fn apply_defaults(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (name, prop) in &self.properties {
                    if let Some(default) = &prop.default {
                        let missing = match map.get(name) {
                            None => true,
                            Some(current) => prop.is_non_nullable_null(current),
                        };
                        if missing {
                            map.insert(name.clone(), default.clone());
                        }
                    }
                }
                for (name, child) in map.iter_mut() {
                    if let Some(prop) = self.properties.get(name) {
                        prop.apply_defaults(child);
                    } else if let Additional::Schema(additional) = &self.additional {
                        if let Some(default) = &additional.default
                            && additional.is_non_nullable_null(child)
                        {
                            *child = default.clone();
                        }
                        additional.apply_defaults(child);
                    }
                }
            }
            Value::Array(list) => {
                if let Some(items) = &self.items {
                    for element in list.iter_mut() {
                        if let Some(default) = &items.default
                            && items.is_non_nullable_null(element)
                        {
                            *element = default.clone();
                        }
                        items.apply_defaults(element);
                    }
                }
            }
            _ => {}
        }
    }

    fn prune(&self, value: &mut Value, resource_root: bool) {
        match value {
            Value::Object(map) => {
                let resource_root = resource_root || self.embedded_resource;
                map.retain(|name, child| {
                    if resource_root {
                        match name.as_str() {
                            "apiVersion" | "kind" => return true,
                            "metadata" => {
                                if self.embedded_resource
                                    && let Value::Object(meta) = child
                                {
                                    meta.retain(|k, _| {
                                        matches!(
                                            k.as_str(),
                                            "name"
                                                | "namespace"
                                                | "labels"
                                                | "annotations"
                                                | "generateName"
                                        )
                                    });
                                }
                                return true;
                            }
                            _ => {}
                        }
                    }
                    if let Some(prop) = self.properties.get(name) {
                        prop.prune(child, false);
                        true
                    } else if let Additional::Schema(additional) = &self.additional {
                        additional.prune(child, false);
                        true
                    } else {
                        self.preserve_unknown
                            || matches!(self.additional, Additional::Allowed(true))
                    }
                });
            }
            Value::Array(list) => {
                if let Some(items) = &self.items {
                    for element in list.iter_mut() {
                        items.prune(element, false);
                    }
                }
            }
            _ => {}
        }
    }

    fn validate<'a>(&'a self, value: &'a Value, path: &mut Path<'a>, errors: &mut Vec<FieldError>) {
        if value.is_null() {
            if !self.nullable
                && let Some(expected) = self.expected_type_name()
            {
                errors.push(type_error(path, &expected, "null"));
            }
            return;
        }
        let actual = actual_type(value);
        let type_ok = match self.json_type {
            _ if self.int_or_string => {
                matches!(actual, JsonType::Integer | JsonType::String)
                    || (actual == JsonType::Number && is_integral(value))
            }
            None => true,
            Some(JsonType::Integer) => {
                actual == JsonType::Integer || (actual == JsonType::Number && is_integral(value))
            }
            Some(JsonType::Number) => matches!(actual, JsonType::Integer | JsonType::Number),
            Some(expected) => actual == expected,
        };
        if !type_ok {
            if let Some(expected) = self.expected_type_name() {
                errors.push(type_error(path, &expected, actual.name()));
            }
            self.validate_enum(value, path, errors);
            return;
        }
        self.validate_composition(value, path, errors);
        match value {
            Value::String(text) => self.validate_string(text, value, path, errors),
            Value::Number(_) => self.validate_number(value, path, errors),
            Value::Array(list) => self.validate_array(list, path, errors),
            Value::Object(map) => self.validate_object(map, value, path, errors),
            _ => {}
        }
        self.validate_enum(value, path, errors);
    }

    fn expected_type_name(&self) -> Option<String> {
        if self.int_or_string {
            Some("integer,string".to_string())
        } else {
            self.json_type.map(|t| t.name().to_string())
        }
    }

    fn validate_enum(&self, value: &Value, path: &Path<'_>, errors: &mut Vec<FieldError>) {
        let Some(allowed) = &self.enumeration else {
            return;
        };
        if allowed.iter().any(|candidate| json_equal(candidate, value)) {
            return;
        }
        let supported = allowed
            .iter()
            .map(|candidate| match candidate {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = format!("Unsupported value: {}", go_value(value));
        if !allowed.is_empty() {
            message.push_str(": supported values: ");
            message.push_str(&supported);
        }
        errors.push(FieldError {
            field: path.render(),
            reason: FieldErrorReason::NotSupported,
            message,
        });
    }

    fn validate_composition<'a>(
        &'a self,
        value: &'a Value,
        path: &mut Path<'a>,
        errors: &mut Vec<FieldError>,
    ) {
        if !self.all_of.is_empty() {
            let mut passed = 0;
            for schema in &self.all_of {
                let mut inner = Vec::new();
                schema.validate(value, path, &mut inner);
                if inner.is_empty() {
                    passed += 1;
                }
                errors.extend(inner);
            }
            if passed != self.all_of.len() {
                let suffix = if passed == 0 { ". None validated" } else { "" };
                let name = path.render();
                errors.push(invalid(
                    &name,
                    &Value::String(String::new()),
                    format!(
                        "{} must validate all the schemas (allOf){suffix}",
                        go_quote(&name)
                    ),
                ));
            }
        }
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.accepts(value, path)) {
            let name = path.render();
            errors.push(invalid(
                &name,
                &Value::String(String::new()),
                format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(&name)
                ),
            ));
        }
        if !self.one_of.is_empty() {
            let passed = self
                .one_of
                .iter()
                .filter(|s| s.accepts(value, path))
                .count();
            if passed != 1 {
                let detail = if passed == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {passed} valid alternatives")
                };
                let name = path.render();
                errors.push(invalid(
                    &name,
                    &Value::String(String::new()),
                    format!(
                        "{} must validate one and only one schema (oneOf). {detail}",
                        go_quote(&name)
                    ),
                ));
            }
        }
        if let Some(not) = &self.not
            && not.accepts(value, path)
        {
            let name = path.render();
            errors.push(invalid(
                &name,
                &Value::String(String::new()),
                format!("{} must not validate the schema (not)", go_quote(&name)),
            ));
        }
    }

    fn accepts<'a>(&'a self, value: &'a Value, path: &mut Path<'a>) -> bool {
        let mut inner = Vec::new();
        self.validate(value, path, &mut inner);
        inner.is_empty()
    }

    fn validate_string(
        &self,
        text: &str,
        value: &Value,
        path: &Path<'_>,
        errors: &mut Vec<FieldError>,
    ) {
        if let Some((name, format)) = &self.format
            && !format_accepts(*format, text)
        {
            let field = path.render();
            errors.push(FieldError {
                message: format!(
                    "Invalid value: {}: {field} in body must be of type {name}: {}",
                    go_value(value),
                    go_quote(text)
                ),
                field,
                reason: FieldErrorReason::TypeInvalid,
            });
        }
        let needs_length = self.min_length.is_some() || self.max_length.is_some();
        let length = if needs_length {
            text.chars().count() as u64
        } else {
            0
        };
        if let Some(max) = self.max_length
            && length > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            errors.push(FieldError {
                field: path.render(),
                reason: FieldErrorReason::TooLong,
                message: format!("Too long: may not be more than {max} {unit}"),
            });
        }
        if let Some(min) = self.min_length
            && length < min
        {
            let field = path.render();
            let detail = format!("{field} in body should be at least {min} chars long");
            errors.push(invalid(&field, value, detail));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.regex.is_match(text)
        {
            let field = path.render();
            let detail = format!("{field} in body should match '{}'", pattern.source);
            errors.push(invalid(&field, value, detail));
        }
    }

    fn validate_number(&self, value: &Value, path: &Path<'_>, errors: &mut Vec<FieldError>) {
        let Some(number) = value.as_f64() else {
            return;
        };
        if let Some(factor) = self.multiple_of {
            let quotient = number / factor;
            if (quotient - quotient.round()).abs() > 1e-9 {
                let field = path.render();
                let detail = format!(
                    "{field} in body should be a multiple of {}",
                    go_float(factor)
                );
                errors.push(invalid(&field, value, detail));
            }
        }
        if let Some(max) = self.maximum {
            let (bad, words) = if self.exclusive_maximum {
                (number >= max, "less than")
            } else {
                (number > max, "less than or equal to")
            };
            if bad {
                let field = path.render();
                let detail = format!("{field} in body should be {words} {}", go_float(max));
                errors.push(invalid(&field, value, detail));
            }
        }
        if let Some(min) = self.minimum {
            let (bad, words) = if self.exclusive_minimum {
                (number <= min, "greater than")
            } else {
                (number < min, "greater than or equal to")
            };
            if bad {
                let field = path.render();
                let detail = format!("{field} in body should be {words} {}", go_float(min));
                errors.push(invalid(&field, value, detail));
            }
        }
    }

    fn validate_array<'a>(
        &'a self,
        list: &'a [Value],
        path: &mut Path<'a>,
        errors: &mut Vec<FieldError>,
    ) {
        let size = list.len() as u64;
        if let Some(max) = self.max_items
            && size > max
        {
            let noun = if max == 1 { "item" } else { "items" };
            errors.push(FieldError {
                field: path.render(),
                reason: FieldErrorReason::TooMany,
                message: format!("Too many: {size}: must have at most {max} {noun}"),
            });
        }
        if let Some(min) = self.min_items
            && size < min
        {
            let field = path.render();
            let detail = format!("{field} in body should have at least {min} items");
            errors.push(invalid(&field, &Value::from(size), detail));
        }
        if self.unique_items && has_duplicates(list) {
            let field = path.render();
            let detail = format!("{field} in body shouldn't contain duplicates");
            errors.push(invalid(&field, &Value::String(String::new()), detail));
        }
        if let Some(items) = &self.items {
            for (index, element) in list.iter().enumerate() {
                path.push(Segment::Index(index));
                items.validate(element, path, errors);
                path.pop();
            }
        }
        match &self.list_type {
            ListType::Atomic => {}
            ListType::Set => {
                for (index, element) in list.iter().enumerate() {
                    if list[..index]
                        .iter()
                        .any(|earlier| json_equal(earlier, element))
                    {
                        path.push(Segment::Index(index));
                        errors.push(FieldError {
                            field: path.render(),
                            reason: FieldErrorReason::Duplicate,
                            message: format!("Duplicate value: {}", go_value(element)),
                        });
                        path.pop();
                    }
                }
            }
            ListType::Map(keys) => {
                let key_of = |element: &Value| -> Option<Map<String, Value>> {
                    let object = element.as_object()?;
                    Some(
                        keys.iter()
                            .filter_map(|k| object.get(k).map(|v| (k.clone(), v.clone())))
                            .collect(),
                    )
                };
                let element_keys: Vec<_> = list.iter().map(key_of).collect();
                for (index, key) in element_keys.iter().enumerate() {
                    let Some(key) = key else { continue };
                    if element_keys[..index]
                        .iter()
                        .any(|earlier| earlier.as_ref() == Some(key))
                    {
                        path.push(Segment::Index(index));
                        errors.push(FieldError {
                            field: path.render(),
                            reason: FieldErrorReason::Duplicate,
                            message: format!(
                                "Duplicate value: {}",
                                go_value(&Value::Object(key.clone()))
                            ),
                        });
                        path.pop();
                    }
                }
            }
        }
    }

    fn validate_object<'a>(
        &'a self,
        map: &'a Map<String, Value>,
        value: &'a Value,
        path: &mut Path<'a>,
        errors: &mut Vec<FieldError>,
    ) {
        let count = map.len() as u64;
        if let Some(max) = self.max_properties
            && count > max
        {
            let noun = if max == 1 { "item" } else { "items" };
            errors.push(FieldError {
                field: path.render(),
                reason: FieldErrorReason::TooMany,
                message: format!("Too many: {count}: must have at most {max} {noun}"),
            });
        }
        if let Some(min) = self.min_properties
            && count < min
        {
            let field = path.render();
            let detail = format!("{field} in body should have at least {min} properties");
            errors.push(invalid(&field, &Value::from(count), detail));
        }
        for name in &self.required {
            if !map.contains_key(name) {
                path.push(Segment::Key(name));
                errors.push(FieldError {
                    field: path.render(),
                    reason: FieldErrorReason::Required,
                    message: "Required value".to_string(),
                });
                path.pop();
            }
        }
        if self.embedded_resource && !map.is_empty() {
            for name in ["apiVersion", "kind"] {
                if !map.contains_key(name) {
                    path.push(Segment::Key(name));
                    errors.push(FieldError {
                        field: path.render(),
                        reason: FieldErrorReason::Required,
                        message: "Required value: must not be empty".to_string(),
                    });
                    path.pop();
                }
            }
        }
        for (name, child) in map {
            path.push(Segment::Key(name));
            if let Some(prop) = self.properties.get(name) {
                prop.validate(child, path, errors);
            } else {
                match &self.additional {
                    Additional::Schema(additional) => additional.validate(child, path, errors),
                    Additional::Allowed(false) => {
                        let field = path.render();
                        let detail = format!("{field} in body is a forbidden property");
                        errors.push(invalid(&field, value, detail));
                    }
                    _ => {}
                }
            }
            path.pop();
        }
    }
}

/// A field path kept as segments so that it is rendered only when an error is
/// reported; validation of valid objects then allocates nothing for paths.
#[derive(Default)]
struct Path<'a> {
    segments: Vec<Segment<'a>>,
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    fn push(&mut self, segment: Segment<'a>) {
        self.segments.push(segment);
    }

    fn pop(&mut self) {
        self.segments.pop();
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(index) => {
                    out.push('[');
                    out.push_str(&index.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

fn invalid(field: &str, value: &Value, detail: String) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: FieldErrorReason::Invalid,
        message: format!("Invalid value: {}: {detail}", go_value(value)),
    }
}

fn type_error(path: &Path<'_>, expected: &str, actual: &str) -> FieldError {
    let field = path.render();
    FieldError {
        message: format!(
            "Invalid value: {}: {field} in body must be of type {expected}: {}",
            go_quote(actual),
            go_quote(actual)
        ),
        field,
        reason: FieldErrorReason::TypeInvalid,
    }
}

fn actual_type(value: &Value) -> JsonType {
    match value {
        Value::Object(_) => JsonType::Object,
        Value::Array(_) => JsonType::Array,
        Value::String(_) => JsonType::String,
        Value::Bool(_) => JsonType::Boolean,
        Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
        Value::Number(_) | Value::Null => JsonType::Number,
    }
}

fn is_integral(value: &Value) -> bool {
    value
        .as_f64()
        .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// JSON equality where `1` and `1.0` are the same number, as in Go's decoded values.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| json_equal(v, other)))
        }
        _ => a == b,
    }
}

fn has_duplicates(list: &[Value]) -> bool {
    list.iter()
        .enumerate()
        .any(|(i, v)| list[..i].iter().any(|earlier| json_equal(earlier, v)))
}

fn format_accepts(format: Format, text: &str) -> bool {
    match format {
        Format::DateTime => {
            chrono::DateTime::parse_from_rfc3339(text).is_ok()
                || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        }
        Format::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        Format::Byte => is_base64(text),
        Format::Uuid => uuid::Uuid::try_parse(text).is_ok() && text.len() == 36,
        Format::Ipv4 => text.parse::<Ipv4Addr>().is_ok(),
        Format::Ipv6 => text.parse::<Ipv6Addr>().is_ok(),
        Format::Cidr => is_cidr(text),
        Format::Hostname => is_hostname(text),
        Format::Duration => is_duration(text),
    }
}

fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return false;
    }
    bytes[..bytes.len() - padding]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn is_cidr(text: &str) -> bool {
    let Some((address, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    if address.parse::<Ipv4Addr>().is_ok() {
        bits <= 32
    } else {
        address.parse::<Ipv6Addr>().is_ok() && bits <= 128
    }
}

fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Go duration strings as strfmt accepts them (`1h30m`, `300ms`, `1.5s`, `2 days`
/// style is not accepted here).
fn is_duration(text: &str) -> bool {
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit],
            "ns" | "us" | "µs" | "ms" | "s" | "m" | "h" | "d" | "w"
        ) {
            return false;
        }
        rest = &rest[unit..];
    }
    true
}

/// Go's `%q` for a string: double-quoted with Go escapes.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` for a float64.
fn go_float(number: f64) -> String {
    if number.is_finite() && number.fract() == 0.0 && number.abs() < 1e21 {
        return format!("{number:.0}");
    }
    let magnitude = number.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        let formatted = format!("{number:e}");
        if let Some((mantissa, exponent)) = formatted.split_once('e') {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
    }
    format!("{number}")
}

/// How field errors render a bad value: Go's printing of a decoded JSON value
/// (`%q` for strings, `%v` for scalars, `%#v` for maps and lists).
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => go_quote(s),
        other => go_syntax(other),
    }
}

fn go_syntax(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => go_quote(s),
        Value::Array(list) => format!(
            "[]interface {{}}{{{}}}",
            list.iter().map(go_syntax).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "map[string]interface {{}}{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> CompiledSchema {
        CompiledSchema::compile(&schema).expect("schema compiles")
    }

    fn messages(schema: &CompiledSchema, object: Value) -> Vec<String> {
        schema
            .validate(&object)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn spec_schema(spec_props: Value) -> CompiledSchema {
        compile(json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": spec_props}
            }
        }))
    }

    #[test]
    fn required_property_is_reported_with_its_path() {
        let schema = compile(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "required": ["packageName"],
                "properties": {"packageName": {"type": "string"}}}}
        }));
        let errors = schema.validate(&json!({"spec": {}}));
        assert_eq!(
            errors,
            vec![FieldError {
                field: "spec.packageName".into(),
                reason: FieldErrorReason::Required,
                message: "Required value".into()
            }]
        );
        assert_eq!(errors[0].reason.cause_reason(), "FieldValueRequired");
    }

    #[test]
    fn wrong_type_message_matches_kube_openapi() {
        let schema = spec_schema(json!({"x": {"type": "integer"}}));
        let errors = schema.validate(&json!({"spec": {"x": "string"}}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, FieldErrorReason::TypeInvalid);
        assert_eq!(
            errors[0].to_string(),
            r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"x": true}})),
            vec![
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean""#
            ]
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"x": 1.5}})),
            vec![
                r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#
            ]
        );
        assert!(messages(&schema, json!({"spec": {"x": 3.0}})).is_empty());
    }

    #[test]
    fn every_json_type_is_checked() {
        let schema = spec_schema(json!({
            "o": {"type": "object"}, "a": {"type": "array"}, "s": {"type": "string"},
            "n": {"type": "number"}, "b": {"type": "boolean"}
        }));
        assert!(
            messages(
                &schema,
                json!({"spec": {"o": {}, "a": [], "s": "", "n": 1, "b": false}})
            )
            .is_empty()
        );
        let got = messages(
            &schema,
            json!({"spec": {"o": [], "a": {}, "s": 1, "n": "1", "b": "true"}}),
        );
        assert_eq!(
            got,
            vec![
                r#"spec.a: Invalid value: "object": spec.a in body must be of type array: "object""#,
                r#"spec.b: Invalid value: "string": spec.b in body must be of type boolean: "string""#,
                r#"spec.n: Invalid value: "string": spec.n in body must be of type number: "string""#,
                r#"spec.o: Invalid value: "array": spec.o in body must be of type object: "array""#,
                r#"spec.s: Invalid value: "integer": spec.s in body must be of type string: "integer""#,
            ]
        );
    }

    #[test]
    fn null_is_refused_unless_nullable() {
        let schema = spec_schema(
            json!({"a": {"type": "string"}, "b": {"type": "string", "nullable": true}}),
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"a": null, "b": null}})),
            vec![r#"spec.a: Invalid value: "null": spec.a in body must be of type string: "null""#]
        );
    }

    #[test]
    fn enum_lists_supported_values() {
        let schema = spec_schema(json!({"phase": {"type": "string", "enum": ["A", "B"]},
            "n": {"type": "integer", "enum": [1, 2]}}));
        let errors = schema.validate(&json!({"spec": {"phase": "X", "n": 3}}));
        assert_eq!(errors[1].reason, FieldErrorReason::NotSupported);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                r#"spec.n: Unsupported value: 3: supported values: "1", "2""#,
                r#"spec.phase: Unsupported value: "X": supported values: "A", "B""#,
            ]
        );
        assert!(messages(&schema, json!({"spec": {"phase": "B", "n": 2.0}})).is_empty());
    }

    #[test]
    fn string_length_and_pattern() {
        let schema = spec_schema(json!({
            "name": {"type": "string", "minLength": 1, "maxLength": 3},
            "url": {"type": "string", "pattern": "^https?://"}
        }));
        let errors = schema.validate(&json!({"spec": {"name": "", "url": "x"}}));
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                r#"spec.name: Invalid value: "": spec.name in body should be at least 1 chars long"#,
                r#"spec.url: Invalid value: "x": spec.url in body should match '^https?://'"#,
            ]
        );
        let too_long = schema.validate(&json!({"spec": {"name": "abcd"}}));
        assert_eq!(too_long[0].reason, FieldErrorReason::TooLong);
        assert_eq!(
            too_long[0].message,
            "Too long: may not be more than 3 bytes"
        );
        // Length counts characters, not bytes, as kube-openapi does.
        assert!(messages(&schema, json!({"spec": {"name": "äöü"}})).is_empty());
    }

    #[test]
    fn numeric_bounds_and_multiple_of() {
        let schema = spec_schema(json!({
            "a": {"type": "integer", "minimum": 1, "maximum": 10},
            "b": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1.5, "exclusiveMaximum": true},
            "c": {"type": "integer", "multipleOf": 5}
        }));
        assert!(messages(&schema, json!({"spec": {"a": 1, "b": 0.5, "c": 10}})).is_empty());
        assert_eq!(
            messages(&schema, json!({"spec": {"a": 0, "b": 0, "c": 7}})),
            vec![
                "spec.a: Invalid value: 0: spec.a in body should be greater than or equal to 1",
                "spec.b: Invalid value: 0: spec.b in body should be greater than 0",
                "spec.c: Invalid value: 7: spec.c in body should be a multiple of 5",
            ]
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"a": 11, "b": 1.5}})),
            vec![
                "spec.a: Invalid value: 11: spec.a in body should be less than or equal to 10",
                "spec.b: Invalid value: 1.5: spec.b in body should be less than 1.5",
            ]
        );
    }

    #[test]
    fn array_keywords() {
        let schema = spec_schema(json!({
            "l": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true,
                  "items": {"type": "string"}}
        }));
        assert_eq!(
            messages(&schema, json!({"spec": {"l": []}})),
            vec!["spec.l: Invalid value: 0: spec.l in body should have at least 1 items"]
        );
        let errors = schema.validate(&json!({"spec": {"l": ["a", "a", 3]}}));
        assert_eq!(errors[0].reason, FieldErrorReason::TooMany);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "spec.l: Too many: 3: must have at most 2 items",
                r#"spec.l: Invalid value: "": spec.l in body shouldn't contain duplicates"#,
                r#"spec.l[2]: Invalid value: "integer": spec.l[2] in body must be of type string: "integer""#,
            ]
        );
    }

    #[test]
    fn object_property_counts_and_additional_properties() {
        let schema = spec_schema(json!({
            "m": {"type": "object", "minProperties": 1, "maxProperties": 2,
                  "additionalProperties": {"type": "string"}},
            "closed": {"type": "object", "additionalProperties": false}
        }));
        assert_eq!(
            messages(&schema, json!({"spec": {"m": {}}})),
            vec!["spec.m: Invalid value: 0: spec.m in body should have at least 1 properties"]
        );
        assert_eq!(
            messages(
                &schema,
                json!({"spec": {"m": {"a": "1", "b": "2", "c": 3}}})
            ),
            vec![
                "spec.m: Too many: 3: must have at most 2 items",
                r#"spec.m.c: Invalid value: "integer": spec.m.c in body must be of type string: "integer""#,
            ]
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"closed": {"x": 1}}})),
            vec![
                r#"spec.closed.x: Invalid value: map[string]interface {}{"x":1}: spec.closed.x in body is a forbidden property"#
            ]
        );
    }

    #[test]
    fn formats() {
        let schema = spec_schema(json!({
            "t": {"type": "string", "format": "date-time"},
            "b": {"type": "string", "format": "byte"},
            "i": {"type": "integer", "format": "int32"},
            "u": {"type": "string", "format": "some-unknown-format"}
        }));
        assert!(
            messages(
                &schema,
                json!({"spec": {"t": "2024-01-02T03:04:05Z", "b": "aGVsbG8=", "i": 5, "u": "x"}})
            )
            .is_empty()
        );
        let errors = schema.validate(&json!({"spec": {"t": "yesterday", "b": "%%"}}));
        assert_eq!(errors[0].reason, FieldErrorReason::TypeInvalid);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                r#"spec.b: Invalid value: "%%": spec.b in body must be of type byte: "%%""#,
                r#"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday""#,
            ]
        );
        for (format, good, bad) in [
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
            ("ipv4", "10.0.0.1", "10.0.0.300"),
            ("ipv6", "::1", "1:::2"),
            ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
            ("hostname", "a.example.com", "-bad-.com"),
            ("date", "2024-02-29", "2023-02-29"),
            ("duration", "1h30m", "ten"),
        ] {
            assert!(
                format_accepts(Format::parse(format).unwrap(), good),
                "{format} {good}"
            );
            assert!(
                !format_accepts(Format::parse(format).unwrap(), bad),
                "{format} {bad}"
            );
        }
    }

    #[test]
    fn composition_keywords() {
        let schema = spec_schema(json!({
            "any": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "one": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]},
            "all": {"type": "integer", "allOf": [{"minimum": 0}, {"maximum": 10}]},
            "not": {"type": "string", "not": {"enum": ["forbidden"]}}
        }));
        assert!(
            messages(
                &schema,
                json!({"spec": {"any": "x", "one": 20, "all": 5, "not": "ok"}})
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                &schema,
                json!({"spec": {"any": true, "one": 5, "all": 11, "not": "forbidden"}})
            ),
            vec![
                "spec.all: Invalid value: 11: spec.all in body should be less than or equal to 10",
                r#"spec.all: Invalid value: "": "spec.all" must validate all the schemas (allOf)"#,
                r#"spec.any: Invalid value: "": "spec.any" must validate at least one schema (anyOf)"#,
                r#"spec.not: Invalid value: "": "spec.not" must not validate the schema (not)"#,
                r#"spec.one: Invalid value: "": "spec.one" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
            ]
        );
    }

    #[test]
    fn int_or_string_accepts_both_and_applies_pattern_to_strings_only() {
        let schema = spec_schema(json!({
            "q": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                  "pattern": "^[0-9]+m?$", "x-kubernetes-int-or-string": true}
        }));
        assert!(messages(&schema, json!({"spec": {"q": 5}})).is_empty());
        assert!(messages(&schema, json!({"spec": {"q": "500m"}})).is_empty());
        assert_eq!(
            messages(&schema, json!({"spec": {"q": "lots"}})),
            vec![r#"spec.q: Invalid value: "lots": spec.q in body should match '^[0-9]+m?$'"#]
        );
        assert_eq!(
            messages(&schema, json!({"spec": {"q": true}})),
            vec![
                r#"spec.q: Invalid value: "boolean": spec.q in body must be of type integer,string: "boolean""#
            ]
        );
    }

    #[test]
    fn list_types_report_duplicates() {
        let schema = spec_schema(json!({
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "map": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}
        }));
        let errors = schema.validate(&json!({"spec": {
            "set": ["a", "b", "a"],
            "map": [{"name": "x", "v": 1}, {"name": "y"}, {"name": "x", "v": 2}]
        }}));
        assert!(
            errors
                .iter()
                .all(|e| e.reason == FieldErrorReason::Duplicate)
        );
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                r#"spec.map[2]: Duplicate value: map[string]interface {}{"name":"x"}"#,
                r#"spec.set[2]: Duplicate value: "a""#,
            ]
        );
    }

    #[test]
    fn nested_paths_use_brackets_for_indices() {
        let schema = spec_schema(json!({
            "arguments": {"type": "object", "properties": {"parameters": {"type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}
        }));
        assert_eq!(
            messages(
                &schema,
                json!({"spec": {"arguments": {"parameters": [{"name": "a"}, {"value": "b"}]}}})
            ),
            vec!["spec.arguments.parameters[1].name: Required value"]
        );
    }

    #[test]
    fn defaults_fill_missing_and_null_fields_only_where_parent_exists() {
        let schema = spec_schema(json!({
            "replicas": {"type": "integer", "default": 1},
            "nullableWithDefault": {"type": "string", "nullable": true, "default": "d"},
            "nested": {"type": "object", "properties": {"mode": {"type": "string", "default": "fast"}}},
            "withDefaultObject": {"type": "object", "default": {},
                "properties": {"inner": {"type": "string", "default": "filled"}}},
            "list": {"type": "array", "items": {"type": "object",
                "properties": {"weight": {"type": "integer", "default": 10}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "default": "v"}}
        }));
        let mut object = json!({"spec": {
            "replicas": null, "nullableWithDefault": null, "list": [{}, {"weight": 2}],
            "labels": {"a": null, "b": "x"}
        }});
        schema.apply_defaults(&mut object);
        assert_eq!(
            object,
            json!({"spec": {
                "replicas": 1, "nullableWithDefault": null,
                "withDefaultObject": {"inner": "filled"},
                "list": [{"weight": 10}, {"weight": 2}],
                "labels": {"a": "v", "b": "x"}
            }})
        );
        let mut no_spec = json!({"metadata": {"name": "x"}});
        schema.apply_defaults(&mut no_spec);
        assert_eq!(no_spec, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn pruning_keeps_root_metadata_and_preserved_subtrees() {
        let schema = compile(json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "known": {"type": "string"},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "map": {"type": "object", "additionalProperties": {"type": "object",
                            "properties": {"k": {"type": "string"}}}},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
                }}
            }
        }));
        let mut object = json!({
            "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "weird": 1},
            "status": {"dropped": true},
            "spec": {
                "known": "k", "unknown": 1,
                "free": {"anything": {"deep": [1]}, "typed": {"a": "x", "b": "pruned"}},
                "map": {"one": {"k": "v", "z": 1}},
                "list": [{"n": "1", "m": "2"}],
                "template": {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "labels": {"a": "b"}, "uid": "u"},
                    "spec": {"x": "y", "extra": 1}, "other": 2}
            }
        });
        schema.prune(&mut object);
        assert_eq!(
            object,
            json!({
                "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "weird": 1},
                "spec": {
                    "known": "k",
                    "free": {"anything": {"deep": [1]}, "typed": {"a": "x"}},
                    "map": {"one": {"k": "v"}},
                    "list": [{"n": "1"}],
                    "template": {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"x": "y"}}
                }
            })
        );
    }

    #[test]
    fn preserve_unknown_fields_at_root_keeps_everything() {
        let schema =
            compile(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        let original =
            json!({"apiVersion": "a/v1", "kind": "K", "spec": {"a": [1, {"b": 2}]}, "x": 1});
        let mut object = original.clone();
        schema.prune(&mut object);
        assert_eq!(object, original);
        assert!(schema.validate(&object).is_empty());
    }

    #[test]
    fn embedded_resources_need_api_version_and_kind() {
        let schema = spec_schema(json!({
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true}
        }));
        assert_eq!(
            messages(&schema, json!({"spec": {"template": {"metadata": {}}}})),
            vec![
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty",
            ]
        );
        assert!(
            messages(
                &schema,
                json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod"}}})
            )
            .is_empty()
        );
    }

    #[test]
    fn cel_rules_are_ignored() {
        let schema = spec_schema(json!({
            "x": {"type": "string", "x-kubernetes-validations": [{"rule": "self == 'never'"}]}
        }));
        assert!(messages(&schema, json!({"spec": {"x": "anything"}})).is_empty());
    }

    #[test]
    fn unusable_schemas_are_refused_with_their_location() {
        for (schema, needle) in [
            (
                json!({"type": "object", "properties": {"a": {"type": "strin"}}}),
                "openAPIV3Schema.properties.a",
            ),
            (
                json!({"type": "string", "pattern": "(unclosed"}),
                "not a valid regular expression",
            ),
            (
                json!({"type": "array", "x-kubernetes-list-type": "map"}),
                "list-map-keys",
            ),
            (
                json!({"type": "object", "properties": {"a": 5}}),
                "a schema must be an object",
            ),
        ] {
            let error = CompiledSchema::compile(&schema).unwrap_err().to_string();
            assert!(error.contains(needle), "{error} should mention {needle}");
        }
    }

    #[test]
    fn crd_version_lookup() {
        let crd = json!({"spec": {"versions": [
            {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object",
                "properties": {"spec": {"type": "object", "required": ["a"]}}}}},
            {"name": "v2"}
        ]}});
        let v1 = CompiledSchema::from_crd_version(&crd, "v1").unwrap();
        assert_eq!(
            messages(&v1, json!({"spec": {}})),
            vec!["spec.a: Required value"]
        );
        let v2 = CompiledSchema::from_crd_version(&crd, "v2").unwrap();
        assert!(messages(&v2, json!({"spec": {}})).is_empty());
        assert!(CompiledSchema::from_crd_version(&crd, "v3").is_err());
    }

    #[test]
    fn go_rendering_of_values() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1e22), "1e+22");
        assert_eq!(
            go_value(&json!([1, "a", null])),
            r#"[]interface {}{1, "a", interface {}(nil)}"#
        );
        assert_eq!(go_value(&json!(true)), "true");
    }
}
