//! The Kubernetes client the controllers use: kube's default stack plus an explicit client-side
//! rate limit (tower's `RateLimit`) and a layer counting requests by answer for the metrics.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::{Body, ClientBuilder};
use tower::limit::RateLimitLayer;
use tower::{Layer, Service};

use super::metrics::{ApiLabels, ControllerMetrics};

#[derive(Debug, thiserror::Error)]
#[error("failed to build the Kubernetes client")]
pub struct ClientError(#[source] kube::Error);

/// A client for `config` that sends at most `requests_per_second` requests per second (0 = no
/// limit) and counts every answer in `metrics`.
pub fn build_client(
    config: kube::Config,
    requests_per_second: u32,
    metrics: Arc<ControllerMetrics>,
) -> Result<kube::Client, ClientError> {
    let builder = ClientBuilder::try_from(config).map_err(ClientError)?;
    let counted = CountLayer { metrics };
    if requests_per_second == 0 {
        Ok(builder.with_layer(&counted).build())
    } else {
        let limited = RateLimitLayer::new(u64::from(requests_per_second), Duration::from_secs(1));
        Ok(builder.with_layer(&counted).with_layer(&limited).build())
    }
}

/// Counts requests by method and answer class. Hand-written: kube and tower offer no counter
/// that sees the HTTP status.
#[derive(Clone)]
struct CountLayer {
    metrics: Arc<ControllerMetrics>,
}

impl<S> Layer<S> for CountLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    metrics: Arc<ControllerMetrics>,
}

impl<S, B> Service<Request<Body>> for Counted<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let metrics = self.metrics.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => match response.status().as_u16() {
                    429 => "429",
                    200..=299 => "2xx",
                    400..=499 => "4xx",
                    500..=599 => "5xx",
                    _ => "other",
                },
                Err(_) => "error",
            };
            metrics
                .api_requests
                .get_or_create(&ApiLabels { method, code })
                .inc();
            result
        })
    }
}
