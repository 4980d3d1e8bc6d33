//! `thoth-operator sandbox`: the whole loop on one machine (feature `sandbox`) — the in-memory API
//! server, an embedded Kafka, PostgreSQL, a local package index, the Argo stand-in and the real
//! operator (`cli::run::serve`, the code path of `thoth-operator run`). See `crate::sandbox`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser as _;

use crate::sandbox::argo::ArgoStandInConfig;
use crate::sandbox::demo;
use crate::sandbox::{Sandbox, SandboxConfig};

/// What `sandbox` prints on standard output once every part accepts requests.
pub const READY_LINE: &str = "sandbox ready";

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Write DIR/kubeconfig and DIR/sandbox.env (KUBECONFIG, KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL,
    /// THOTH_DEPLOYMENT_NAME, THOTH_METRICS_LISTEN, …) so that kubectl, `thoth-operator run`,
    /// `publish`, `trace` and psql can reach the sandbox: `set -a; . DIR/sandbox.env; set +a`.
    /// Without it they go to a temporary directory removed at exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Start everything but the operator (run it yourself from DIR/sandbox.env).
    #[arg(long)]
    pub no_operator: bool,
    /// Publish a realistic stream of messages, show the loop working on it, print a summary and
    /// exit: 0 when the loop completed as it should, 1 saying what is missing otherwise.
    #[arg(long)]
    pub demo: bool,
    /// How long the demo may take before it gives up.
    #[arg(long, default_value_t = 45, value_name = "SECONDS")]
    pub demo_timeout: u64,
    /// PostgreSQL to use; without it, a fresh database on the local server (127.0.0.1:5432, user
    /// postgres) when one answers, else a throwaway cluster when PostgreSQL's server binaries are
    /// installed. Either is removed at exit; a database given here is left as it is.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Start a throwaway PostgreSQL cluster (initdb, pg_ctl) even when the local server answers.
    #[arg(long, conflicts_with = "database_url")]
    pub own_postgres: bool,
    /// Topic prefix (THOTH_DEPLOYMENT_NAME) of the embedded Kafka's topics; not empty (`run`
    /// refuses an empty THOTH_DEPLOYMENT_NAME).
    #[arg(long, default_value = "sandbox", value_name = "NAME", value_parser = deployment_name)]
    pub deployment_name: String,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub partitions: u16,
    /// Address of the operator's /metrics /healthz /readyz; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub argo: ArgoArgs,
}

/// `--deployment-name`: a topic prefix [`crate::messages::TopicPrefix::new`] takes, trimmed.
fn deployment_name(raw: &str) -> Result<String, crate::messages::TopicPrefixError> {
    crate::messages::TopicPrefix::new(raw).map(|_| raw.trim().to_string())
}

/// The Argo stand-in's timing and outcomes.
#[derive(Debug, clap::Args)]
pub struct ArgoArgs {
    /// Milliseconds a Workflow stays Pending.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub workflow_pending_ms: u64,
    /// Milliseconds a Workflow stays Running.
    #[arg(long, default_value_t = 800, value_name = "MS")]
    pub workflow_running_ms: u64,
    /// Seconds a finished Workflow is kept before Argo's TTL deletes it (0 = keep it).
    #[arg(long, default_value_t = 25, value_name = "SECONDS")]
    pub workflow_ttl_seconds: u64,
    /// Share (0–1) of Workflows that end Failed (a sticky failure: the resource is not retried).
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub failed_share: f64,
    /// Share (0–1) of Workflows that end in Error.
    #[arg(long, default_value_t = 0.05, value_parser = share)]
    pub error_share: f64,
    /// Share of solved versions reported unsolvable or unparseable.
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub unsolvable_share: f64,
    /// Share of security-indicator runs reporting no source distribution (as many again: a
    /// missing version).
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub no_source_share: f64,
    /// Share of advice runs reporting unresolved packages (which become solver work).
    #[arg(long, default_value_t = 1.0, value_parser = share)]
    pub unresolved_share: f64,
    /// Seed of the outcome draws (each Workflow's draw depends on it and its name only).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{raw:?} is not a share between 0 and 1")),
    }
}

impl ArgoArgs {
    fn config(&self) -> ArgoStandInConfig {
        ArgoStandInConfig {
            pending_for: Duration::from_millis(self.workflow_pending_ms),
            running_for: Duration::from_millis(self.workflow_running_ms),
            ttl_after_finished: (self.workflow_ttl_seconds > 0)
                .then(|| Duration::from_secs(self.workflow_ttl_seconds)),
            failed_share: self.failed_share,
            error_share: self.error_share,
            unsolvable_share: self.unsolvable_share,
            no_source_share: self.no_source_share,
            unresolved_share: self.unresolved_share,
            seed: self.seed,
            ..ArgoStandInConfig::default()
        }
    }
}

