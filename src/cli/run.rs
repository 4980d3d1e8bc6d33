//! `thoth-operator run`: the operator itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::reconcile::workflow::{WorkflowConfig, WorkflowTarget};
use crate::reconcile::{
    AdmissionLimits, ControllerMetrics, LeaderConfig, OperatorConfig, Priorities,
};

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
    #[arg(long, env = "THOTH_LEASE_NAMESPACE", default_value = "default")]
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
    Ok((namespace.trim().to_string(), limit))
}

fn parse_solver(raw: &str) -> Result<String, String> {
    let pattern = regex::Regex::new(crate::api::validation::SOLVER_NAME_PATTERN)
        .map_err(|e| e.to_string())?;
    if pattern.is_match(raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "{raw:?} is not a solver name like solver-rhel-8-py38"
        ))
    }
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
        let topics = crate::messages::TopicPrefix::from_env()
            .context("THOTH_DEPLOYMENT_NAME is not a usable topic prefix")?;
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

fn hostname() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .context("no --identity given and the host name is unknown")
}

/// Migrates (unless THOTH_STORE_MIGRATE=0), serves /metrics, /healthz, /readyz and runs the
/// controllers until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let config = args.operator_config()?;
    let store_config = crate::store::StoreConfig::from_env()?;
    let store = crate::store::Store::open(&store_config).await?;
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
    let client = crate::reconcile::build_client(kube_config, args.api_qps, metrics.clone())?;
    let mut registry = crate::telemetry::registry();
    metrics.register(&mut registry);
    let readiness = crate::telemetry::Readiness::default();
    let endpoint =
        crate::telemetry::Endpoint::bind(args.metrics_listen, registry, readiness.clone()).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let http = tokio::spawn(endpoint.serve(stopped()));
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = stop_tx.send(true);
    });
    tracing::info!(identity = %config.leader.identity, "operator starting");
    crate::reconcile::run(client, store.clone(), config, metrics, readiness, stopped()).await?;
    if let Ok(Err(err)) = http.await {
        tracing::warn!(error = %err, "metrics endpoint stopped with an error");
    }
    store.close().await;
    Ok(())
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
        let parsed =
            Wrapper::try_parse_from(["run", "--solver-namespace", "Not_A_Label"]).expect("parses");
        let err = parsed.args.operator_config().expect_err("refused");
        assert!(err.to_string().contains("--solver-namespace"), "{err}");
    }
}
