//! `thoth-operator run`: the operator itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::admission::{AdmissionConfig, Admitter, ConfigError, IndexClient, IndexClientConfig};
use crate::ingest::producer::{OutboxPublisher, PublisherSettings};
use crate::ingest::{ConsumerSettings, IngestMetrics, KafkaConfig, run_consumer};
use crate::messages::{ParseConfig, SolverName, TopicPrefix};
use crate::package::Namespace;
use crate::reconcile::workflow::{WorkflowConfig, WorkflowTarget};
use crate::reconcile::{
    AdmissionLimits, ControllerMetrics, LeaderConfig, OperatorConfig, Priorities,
};
use crate::store::{Store, StoreConfig};

/// `--resource-namespace` when neither the flag nor `THOTH_RESOURCE_NAMESPACE` is given (also
/// where `trace` looks by default).
pub const DEFAULT_RESOURCE_NAMESPACE: &str = "thoth-infra";

/// Settings of `thoth-operator run`. Every flag has an environment variable; a bad value is refused
/// at start, naming the flag. Database settings come from the environment only, as the store reads
/// them: DATABASE_URL or KNOWLEDGE_GRAPH_HOST/PORT/USER/PASSWORD/DATABASE/SSL_DISABLED, and
/// THOTH_STORE_MIGRATE=0 to skip migrating at start.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Kubeconfig file to use; without it, KUBECONFIG, ~/.kube/config or the in-cluster service
    /// account, in kube's usual order.
    #[arg(long, env = "THOTH_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces whose resources are reconciled, comma-separated; all when unset.
    #[arg(
        long,
        env = "THOTH_WATCH_NAMESPACES",
        value_delimiter = ',',
        value_parser = parse_namespace,
        value_name = "NS,..."
    )]
    pub watch_namespaces: Vec<String>,
    /// Namespace SolverRuns' Workflows run in.
    #[arg(
        long,
        env = "THOTH_SOLVER_NAMESPACE",
        default_value = "thoth-middletier"
    )]
    pub solver_namespace: String,
    /// WorkflowTemplate SolverRuns' Workflows reference.
    #[arg(long, env = "THOTH_SOLVER_TEMPLATE", default_value = "solver")]
    pub solver_template: String,
    /// Service account SolverRuns' Workflows run as.
    #[arg(long, env = "THOTH_SOLVER_SERVICE_ACCOUNT", default_value = "argo")]
    pub solver_service_account: String,
    /// Namespace SecurityIndicatorRuns' Workflows run in.
    #[arg(
        long,
        env = "THOTH_SECURITY_INDICATORS_NAMESPACE",
        default_value = "thoth-middletier"
    )]
    pub security_indicators_namespace: String,
    /// WorkflowTemplate SecurityIndicatorRuns' Workflows reference.
    #[arg(
        long,
        env = "THOTH_SECURITY_INDICATORS_TEMPLATE",
        default_value = "security-indicators"
    )]
    pub security_indicators_template: String,
    /// Service account SecurityIndicatorRuns' Workflows run as.
    #[arg(
        long,
        env = "THOTH_SECURITY_INDICATORS_SERVICE_ACCOUNT",
        default_value = "argo"
    )]
    pub security_indicators_service_account: String,
    /// Namespace AdviceRequests' Workflows run in.
    #[arg(long, env = "THOTH_ADVISER_NAMESPACE", default_value = "thoth-backend")]
    pub adviser_namespace: String,
    /// WorkflowTemplate AdviceRequests' Workflows reference.
    #[arg(long, env = "THOTH_ADVISER_TEMPLATE", default_value = "adviser")]
    pub adviser_template: String,
    /// Service account AdviceRequests' Workflows run as.
    #[arg(long, env = "THOTH_ADVISER_SERVICE_ACCOUNT", default_value = "argo")]
    pub adviser_service_account: String,
    /// Active Workflows allowed at once per target namespace, as NAMESPACE=N, comma-separated;
    /// namespaces not named get --default-admission-limit.
    #[arg(
        long,
        env = "THOTH_ADMISSION_LIMITS",
        value_delimiter = ',',
        value_parser = parse_limit,
        default_value = "thoth-middletier=50,thoth-backend=10",
        value_name = "NS=N,..."
    )]
    pub admission_limits: Vec<(String, usize)>,
    /// Active Workflows allowed at once in a target namespace without its own limit.
    #[arg(long, env = "THOTH_DEFAULT_ADMISSION_LIMIT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub default_admission_limit: u32,
    /// Solvers an AdviceRequest's unresolved packages are solved with, comma-separated.
    #[arg(
        long,
        env = "THOTH_SOLVERS",
        value_delimiter = ',',
        value_parser = parse_solver,
        default_value = "solver-rhel-8-py38,solver-fedora-34-py39,solver-fedora-35-py310"
    )]
    pub solvers: Vec<String>,
    /// Reconciles running at once per kind.
    #[arg(long, env = "THOTH_RECONCILE_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub reconcile_concurrency: u16,
    /// Requests per second the operator sends to the Kubernetes API at most (0 = no limit).
    #[arg(long, env = "THOTH_API_QPS", default_value_t = 50)]
    pub api_qps: u32,
    /// Seconds a Succeeded, Failed or Errored resource is kept before it is deleted (0 = keep).
    #[arg(
        long,
        env = "THOTH_FINISHED_RETENTION_SECONDS",
        default_value_t = 86_400
    )]
    pub finished_retention_seconds: u64,
    /// Address of the HTTP endpoint serving /metrics, /healthz and /readyz.
    #[arg(long, env = "THOTH_METRICS_LISTEN", default_value = "0.0.0.0:8080")]
    pub metrics_listen: SocketAddr,
    /// Namespace of the Lease replicas elect their leader with.
    #[arg(long, env = "THOTH_LEASE_NAMESPACE", default_value = "default", value_parser = parse_namespace)]
    pub lease_namespace: String,
    /// Name of that Lease.
    #[arg(long, env = "THOTH_LEASE_NAME", default_value = "thoth-operator")]
    pub lease_name: String,
    /// This replica's name in the Lease; the host name when unset.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Seconds a leader's claim lasts without renewal: a standby takes over within this.
    #[arg(long, env = "THOTH_LEASE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub lease_seconds: u64,
    /// Namespace the SolverRuns, SecurityIndicatorRuns and AdviceRequests made from Kafka messages
    /// are created in; it must be one of --watch-namespaces when those are set.
    #[arg(long, env = "THOTH_RESOURCE_NAMESPACE", default_value = DEFAULT_RESOURCE_NAMESPACE)]
    pub resource_namespace: String,
    /// Requests per second admission (creating resources from Kafka messages) sends to the
    /// Kubernetes API at most, on a budget of its own so that a backlog of messages does not starve
    /// the controllers, nor they it (0 = no limit; at most 4 batches × 16 creates are in flight).
    #[arg(long, env = "THOTH_ADMISSION_API_QPS", default_value_t = 0)]
    pub admission_api_qps: u32,
    /// Seconds a request to a package index (listing the versions of a message without one) may
    /// take, body included; connecting is given at most 5 s of it.
    #[arg(long, env = "THOTH_INDEX_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub index_timeout_seconds: u64,
    /// Most Kafka records admitted in one batch (one store transaction), reached only when the
    /// consumer is behind; smaller batches make a crash redo less, bigger ones share each
    /// batch's store round trips among more records.
    #[arg(long, env = "THOTH_INGEST_MAX_BATCH", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ingest_max_batch: u64,
    /// Kafka records received and waiting for admission at which the consumer pauses its
    /// partitions (they resume when a quarter is left): bounds the memory records take while
    /// admission is behind (a few hundred bytes each); each pause costs a refetch, so not too low.
    #[arg(long, env = "THOTH_INGEST_MAX_BUFFERED", default_value_t = 32_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub ingest_max_buffered: u64,
    /// Prefix of every topic name (`NAME.thoth.…`), as Thoth's deployments set it. Unset: bare
    /// `thoth.…` topics; set but empty is refused (Thoth's producers would publish to `.thoth.…`).
    #[arg(long, env = crate::messages::DEPLOYMENT_NAME_ENV, value_name = "NAME", value_parser = TopicPrefix::new)]
    pub deployment_name: Option<TopicPrefix>,
    // Kafka: without --kafka-bootstrap-servers the operator only reconciles (no consuming, no
    // publishing of follow-up messages).
    #[command(flatten, next_help_heading = "Kafka")]
    pub kafka: KafkaConfig,
}

