//! Metrics (Prometheus text format, `thoth_operator_` prefix) and the operator's HTTP endpoint:
//! `/metrics`, `/healthz` (the process answers) and `/readyz` (the controllers' caches are warm and
//! the Kafka consumer is in its group; otherwise 503 naming each part that is not ready and why).
//!
//! Each component owns a metrics struct with a `register(&mut Registry)`; the registry is built
//! once at start-up and served read-only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// Errors of the HTTP endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("failed to listen on {address} for /metrics, /healthz and /readyz")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to serve /metrics, /healthz and /readyz")]
    Serve(#[source] std::io::Error),
}

/// The part of the operator [`Readiness::set_ready`] reports on.
pub const CONTROLLERS: &str = "controllers";
/// The part the Kafka consumer reports on ([`crate::ingest::ConsumerSettings::readiness`]).
pub const KAFKA_CONSUMER: &str = "kafka consumer";

/// Whether the operator is ready, and if not, why: each part that must be ready (the controllers'
/// caches, the Kafka consumer's group membership) with the reason it is not, if it is not. Ready
/// when every part is; `/readyz` names the parts that are not. Starts with the controllers not
/// ready; other parts count from their first [`Readiness::not_ready`]. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Readiness(Arc<tokio::sync::watch::Sender<BTreeMap<&'static str, Option<String>>>>);

impl Default for Readiness {
    fn default() -> Self {
        let parts = BTreeMap::from([(CONTROLLERS, Some("caches not yet synced".to_string()))]);
        Self(Arc::new(tokio::sync::watch::channel(parts).0))
    }
}

impl Readiness {
    /// The controllers' caches are synced (every watch has listed its objects).
    pub fn set_ready(&self) {
        self.ready(CONTROLLERS);
    }

    /// `part` is ready.
    pub fn ready(&self, part: &'static str) {
        self.0
            .send_if_modified(|parts| parts.insert(part, None).is_none_or(|was| was.is_some()));
    }

    /// `part` is not ready, because of `why` (shown by `/readyz`).
    pub fn not_ready(&self, part: &'static str, why: impl Into<String>) {
        let why = why.into();
        self.0.send_if_modified(|parts| {
            parts.insert(part, Some(why.clone())).as_ref() != Some(&Some(why))
        });
    }

    pub fn is_ready(&self) -> bool {
        self.0.borrow().values().all(Option::is_none)
    }

    /// `part: why` for each part that is not ready, joined by `; `; `None` when ready.
    pub fn why_not(&self) -> Option<String> {
        let parts = self.0.borrow();
        let reasons: Vec<String> = parts
            .iter()
            .filter_map(|(part, why)| why.as_ref().map(|why| format!("{part}: {why}")))
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Resolves once `part` has reported, and is ready (`ready`) or not (`!ready`).
    pub async fn wait_for_part(&self, part: &str, ready: bool) {
        let mut parts = self.0.subscribe();
        let _ = parts
            .wait_for(|parts| parts.get(part).is_some_and(|why| why.is_none() == ready))
            .await;
    }

    /// Resolves once every part is ready.
    pub async fn wait_ready(&self) {
        let mut parts = self.0.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = parts
            .wait_for(|parts| parts.values().all(Option::is_none))
            .await;
    }
}

#[derive(Clone)]
struct EndpointState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// A registry with the operator's prefix; components register into it before it is served.
pub fn registry() -> Registry {
    Registry::with_prefix("thoth_operator")
}

/// The HTTP endpoint bound to its address; [`Endpoint::serve`] answers until `shutdown` resolves.
pub struct Endpoint {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Endpoint {
    /// Binds `address` (port 0 picks a free port; see [`Endpoint::local_addr`]).
    pub async fn bind(
        address: SocketAddr,
        registry: Registry,
        readiness: Readiness,
    ) -> Result<Self, TelemetryError> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| TelemetryError::Bind { address, source })?;
        let state = EndpointState {
            registry: Arc::new(registry),
            readiness,
        };
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .with_state(state);
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TelemetryError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(TelemetryError::Serve)
    }
}

/// An error and its causes on one line, `error: cause: cause of the cause` (what anyhow's `{:#}`
/// prints), for log fields and messages that carry the whole story.
///
/// The operator's errors keep each cause in the source chain only, so every level is printed as
/// it is. Two crates we depend on end a message with their source's message as well:
/// `sqlx::Error` (`error returned from database: {0}`) and rdkafka's `KafkaError`
/// (`Message production error: {0}`); a cause whose message the level above it ends with is
/// therefore not printed a second time.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut above = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        let repeated = above == cause_text || above.ends_with(&format!(": {cause_text}"));
        if !repeated {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        above = cause_text;
        source = cause.source();
    }
    text
}

async fn metrics(State(state): State<EndpointState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("failed to encode metrics: {err}"),
        ),
    }
}

async fn ready(State(state): State<EndpointState>) -> impl IntoResponse {
    match state.readiness.why_not() {
        None => (StatusCode::OK, "ready".to_string()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");

        // The store's message says what failed, sqlx's ends with its own cause's: the chain
        // names the query, sqlx's words and the I/O error, each once.
        let error = crate::store::StoreError::Database {
            query: "ledger.record",
            source: sqlx::Error::Io(std::io::Error::other("connection reset by peer")),
        };
        assert_eq!(
            error_chain(&error),
            "query ledger.record failed: error communicating with database: connection reset by peer"
        );
    }

    #[test]
    fn ready_only_when_every_part_is_and_each_part_not_ready_is_named() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.why_not().as_deref(),
            Some("controllers: caches not yet synced")
        );
        readiness.not_ready(KAFKA_CONSUMER, "has not joined its consumer group yet");
        readiness.set_ready();
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.why_not().as_deref(),
            Some("kafka consumer: has not joined its consumer group yet")
        );
        readiness.ready(KAFKA_CONSUMER);
        assert!(readiness.is_ready());
        assert_eq!(readiness.why_not(), None);
        readiness.not_ready(KAFKA_CONSUMER, "stopped");
        assert!(!readiness.is_ready());
    }
}
