//! The chart's Kafka settings make real librdkafka clients: the operator's settings are taken from
//! the rendered ConfigMap and Deployment as `run` reads them, and librdkafka must accept the consumer
//! and producer configurations built from them (it checks them when a client is created, no broker
//! needed). Every security protocol and SASL mechanism the values schema offers is tried, with the
//! TLS files where the Deployment mounts its Secret.

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::BaseProducer;

use super::*;

/// Test-only CA, client certificate and key standing in for the TLS Secret (its keys are the file
/// names: `ca.pem`, `user.crt`, `user.key`).
const TLS_SECRET_FILES: &str = "tests/fixtures/kafka-tls";

/// `environment` with the mount path of the Deployment's volume of Secret `secret` replaced by
/// [`TLS_SECRET_FILES`], as if the Secret held those files; each path the settings then name must
/// exist there.
fn with_tls_secret_mounted(
    objects: &[Value],
    secret: &str,
    mut environment: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let pod = &one_of_kind(objects, "Deployment")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["secret"]["secretName"] == secret)
        .unwrap_or_else(|| panic!("no volume of Secret {secret}"));
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == volume["name"])
        .unwrap_or_else(|| panic!("volume {} is not mounted", volume["name"]));
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    let files = root().join(TLS_SECRET_FILES);
    let mut replaced = 0;
    for (name, value) in environment.iter_mut() {
        if let Some(file) = value.strip_prefix(&format!("{mount_path}/")) {
            let path = files.join(file);
            assert!(
                path.is_file(),
                "{name} names {file} in the TLS Secret, which {TLS_SECRET_FILES} lacks"
            );
            *value = path.display().to_string();
            replaced += 1;
        }
    }
    assert!(replaced > 0, "no setting names a file of {mount_path}");
    environment
}

/// Parses `environment` as `run` does and creates the consumer and the producer `run` builds from
/// it; panics with librdkafka's reason when either is refused.
pub(super) fn create_clients(label: &str, environment: &BTreeMap<String, String>) {
    let args = run_args_from_environment(environment)
        .unwrap_or_else(|e| panic!("{label}: `run` refuses the chart's settings: {e}"));
    assert!(
        args.kafka.is_configured(),
        "{label}: Kafka is not configured"
    );
    if let Err(err) = args.kafka.consumer_config().create::<BaseConsumer>() {
        panic!("{label}: librdkafka refuses the consumer's settings: {err}");
    }
    if let Err(err) = args.kafka.producer_config().create::<BaseProducer>() {
        panic!("{label}: librdkafka refuses the producer's settings: {err}");
    }
}

#[test]
fn librdkafka_accepts_the_clients_made_from_the_chart_with_every_option_set() {
    let objects = render(Some(EVERY_OPTION), &[]);
    let environment = operator_environment(&objects);
    // What this test is about: TLS with a CA and a client certificate, and SCRAM.
    assert_eq!(environment["KAFKA_SECURITY_PROTOCOL"], "SASL_SSL");
    assert!(environment["KAFKA_SASL_MECHANISM"].starts_with("SCRAM-"));
    for file in [
        "KAFKA_SSL_CA_LOCATION",
        "KAFKA_SSL_CERTIFICATE_LOCATION",
        "KAFKA_SSL_KEY_LOCATION",
    ] {
        assert!(environment.contains_key(file), "{file} is not set");
    }
    let environment = with_tls_secret_mounted(&objects, "kafka-cluster-ca", environment);
    create_clients(EVERY_OPTION, &environment);

    let defaults = operator_environment(&render(None, &[]));
    create_clients("the defaults", &defaults);
}

#[test]
fn librdkafka_accepts_every_choice_the_values_schema_offers_for_kafka() {
    let schema: Value = serde_json::from_str(&read(&format!("{CHART}/values.schema.json")))
        .expect("the values schema is JSON");
    let kafka = &schema["properties"]["kafka"]["properties"];
    let choices = |path: &str| -> Vec<String> {
        let mut node = kafka;
        for key in path.split('.') {
            node = &node[key];
        }
        node["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("kafka.{path} is not an enum"))
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    };
    let protocols = choices("securityProtocol");
    let mechanisms = choices("sasl.properties.mechanism");
    assert!(protocols.contains(&"SASL_SSL".to_string()), "{protocols:?}");
    // Every protocol with every mechanism; each other choice once, over TLS with SCRAM.
    let mut cases: Vec<Vec<String>> = Vec::new();
    for protocol in &protocols {
        for mechanism in &mechanisms {
            cases.push(vec![
                format!("kafka.securityProtocol={protocol}"),
                format!("kafka.sasl.mechanism={mechanism}"),
            ]);
        }
    }
    for path in [
        "autoOffsetReset",
        "compressionType",
        "ssl.properties.endpointIdentificationAlgorithm",
    ] {
        for choice in choices(path) {
            cases.push(vec![
                "kafka.securityProtocol=SASL_SSL".to_string(),
                format!("kafka.{}={choice}", path.replace(".properties", "")),
            ]);
        }
    }
    for case in cases {
        let mut sets = case.clone();
        sets.extend([
            "kafka.sasl.existingSecret=kafka-user".to_string(),
            "kafka.ssl.existingSecret=kafka-tls".to_string(),
            "kafka.ssl.caKey=ca.pem".to_string(),
        ]);
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let objects = render(None, &sets);
        let mut environment = operator_environment(&objects);
        if environment["KAFKA_SECURITY_PROTOCOL"].ends_with("SSL") {
            environment = with_tls_secret_mounted(&objects, "kafka-tls", environment);
        }
        create_clients(&case.join(", "), &environment);
    }
}
