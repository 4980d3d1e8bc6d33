//! The event log and watches: one record per change, kept for a window of
//! `window` records; a watch resumes from any version still in the log and gets
//! 410 Gone below it, as the real watch cache answers.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::paging::Filter;
use super::{Inner, Store};
use crate::error::ApiError;
use crate::meta;
use crate::resource::{ResourceType, StorageKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the event log and sent to watchers.
#[derive(Debug)]
pub(crate) struct WatchRecord {
    pub(crate) rv: u64,
    pub(crate) key: StorageKey,
    pub(crate) namespace: String,
    pub(crate) event: EventType,
    pub(crate) object: Arc<Value>,
    /// The object before a modification or deletion: selector watches turn a modification
    /// into ADDED/DELETED with it, and lists continued from an older version undo changes with it.
    pub(crate) previous: Option<Arc<Value>>,
    encoded: OnceLock<Bytes>,
}

impl WatchRecord {
    /// The watch line `{"type":..,"object":..}\n`, encoded once for all watchers.
    pub(crate) fn encoded(&self) -> Bytes {
        self.encoded
            .get_or_init(|| encode_event(self.event.as_str(), &self.object))
            .clone()
    }
}

pub(crate) fn encode_event(event_type: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchFrom {
    /// Current state as synthetic ADDED events, then changes.
    Current,
    /// Changes after this resourceVersion.
    After(u64),
}

pub(crate) struct WatchStart {
    pub(crate) initial: Vec<Arc<Value>>,
    pub(crate) backlog: Vec<Arc<WatchRecord>>,
    pub(crate) receiver: broadcast::Receiver<Arc<WatchRecord>>,
    pub(crate) resource_version: u64,
}

impl Store {
    /// Every later change, with the version current when subscribing.
    pub(crate) fn subscribe(&self) -> (u64, broadcast::Receiver<Arc<WatchRecord>>) {
        let inner = self.lock();
        (inner.rv, inner.sender.subscribe())
    }

    pub(crate) fn watch(
        &self,
        rt: &ResourceType,
        from: WatchFrom,
        filter: &Filter,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let key = rt.storage_key();
        let receiver = inner.sender.subscribe();
        match from {
            WatchFrom::Current => {
                let initial = inner
                    .collection(&key)
                    .map(|c| c.values().filter(|o| filter.matches(o)).cloned().collect())
                    .unwrap_or_default();
                Ok(WatchStart {
                    initial,
                    backlog: Vec::new(),
                    receiver,
                    resource_version: inner.rv,
                })
            }
            WatchFrom::After(rv) => {
                let floor = inner.floors.get(&key).copied().unwrap_or(0);
                if rv < floor {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        floor + 1
                    )));
                }
                let start = inner.log.partition_point(|r| r.rv <= rv);
                let backlog = inner
                    .log
                    .range(start..)
                    .filter(|r| r.key == key)
                    .cloned()
                    .collect();
                Ok(WatchStart {
                    initial: Vec::new(),
                    backlog,
                    receiver,
                    resource_version: inner.rv,
                })
            }
        }
    }
}

impl Inner {
    pub(super) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(super) fn emit(
        &mut self,
        key: &StorageKey,
        event: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let rv = meta::resource_version(&object).parse().unwrap_or(self.rv);
        let record = Arc::new(WatchRecord {
            rv,
            key: key.clone(),
            namespace: meta::namespace(&object).to_string(),
            event,
            object,
            previous,
            encoded: OnceLock::new(),
        });
        self.log.push_back(record.clone());
        while self.log.len() > self.window {
            if let Some(evicted) = self.log.pop_front() {
                self.floors.insert(evicted.key.clone(), evicted.rv);
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(record);
    }
}
