//! What the admission and ingestion tests share: a migrated store on a throwaway database, the
//! in-memory API server with the operator's CRDs and the namespaces admission writes to, PyPI
//! registered and enabled, and admission configured against them with retries short enough for
//! tests. Also the operator binary's environment for the tests that run it as a process.

use std::time::Duration;

use apiserver::RunningApiServer;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use testkit::TestDatabase;
use thoth_operator::admission::{
    AdmissionConfig, Admitter, IndexClient, IndexClientConfig, RetryPolicy,
};
use thoth_operator::api::SolverRun;
use thoth_operator::messages::{ParseConfig, SolverName, TopicPrefix};
use thoth_operator::package::IndexUrl;
use thoth_operator::store::{Store, StoreConfig};

/// Namespace admission creates resources in.
pub const NAMESPACE: &str = "thoth";
pub const PYPI: &str = "https://pypi.org/simple";

/// Retries of the API server, PostgreSQL and indexes within tens of milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

/// The parts admission talks to, up and empty.
pub struct Harness {
    pub db: TestDatabase,
    pub store: Store,
    pub server: RunningApiServer,
    pub client: kube::Client,
}

impl Harness {
    /// A store with a small pool (the PostgreSQL server's connections are shared by every test),
    /// the API server with the CRDs and the namespaces `thoth` and `default` (the operator's Lease),
    /// and PyPI enabled.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// [`Harness::start`], with the API server's audit log on when `audit` (read it with
    /// `server.audit_log()`).
    pub async fn start_with(audit: bool) -> Self {
        let db = TestDatabase::create().await.unwrap();
        let store = Store::open(&StoreConfig {
            max_connections: 4,
            ..StoreConfig::new(db.options.clone())
        })
        .await
        .unwrap();
        let server = thoth_operator::sandbox::apiserver_with_crds()
            .audit_log(audit)
            .build()
            .start("127.0.0.1:0")
            .await
            .unwrap();
        let client = server.client().unwrap();
        for name in [NAMESPACE, "default"] {
            let namespace: Namespace =
                serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
            match Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(err) => panic!("namespace {name}: {err}"),
            }
        }
        store
            .set_index_enabled(&IndexUrl::parse(PYPI).unwrap(), true)
            .await
            .unwrap();
        Self {
            db,
            store,
            server,
            client,
        }
    }

    /// Admission into [`NAMESPACE`] with `solvers`, for topics of `prefix`, retrying fast.
    pub fn config(&self, solvers: &[&str], prefix: TopicPrefix) -> AdmissionConfig {
        let mut config = AdmissionConfig::new(
            NAMESPACE,
            solvers
                .iter()
                .map(|s| SolverName::parse(s).unwrap())
                .collect(),
        );
        config.parse = ParseConfig::with_prefix(prefix);
        config.retry = fast_retry();
        config
    }

    pub fn admitter(&self, config: AdmissionConfig) -> Admitter {
        self.admitter_on(self.store.clone(), config)
    }

    /// Admission writing through `store` (e.g. one reached through a [`PgProxy`]).
    pub fn admitter_on(&self, store: Store, config: AdmissionConfig) -> Admitter {
        let index = IndexClient::new(IndexClientConfig {
            retry: fast_retry(),
            ..IndexClientConfig::default()
        })
        .unwrap();
        Admitter::new(self.client.clone(), store, config, index)
    }

    pub async fn solver_runs(&self) -> Vec<SolverRun> {
        Api::<SolverRun>::namespaced(self.client.clone(), NAMESPACE)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    /// The test database's URL, for the binary's DATABASE_URL.
    pub fn database_url(&self) -> String {
        let server = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| testkit::DEFAULT_TEST_DATABASE_URL.into());
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path(&format!("/{}", self.db.name));
        url.to_string()
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// A TCP proxy in front of PostgreSQL that can be taken down and brought back: down, it cuts every
/// connection it carries and closes each new one at once, as a failed server behind a load balancer
/// does. Clients see I/O errors (what a crashed or unreachable server gives), never a hang.
pub struct PgProxy {
    port: u16,
    up: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl PgProxy {
    /// Listens on 127.0.0.1 and forwards to `target`, up.
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(tokio::sync::watch::channel(true).0);
        let state = up.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut down = state.subscribe();
                if !*down.borrow_and_update() {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.set_up(false);
        self.task.abort();
    }
}

impl Harness {
    /// A second store on the same database reached through `proxy` (already migrated).
    pub async fn store_through(&self, proxy: &PgProxy) -> Store {
        let options = self.db.options.clone().host("127.0.0.1").port(proxy.port());
        Store::open(&StoreConfig {
            max_connections: 4,
            migrate_on_start: false,
            ..StoreConfig::new(options)
        })
        .await
        .unwrap()
    }

    /// Where the test database's server listens, for [`PgProxy::start`].
    pub fn database_address(&self) -> std::net::SocketAddr {
        let host = self.db.options.get_host();
        let host = if host.starts_with('/') || host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", self.db.options.get_port())
            .parse()
            .unwrap()
    }
}