fn parse_limit(raw: &str) -> Result<(String, usize), String> {
    let (namespace, limit) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not NAMESPACE=N"))?;
    let limit: usize = limit
        .trim()
        .parse()
        .map_err(|_| format!("{limit:?} in {raw:?} is not a whole number"))?;
    if limit == 0 {
        return Err(format!("limit 0 in {raw:?} would admit nothing"));
    }
    let namespace = parse_namespace(namespace.trim()).map_err(|e| format!("{e} in {raw:?}"))?;
    Ok((namespace, limit))
}

/// A namespace flag's value, by the namespace's rule (clap names the flag when it refuses).
fn parse_namespace(raw: &str) -> Result<String, String> {
    Namespace::parse(raw)
        .map(String::from)
        .map_err(|e| e.to_string())
}

/// A solver name, by the solver name's rule.
fn parse_solver(raw: &str) -> Result<String, String> {
    SolverName::parse(raw)
        .map(String::from)
        .map_err(|e| e.to_string())
}

impl RunArgs {
    /// The controllers' settings; errors name the flag whose value is refused.
    pub fn operator_config(&self) -> anyhow::Result<OperatorConfig> {
        let workflows = WorkflowConfig {
            solver: WorkflowTarget {
                namespace: self.solver_namespace.clone(),
                template: self.solver_template.clone(),
                service_account: self.solver_service_account.clone(),
            },
            security_indicators: WorkflowTarget {
                namespace: self.security_indicators_namespace.clone(),
                template: self.security_indicators_template.clone(),
                service_account: self.security_indicators_service_account.clone(),
            },
            adviser: WorkflowTarget {
                namespace: self.adviser_namespace.clone(),
                template: self.adviser_template.clone(),
                service_account: self.adviser_service_account.clone(),
            },
        };
        workflows.validate().map_err(|err| {
            anyhow::anyhow!(
                "--{}-{}: {err}",
                match err.component {
                    "solver" => "solver",
                    "security-indicators" => "security-indicators",
                    _ => "adviser",
                },
                err.field.replace(' ', "-")
            )
        })?;
        let identity = match &self.identity {
            Some(identity) => identity.clone(),
            None => hostname()?,
        };
        let topics = self.deployment_name.clone().unwrap_or_default();
        Ok(OperatorConfig {
            workflows,
            watch_namespaces: self.watch_namespaces.clone(),
            limits: AdmissionLimits {
                default: self.default_admission_limit as usize,
                per_namespace: self
                    .admission_limits
                    .iter()
                    .cloned()
                    .collect::<BTreeMap<_, _>>(),
            },
            priorities: Priorities::default(),
            solvers: self.solvers.clone(),
            concurrency: self.reconcile_concurrency,
            finished_retention: (self.finished_retention_seconds > 0)
                .then(|| Duration::from_secs(self.finished_retention_seconds)),
            leader: LeaderConfig {
                namespace: self.lease_namespace.clone(),
                lease_name: self.lease_name.clone(),
                identity,
                lease_duration: Duration::from_secs(self.lease_seconds),
                renew_before: Duration::from_secs((self.lease_seconds / 3).max(1)),
            },
            topics,
        })
    }
}

