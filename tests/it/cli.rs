//! The `thoth-operator` binary run as a user runs it (its `apiserver` subcommand needs
//! the `sandbox` feature).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use testkit::tools::kubectl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apiserver_subcommand_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_thoth-operator"))
        .args([
            "apiserver",
            "--listen",
            "127.0.0.1:0",
            "--empty",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("thoth-operator apiserver starts");
    // The server reports readiness on stderr after writing the kubeconfig.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ready.contains("listening on http://127.0.0.1:"), "{ready}");

    let home = tempfile::tempdir().unwrap();
    let out = Command::new(kubectl())
        .args(["get", "namespaces", "-o", "name"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", home.path())
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("namespace/default"),
        "{out:?}"
    );

    let config = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(config, &options)
            .await
            .unwrap(),
    )
    .unwrap();
    let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        kube::Api::all(client);
    assert!(
        crds.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "--empty installs no CRDs"
    );

    let pid = child.id().expect("running") as i32;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exits cleanly on SIGTERM: {exit:?}");
}

/// Issue 8, row 6: THOTH_DEPLOYMENT_NAME set but empty (or blank) is refused at start by each
/// command that reads it, naming the variable and the flag: Thoth's producers would publish
/// to `.thoth.…` topics while the operator read `thoth.…` ones. Unset means bare topic names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_deployment_name_is_refused_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-kubeconfig");
    for value in ["", "  "] {
        let commands: [&[&str]; 5] = [
            &["publish", "--dry-run", "solved_package"],
            &["run", "--kubeconfig", missing.to_str().unwrap()],
            &["dead-letters", "--timeout", "1", "list"],
            &[
                "publish",
                "--dry-run",
                "--deployment-name",
                value,
                "solved_package",
            ],
            &["sandbox", "--deployment-name", value],
        ];
        for args in commands {
            let out = Command::new(env!("CARGO_BIN_EXE_thoth-operator"))
                .args(args)
                .env("THOTH_DEPLOYMENT_NAME", value)
                // Whatever the command would reach next is unreachable: only the
                // deployment name may stop it.
                .env("DATABASE_URL", "postgres://thoth@127.0.0.1:1/thoth")
                .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
                .env_remove("KUBECONFIG")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output();
            let out = tokio::time::timeout(Duration::from_secs(60), out)
                .await
                .unwrap_or_else(|_| panic!("{args:?} with {value:?} did not stop"))
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} with {value:?}: {stderr}");
            assert!(
                stderr.contains("THOTH_DEPLOYMENT_NAME") && stderr.contains("--deployment-name"),
                "{args:?} with {value:?}: {stderr}"
            );
        }
    }
}