/// Wraps `RunArgs` so the in-process operator's settings are parsed exactly as `run`'s are.
#[derive(Debug, clap::Parser)]
struct OperatorCommandLine {
    #[command(flatten)]
    args: super::run::RunArgs,
}

/// `run`'s arguments for the operator inside the sandbox: the sandbox's kubeconfig, Kafka, topic
/// prefix and metrics address, a short Lease and a short consumer session (so an operator run
/// separately after it takes over quickly); everything else as `run` defaults it or the
/// environment sets it.
fn operator_args(
    env: &crate::sandbox::env::SandboxEnv,
    kubeconfig: &std::path::Path,
) -> anyhow::Result<super::run::RunArgs> {
    let value = |name: &str| env.get(name).unwrap_or_default().to_string();
    let line = OperatorCommandLine::try_parse_from([
        "run".to_string(),
        "--kubeconfig".to_string(),
        kubeconfig.display().to_string(),
        "--metrics-listen".to_string(),
        value("THOTH_METRICS_LISTEN"),
        "--identity".to_string(),
        value("POD_NAME"),
        "--lease-seconds".to_string(),
        value("THOTH_LEASE_SECONDS"),
        "--deployment-name".to_string(),
        value(crate::messages::DEPLOYMENT_NAME_ENV),
        "--kafka-bootstrap-servers".to_string(),
        value("KAFKA_BOOTSTRAP_SERVERS"),
        "--kafka-consumer-session-timeout-ms".to_string(),
        value("KAFKA_CONSUMER_SESSION_TIMEOUT_MS"),
    ])
    .context("the sandbox's operator settings were refused")?;
    Ok(line.args)
}

/// Where the operator (as `run` is configured here, flags at their defaults or from the
/// environment) creates resources, and every namespace it needs: that one, where it runs
/// Workflows and where it keeps its Lease.
fn operator_namespaces() -> anyhow::Result<(String, Vec<String>)> {
    let line = OperatorCommandLine::try_parse_from(["run"])
        .context("the environment's THOTH_* settings for the operator were refused")?;
    let args = line.args;
    Ok((
        args.resource_namespace.clone(),
        vec![
            args.resource_namespace,
            args.lease_namespace,
            args.solver_namespace,
            args.security_indicators_namespace,
            args.adviser_namespace,
        ],
    ))
}

/// SIGINT and SIGTERM, either of which stops the sandbox cleanly.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Waits for the next of either; gives its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Waits until `http://address/readyz` answers 200, or `deadline`.
async fn wait_ready(address: SocketAddr, deadline: Duration) -> bool {
    let http = reqwest::Client::new();
    let url = format!("http://{address}/readyz");
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let started = Instant::now();
    // Without --dir the kubeconfig and env file still exist (the operator reads the kubeconfig),
    // in a directory removed at exit.
    let scratch = match &args.dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("thoth-sandbox.")
                .tempdir()
                .context("failed to make a temporary directory for the kubeconfig")?,
        ),
    };
    let dir = match (&args.dir, &scratch) {
        (Some(dir), _) => dir.clone(),
        (None, scratch) => scratch
            .as_ref()
            .map(|s| s.path().to_path_buf())
            .context("no directory for the kubeconfig")?,
    };
    let (resource_namespace, namespaces) = operator_namespaces()?;
    let config = SandboxConfig {
        deployment_name: args.deployment_name.clone(),
        database_url: args.database_url.clone(),
        own_postgres: args.own_postgres,
        namespaces,
        resource_namespace,
        partitions: args.partitions,
        argo: args.argo.config(),
        dir: Some(dir.clone()),
        metrics_listen: args.metrics_listen,
    };
    // Both signals are taken over before anything starts: from here on, Ctrl-C or SIGTERM at any
    // moment (while starting, before ready, during the demo) ends in the shutdown below, which
    // removes the database or throwaway cluster. One arriving while the parts start is held until
    // they have started (stopping them half-made would leave what they made).
    let mut signals = Signals {
        interrupt: signal(SignalKind::interrupt())?,
        terminate: signal(SignalKind::terminate())?,
    };
    let sandbox = Sandbox::start(config).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let result = serve(
        &args,
        &sandbox,
        &dir,
        started,
        stopped,
        &stop_tx,
        &mut signals,
    )
    .await;
    let _ = stop_tx.send(true);
    sandbox.shutdown().await;
    drop(scratch);
    result
}