impl RunArgs {
    /// Admission's settings for messages of `topics`; errors name the flag whose value is refused.
    pub fn admission_config(&self, topics: &TopicPrefix) -> anyhow::Result<AdmissionConfig> {
        if !self.watch_namespaces.is_empty()
            && !self.watch_namespaces.contains(&self.resource_namespace)
        {
            anyhow::bail!(
                "--resource-namespace {:?} is not one of --watch-namespaces: its resources would never be reconciled",
                self.resource_namespace
            );
        }
        let solvers = self
            .solvers
            .iter()
            .map(|solver| SolverName::parse(solver))
            .collect::<Result<Vec<_>, _>>()
            .context("--solvers")?;
        let mut config = AdmissionConfig::new(self.resource_namespace.clone(), solvers);
        config.parse = ParseConfig::with_prefix(topics.clone());
        config.check().map_err(|err| match err {
            ConfigError::Namespace(_) => anyhow::anyhow!("--resource-namespace: {err}"),
        })?;
        Ok(config)
    }

    /// The package-index client's settings: every request bounded by --index-timeout-seconds.
    pub fn index_client_config(&self) -> IndexClientConfig {
        let request_timeout = Duration::from_secs(self.index_timeout_seconds);
        IndexClientConfig {
            connect_timeout: request_timeout.min(Duration::from_secs(5)),
            request_timeout,
            ..IndexClientConfig::default()
        }
    }
}

