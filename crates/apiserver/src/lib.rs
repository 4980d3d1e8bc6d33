//! An in-memory Kubernetes API server over real HTTP, faithful where controllers depend on it.
//!
//! It knows Kubernetes and nothing of any operator: the CustomResourceDefinitions it
//! serves at start-up are handed to [`ApiServerBuilder::crds`]. Besides them it serves the
//! built-in kinds controllers and installers use: Namespaces, Events (core and
//! events.k8s.io), Leases, CRDs, and what a Helm chart or `kubectl apply -k` creates
//! (ServiceAccounts, ConfigMaps, Secrets, Services, Deployments, RBAC, PodDisruptionBudgets,
//! NetworkPolicies; their bodies are stored without schema checks, and nothing acts on them).
//! Its public surface is the server ([`ApiServer`], [`ApiServerBuilder`],
//! [`RunningApiServer`]), fault injection ([`Faults`]), the audit log of served requests
//! ([`AuditRecord`]), the kubeconfig it writes, and the schema validator it applies to
//! custom resources ([`CompiledSchema`]), so that callers can check objects against a CRD
//! without HTTP.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use apiserver::ApiServer;
//! let server = ApiServer::builder().build().start("127.0.0.1:0").await?;
//! let client = server.client()?; // a kube::Client over HTTP
//! # let _ = client;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod apply;
mod audit;
mod discovery;
mod error;
mod faults;
mod http;
mod meta;
mod openapi;
mod openapi_v2;
mod openapi_v2_protobuf;
mod patch;
mod protobuf;
mod resource;
mod schema;
mod selector;
mod store;
mod table;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

pub use audit::{ANONYMOUS, AuditRecord, IMPERSONATE_USER};
pub use error::ApiError;
pub use faults::{FaultConfig, Faults};
pub use schema::{CompiledSchema, FieldError, FieldErrorReason, SchemaError};

use resource::{CRD_GROUP, CRD_PLURAL};
use store::{Store, WriteOptions};

/// Why the server could not start or a client of it could not be made. The message says what
/// failed; the cause is in the source chain only (`{:#}` of anyhow prints both, once each).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("CustomResourceDefinition {name} was refused")]
    Crd { name: String, source: ApiError },
    #[error("CustomResourceDefinition could not be encoded")]
    Encode(#[from] serde_json::Error),
    #[error("cannot write kubeconfig {path}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
    #[error("kubeconfig could not be rendered: {0}")]
    Render(String),
    #[error("kube client could not be built")]
    Client(#[from] kube::Error),
    #[error("invalid server URL {0}")]
    Url(String),
}

/// Configures an [`ApiServer`].
#[derive(Debug, Clone)]
pub struct ApiServerBuilder {
    faults: Faults,
    event_window: usize,
    bookmark_interval: Duration,
    future_version_wait: Duration,
    openapi_v3: bool,
    audit: bool,
    crds: Vec<CustomResourceDefinition>,
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        Self {
            faults: Faults::default(),
            event_window: 10_000,
            bookmark_interval: Duration::from_secs(60),
            // The watch cache's blockTimeout.
            future_version_wait: Duration::from_secs(3),
            openapi_v3: true,
            audit: false,
            crds: Vec::new(),
        }
    }
}

impl ApiServerBuilder {
    /// The fault-injection handle the server consults; keep a clone to change faults at run time.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// How many recent changes watches can resume from; older versions get 410 Gone.
    pub fn event_window(mut self, events: usize) -> Self {
        self.event_window = events;
        self
    }

    /// How often watches that allow bookmarks receive one.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// How long a list (or streaming list) from a resourceVersion the server has not reached
    /// waits for it before answering 504 "Too large resource version" (3 s by default, as
    /// the real watch cache waits).
    pub fn future_version_wait(mut self, wait: Duration) -> Self {
        self.future_version_wait = wait;
        self
    }

    /// Whether `/openapi/v3` is served (the default). Without it the server behaves as
    /// those before v1.27 did for kubectl, which then reads `/openapi/v2` only.
    pub fn openapi_v3(mut self, served: bool) -> Self {
        self.openapi_v3 = served;
        self
    }

    /// Whether resource requests are recorded (off by default: the log grows with every
    /// request). Read it with [`RunningApiServer::audit_log`].
    pub fn audit_log(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// CRDs installed before the server starts serving.
    pub fn crds(mut self, crds: impl IntoIterator<Item = CustomResourceDefinition>) -> Self {
        self.crds.extend(crds);
        self
    }

    pub fn build(self) -> ApiServer {
        ApiServer {
            store: Arc::new(Store::new(self.event_window)),
            faults: self.faults,
            bookmark_interval: self.bookmark_interval,
            future_version_wait: self.future_version_wait,
            openapi_v3: self.openapi_v3,
            audit: self.audit.then(audit::AuditLog::default),
            crds: self.crds,
        }
    }
}

/// A server not yet listening.
pub struct ApiServer {
    store: Arc<Store>,
    faults: Faults,
    bookmark_interval: Duration,
    future_version_wait: Duration,
    openapi_v3: bool,
    audit: Option<audit::AuditLog>,
    crds: Vec<CustomResourceDefinition>,
}

impl ApiServer {
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// Binds `address` (e.g. `127.0.0.1:0`) and serves in a background task.
    pub async fn start(self, address: &str) -> Result<RunningApiServer, ServerError> {
        for crd in &self.crds {
            install_crd(&self.store, crd)?;
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServerError::Bind {
                address: address.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ServerError::Bind {
            address: address.to_string(),
            source,
        })?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let waiting_reads = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(http::Shared {
            store: self.store.clone(),
            faults: self.faults.clone(),
            address: local.to_string(),
            bookmark_interval: self.bookmark_interval,
            future_version_wait: self.future_version_wait,
            openapi_v3: self.openapi_v3,
            shutdown: shutdown_rx.clone(),
            waiting_reads: waiting_reads.clone(),
            audit: self.audit.clone(),
        });
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared);
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(%err, "in-memory API server stopped");
            }
        });
        Ok(RunningApiServer {
            address: local,
            store: self.store,
            faults: self.faults,
            shutdown: shutdown_tx,
            waiting_reads,
            audit: self.audit,
            task,
        })
    }
}

