//! Metrics (Prometheus text format, `thoth_operator_` prefix) and the operator's HTTP endpoint:
//! `/metrics`, `/healthz` (the process answers) and `/readyz` (the controllers' caches are warm).
//!
//! Each component owns a metrics struct with a `register(&mut Registry)`; the registry is built
//! once at start-up and served read-only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Whether the operator is ready: set once every controller's watch has listed its objects.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
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
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not yet synced")
    }
}
