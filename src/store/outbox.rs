//! The outbox: messages the operator must publish, written in the same transaction as the decision
//! that causes them, then claimed by a publisher with a lease, and marked published.

use std::time::Duration;

use super::error::{StoreError, StoreResult};
use super::packages::get;
use super::stats::Sql;
use super::validate::{self, limits};
use super::{Store, StoreTx, autocommit};
use crate::store::attempts::truncate;

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// What makes this message unique (e.g. "SolvedPackage/<solver>/<name>/<version>/<index>"); a
    /// second enqueue with the same key is a no-op.
    pub dedup_key: String,
    pub topic: String,
    pub key: Option<String>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedMessage {
    pub id: i64,
    pub dedup_key: String,
    pub topic: String,
    pub key: Option<String>,
    pub payload: serde_json::Value,
    /// How many times it has been claimed, this claim included.
    pub attempts: i32,
}

// Ids are drawn in the caller's order (publishing is oldest first), but rows go in in dedup-key order:
// two replicas enqueueing overlapping batches in different orders then wait on each other's keys in
// the same order instead of deadlocking (40P01). PostgreSQL evaluates the volatile `nextval` after
// the inner sort, so ids follow `position`.
const ENQUEUE: Sql = Sql {
    name: "outbox.enqueue",
    text: "INSERT INTO outbox (id, dedup_key, topic, message_key, payload) OVERRIDING SYSTEM VALUE
           SELECT s.id, s.dedup_key, s.topic, s.message_key, s.payload
           FROM (SELECT nextval(pg_get_serial_sequence('outbox', 'id')) AS id, t.*
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[])
                      WITH ORDINALITY AS t(dedup_key, topic, message_key, payload, position)
                 ORDER BY t.position
                 OFFSET 0) s
           ORDER BY s.dedup_key, s.position
           ON CONFLICT (dedup_key) DO NOTHING",
};

const CLAIM: Sql = Sql {
    name: "outbox.claim",
    text: "UPDATE outbox o
           SET attempts = o.attempts + 1, leased_until = now() + make_interval(secs => $2)
           FROM (SELECT id FROM outbox
                 WHERE published_at IS NULL AND (leased_until IS NULL OR leased_until < now())
                 ORDER BY id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED) claimed
           WHERE o.id = claimed.id
           RETURNING o.id, o.dedup_key, o.topic, o.message_key, o.payload, o.attempts",
};

const MARK_PUBLISHED: Sql = Sql {
    name: "outbox.mark_published",
    text: "UPDATE outbox SET published_at = now(), leased_until = NULL
           WHERE id = ANY($1) AND published_at IS NULL",
};

// The attempt number identifies the claim: a publisher whose lease ran out and whose message was
// claimed again since must not clear the new holder's lease.
const RELEASE: Sql = Sql {
    name: "outbox.release",
    text: "UPDATE outbox SET leased_until = NULL, last_error = $2
           WHERE id = $1 AND attempts = $3 AND published_at IS NULL",
};

/// jsonb cannot hold U+0000; find it before PostgreSQL refuses the whole batch.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v))
        }
        _ => false,
    }
}

impl StoreTx {
    /// Adds messages to the outbox as part of this transaction; returns how many were new.
    pub async fn enqueue(&mut self, messages: &[OutboxMessage]) -> StoreResult<u64> {
        validate::batch_size(messages.len())?;
        if messages.is_empty() {
            return Ok(0);
        }
        for message in messages {
            validate::text("outbox dedup key", &message.dedup_key, limits::DEDUP_KEY)?;
            validate::text("outbox topic", &message.topic, limits::TOPIC)?;
            validate::optional_text(
                "outbox message key",
                message.key.as_deref(),
                limits::MESSAGE_KEY,
            )?;
            if contains_nul(&message.payload) {
                return Err(StoreError::NulCharacter {
                    field: "outbox payload",
                });
            }
        }
        let dedup: Vec<&str> = messages.iter().map(|m| m.dedup_key.as_str()).collect();
        let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
        let keys: Vec<Option<&str>> = messages.iter().map(|m| m.key.as_deref()).collect();
        let payloads: Vec<sqlx::types::Json<&serde_json::Value>> = messages
            .iter()
            .map(|m| sqlx::types::Json(&m.payload))
            .collect();
        let inserted = self
            .observer
            .run(
                ENQUEUE,
                sqlx::query(ENQUEUE.text)
                    .bind(&dedup)
                    .bind(&topics)
                    .bind(&keys)
                    .bind(&payloads)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(inserted.rows_affected())
    }
}

autocommit! {
    /// [`StoreTx::enqueue`] in a transaction of its own.
    fn enqueue(messages: &[OutboxMessage]) -> u64 = 0, if messages.is_empty();
}

impl Store {
    /// Claims up to `limit` unpublished messages nobody holds, oldest first, for `lease`. Concurrent
    /// publishers get disjoint sets; a message whose lease ran out is claimed again.
    pub async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<ClaimedMessage>> {
        let rows = self
            .observer()
            .run(
                CLAIM,
                sqlx::query(CLAIM.text)
                    .bind(i64::from(limit))
                    .bind(lease.as_secs_f64())
                    .fetch_all(self.pool()),
            )
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(ClaimedMessage {
                    id: get(row, CLAIM, "id")?,
                    dedup_key: get(row, CLAIM, "dedup_key")?,
                    topic: get(row, CLAIM, "topic")?,
                    key: get(row, CLAIM, "message_key")?,
                    payload: get(row, CLAIM, "payload")?,
                    attempts: get(row, CLAIM, "attempts")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    /// Marks claimed messages as published; returns how many changed.
    pub async fn mark_published(&self, ids: &[i64]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let changed = self
            .observer()
            .run(
                MARK_PUBLISHED,
                sqlx::query(MARK_PUBLISHED.text)
                    .bind(ids)
                    .execute(self.pool()),
            )
            .await?;
        Ok(changed.rows_affected())
    }

    /// Gives a claimed message back (publishing failed), noting the error; it can be claimed again.
    /// Says whether it was released: not when it was published, or claimed again since this claim.
    pub async fn release_outbox(&self, claim: &ClaimedMessage, error: &str) -> StoreResult<bool> {
        let error = truncate(&error.replace('\0', ""), limits::REASON);
        let changed = self
            .observer()
            .run(
                RELEASE,
                sqlx::query(RELEASE.text)
                    .bind(claim.id)
                    .bind(error)
                    .bind(claim.attempts)
                    .execute(self.pool()),
            )
            .await?;
        Ok(changed.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_anywhere_in_a_payload() {
        assert!(!contains_nul(&serde_json::json!({"a": ["b", 1, null]})));
        assert!(contains_nul(&serde_json::json!({"a": ["b\u{0}"]})));
        assert!(contains_nul(&serde_json::json!({"k\u{0}": 1})));
    }
}
