//! The `Table` rendering kubectl asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`),
//! with the columns of a CRD's `additionalPrinterColumns` or a built-in kind.

use serde_json::{Value, json};

use super::resource::{PrinterColumn, ResourceType};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

pub(crate) fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    let mut columns = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "priority": 0
    })];
    columns.extend(rt.printer_columns.iter().map(|c| {
        json!({
            "name": c.name,
            "type": c.column_type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        })
    }));
    columns
}

pub(crate) fn row(rt: &ResourceType, object: &Value, include: IncludeObject) -> Value {
    let mut cells = vec![
        object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
    ];
    cells.extend(rt.printer_columns.iter().map(|c| cell(c, object)));
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
            });
        }
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

pub(crate) fn table(
    rt: &ResourceType,
    objects: &[&Value],
    list_metadata: Value,
    include: IncludeObject,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": column_definitions(rt),
        "rows": objects.iter().map(|o| row(rt, o, include)).collect::<Vec<_>>(),
    })
}

fn cell(column: &PrinterColumn, object: &Value) -> Value {
    let Some(value) = evaluate(&column.json_path, object).into_iter().next() else {
        return Value::Null;
    };
    match column.column_type.as_str() {
        "date" => match value
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            Some(time) => {
                let age = chrono::Utc::now().signed_duration_since(time);
                json!(human_duration(age.num_seconds()))
            }
            None => Value::Null,
        },
        "integer" | "number" | "boolean" => value.clone(),
        _ => match value {
            Value::String(_) => value.clone(),
            other => json!(other.to_string()),
        },
    }
}

/// Age as kubectl prints it (`5s`, `3m20s`, `4h`, `2d3h`, `400d`, `3y20d`).
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (minutes, hours, days) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if minutes < 10 {
        match s % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        }
    } else if hours < 3 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 192 {
        match hours % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d{rest}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        let years = days / 365;
        match days % 365 {
            0 => format!("{years}y"),
            rest => format!("{years}y{rest}d"),
        }
    } else {
        format!("{}y", days / 365)
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.key=="value")]`
    Filter(Vec<String>, String),
}

fn parse_path(path: &str) -> Vec<Step> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut steps = Vec::new();
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                steps.push(Step::Field(after[..end].to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else { break };
            let inner = &after[..close];
            rest = &after[close + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Ok(i) = inner.parse() {
                steps.push(Step::Index(i));
            } else if let Some(expr) = inner.strip_prefix("?(@.").and_then(|e| e.strip_suffix(')'))
            {
                if let Some((field, value)) = expr.split_once("==") {
                    let keys = field.trim().split('.').map(str::to_string).collect();
                    let value = value.trim().trim_matches(['"', '\'']).to_string();
                    steps.push(Step::Filter(keys, value));
                }
            } else {
                steps.push(Step::Field(inner.trim_matches(['"', '\'']).to_string()));
            }
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(Step::Field(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    steps
}

/// The values a (simple) JSONPath selects: fields, indexes, `[*]` and `[?(@.a=="b")]`.
pub(crate) fn evaluate<'a>(path: &str, object: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![object];
    for step in parse_path(path) {
        let mut next = Vec::new();
        for value in current {
            match &step {
                Step::Field(name) => next.extend(value.get(name.as_str())),
                Step::Index(i) => next.extend(value.get(*i)),
                Step::All => next.extend(value.as_array().into_iter().flatten()),
                Step::Filter(keys, wanted) => {
                    next.extend(value.as_array().into_iter().flatten().filter(|item| {
                        let mut field = Some(*item);
                        for key in keys {
                            field = field.and_then(|f| f.get(key.as_str()));
                        }
                        match field {
                            Some(Value::String(s)) => s == wanted,
                            Some(other) => {
                                serde_json::from_str::<Value>(wanted).is_ok_and(|w| &w == other)
                            }
                            None => false,
                        }
                    }))
                }
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_select_fields_indexes_and_filters() {
        let object = json!({"spec": {"a": [1, 2]}, "status": {"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Done", "status": "True"}]}});
        assert_eq!(evaluate(".spec.a[1]", &object), vec![&json!(2)]);
        assert_eq!(
            evaluate(r#".status.conditions[?(@.type=="Done")].status"#, &object),
            vec![&json!("True")]
        );
        assert!(evaluate(".spec.missing", &object).is_empty());
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(4 * 3600), "4h");
        assert_eq!(human_duration(3 * 86_400 + 3600), "3d1h");
        assert_eq!(human_duration(400 * 86_400), "400d");
    }
}
