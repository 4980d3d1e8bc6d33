//! The chart and `run`'s settings: every environment variable `thoth-operator run` reads through
//! its flags (clap's own list, global flags included) is set by the chart when every option is
//! set, or left to `extraEnv` for a stated reason; and every variable the chart sets is one the
//! operator reads.

use std::collections::BTreeSet;

use super::*;

/// Variables `run` reads that the chart does not set, and why; a user sets them with `extraEnv`.
const LEFT_TO_EXTRA_ENV: &[(&str, &str)] = &[
    (
        "THOTH_KUBECONFIG",
        "in a cluster the operator uses its ServiceAccount; a kubeconfig is for running outside one",
    ),
    (
        "KAFKA_CONSUMER_GROUP_INSTANCE_ID",
        "static membership needs an id that stays with a replica across restarts; a Deployment's \
         pod names change on every restart",
    ),
    (
        "KAFKA_SSL_KEY_PASSWORD",
        "the chart mounts an unencrypted client key (as Strimzi's KafkaUser Secrets hold it); an \
         encrypted key's password comes from a Secret through extraEnv's valueFrom",
    ),
];

/// Variables the operator reads outside clap, which the chart may set: the store's
/// (`StoreConfig::from_env`) and the log filter (tracing-subscriber's `EnvFilter`).
const READ_OUTSIDE_CLAP: &[&str] = &[
    "DATABASE_URL",
    "THOTH_STORE_MIGRATE",
    "THOTH_STORE_MAX_CONNECTIONS",
    "RUST_LOG",
];

/// Every environment variable one of `run`'s flags falls back to.
fn variables_run_reads() -> BTreeSet<String> {
    run_command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|variable| {
            variable
                .to_str()
                .expect("variable names are UTF-8")
                .to_string()
        })
        .collect()
}

#[test]
fn every_variable_run_reads_is_set_by_the_chart_or_left_to_extra_env_for_a_reason() {
    let read = variables_run_reads();
    // The list comes from clap: flattened Kafka settings and the global log format are in it.
    for expected in [
        "THOTH_SOLVER_NAMESPACE",
        "KAFKA_BOOTSTRAP_SERVERS",
        "THOTH_LOG_FORMAT",
    ] {
        assert!(read.contains(expected), "{expected} missing from {read:?}");
    }
    let objects = render(Some(EVERY_OPTION), &[]);
    let environment = operator_environment(&objects);
    let left: BTreeSet<String> = LEFT_TO_EXTRA_ENV
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !environment.contains_key(*name) && !left.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "`run` reads {missing:?}, which the chart does not set with every option set; add a \
         value for each (values.yaml, values.schema.json, the ConfigMap, {EVERY_OPTION}) or list \
         it in LEFT_TO_EXTRA_ENV with a reason"
    );
    for (name, reason) in LEFT_TO_EXTRA_ENV {
        assert!(read.contains(*name), "{name} is not read by `run` any more");
        assert!(
            !environment.contains_key(*name),
            "{name} is set by the chart, yet listed as left to extraEnv"
        );
        assert!(!reason.is_empty());
    }
    // Nothing the chart sets is lost on the way: every variable is one the operator reads.
    let chart_only: Vec<&String> = environment
        .keys()
        .filter(|name| !read.contains(*name) && !READ_OUTSIDE_CLAP.contains(&name.as_str()))
        .filter(|name| *name != "RUST_BACKTRACE") // every-option.yaml's extraEnv example
        .collect();
    assert!(
        chart_only.is_empty(),
        "the chart sets {chart_only:?}, which the operator does not read"
    );
}

#[test]
fn run_accepts_the_charts_settings_with_the_defaults_and_with_every_option_set() {
    for (label, values) in [("defaults", None), ("every option", Some(EVERY_OPTION))] {
        let environment = operator_environment(&render(values, &[]));
        let args = run_args_from_environment(&environment)
            .unwrap_or_else(|e| panic!("{label}: `run` refuses the chart's settings: {e}"));
        let config = args
            .operator_config()
            .unwrap_or_else(|e| panic!("{label}: {e:#}"));
        args.admission_config(&config.topics)
            .unwrap_or_else(|e| panic!("{label}: {e:#}"));
    }
    // The values every-option.yaml gives reach `run` as given.
    let args = run_args_from_environment(&operator_environment(&render(Some(EVERY_OPTION), &[])))
        .expect("parses");
    let every = yaml_file(EVERY_OPTION);
    assert_eq!(
        json!(args.ingest_max_batch),
        every["kafka"]["maxBatch"],
        "kafka.maxBatch"
    );
    assert_eq!(
        json!(args.ingest_max_buffered),
        every["kafka"]["maxBuffered"],
        "kafka.maxBuffered"
    );
    assert_eq!(
        json!(args.admission_api_qps),
        every["operator"]["admissionApiQps"],
        "operator.admissionApiQps"
    );
    assert_eq!(
        json!(args.index_timeout_seconds),
        every["operator"]["indexTimeoutSeconds"],
        "operator.indexTimeoutSeconds"
    );
}

