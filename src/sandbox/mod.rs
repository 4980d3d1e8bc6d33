//! Test and demo infrastructure (feature `sandbox`, on by default): the whole loop on one machine.
//!
//! One concern per file: [`cluster`] (the in-memory API server with our CRDs, our Argo CRDs
//! ([`argo_crds`]), the worker namespaces and the chart's WorkflowTemplates), [`kafka`] (the
//! embedded Kafka), [`postgres`] (a database of its own), [`index`] (a local PEP 691 package
//! index), [`argo`] (the Argo stand-in), [`env`] (`--dir`'s kubeconfig and `sandbox.env`),
//! [`demo`] (`--demo`'s stream, progress and verdict). [`Sandbox`] starts them in that order and
//! stops them in reverse; the operator itself runs through `cli::run::serve`, the code path of
//! `thoth-operator run`.
//!
//! The operator's other modules never import this one (a test in `tests/it/layout.rs` checks), and
//! a build with `--no-default-features` leaves it out.

pub mod argo;
pub mod argo_crds;
pub mod cluster;
pub mod demo;
pub mod env;
pub mod index;
pub mod kafka;
pub mod postgres;

use std::net::SocketAddr;
use std::path::PathBuf;

use apiserver::{ApiServer, ApiServerBuilder, RunningApiServer};

use crate::messages::TopicPrefix;
use crate::package::IndexUrl;
use crate::store::{Store, StoreConfig};

/// An in-memory API server that serves this operator's CustomResourceDefinitions
/// ([`crate::api::all_crds`]) from its start.
pub fn apiserver_with_crds() -> ApiServerBuilder {
    ApiServer::builder().crds(crate::api::all_crds())
}

