//! Lists: selectors, `limit` and continue tokens. Every page of one list shows the
//! collection as of the list's resourceVersion, rebuilt from the event log as etcd
//! serves a continue token from its snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::events::EventType;
use super::{Inner, ObjectKey};
use crate::error::ApiError;
use crate::meta;
use crate::resource::{ResourceType, StorageKey};
use crate::selector::{FieldSelector, LabelSelector};

#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) namespace: Option<String>,
    pub(crate) labels: Option<LabelSelector>,
    pub(crate) fields: Option<FieldSelector>,
}

impl Filter {
    pub(crate) fn has_selectors(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && meta::namespace(object) != ns
        {
            return false;
        }
        if let Some(labels) = &self.labels
            && !labels.matches(&meta::labels(object))
        {
            return false;
        }
        if let Some(fields) = &self.fields
            && !fields.matches(object)
        {
            return false;
        }
        true
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ListOptions {
    pub(crate) filter: Filter,
    pub(crate) limit: Option<usize>,
    pub(crate) continue_token: Option<String>,
    pub(crate) resource_version: Option<String>,
    pub(crate) exact: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ListResult {
    pub(crate) items: Vec<Arc<Value>>,
    pub(crate) resource_version: u64,
    pub(crate) continue_token: Option<String>,
    pub(crate) remaining: Option<usize>,
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A continue token: the list's resourceVersion and the last key returned.
fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    hex_encode(format!("{rv}\u{0}{}\u{0}{}", key.0, key.1).as_bytes())
}

fn decode_continue(token: &str) -> Option<(u64, ObjectKey)> {
    let raw = String::from_utf8(hex_decode(token)?).ok()?;
    let mut parts = raw.split('\u{0}');
    let rv = parts.next()?.parse().ok()?;
    let ns = parts.next()?.to_string();
    let name = parts.next()?.to_string();
    Some((rv, (ns, name)))
}

fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version \"{raw}\": it must be an unsigned integer"
        ))
    })
}

impl Inner {
    pub(super) fn list(
        &self,
        rt: &ResourceType,
        options: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        let key = rt.storage_key();
        let mut list_rv = self.rv;
        let mut after: Option<ObjectKey> = None;
        if let Some(token) = &options.continue_token {
            let (rv, last) = decode_continue(token).ok_or_else(|| {
                ApiError::bad_request(
                    "continue key is not valid: could not decode the continue token",
                )
            })?;
            list_rv = rv;
            after = Some(last);
        } else if let Some(raw) = options
            .resource_version
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "0")
        {
            let asked = parse_rv(raw)?;
            if asked > self.rv {
                return Err(ApiError::resource_version_too_large(asked, self.rv));
            }
            if options.exact {
                list_rv = asked;
            }
        }
        let empty = BTreeMap::new();
        let current = self.collection(&key).unwrap_or(&empty);
        // Every page of a list shows the collection as of the list's version, as etcd
        // serves a continue token from its snapshot.
        let snapshot;
        let collection = if list_rv < self.rv {
            snapshot = self
                .collection_at(&key, current, list_rv)
                .ok_or_else(|| match options.continue_token {
                    Some(_) => ApiError::gone(format!(
                        "The provided continue parameter is too old to display a consistent list result (resourceVersion {list_rv}). You can start a new list without the continue parameter."
                    )),
                    None => ApiError::gone(format!(
                        "too old resource version: {list_rv} ({})",
                        self.rv
                    )),
                })?;
            &snapshot
        } else {
            current
        };
        let range: Box<dyn Iterator<Item = (&ObjectKey, &Arc<Value>)>> =
            match (&after, &options.filter.namespace) {
                (Some(last), _) => Box::new(
                    collection
                        .range(last.clone()..)
                        .filter(move |(k, _)| *k != last),
                ),
                (None, Some(ns)) if rt.namespaced => {
                    Box::new(collection.range((ns.clone(), String::new())..))
                }
                _ => Box::new(collection.iter()),
            };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut more = false;
        let mut remaining = 0usize;
        for (object_key, object) in range {
            if let Some(ns) = &options.filter.namespace
                && rt.namespaced
                && &object_key.0 != ns
            {
                if object_key.0.as_str() > ns.as_str() {
                    break;
                }
                continue;
            }
            if !options.filter.matches(object) {
                continue;
            }
            if let Some(limit) = options.limit
                && items.len() >= limit
            {
                more = true;
                remaining += 1;
                continue;
            }
            last_key = Some(object_key.clone());
            items.push(
                if object.get("apiVersion").and_then(Value::as_str)
                    == Some(rt.api_version().as_str())
                {
                    object.clone()
                } else {
                    Arc::new(self.served(rt, object))
                },
            );
        }
        let continue_token = match (more, last_key) {
            (true, Some(last)) => Some(encode_continue(list_rv, &last)),
            _ => None,
        };
        let remaining = (more && !options.filter.has_selectors()).then_some(remaining);
        Ok(ListResult {
            items,
            resource_version: list_rv,
            continue_token,
            remaining,
        })
    }

    /// `current` as it was at `rv`, rebuilt by undoing the logged changes since;
    /// None when some of them have left the log.
    pub(super) fn collection_at(
        &self,
        key: &StorageKey,
        current: &BTreeMap<ObjectKey, Arc<Value>>,
        rv: u64,
    ) -> Option<BTreeMap<ObjectKey, Arc<Value>>> {
        if rv < self.floors.get(key).copied().unwrap_or(0) {
            return None;
        }
        let mut collection = current.clone();
        let object_key = |object: &Value| {
            (
                meta::namespace(object).to_string(),
                meta::name(object).to_string(),
            )
        };
        for record in self
            .log
            .iter()
            .rev()
            .take_while(|r| r.rv > rv)
            .filter(|r| r.key == *key)
        {
            match (record.event, &record.previous) {
                (EventType::Added, _) => {
                    collection.remove(&object_key(&record.object));
                }
                (_, Some(previous)) => {
                    collection.insert(object_key(previous), previous.clone());
                }
                (_, None) => return None,
            }
        }
        Some(collection)
    }
}