/// The schema's integer ranges of the values that become `run`'s flags are the flags' own (their
/// value parsers' ranges, else their types'): the lowest and the highest value the schema allows
/// reach `run` and are accepted, and librdkafka accepts the Kafka ones; one beyond is refused by
/// `run` as by the schema.
#[test]
fn the_values_schemas_ranges_are_runs_ranges() {
    let schema: Value = serde_json::from_str(&read(&format!("{CHART}/values.schema.json")))
        .expect("the values schema is JSON");
    // (values path, the variable the ConfigMap sets from it, other values librdkafka's rules
    // between settings need at the ends of the range)
    let ranged: &[(&str, &str, &[&str])] = &[
        (
            "operator.reconcileConcurrency",
            "THOTH_RECONCILE_CONCURRENCY",
            &[],
        ),
        (
            "operator.defaultAdmissionLimit",
            "THOTH_DEFAULT_ADMISSION_LIMIT",
            &[],
        ),
        ("operator.apiQps", "THOTH_API_QPS", &[]),
        ("operator.admissionApiQps", "THOTH_ADMISSION_API_QPS", &[]),
        (
            "operator.indexTimeoutSeconds",
            "THOTH_INDEX_TIMEOUT_SECONDS",
            &[],
        ),
        (
            "leaderElection.leaseDurationSeconds",
            "THOTH_LEASE_SECONDS",
            &[],
        ),
        ("kafka.maxBatch", "THOTH_INGEST_MAX_BATCH", &[]),
        ("kafka.maxBuffered", "THOTH_INGEST_MAX_BUFFERED", &[]),
        (
            "kafka.maxPollIntervalMs",
            "KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS",
            &["kafka.sessionTimeoutMs=1"],
        ),
        (
            "kafka.sessionTimeoutMs",
            "KAFKA_CONSUMER_SESSION_TIMEOUT_MS",
            &["kafka.maxPollIntervalMs=86400000"],
        ),
        (
            "kafka.commitIntervalMs",
            "KAFKA_CONSUMER_COMMIT_INTERVAL_MS",
            &[],
        ),
        (
            "kafka.messageMaxBytes",
            "KAFKA_MESSAGE_MAX_BYTES",
            &["kafka.receiveMessageMaxBytes=2147483647"],
        ),
        (
            "kafka.receiveMessageMaxBytes",
            "KAFKA_RECEIVE_MESSAGE_MAX_BYTES",
            &["kafka.messageMaxBytes=1000"],
        ),
    ];
    for (path, variable, companions) in ranged {
        let mut node = &schema;
        for key in path.split('.') {
            node = &node["properties"][key];
        }
        let minimum = node["minimum"]
            .as_u64()
            .unwrap_or_else(|| panic!("{path} has no minimum: {node}"));
        let maximum = node["maximum"]
            .as_u64()
            .unwrap_or_else(|| panic!("{path} has no maximum: {node}"));
        for value in [minimum, maximum] {
            let set = format!("{path}={value}");
            let mut sets = vec![set.as_str()];
            sets.extend(companions.iter().copied());
            let out = render_text(None, &sets);
            if !out.success {
                // Only librdkafka's rule tying the receive size to the fetch size may refuse an
                // end of the range, and the chart says so at install.
                assert!(
                    *path == "kafka.receiveMessageMaxBytes"
                        && value == minimum
                        && out.stderr.contains("must be at least 52429312"),
                    "--set {sets:?}: {}",
                    out.stderr
                );
                continue;
            }
            let environment = operator_environment(&yaml_documents(&out.stdout));
            assert_eq!(environment[*variable], value.to_string(), "{set}");
            run_args_from_environment(&environment).unwrap_or_else(|e| {
                panic!("--set {set}: the schema allows it, `run` refuses it: {e}")
            });
            if path.starts_with("kafka.") {
                super::kafka::create_clients(&set, &environment);
            }
        }
        let defaults = operator_environment(&render(None, &[]));
        for beyond in [minimum.checked_sub(1), maximum.checked_add(1)]
            .into_iter()
            .flatten()
        {
            let mut environment = defaults.clone();
            environment.insert(variable.to_string(), beyond.to_string());
            assert!(
                run_args_from_environment(&environment).is_err(),
                "{path}: the schema refuses {beyond}, `run` accepts it"
            );
        }
    }
}