fn hostname() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .context("no --identity given and the host name is unknown")
}

/// The registry `/metrics` serves: the controllers' families and, when Kafka is configured, the
/// ingestion's, under the `thoth_operator_` prefix. Public so that the chart's dashboard can be
/// checked against exactly what `run` exports.
pub fn metrics_registry(
    controller: &ControllerMetrics,
    ingest: Option<&IngestMetrics>,
) -> prometheus_client::registry::Registry {
    let mut registry = crate::telemetry::registry();
    controller.register(&mut registry);
    if let Some(ingest) = ingest {
        ingest.register(&mut registry);
    }
    registry
}

/// Migrates (unless THOTH_STORE_MIGRATE=0), serves /metrics, /healthz, /readyz, runs the
/// controllers and, when Kafka is configured, consumes and publishes, until SIGTERM or Ctrl-C. The
/// store's settings come from the environment ([`StoreConfig::from_env`]).
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let store = StoreConfig::from_env()?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
    };
    serve(args, store, shutdown).await
}

/// The operator without its signal handling: what `run` does, with the store at `store` and until
/// `shutdown` completes. `thoth-operator sandbox` runs it in-process with its own database and its
/// own stop signal, so the sandbox exercises exactly the production code path.
///
/// Runs side by side until shutdown: the metrics endpoint, the three controllers (writing only
/// while this replica holds the Lease) and, when `args.kafka` names bootstrap servers, the group
/// consumer feeding [`Admitter`] and the outbox publisher (on every replica: the consumer group and
/// the outbox leases share the work out). When either half stops with an error the other is
/// stopped too, and the error is returned once both have finished.
///
/// # Errors
/// A refused flag value (naming the flag), an unreachable store or Kubernetes configuration, a
/// metrics address that cannot be bound, a Kafka client that cannot be created, or a failed
/// leader election set-up.
pub async fn serve(
    args: RunArgs,
    store_config: StoreConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = args.operator_config()?;
    // Checked before anything starts, so that a bad flag fails fast.
    let admission = if args.kafka.is_configured() {
        Some(args.admission_config(&config.topics)?)
    } else {
        None
    };
    let store = Store::open(&store_config).await?;
    let kube_config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("--kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("--kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration found (kubeconfig or in-cluster)")?,
    };
    let metrics = Arc::new(ControllerMetrics::default());
    let client =
        crate::reconcile::build_client(kube_config.clone(), args.api_qps, metrics.clone())?;
    let ingest_metrics = IngestMetrics::new();
    let registry = metrics_registry(&metrics, admission.is_some().then_some(&ingest_metrics));
    let ingestion = match admission {
        Some(admission) => {
            let index = IndexClient::new(args.index_client_config())
                .context("cannot build the package index client")?;
            let admission_client = crate::reconcile::build_client(
                kube_config,
                args.admission_api_qps,
                metrics.clone(),
            )?;
            let admitter = Admitter::new(admission_client, store.clone(), admission, index);
            let publisher = OutboxPublisher::new(
                &args.kafka,
                store.clone(),
                PublisherSettings::default(),
                ingest_metrics.clone(),
            )
            .context("cannot start publishing the outbox")?;
            Some((admitter, publisher))
        }
        None => {
            tracing::info!(
                "Kafka is not configured (--kafka-bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS): ingestion is off; reconciling only"
            );
            None
        }
    };
    let readiness = crate::telemetry::Readiness::default();
    if ingestion.is_some() {
        // Not ready until the consumer says it is in its group (before `/readyz` first answers).
        readiness.not_ready(
            crate::telemetry::KAFKA_CONSUMER,
            "has not joined its consumer group yet",
        );
    }
    let consumer_readiness = readiness.clone();
    let endpoint =
        crate::telemetry::Endpoint::bind(args.metrics_listen, registry, readiness.clone()).await?;

    // One stop signal for every part: the caller's shutdown, or one part failing.
    let stop = Arc::new(tokio::sync::watch::channel(false).0);
    let stopped = {
        let stop = stop.clone();
        move || {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    };
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.send_replace(true);
        });
    }
    let http = tokio::spawn(endpoint.serve(stopped()));
    tracing::info!(identity = %config.leader.identity, kafka = ingestion.is_some(), "operator starting");

    let topics = config.topics.clone();
    let controllers = {
        let stop = stop.clone();
        let stopped = stopped();
        let store = store.clone();
        async move {
            let result =
                crate::reconcile::run(client, store, config, metrics, readiness, stopped).await;
            stop.send_replace(true);
            result.map_err(anyhow::Error::from)
        }
    };
    let ingest = async {
        let Some((admitter, publisher)) = ingestion else {
            return Ok(());
        };
        let consume = run_consumer(
            &args.kafka,
            &topics,
            Arc::new(admitter),
            ingest_metrics,
            ConsumerSettings {
                max_batch: usize::try_from(args.ingest_max_batch).unwrap_or(usize::MAX),
                max_buffered: usize::try_from(args.ingest_max_buffered).unwrap_or(usize::MAX),
                readiness: Some(consumer_readiness),
                ..ConsumerSettings::default()
            },
            stopped(),
        );
        let publish = publisher.run(stopped());
        let (consumed, ()) = tokio::join!(
            async {
                let result = consume.await;
                if result.is_err() {
                    stop.send_replace(true);
                }
                result
            },
            publish
        );
        consumed.context("Kafka ingestion stopped")
    };
    let (controllers, ingest) = tokio::join!(controllers, ingest);
    if let Ok(Err(err)) = http.await {
        tracing::warn!(error = %crate::telemetry::error_chain(&err), "metrics endpoint stopped with an error");
    }
    store.close().await;
    controllers?;
    ingest
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: RunArgs,
    }

    #[test]
    fn defaults_are_thoths_deployment() {
        let parsed = Wrapper::try_parse_from(["run", "--identity", "me"]).expect("parses");
        let config = parsed.args.operator_config().expect("valid");
        assert_eq!(config.workflows, WorkflowConfig::default());
        assert_eq!(config.limits.per_namespace["thoth-backend"], 10);
        assert_eq!(config.limits.per_namespace["thoth-middletier"], 50);
        assert_eq!(config.solvers.len(), 3);
        assert_eq!(config.finished_retention, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let err = Wrapper::try_parse_from(["run", "--admission-limits", "thoth-backend=0"])
            .expect_err("refused");
        assert!(err.to_string().contains("--admission-limits"), "{err}");
        let err = Wrapper::try_parse_from(["run", "--solvers", "rhel-8"]).expect_err("refused");
        assert!(err.to_string().contains("--solvers"), "{err}");
        let err =
            Wrapper::try_parse_from(["run", "--reconcile-concurrency", "0"]).expect_err("refused");
        assert!(err.to_string().contains("--reconcile-concurrency"), "{err}");
        // Every namespace flag goes through the namespace's rule (one rule per value), refused
        // at start naming the flag.
        for (flag, bad) in [
            ("--watch-namespaces", "thoth-infra,Not_A_Label"),
            ("--watch-namespaces", "thoth.infra"),
            ("--lease-namespace", "default-"),
            ("--lease-namespace", &"a".repeat(64)),
            ("--admission-limits", "thoth_backend=3"),
            ("--admission-limits", "=3"),
        ] {
            let err = Wrapper::try_parse_from(["run", flag, bad])
                .expect_err("refused")
                .to_string();
            assert!(
                err.contains(flag) && err.contains("namespace"),
                "{flag} {bad}: {err}"
            );
        }
        let parsed = Wrapper::try_parse_from([
            "run",
            "--watch-namespaces",
            "thoth-infra,thoth-backend",
            "--lease-namespace",
            "thoth-infra",
            "--admission-limits",
            " thoth-backend =3",
        ])
        .expect("parses");
        assert_eq!(
            parsed.args.watch_namespaces,
            ["thoth-infra", "thoth-backend"]
        );
        assert_eq!(parsed.args.admission_limits, [("thoth-backend".into(), 3)]);
        let parsed =
            Wrapper::try_parse_from(["run", "--solver-namespace", "Not_A_Label"]).expect("parses");
        let err = parsed.args.operator_config().expect_err("refused");
        assert!(err.to_string().contains("--solver-namespace"), "{err}");
    }

    /// Issue 8, row 6: no --deployment-name means bare topic names; an empty or blank one is
    /// refused at parse, naming the flag and the variable.
    #[test]
    fn an_empty_deployment_name_is_refused_and_none_means_bare_topics() {
        for empty in ["", "  "] {
            let err = Wrapper::try_parse_from(["run", "--deployment-name", empty])
                .expect_err("refused")
                .to_string();
            assert!(
                err.contains("--deployment-name") && err.contains("THOTH_DEPLOYMENT_NAME"),
                "{err}"
            );
        }
        let parsed =
            Wrapper::try_parse_from(["run", "--identity", "me", "--deployment-name", "smaug"])
                .expect("parses");
        let config = parsed.args.operator_config().expect("valid");
        assert_eq!(config.topics.deployment_name(), Some("smaug"));
    }

    #[test]
    fn kafka_flags_are_flattened_and_admission_settings_checked() {
        let parsed = Wrapper::try_parse_from([
            "run",
            "--kafka-bootstrap-servers",
            "broker:9092",
            "--resource-namespace",
            "thoth-frontend",
            "--solvers",
            "solver-rhel-8-py38",
            "--index-timeout-seconds",
            "3",
        ])
        .expect("parses");
        assert!(parsed.args.kafka.is_configured());
        let config = parsed
            .args
            .admission_config(&TopicPrefix::none())
            .expect("valid");
        assert_eq!(config.namespace, "thoth-frontend");
        assert_eq!(config.solvers.len(), 1);
        let index = parsed.args.index_client_config();
        assert_eq!(index.request_timeout, Duration::from_secs(3));
        assert_eq!(index.connect_timeout, Duration::from_secs(3));

        let parsed = Wrapper::try_parse_from([
            "run",
            "--watch-namespaces",
            "thoth-frontend",
            "--resource-namespace",
            "thoth-infra",
        ])
        .expect("parses");
        let err = parsed
            .args
            .admission_config(&TopicPrefix::none())
            .expect_err("refused");
        assert!(err.to_string().contains("--resource-namespace"), "{err}");
        let parsed = Wrapper::try_parse_from(["run", "--resource-namespace", "Not_A_Label"])
            .expect("parses");
        let err = parsed
            .args
            .admission_config(&TopicPrefix::none())
            .expect_err("refused");
        assert!(err.to_string().contains("--resource-namespace"), "{err}");
    }

    #[test]
    fn serve_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let parsed = Wrapper::try_parse_from(["run", "--identity", "me"]).expect("parses");
        let store = StoreConfig::new(sqlx::postgres::PgConnectOptions::new());
        let serving = serve(parsed.args, store, async {});
        assert_send(&serving);
    }
}