async fn serve<F, Fut>(
    args: &SandboxArgs,
    sandbox: &Sandbox,
    dir: &std::path::Path,
    started: Instant,
    stopped: F,
    stop_tx: &tokio::sync::watch::Sender<bool>,
    signals: &mut Signals,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let kubeconfig = dir.join(crate::sandbox::env::KUBECONFIG_FILE);
    let mut operator = if args.no_operator {
        None
    } else {
        let run_args = operator_args(sandbox.env(), &kubeconfig)?;
        let store_config = sandbox.store_config()?;
        Some(tokio::spawn(super::run::serve(
            run_args,
            store_config,
            stopped(),
        )))
    };
    let mut interrupted = None;
    if let Some(task) = &mut operator {
        tokio::select! {
            biased;
            name = signals.recv() => interrupted = Some(name),
            ready = wait_ready(sandbox.metrics_listen(), Duration::from_secs(30)) => {
                if !ready {
                    anyhow::bail!("the operator did not become ready within 30 s");
                }
            }
            ended = task => {
                let _ = stop_tx.send(true);
                return match ended {
                    Ok(Ok(())) => Err(anyhow::anyhow!("the operator stopped before it was ready")),
                    Ok(Err(err)) => Err(err.context("the operator failed to start")),
                    Err(err) => Err(anyhow::anyhow!("the operator's task failed: {err}")),
                };
            }
        }
    }
    let outcome = match interrupted {
        Some(name) => {
            tracing::info!(signal = name, "stopping before the sandbox was ready");
            Ok(())
        }
        None => {
            print_parts(sandbox, dir, args.dir.is_some(), operator.is_some());
            println!("{READY_LINE}");
            tracing::info!(seconds = started.elapsed().as_secs_f64(), "sandbox ready");
            if args.demo {
                tokio::select! {
                    biased;
                    name = signals.recv() => Err(anyhow::anyhow!(
                        "the demo was stopped by {name} before its loop completed"
                    )),
                    outcome = run_demo(args, sandbox) => outcome,
                }
            } else {
                let name = signals.recv().await;
                tracing::info!(signal = name, "stopping the sandbox");
                Ok(())
            }
        }
    };
    let _ = stop_tx.send(true);
    if let Some(task) = operator {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %format!("{err:#}"), "the operator stopped with an error")
            }
            Err(err) => tracing::warn!(error = %err, "the operator's task failed"),
        }
    }
    outcome
}

fn print_parts(sandbox: &Sandbox, dir: &std::path::Path, keep: bool, operator: bool) {
    let env = sandbox.env();
    let value = |name: &str| env.get(name).unwrap_or_default().to_string();
    println!("Kubernetes API  {} (in memory)", sandbox.api_url());
    println!(
        "Kafka           {} (topics {}.thoth.*)",
        sandbox.bootstrap_servers(),
        value("THOTH_DEPLOYMENT_NAME")
    );
    println!("PostgreSQL      {}", sandbox.describe_database());
    println!(
        "package index   {} (registered beside {})",
        sandbox.local_index(),
        crate::sandbox::PYPI_SIMPLE
    );
    if operator {
        println!(
            "operator        http://{}/metrics",
            sandbox.metrics_listen()
        );
    } else {
        println!("operator        not started (--no-operator)");
    }
    if keep {
        println!(
            "environment     {0}/sandbox.env  (set -a; . {0}/sandbox.env; set +a)",
            dir.display()
        );
    }
}

async fn run_demo(args: &SandboxArgs, sandbox: &Sandbox) -> anyhow::Result<()> {
    let suffix = format!(
        "{}-{:06x}",
        chrono::Utc::now().format("%y%m%d%H%M%S"),
        std::process::id() & 0xff_ffff
    );
    let stream = demo::stream(sandbox.prefix(), sandbox.local_index(), &suffix);
    let watch = demo::Watch::connect(
        sandbox.client(),
        &stream.job_id,
        sandbox.metrics_listen(),
        &sandbox.store_config()?,
    )
    .await?;
    demo::publish(sandbox.bootstrap_servers(), &stream).await?;
    println!(
        "published {} messages ({} malformed, {} repeats, {} flags)",
        stream.expect.published,
        stream.expect.dead_letters,
        stream.expect.repeats,
        stream.expect.flags
    );
    let (seen, missing) = demo::watch_until_done(
        &watch,
        &stream.expect,
        Duration::from_secs(args.demo_timeout),
    )
    .await;
    watch.store.close().await;
    println!("{}", demo::summary(&seen, &stream.expect, &missing));
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the demo's loop did not complete: {}", missing.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SandboxArgs,
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused_naming_the_flag() {
        let err = Wrapper::try_parse_from(["sandbox", "--failed-share", "1.5"]).unwrap_err();
        assert!(err.to_string().contains("--failed-share"), "{err}");
        let parsed = Wrapper::try_parse_from(["sandbox", "--workflow-ttl-seconds", "0"]).unwrap();
        assert_eq!(parsed.args.argo.config().ttl_after_finished, None);
    }
}
