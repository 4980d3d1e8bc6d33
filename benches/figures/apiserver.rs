//! The in-memory API server must never be the bottleneck: creates per second
//! from one client over loopback, and watch fan-out to 10 watchers.

use std::time::{Duration, Instant};

use apiserver::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

const CREATES: usize = 2_000;
const WATCHERS: usize = 10;
const FANOUT_EVENTS: usize = 2_000;

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "benches.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "benches", "singular": "bench", "kind": "Bench"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"n": {"type": "integer"}, "payload": {"type": "string"}}}}}}}]
        }
    }))
    .expect("bench CRD")
}

fn object(name: &str, n: usize) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Bench",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"n": n, "payload": "x".repeat(200)}
    }))
    .expect("bench object")
}

pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let server = ApiServer::builder()
            .crds([crd()])
            .build()
            .start("127.0.0.1:0")
            .await
            .expect("server starts");
        let gvk = GroupVersionKind::gvk("example.com", "v1", "Bench");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "benches");
        let api: Api<DynamicObject> =
            Api::namespaced_with(server.client().expect("client"), "default", &resource);

        let started = Instant::now();
        for i in 0..CREATES {
            api.create(&PostParams::default(), &object(&format!("seq-{i}"), i))
                .await
                .expect("create");
        }
        report("sequential creates, one client", CREATES, started.elapsed());

        let started = Instant::now();
        futures::stream::iter(0..CREATES)
            .map(|i| {
                let api = api.clone();
                async move {
                    api.create(&PostParams::default(), &object(&format!("par-{i}"), i))
                        .await
                        .expect("create")
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        report(
            "creates, one client, 16 in flight",
            CREATES,
            started.elapsed(),
        );

        let started = Instant::now();
        let listed = api.list(&ListParams::default()).await.expect("list");
        assert_eq!(
            listed.items.len(),
            2 * CREATES,
            "every created object is listed"
        );
        report(
            "objects listed in one list",
            listed.items.len(),
            started.elapsed(),
        );

        let from = listed
            .metadata
            .resource_version
            .expect("list resourceVersion");
        let mut watchers = Vec::new();
        for _ in 0..WATCHERS {
            let stream = api
                .watch(&WatchParams::default().timeout(290), &from)
                .await
                .expect("watch");
            watchers.push(tokio::spawn(async move {
                let mut stream = stream.boxed();
                let mut seen = 0;
                while seen < FANOUT_EVENTS {
                    match stream.try_next().await {
                        Ok(Some(WatchEvent::Added(_))) => seen += 1,
                        Ok(Some(_)) => {}
                        other => panic!("watch ended early: {other:?}"),
                    }
                }
                Instant::now()
            }));
        }
        let started = Instant::now();
        futures::stream::iter(0..FANOUT_EVENTS)
            .map(|i| {
                let api = api.clone();
                async move {
                    api.create(&PostParams::default(), &object(&format!("fan-{i}"), i))
                        .await
                        .expect("create")
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        let writes_done = started.elapsed();
        let mut last = started;
        for watcher in watchers {
            last = last.max(watcher.await.expect("watcher"));
        }
        let delivered = last.duration_since(started);
        report("creates while 10 watch", FANOUT_EVENTS, writes_done);
        report(
            "watch events delivered (10 watchers, all)",
            FANOUT_EVENTS * WATCHERS,
            delivered,
        );
        server.shutdown().await;
    });
    Ok(())
}

fn report(what: &str, count: usize, took: Duration) {
    let per_second = count as f64 / took.as_secs_f64().max(1e-9);
    println!(
        "apiserver: {what}: {count} in {:.3} s = {per_second:.0}/s",
        took.as_secs_f64()
    );
}
