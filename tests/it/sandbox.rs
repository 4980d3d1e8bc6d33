//! `thoth-operator sandbox` run as a user runs it: the built binary with `--dir`, reached only
//! through what it writes there (the kubeconfig, `sandbox.env`), fed by a plain rdkafka producer
//! (none of the operator's producer code), watched with kubectl and a kube client, and stopped
//! with SIGTERM, after which no process, port or database of it may remain. And `--demo`, which
//! must complete its loop and exit 0.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::de::DeserializeOwned;
use serde_json::json;
use sqlx::ConnectOptions;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use testkit::tools::Kubectl;
use thoth_operator::api::argo::Workflow;
use thoth_operator::api::{Phase, SecurityIndicatorRun, SolverRun};
use thoth_operator::messages::MessageKind;
use thoth_operator::package::{IndexUrl, PackageName, PackageVersion};
use thoth_operator::store::{Store, StoreConfig, VersionKey};

const BINARY: &str = env!("CARGO_BIN_EXE_thoth-operator");
const SOLVERS: [&str; 3] = [
    "solver-rhel-8-py38",
    "solver-fedora-34-py39",
    "solver-fedora-35-py310",
];

/// A running `sandbox` child, its stdout lines so far and its `sandbox.env`.
struct Running {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    printed: Vec<String>,
}

/// Starts the binary with `args` and waits for the `sandbox ready` line (reading stdout on).
async fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BINARY)
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("thoth-operator sandbox starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    // Drain stdout for the child's whole life so it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        child,
        lines,
        printed: Vec::new(),
    };
    running
        .until(|line| line == "sandbox ready", Duration::from_secs(90))
        .await;
    running
}

impl Running {
    /// Reads lines until one matches; panics with what was printed when stdout ends or time is up.
    async fn until(&mut self, wanted: impl Fn(&str) -> bool, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    let found = wanted(&line);
                    self.printed.push(line);
                    if found {
                        return;
                    }
                }
                other => panic!(
                    "the sandbox never printed the line waited for ({}); it printed:\n{}",
                    if other.is_err() {
                        "timed out"
                    } else {
                        "stdout closed"
                    },
                    self.printed.join("\n")
                ),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// SIGTERM, then the exit status within 30 s.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the sandbox stops within 30 s of SIGTERM")
            .unwrap()
    }
}

fn read_env(dir: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(dir.join("sandbox.env")).expect("sandbox.env written");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Watches every object of `api` until `done` holds for the whole set; returns that set.
async fn watch_until<K>(api: Api<K>, what: &str, done: impl Fn(&[K]) -> bool) -> Vec<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut objects: BTreeMap<String, K> = BTreeMap::new();
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    let wait = async {
        while let Some(event) = events.try_next().await.expect("watch works") {
            match event {
                Event::Apply(o) | Event::InitApply(o) => {
                    objects.insert(o.name_any(), o);
                }
                Event::Delete(o) => {
                    objects.remove(&o.name_any());
                }
                Event::Init => objects.clear(),
                Event::InitDone => {}
            }
            let all: Vec<K> = objects.values().cloned().collect();
            if done(&all) {
                return all;
            }
        }
        panic!("the watch of {what} ended")
    };
    match tokio::time::timeout(Duration::from_secs(60), wait).await {
        Ok(all) => all,
        Err(_) => panic!("{what} never got there; last seen: {objects:#?}"),
    }
}

fn phase(status: Option<&thoth_operator::api::RunStatus>) -> Option<Phase> {
    status.and_then(|s| s.phase)
}