/// PyPI's simple API, registered and enabled as Thoth's deployments had it. The sandbox never
/// fetches from it unless a message asks for every version of a package on it.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid deployment name {0:?}")]
    DeploymentName(String, #[source] crate::messages::TopicPrefixError),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("failed to start the embedded Kafka")]
    Kafka(#[from] kafka::KafkaHostError),
    #[error(transparent)]
    Postgres(#[from] postgres::PostgresError),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error("failed to prepare the sandbox's store")]
    Store(#[source] crate::store::StoreError),
    #[error("failed to make a Kubernetes client for the sandbox's API server")]
    Client(#[source] apiserver::ServerError),
    #[error(transparent)]
    EnvFile(#[from] env::EnvFileError),
    #[error("failed to write {0}")]
    Kubeconfig(PathBuf, #[source] apiserver::ServerError),
    #[error("{0} is not a usable index URL")]
    IndexUrl(String, #[source] crate::package::PackageError),
    #[error("no free TCP port for the operator's metrics endpoint")]
    Port(#[source] std::io::Error),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Prefix of every topic (`THOTH_DEPLOYMENT_NAME`).
    pub deployment_name: String,
    /// Use this database instead of finding or making one.
    pub database_url: Option<String>,
    /// Start a throwaway PostgreSQL cluster even when the local default server answers.
    pub own_postgres: bool,
    /// Namespaces to create beside those of the install manifests (the operator's).
    pub namespaces: Vec<String>,
    /// Where the operator creates the resources it makes from messages (`run`'s
    /// `--resource-namespace`), written to `sandbox.env` as `THOTH_RESOURCE_NAMESPACE` so that
    /// `trace` and a separately started `run` look in the same place.
    pub resource_namespace: String,
    /// Partitions per topic.
    pub partitions: u16,
    /// The Argo stand-in's timing and outcome shares.
    pub argo: argo::ArgoStandInConfig,
    /// Where to write `kubeconfig` and `sandbox.env`.
    pub dir: Option<PathBuf>,
    /// The address the operator's /metrics /healthz /readyz is to listen on (written to
    /// `sandbox.env` for an operator run separately); port 0 picks a free port.
    pub metrics_listen: SocketAddr,
}

/// Everything but the operator, running; [`Sandbox::shutdown`] stops it all and removes what it
/// made (the database or cluster, the servers), leaving only `--dir`'s files.
pub struct Sandbox {
    api: RunningApiServer,
    kafka: kafka::KafkaHost,
    database: postgres::SandboxDatabase,
    index: index::PackageIndex,
    argo: argo::ArgoStandIn,
    client: kube::Client,
    env: env::SandboxEnv,
    metrics_listen: SocketAddr,
    local_index: IndexUrl,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("api", &self.api.url())
            .field("kafka", &self.kafka)
            .field("database", &self.database)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts every part; on a failure, what was started already is stopped again.
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let prefix = TopicPrefix::new(&config.deployment_name)
            .map_err(|e| SandboxError::DeploymentName(config.deployment_name.clone(), e))?;
        // The three servers of our own start together; PostgreSQL is the slow one.
        let (api, index, database) = tokio::join!(
            cluster::start("127.0.0.1:0", &config.namespaces),
            index::PackageIndex::start("127.0.0.1:0"),
            postgres::SandboxDatabase::provision(
                config.database_url.as_deref(),
                config.own_postgres
            ),
        );
        let (api, index, database) = match (api, index, database) {
            (Ok(api), Ok(index), Ok(database)) => (api, index, database),
            (api, index, database) => {
                let mut errors = Vec::new();
                match api {
                    Ok(api) => api.shutdown().await,
                    Err(e) => errors.push(SandboxError::from(e)),
                }
                match index {
                    Ok(index) => index.shutdown().await,
                    Err(e) => errors.push(SandboxError::from(e)),
                }
                match database {
                    Ok(database) => database.release().await,
                    Err(e) => errors.push(SandboxError::from(e)),
                }
                // Start-up: this arm is only reached when one of the three failed.
                return Err(errors.into_iter().next().expect("one part failed"));
            }
        };
        let parts = PartialSandbox {
            api,
            index,
            database,
        };
        match parts.finish(config, prefix).await {
            Ok(sandbox) => Ok(sandbox),
            Err((parts, error)) => {
                parts.stop().await;
                Err(error)
            }
        }
    }

    /// A client of the sandbox's API server.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The variables of `sandbox.env` (whether or not `--dir` was given).
    pub fn env(&self) -> &env::SandboxEnv {
        &self.env
    }

    /// The store settings of the sandbox's database.
    pub fn store_config(&self) -> Result<StoreConfig, SandboxError> {
        let url = self.database.url().to_string();
        StoreConfig::from_lookup(|name| (name == "DATABASE_URL").then(|| url.clone()))
            .map_err(SandboxError::Store)
    }

    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    pub fn describe_database(&self) -> String {
        self.database.describe()
    }

    pub fn bootstrap_servers(&self) -> &str {
        self.kafka.bootstrap_servers()
    }

    pub fn prefix(&self) -> &TopicPrefix {
        self.kafka.prefix()
    }

    pub fn api_url(&self) -> String {
        self.api.url()
    }

    /// The local package index, as registered in the store.
    pub fn local_index(&self) -> &IndexUrl {
        &self.local_index
    }

    /// The operator's /metrics /healthz /readyz address.
    pub fn metrics_listen(&self) -> SocketAddr {
        self.metrics_listen
    }

    /// Stops the stand-in, the servers and the embedded Kafka, then drops the database or the
    /// throwaway cluster.
    pub async fn shutdown(self) {
        self.argo.shutdown().await;
        drop(self.kafka);
        PartialSandbox {
            api: self.api,
            index: self.index,
            database: self.database,
        }
        .stop()
        .await;
    }
}

/// The parts that need stopping, before the rest has started.
struct PartialSandbox {
    api: RunningApiServer,
    index: index::PackageIndex,
    database: postgres::SandboxDatabase,
}

impl PartialSandbox {
    async fn stop(self) {
        self.api.shutdown().await;
        self.index.shutdown().await;
        self.database.release().await;
    }

    async fn finish(
        self,
        config: SandboxConfig,
        prefix: TopicPrefix,
    ) -> Result<Sandbox, (Self, SandboxError)> {
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(value) => value,
                    Err(error) => return Err((self, error)),
                }
            };
        }
        attempt!(self.register_indexes().await);
        let local_index = attempt!(parse_index(&self.index.url()));
        let kafka = attempt!(
            kafka::KafkaHost::start(prefix.clone(), 1, config.partitions)
                .map_err(SandboxError::from)
        );
        let client = attempt!(self.api.client().map_err(SandboxError::Client));
        let metrics_listen = attempt!(resolve_port(config.metrics_listen));
        let mut variables = env::SandboxEnv::default();
        let kubeconfig = match &config.dir {
            Some(dir) => {
                let dir = attempt!(env::prepare_dir(dir).map_err(SandboxError::from));
                let path = dir.join(env::KUBECONFIG_FILE);
                attempt!(
                    self.api
                        .write_kubeconfig(&path)
                        .map_err(|e| SandboxError::Kubeconfig(path.clone(), e))
                );
                Some((dir, path))
            }
            None => None,
        };
        if let Some((_, path)) = &kubeconfig {
            variables.set("KUBECONFIG", path.display().to_string());
        }
        variables.set("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers());
        variables.set("DATABASE_URL", self.database.url());
        variables.set(
            crate::messages::topics::DEPLOYMENT_NAME_ENV,
            config.deployment_name.trim(),
        );
        variables.set("THOTH_METRICS_LISTEN", metrics_listen.to_string());
        variables.set(
            "THOTH_RESOURCE_NAMESPACE",
            config.resource_namespace.as_str(),
        );
        // A restarted `run` takes the Lease over within seconds, not the default ten.
        variables.set("THOTH_LEASE_SECONDS", "3");
        variables.set("POD_NAME", "sandbox-operator");
        // A restarted consumer rejoins its group in seconds, not the default 45.
        variables.set("KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "6000");
        variables.set("THOTH_SANDBOX_API_SERVER", self.api.url());
        variables.set("THOTH_SANDBOX_PACKAGE_INDEX", local_index.as_str());
        if let Some((dir, _)) = &kubeconfig {
            attempt!(env::write_env(dir, &variables).map_err(SandboxError::from));
        }
        let argo = argo::ArgoStandIn::spawn(client.clone(), config.argo.clone());
        Ok(Sandbox {
            api: self.api,
            kafka,
            database: self.database,
            index: self.index,
            argo,
            client,
            env: variables,
            metrics_listen,
            local_index,
        })
    }

    /// Migrates the store and registers PyPI and the local index, both enabled.
    async fn register_indexes(&self) -> Result<(), SandboxError> {
        let url = self.database.url().to_string();
        let config = StoreConfig::from_lookup(|name| (name == "DATABASE_URL").then(|| url.clone()))
            .map_err(SandboxError::Store)?;
        let store = Store::open(&config).await.map_err(SandboxError::Store)?;
        let result = async {
            for raw in [PYPI_SIMPLE.to_string(), self.index.url()] {
                let index = parse_index(&raw)?;
                store
                    .register_index(&index, true)
                    .await
                    .map_err(SandboxError::Store)?;
            }
            Ok(())
        }
        .await;
        store.close().await;
        result
    }
}

fn parse_index(raw: &str) -> Result<IndexUrl, SandboxError> {
    IndexUrl::parse(raw).map_err(|e| SandboxError::IndexUrl(raw.to_string(), e))
}

/// `address` with port 0 replaced by a port free right now.
fn resolve_port(address: SocketAddr) -> Result<SocketAddr, SandboxError> {
    if address.port() != 0 {
        return Ok(address);
    }
    let listener = std::net::TcpListener::bind(address).map_err(SandboxError::Port)?;
    listener.local_addr().map_err(SandboxError::Port)
}
