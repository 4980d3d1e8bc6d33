//! The Kubernetes client the controllers use: kube's default stack plus an explicit client-side
//! rate limit (tower's `RateLimit`) and a layer counting requests by resource and answer for the
//! metrics.

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

/// Counts requests by method, resource and answer class. Hand-written: kube and tower offer no counter
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
        let resource = resource_of(request.uri().path());
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
                .get_or_create(&ApiLabels {
                    method,
                    resource,
                    code,
                })
                .inc();
            result
        })
    }
}

/// The resource a Kubernetes API path names, with its subresource: `leases` for
/// `/apis/coordination.k8s.io/v1/namespaces/thoth/leases/thoth-operator`, `solverruns/status` for
/// a status write, `namespaces` for `/api/v1/namespaces/thoth`; `other` for a path outside the
/// resource API (discovery, `/version`). The path layout is Kubernetes' API concepts
/// ("Resource URIs", kubernetes.io/docs/reference/using-api/api-concepts/).
pub(crate) fn resource_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.first() {
        Some(&"api") if segments.len() > 2 => &segments[2..],
        Some(&"apis") if segments.len() > 3 => &segments[3..],
        _ => return "other".to_string(),
    };
    match rest {
        ["namespaces", _, resource, _, subresource, ..] => format!("{resource}/{subresource}"),
        ["namespaces", _, resource, ..] => (*resource).to_string(),
        [resource, _, subresource, ..] => format!("{resource}/{subresource}"),
        [resource, ..] => (*resource).to_string(),
        [] => "other".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::resource_of;

    #[test]
    fn the_resource_is_read_from_every_shape_of_api_path() {
        for (path, resource) in [
            (
                "/apis/coordination.k8s.io/v1/namespaces/thoth/leases/thoth-operator",
                "leases",
            ),
            (
                "/apis/thoth-station.ninja/v1alpha1/namespaces/thoth/solverruns/a/status",
                "solverruns/status",
            ),
            (
                "/apis/argoproj.io/v1alpha1/namespaces/w/workflows",
                "workflows",
            ),
            ("/api/v1/namespaces/thoth/events", "events"),
            ("/api/v1/namespaces/thoth", "namespaces"),
            ("/api/v1/namespaces", "namespaces"),
            (
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x",
                "customresourcedefinitions",
            ),
            ("/api/v1/nodes/n1/proxy", "nodes/proxy"),
            ("/apis/argoproj.io/v1alpha1", "other"),
            ("/api/v1", "other"),
            ("/version", "other"),
            ("/", "other"),
        ] {
            assert_eq!(resource_of(path), resource, "{path}");
        }
    }
}