async fn publish(bootstrap: &str, topic: &str, body: serde_json::Value) {
    // A plain producer, as any Kafka client would be: not the operator's publishing code.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap();
    let payload = body.to_string();
    producer
        .send(
            FutureRecord::<(), str>::to(topic).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("the sandbox's Kafka acknowledges");
}

fn envelope(kind: MessageKind, fields: serde_json::Value) -> serde_json::Value {
    let mut body = json!({
        "component_name": "sandbox-test",
        "service_version": "0.0.0",
        "version": kind.current_version(),
    });
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    body
}

fn key(name: &str, version: &str, index: &str) -> VersionKey {
    VersionKey::new(
        PackageName::parse(name).unwrap(),
        PackageVersion::parse(version).unwrap(),
        IndexUrl::parse(index).unwrap(),
    )
}

/// The sum of the samples of metric `name` (OpenMetrics text) whose labels include every one of
/// `labels` (`key="value"`).
fn sum_of(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|l| rest.contains(l)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

fn port_of(address: &str) -> String {
    address
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

async fn refuses_connections(address: &str) -> bool {
    tokio::net::TcpStream::connect(address).await.is_err()
}

async fn database_exists(url: &str) -> bool {
    let options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
    let name = options.get_database().unwrap().to_string();
    let mut conn = options.database("postgres").connect().await.unwrap();
    let found: Option<(String,)> =
        sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    found.is_some()
}

/// The throwaway cluster's directory, from the `PostgreSQL` line the sandbox printed.
fn throwaway_cluster(printed: &[String]) -> String {
    printed
        .iter()
        .find_map(|l| l.split("throwaway PostgreSQL cluster in ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("the cluster's directory is printed: {printed:?}"))
}

/// Asserts the throwaway cluster at `dir` is gone: no directory, no server process.
fn assert_cluster_removed(dir: &str) {
    assert!(!Path::new(dir).exists(), "{dir} was left behind");
    assert_eq!(processes_mentioning(dir), Vec::<String>::new());
}

/// Processes whose command line mentions `needle`, other than this test's own.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_client_drives_the_whole_loop_and_sigterm_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    // Every Workflow succeeds and is kept, so each one can be found afterwards.
    let running = start(&[
        "--dir",
        &dir_arg,
        "--failed-share",
        "0",
        "--error-share",
        "0",
        "--unsolvable-share",
        "0",
        "--no-source-share",
        "0",
        "--workflow-ttl-seconds",
        "0",
    ])
    .await;
    let env = read_env(dir.path());
    let kubeconfig = PathBuf::from(&env["KUBECONFIG"]);
    assert_eq!(
        kubeconfig,
        dir.path().canonicalize().unwrap().join("kubeconfig")
    );
    let prefix = &env["THOTH_DEPLOYMENT_NAME"];
    let local_index = &env["THOTH_SANDBOX_PACKAGE_INDEX"];
    let bootstrap = &env["KAFKA_BOOTSTRAP_SERVERS"];

    // kubectl watches the solver namespace's Workflows from before the first message.
    let watching = Kubectl::with_kubeconfig(&std::fs::read_to_string(&kubeconfig).unwrap());
    let mut kubectl_watch = watching
        .command(&[
            "get",
            "workflows",
            "-n",
            "thoth-middletier",
            "--watch",
            "-o",
            "name",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let kubectl_watch_out = kubectl_watch.stdout.take().unwrap();

    // A release (one SolverRun per solver) and an unresolved package without a version, which the
    // local index expands into its three versions of requests.
    publish(
        bootstrap,
        &format!("{prefix}.{}", MessageKind::PackageReleased.base_topic()),
        envelope(
            MessageKind::PackageReleased,
            json!({"package_name": "urllib3", "package_version": "2.2.3", "index_url": local_index}),
        ),
    )
    .await;
    publish(
        bootstrap,
        &format!("{prefix}.{}", MessageKind::UnresolvedPackage.base_topic()),
        envelope(
            MessageKind::UnresolvedPackage,
            json!({"package_name": "requests", "index_url": local_index, "solver": SOLVERS[0]}),
        ),
    )
    .await;

    let client = client(&kubeconfig).await;
    let runs = watch_until(
        Api::<SolverRun>::all(client.clone()),
        "six Succeeded SolverRuns",
        |runs| {
            runs.len() >= 6
                && runs
                    .iter()
                    .all(|r| phase(r.status.as_ref()) == Some(Phase::Succeeded))
        },
    )
    .await;
    let mut identities: Vec<(String, String, String)> = runs
        .iter()
        .map(|r| {
            (
                r.spec.package_name.clone(),
                r.spec.package_version.clone().unwrap_or_default(),
                r.spec.solver.clone(),
            )
        })
        .collect();
    identities.sort();
    let mut expected: Vec<(String, String, String)> = ["2.31.0", "2.32.0", "2.32.3"]
        .iter()
        .map(|v| {
            (
                "requests".to_string(),
                v.to_string(),
                SOLVERS[0].to_string(),
            )
        })
        .chain(
            SOLVERS
                .iter()
                .map(|s| ("urllib3".to_string(), "2.2.3".to_string(), s.to_string())),
        )
        .collect();
    expected.sort();
    assert_eq!(identities, expected);

    // Each run's Workflow exists, finished, in the solver namespace (the TTL is off).
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), "thoth-middletier");
    for run in &runs {
        let reference = run
            .status
            .as_ref()
            .and_then(|s| s.workflow.clone())
            .expect("a Succeeded run names its Workflow");
        assert_eq!(reference.namespace, "thoth-middletier");
        let workflow = workflows.get(&reference.name).await.unwrap();
        let phase = workflow.status.and_then(|s| s.phase).expect("phase set");
        assert_eq!(phase.as_str(), "Succeeded");
    }

    // The chain: the solved releases' SolvedPackage follow-ups became SecurityIndicatorRuns.
    let analysed = watch_until(
        Api::<SecurityIndicatorRun>::all(client.clone()),
        "the chained SecurityIndicatorRuns",
        |runs| {
            ["urllib3", "requests"].iter().all(|name| {
                runs.iter().any(|r| {
                    r.spec.package_name == *name
                        && phase(r.status.as_ref()) == Some(Phase::Succeeded)
                })
            })
        },
    )
    .await;

    // kubectl sees the same through the kubeconfig the sandbox wrote.
    let kubectl = Kubectl::with_kubeconfig(&std::fs::read_to_string(&kubeconfig).unwrap());
    let names = kubectl.ok(&["get", "solverruns", "-A", "-o", "name"]).await;
    assert_eq!(names.lines().count(), 6, "{names}");
    kubectl_watch.start_kill().unwrap();
    let mut watched = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(kubectl_watch_out), &mut watched)
        .await
        .unwrap();
    for run in &runs {
        let workflow = &run.status.as_ref().unwrap().workflow.as_ref().unwrap().name;
        assert!(
            watched
                .lines()
                .any(|l| l == format!("workflow.argoproj.io/{workflow}")),
            "kubectl's watch never showed {workflow}: {watched}"
        );
    }
    let names = kubectl
        .ok(&["get", "workflows", "-n", "thoth-middletier", "-o", "name"])
        .await;
    assert!(names.lines().count() >= 6 + analysed.len(), "{names}");
    let templates = kubectl
        .ok(&["get", "workflowtemplates", "-A", "-o", "name"])
        .await;
    assert_eq!(templates.lines().count(), 3, "{templates}");

    // `kubectl get thoth` (the category of our three kinds) lists every run of each kind.
    let names = kubectl.ok(&["get", "thoth", "-A", "-o", "name"]).await;
    assert!(
        names.lines().count() >= runs.len() + analysed.len(),
        "{names}"
    );
    assert!(
        names
            .lines()
            .any(|l| l.starts_with("securityindicatorrun.thoth-station.ninja/")),
        "{names}"
    );

    // `trace`, configured only from sandbox.env, finds the release's three runs where the operator
    // made them, with their attempts.
    let traced = Command::new(BINARY)
        .args(["trace", "--package", "urllib3", "--index", local_index])
        .args(["-o", "json"])
        .envs(&env)
        .output()
        .await
        .unwrap();
    assert!(
        traced.status.success(),
        "{}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let trace: serde_json::Value = serde_json::from_slice(&traced.stdout).unwrap();
    let solver_runs: Vec<&serde_json::Value> = trace["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "SolverRun")
        .collect();
    assert_eq!(solver_runs.len(), SOLVERS.len(), "{trace:#}");
    for run in solver_runs {
        assert_eq!(run["namespace"], env["THOTH_RESOURCE_NAMESPACE"], "{run:#}");
        assert_eq!(run["exists"], true, "{run:#}");
        assert_eq!(run["phase"], "Succeeded", "{run:#}");
        assert_eq!(run["attempts"][0]["phase"], "Succeeded", "{run:#}");
    }

    // The store has every outcome.
    let database_url = env["DATABASE_URL"].clone();
    let store_url = database_url.clone();
    let store = Store::connect(
        &StoreConfig::from_lookup(|n| (n == "DATABASE_URL").then(|| store_url.clone())).unwrap(),
    )
    .await
    .unwrap();
    for run in &runs {
        let version = run.spec.package_version.as_deref().unwrap();
        let key = key(&run.spec.package_name, version, &run.spec.index_url);
        assert!(
            store.is_solved(&key, &run.spec.solver).await.unwrap(),
            "{} solved by {}",
            run.name_any(),
            run.spec.solver
        );
    }
    for run in analysed
        .iter()
        .filter(|r| phase(r.status.as_ref()) == Some(Phase::Succeeded))
    {
        let key = key(
            &run.spec.package_name,
            &run.spec.package_version,
            &run.spec.index_url,
        );
        assert!(store.is_analysed(&key).await.unwrap(), "{}", run.name_any());
    }
    store.close().await;

    // The operator's HTTP endpoint tells the same story.
    let endpoint = format!("http://{}", env["THOTH_METRICS_LISTEN"]);
    let http = reqwest::Client::new();
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let answer = http.get(format!("{endpoint}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap(), body, "{path}");
    }
    let answer = http
        .get(format!("{endpoint}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        answer.headers()
    );
    let metrics = answer.text().await.unwrap();
    let sum = |name: &str, labels: &[&str]| sum_of(&metrics, name, labels);
    assert_eq!(sum("thoth_operator_leader", &[]), 1.0, "{metrics}");
    assert!(
        sum(
            "thoth_operator_workflows_created_total",
            &["kind=\"SolverRun\""]
        ) >= 6.0,
        "{metrics}"
    );
    assert!(
        sum(
            "thoth_operator_api_requests_total",
            &["method=\"POST\"", "resource=\"workflows\"", "code=\"2xx\""]
        ) >= 6.0,
        "{metrics}"
    );
    assert!(
        sum(
            "thoth_operator_ingest_messages_total",
            &["fate=\"created\""]
        ) >= 2.0,
        "{metrics}"
    );
    assert!(
        sum(
            "thoth_operator_phase_transitions_total",
            &["kind=\"SolverRun\"", "phase=\"Succeeded\""]
        ) >= 6.0,
        "{metrics}"
    );

    // SIGTERM: a clean exit, and nothing of the sandbox left but --dir's two files.
    let pid = running.pid().to_string();
    let status = running.terminate().await;
    assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
    for address in [
        port_of(&env["THOTH_SANDBOX_API_SERVER"]),
        port_of(local_index),
        env["THOTH_METRICS_LISTEN"].clone(),
    ]
    .into_iter()
    .chain(bootstrap.split(',').map(str::to_string))
    {
        assert!(
            refuses_connections(&address).await,
            "{address} still answers"
        );
    }
    assert!(
        !database_exists(&database_url).await,
        "the sandbox's database {database_url} was left behind"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| s.contains("State:\tZ")),
        "the sandbox process is gone"
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["kubeconfig", "sandbox.env"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_completes_its_loop_and_exits_zero_leaving_no_cluster() {
    // A throwaway PostgreSQL cluster of its own when the server binaries are here (CI has them),
    // so that its removal is checked too.
    let own = Path::new("/usr/lib/postgresql").exists();
    let mut command = Command::new(BINARY);
    command.args(["sandbox", "--demo"]);
    if own {
        command.arg("--own-postgres");
    }
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .expect("the demo ends within two minutes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed: {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("the loop completed"), "{stdout}");
    // Not a terminal: progress came as plain lines, not redrawn bars.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('[') && l.contains("messages")),
        "{stdout}"
    );
    if own {
        let printed: Vec<String> = stdout.lines().map(str::to_string).collect();
        assert_cluster_removed(&throwaway_cluster(&printed));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_demo_ends_it_unfinished_and_leaves_no_database_or_cluster() {
    // Workflows that run for a minute: the demo is surely still waiting when Ctrl-C comes.
    let own = Path::new("/usr/lib/postgresql").exists();
    // A demo timeout far beyond the wait below: a swallowed Ctrl-C cannot pass as the demo giving up.
    let mut args = vec![
        "--demo",
        "--workflow-running-ms",
        "60000",
        "--demo-timeout",
        "600",
    ];
    if own {
        args.push("--own-postgres");
    }
    let mut running = start(&args).await;
    running
        .until(|l| l.starts_with("published "), Duration::from_secs(60))
        .await;
    let database = running
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("PostgreSQL"))
        .map(|l| l.trim().to_string())
        .expect("the sandbox says which PostgreSQL it uses");
    let status = Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), running.child.wait())
        .await
        .expect("the sandbox stops within 30 s of Ctrl-C")
        .unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "an unfinished demo is not a success"
    );
    assert!(
        !running
            .printed
            .iter()
            .any(|l| l.contains("the loop completed")),
        "{:?}",
        running.printed
    );
    if own {
        assert_cluster_removed(&throwaway_cluster(&running.printed));
    } else {
        let name = database
            .strip_prefix("database ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("the database's name is printed: {database}"));
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        assert!(!database_exists(&url).await, "{name} was left behind");
    }
}

/// `thoth-operator run` configured only from `sandbox.env`, started as its own process.
fn spawn_operator(env: &HashMap<String, String>) -> Child {
    Command::new(BINARY)
        .arg("run")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("thoth-operator run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_from_the_env_file_works_beside_a_no_operator_sandbox_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    // A throwaway cluster of its own when PostgreSQL's server binaries are here (CI has them): the
    // separately started `run` reaches it through sandbox.env, and SIGTERM must remove it.
    let own = Path::new("/usr/lib/postgresql").exists();
    let mut args = vec![
        "--dir",
        &dir_arg,
        "--no-operator",
        "--failed-share",
        "0",
        "--error-share",
        "0",
        "--unsolvable-share",
        "0",
        "--workflow-ttl-seconds",
        "0",
    ];
    if own {
        args.push("--own-postgres");
    }
    let sandbox = start(&args).await;
    assert!(
        sandbox
            .printed
            .iter()
            .any(|l| l.contains("not started (--no-operator)")),
        "{:?}",
        sandbox.printed
    );
    let env = read_env(dir.path());
    let topic = format!(
        "{}.{}",
        env["THOTH_DEPLOYMENT_NAME"],
        MessageKind::PackageReleased.base_topic()
    );
    let release = |name: &str, version: &str| {
        envelope(
            MessageKind::PackageReleased,
            json!({"package_name": name, "package_version": version,
                   "index_url": env["THOTH_SANDBOX_PACKAGE_INDEX"]}),
        )
    };
    let client = client(Path::new(&env["KUBECONFIG"])).await;
    let succeeded = |count: usize| {
        move |runs: &[SolverRun]| {
            runs.len() == count
                && runs
                    .iter()
                    .all(|r| phase(r.status.as_ref()) == Some(Phase::Succeeded))
        }
    };

    let mut first = spawn_operator(&env);
    publish(
        &env["KAFKA_BOOTSTRAP_SERVERS"],
        &topic,
        release("urllib3", "2.2.3"),
    )
    .await;
    watch_until(
        Api::<SolverRun>::all(client.clone()),
        "the first operator's three SolverRuns",
        succeeded(3),
    )
    .await;
    // Killed outright: no goodbye to the consumer group, the Lease still held.
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let mut second = spawn_operator(&env);
    publish(
        &env["KAFKA_BOOTSTRAP_SERVERS"],
        &topic,
        release("requests", "2.32.3"),
    )
    .await;
    watch_until(
        Api::<SolverRun>::all(client.clone()),
        "the restarted operator's SolverRuns",
        succeeded(6),
    )
    .await;
    let pid = second.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .expect("run stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let cluster = own.then(|| throwaway_cluster(&sandbox.printed));
    assert!(sandbox.terminate().await.success());
    if let Some(cluster) = cluster {
        assert_cluster_removed(&cluster);
    }
}