fn install_crd(store: &Store, crd: &CustomResourceDefinition) -> Result<(), ServerError> {
    let mut body = serde_json::to_value(crd)?;
    body["apiVersion"] = json!("apiextensions.k8s.io/v1");
    body["kind"] = json!("CustomResourceDefinition");
    let name = crd.metadata.name.clone().unwrap_or_default();
    let rt = store
        .resolve(CRD_GROUP, "v1", CRD_PLURAL)
        .ok_or_else(|| ServerError::Crd {
            name: name.clone(),
            source: ApiError::internal("CRD resource is not registered"),
        })?;
    let options = WriteOptions {
        field_manager: "apiserver".into(),
        ..WriteOptions::default()
    };
    match store.create(&rt, "", body, &options) {
        Ok(_) => Ok(()),
        Err(source) => Err(ServerError::Crd { name, source }),
    }
}

/// A serving instance. Dropping it does not stop the server; call [`RunningApiServer::shutdown`].
pub struct RunningApiServer {
    address: SocketAddr,
    store: Arc<Store>,
    faults: Faults,
    shutdown: tokio::sync::watch::Sender<bool>,
    waiting_reads: Arc<AtomicUsize>,
    audit: Option<audit::AuditLog>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningApiServer {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// How many lists are waiting, right now, for a resourceVersion the server has not
    /// reached (see [`ApiServerBuilder::future_version_wait`]): lets a test order a write
    /// after such a read has arrived.
    pub fn waiting_reads(&self) -> usize {
        self.waiting_reads.load(Ordering::SeqCst)
    }

    /// The resource requests served so far, oldest first (discovery and OpenAPI reads are
    /// not recorded); empty unless the server was built with
    /// [`ApiServerBuilder::audit_log`].
    pub fn audit_log(&self) -> Vec<AuditRecord> {
        self.audit
            .as_ref()
            .map(audit::AuditLog::records)
            .unwrap_or_default()
    }

    /// The kube client configuration for a client that impersonates `user`
    /// (`Impersonate-User`), so that its requests are told apart in the audit log.
    pub fn kube_config_as(&self, user: &str) -> Result<kube::Config, ServerError> {
        let mut config = self.kube_config()?;
        let value = ::http::HeaderValue::from_str(user).map_err(|_| {
            ServerError::Render(format!("user name {user:?} is not a header value"))
        })?;
        config
            .headers
            .push((::http::HeaderName::from_static("impersonate-user"), value));
        Ok(config)
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store.current_rv()
    }

    /// The kube client configuration for this server (default namespace `default`),
    /// to adjust before building a client, e.g. without kube's default retries.
    pub fn kube_config(&self) -> Result<kube::Config, ServerError> {
        let uri: ::http::Uri = self
            .url()
            .parse()
            .map_err(|_| ServerError::Url(self.url()))?;
        Ok(kube::Config::new(uri))
    }

    /// A kube client talking HTTP to this server, default namespace `default`.
    pub fn client(&self) -> Result<kube::Client, ServerError> {
        Ok(kube::Client::try_from(self.kube_config()?)?)
    }

    pub fn install_crd(&self, crd: &CustomResourceDefinition) -> Result<(), ServerError> {
        install_crd(&self.store, crd)
    }

    /// A kubeconfig (context `sandbox`, namespace `default`) that kubectl and kube-rs accept.
    pub fn kubeconfig(&self) -> Result<String, ServerError> {
        kubeconfig_yaml(&self.url())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ServerError> {
        let yaml = self.kubeconfig()?;
        std::fs::write(path, yaml).map_err(|source| ServerError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Stops accepting requests, ends open watches and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

pub fn kubeconfig_yaml(url: &str) -> Result<String, ServerError> {
    let config: Value = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "default"}}],
        "current-context": "sandbox",
        "preferences": {},
    });
    serde_saphyr::to_string(&config).map_err(|e| ServerError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message says what failed and the cause is only in the source chain, so a report of
    /// the chain (`{:#}` of anyhow) names the cause once.
    #[test]
    fn a_report_names_the_cause_once() {
        let error = ServerError::Kubeconfig {
            path: "/tmp/sandbox/kubeconfig".into(),
            source: std::io::Error::other("No space left on device"),
        };
        assert_eq!(
            error.to_string(),
            "cannot write kubeconfig /tmp/sandbox/kubeconfig"
        );
        assert_eq!(
            format!("{:#}", anyhow::Error::new(error)),
            "cannot write kubeconfig /tmp/sandbox/kubeconfig: No space left on device"
        );
    }
}
