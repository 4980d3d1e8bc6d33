//! kube-rs against the in-memory API server over HTTP.

use std::time::Duration;

use apiserver::{ApiServer, FaultConfig, Faults};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Namespace};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, controller::Action, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::support::{
    Widget, WidgetStatus, argo_example, argo_workflow_crd, start, start_with, widget,
};

fn api_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn api_reason(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.reason.clone(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn creates_stamp_metadata_and_conflicts_are_409() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();

    let again = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap_err();
    assert_eq!(
        (api_code(&again), api_reason(&again).as_str()),
        (409, "AlreadyExists")
    );

    let mut changed = created.clone();
    changed.spec.size = 2;
    let replaced = widgets
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    assert_eq!(replaced.metadata.generation, Some(2));
    let stale = widgets
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    assert_eq!(
        (api_code(&stale), api_reason(&stale).as_str()),
        (409, "Conflict")
    );

    let stale_patch = Patch::Merge(
        json!({"metadata": {"resourceVersion": rv1.to_string()}, "spec": {"size": 9}}),
    );
    let err = widgets
        .patch("a", &PatchParams::default(), &stale_patch)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 409);

    let mut generated = widget("", 1);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let generated = widgets
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(generated.name_any().starts_with("gen-") && generated.name_any().len() == 9);

    let elsewhere: Api<Widget> = Api::namespaced(server.client().unwrap(), "nowhere");
    let mut placed = widget("a", 1);
    placed.metadata.namespace = Some("default".into());
    let err = elsewhere
        .create(&PostParams::default(), &placed)
        .await
        .unwrap_err();
    assert_eq!(
        api_code(&err),
        400,
        "the body's namespace must match the path"
    );
    let err = elsewhere
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn status_and_spec_are_written_separately_and_generation_follows_spec() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let status = Patch::Merge(json!({"status": {"phase": "Running"}, "spec": {"size": 50}}));
    let after_status = widgets
        .patch_status("a", &PatchParams::default(), &status)
        .await
        .unwrap();
    assert_eq!(
        after_status.status,
        Some(WidgetStatus {
            phase: "Running".into()
        })
    );
    assert_eq!(after_status.spec.size, 1, "a status write ignores spec");
    assert_eq!(after_status.metadata.generation, Some(1));

    let main = Patch::Merge(json!({"status": {"phase": "Hacked"}, "spec": {"size": 2}}));
    let after_main = widgets
        .patch("a", &PatchParams::default(), &main)
        .await
        .unwrap();
    assert_eq!(after_main.spec.size, 2);
    assert_eq!(
        after_main.status.unwrap().phase,
        "Running",
        "a main write ignores status"
    );
    assert_eq!(after_main.metadata.generation, Some(2));

    let json_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/size", "value": 3},
        {"op": "add", "path": "/metadata/labels", "value": {"tier": "gold"}}
    ]))
    .unwrap();
    let patched = widgets
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(json_patch))
        .await
        .unwrap();
    assert_eq!(patched.spec.size, 3);
    assert_eq!(
        patched.labels().get("tier").map(String::as_str),
        Some("gold")
    );

    let unchanged = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        unchanged.resource_version(),
        patched.resource_version(),
        "a no-op write is not a write"
    );

    let applied = widgets
        .patch("b", &PatchParams::apply("tester"), &Patch::Apply(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "b"}, "spec": {"size": 5}
        })))
        .await
        .unwrap();
    assert_eq!(applied.spec.size, 5, "server-side apply creates");
    server.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_an_object_until_the_last_is_removed() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let mut w = widget("held", 1);
    w.metadata.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let deleted = widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    let marked = deleted.left().expect("still present");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.generation, Some(2));

    let add = Patch::Merge(
        json!({"metadata": {"finalizers": ["example.com/a", "example.com/b", "example.com/c"]}}),
    );
    let err = widgets
        .patch("held", &PatchParams::default(), &add)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 422, "no new finalizers while deleting");

    let one_left = Patch::Merge(json!({"metadata": {"finalizers": ["example.com/b"]}}));
    widgets
        .patch("held", &PatchParams::default(), &one_left)
        .await
        .unwrap();
    assert!(widgets.get_opt("held").await.unwrap().is_some());
    let none_left = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    widgets
        .patch("held", &PatchParams::default(), &none_left)
        .await
        .unwrap();
    assert!(widgets.get_opt("held").await.unwrap().is_none());
    server.shutdown().await;
}

fn owned_by(owner: &Widget) -> OwnerReference {
    owner.controller_owner_ref(&()).expect("owner has a uid")
}

#[tokio::test]
async fn garbage_collection_follows_the_propagation_policy() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let pp = PostParams::default();

    // Background: the owner goes at once, dependents follow.
    let owner = widgets.create(&pp, &widget("owner", 1)).await.unwrap();
    let mut child = widget("child", 1);
    child.metadata.owner_references = Some(vec![owned_by(&owner)]);
    widgets.create(&pp, &child).await.unwrap();
    widgets
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(widgets.get_opt("child").await.unwrap().is_none());

    // Foreground: the owner waits for a dependent held by a finalizer.
    let owner = widgets.create(&pp, &widget("fg-owner", 1)).await.unwrap();
    let mut child = widget("fg-child", 1);
    child.metadata.owner_references = Some(vec![owned_by(&owner)]);
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    widgets.create(&pp, &child).await.unwrap();
    widgets
        .delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let waiting = widgets.get("fg-owner").await.unwrap();
    assert!(
        waiting
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    widgets
        .patch(
            "fg-child",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(widgets.get_opt("fg-child").await.unwrap().is_none());
    assert!(widgets.get_opt("fg-owner").await.unwrap().is_none());

    // Orphan: the dependent stays, without the reference.
    let owner = widgets.create(&pp, &widget("o-owner", 1)).await.unwrap();
    let mut child = widget("o-child", 1);
    child.metadata.owner_references = Some(vec![owned_by(&owner)]);
    widgets.create(&pp, &child).await.unwrap();
    widgets
        .delete("o-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    let orphan = widgets.get("o-child").await.unwrap();
    assert!(orphan.metadata.owner_references.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let server = start().await;
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "ops"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let widgets: Api<Widget> = Api::namespaced(client, "ops");
    widgets
        .create(&PostParams::default(), &widget("x", 1))
        .await
        .unwrap();
    namespaces
        .delete("ops", &DeleteParams::default())
        .await
        .unwrap();
    assert!(widgets.get_opt("x").await.unwrap().is_none());
    assert!(namespaces.get_opt("ops").await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn watch_delivers_changes_in_order_from_a_resource_version() {
    let server =
        start_with(ApiServer::builder().bookmark_interval(Duration::from_millis(100))).await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let list = widgets.list(&ListParams::default()).await.unwrap();
    let from = list.metadata.resource_version.clone().unwrap();
    let mut stream = widgets
        .watch(&WatchParams::default().timeout(10), &from)
        .await
        .unwrap()
        .boxed();
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    widgets.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut bookmarks = 0;
    let mut last_rv = 0u64;
    while seen.len() < 3 || bookmarks == 0 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (kind, obj) = match event {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(b) => {
                assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= last_rv);
                bookmarks += 1;
                continue;
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
        };
        let rv: u64 = obj.resource_version().unwrap().parse().unwrap();
        assert!(rv > last_rv, "resourceVersions increase along the watch");
        last_rv = rv;
        seen.push((kind, obj.spec.size));
    }
    assert_eq!(seen, vec![("ADDED", 1), ("MODIFIED", 2), ("DELETED", 2)]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_from_a_version_older_than_the_window_gets_410_gone() {
    let server = start_with(ApiServer::builder().event_window(5)).await;
    let client = server.client().unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let early = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..10 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    let mut stream = widgets
        .watch(&WatchParams::default(), &early)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert!(
                status.message.contains("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }

    server.shutdown().await;
}

/// A running watcher whose watch ends after its resume point has left the window:
/// re-watching from there gets 410 Gone, and kube's watcher relists (a second `Init`)
/// and so still sees the object it would otherwise have missed.
#[tokio::test]
async fn a_watch_older_than_the_window_gets_410_and_watcher_relists() {
    // Every watch ends before its second event; no bookmark moves the resume point.
    let faults = Faults::new(FaultConfig {
        cut_watches_after: Some(1),
        ..FaultConfig::default()
    });
    let server = start_with(
        ApiServer::builder()
            .event_window(3)
            .faults(faults.clone())
            .bookmark_interval(Duration::from_secs(3600)),
    )
    .await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let labelled = |name: &str, keep: bool| {
        let mut w = widget(name, 1);
        w.metadata.labels = Some([("keep".to_string(), keep.to_string())].into());
        w
    };
    let (reader, writer) = reflector::store::<Widget>();
    let mut events = reflector(
        writer,
        watcher(
            widgets.clone(),
            watcher::Config::default().labels("keep=true"),
        ),
    )
    .boxed();
    let (mut inits, mut listed, mut gone) = (0, 0, 0);
    let mut next = async || {
        let item = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the watcher moves on")
            .expect("the watcher runs on");
        // kube's watcher hands the 410 on as an error, then relists on the next poll.
        match item {
            Ok(watcher::Event::Init) => inits += 1,
            Ok(watcher::Event::InitDone) => listed += 1,
            Ok(_) => {}
            Err(watcher::Error::WatchError(status)) if status.code == 410 => gone += 1,
            Err(other) => panic!("unexpected watcher error: {other}"),
        }
        listed
    };
    // The first list is done before "a" exists, so "a" can only come through the watch.
    while next().await < 1 {}
    // The watch delivers "a" (its one event); its resume point is now a's version.
    widgets
        .create(&PostParams::default(), &labelled("a", true))
        .await
        .unwrap();
    while reader.get(&ObjectRef::new("a").within("default")).is_none() {
        next().await;
    }
    // Widgets it does not select push a's version out of the window of 3, unseen.
    for i in 0..4 {
        widgets
            .create(&PostParams::default(), &labelled(&format!("x{i}"), false))
            .await
            .unwrap();
    }
    // "b" ends the watch undelivered; resuming from a's version is 410, so only a
    // relist can bring "b".
    widgets
        .create(&PostParams::default(), &labelled("b", true))
        .await
        .unwrap();
    while reader.get(&ObjectRef::new("b").within("default")).is_none() {
        next().await;
    }
    assert_eq!((gone, inits), (1, 2), "one 410 Gone, then one relist");
    assert_eq!(faults.cut_watches(), 1, "the watch was running until cut");
    server.shutdown().await;
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for i in 0..7 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    let first = widgets.list(&ListParams::default().limit(3)).await.unwrap();
    let names = |list: &kube::core::ObjectList<Widget>| -> Vec<String> {
        list.items.iter().map(ResourceExt::name_any).collect()
    };
    assert_eq!(names(&first), ["w0", "w1", "w2"]);
    assert_eq!(first.metadata.remaining_item_count, Some(4));
    let token = first.metadata.continue_.clone().unwrap();
    let second = widgets
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    // The second page starts after the first one's last: no overlap, no gap.
    assert_eq!(names(&second), ["w3", "w4", "w5", "w6"]);
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let all: Api<Widget> = Api::all(server.client().unwrap());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        7
    );
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_reach_clients_and_watches_are_cut() {
    let faults = Faults::default();
    let server = start_with(ApiServer::builder().faults(faults.clone())).await;
    let mut config = server.kube_config().unwrap();
    config.default_retry = false;
    let no_retry: Api<Widget> = Api::namespaced(Client::try_from(config).unwrap(), "default");
    faults.set(FaultConfig {
        throttle_share: 1.0,
        ..FaultConfig::default()
    });
    let err = no_retry.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (429, "TooManyRequests")
    );
    faults.set(FaultConfig {
        error_share: 1.0,
        ..FaultConfig::default()
    });
    assert_eq!(
        api_code(&no_retry.list(&ListParams::default()).await.unwrap_err()),
        500
    );
    assert_eq!(faults.injected_errors(), 2);

    // kube's default client retries throttling until it gets through.
    faults.set(FaultConfig {
        throttle_share: 0.5,
        ..FaultConfig::default()
    });
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for _ in 0..4 {
        widgets.list(&ListParams::default()).await.unwrap();
    }

    faults.set(FaultConfig {
        cut_watches_after: Some(2),
        latency: Duration::from_millis(5),
        ..FaultConfig::default()
    });
    let (reader, writer) = reflector::store::<Widget>();
    let mut events =
        reflector(writer, watcher(widgets.clone(), watcher::Config::default())).boxed();
    while !matches!(
        events.try_next().await.unwrap(),
        Some(watcher::Event::InitDone)
    ) {}
    for i in 0..6 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    while reader.state().len() < 6 {
        tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(faults.cut_watches() >= 1, "watches were cut and resumed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_controller_reconciles_every_widget() {
    let server = start().await;
    let client = server.client().unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    async fn reconcile(
        w: std::sync::Arc<Widget>,
        client: std::sync::Arc<Client>,
    ) -> Result<Action, kube::Error> {
        let api: Api<Widget> = Api::namespaced((*client).clone(), &w.namespace().unwrap());
        let status = Patch::Merge(json!({"status": {"phase": format!("seen-{}", w.spec.size)}}));
        api.patch_status(&w.name_any(), &PatchParams::default(), &status)
            .await?;
        Ok(Action::await_change())
    }
    fn error_policy(
        _: std::sync::Arc<Widget>,
        _: &kube::Error,
        _: std::sync::Arc<Client>,
    ) -> Action {
        Action::requeue(Duration::from_millis(100))
    }
    let controller = tokio::spawn(
        Controller::new(widgets.clone(), watcher::Config::default())
            .run(reconcile, error_policy, std::sync::Arc::new(client))
            .for_each(|_| async {}),
    );
    let mut watch = watcher(widgets.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let mut done = std::collections::BTreeSet::new();
    while done.len() < 3 {
        let w = tokio::time::timeout(Duration::from_secs(10), watch.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if w.status
            .as_ref()
            .is_some_and(|s| s.phase == format!("seen-{}", w.spec.size))
        {
            done.insert(w.name_any());
        }
    }
    controller.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn leases_and_both_event_kinds_are_served() {
    let server = start().await;
    let client = server.client().unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "thoth-operator"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let held = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut takeover = held.clone();
    takeover.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("thoth-operator", &PostParams::default(), &takeover)
        .await
        .unwrap();
    let err = leases
        .replace("thoth-operator", &PostParams::default(), &takeover)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 409, "a stale lease takeover conflicts");

    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let event: CoreEvent = serde_json::from_value(json!({
        "metadata": {"generateName": "w."},
        "involvedObject": {"kind": "Widget", "name": "w", "namespace": "default"},
        "reason": "Seen", "message": "hello", "type": "Normal"
    }))
    .unwrap();
    core.create(&PostParams::default(), &event).await.unwrap();
    let events: Api<EventsV1> = Api::namespaced(client, "default");
    let event: EventsV1 = serde_json::from_value(json!({
        "metadata": {"name": "w.1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "thoth", "reportingInstance": "thoth-0",
        "action": "Reconcile", "reason": "Seen", "type": "Normal",
        "regarding": {"kind": "Widget", "name": "w", "namespace": "default"}
    }))
    .unwrap();
    events.create(&PostParams::default(), &event).await.unwrap();
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        core.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_crd_starts_and_stops_serving_its_resource() {
    let server = ApiServer::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let client = server.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    use kube::CustomResourceExt;
    let created = crds
        .create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    let conditions = created.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (resource, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .unwrap();
    assert_eq!(resource.plural, "widgets");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));

    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let err = widgets.get("w").await.unwrap_err();
    assert_eq!(api_code(&err), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn tables_use_the_printer_columns() {
    let server = start().await;
    let client = server.client().unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", 42))
        .await
        .unwrap();
    let request = http::Request::get("/apis/example.com/v1/namespaces/default/widgets")
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(request).await.unwrap();
    assert_eq!(table["kind"], "Table");
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // Age is only added when a CRD defines no columns, as the real server does.
    assert_eq!(names, vec!["Name", "Size", "Phase"]);
    assert_eq!(table["rows"][0]["cells"][0], "w");
    assert_eq!(table["rows"][0]["cells"][1], 42);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    server.shutdown().await;
}

#[tokio::test]
async fn argo_workflow_crd_loads_and_serves_workflows() {
    let server = ApiServer::builder()
        .crds([argo_workflow_crd()])
        .build()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow");
    let workflows: Api<DynamicObject> = Api::namespaced_with(
        server.client().unwrap(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "workflows"),
    );
    let example: DynamicObject =
        serde_json::from_value(argo_example("arguments-parameters.yaml")).unwrap();
    let created = workflows
        .create(&PostParams::default(), &example)
        .await
        .unwrap();
    assert!(created.name_any().starts_with("arguments-parameters-"));
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_status_objects_kube_parses() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    match widgets.get("missing").await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "widgets.example.com \"missing\" not found");
            let details = status.details.unwrap();
            assert_eq!(
                (
                    details.name.as_str(),
                    details.group.as_str(),
                    details.kind.as_str()
                ),
                ("missing", "example.com", "widgets")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut bad = widget("Not_A_Name", 1);
    bad.metadata.labels = Some([("ok".to_string(), "fine".to_string())].into());
    let err = widgets
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
            let causes = status.details.unwrap().causes;
            assert_eq!(causes[0].field, "metadata.name");
        }
        other => panic!("{other:?}"),
    }
    let _ = Widget::url_path(&(), Some("default"));
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_lists_end_their_initial_events_with_a_bookmark() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for i in 0..3 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store::<Widget>();
    let mut events = reflector(
        writer,
        watcher(
            widgets.clone(),
            watcher::Config::default().streaming_lists(),
        ),
    )
    .boxed();
    let mut initial = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(watcher::Event::InitApply(_)) => initial += 1,
            Some(watcher::Event::InitDone) => break,
            _ => {}
        }
    }
    assert_eq!((initial, reader.state().len()), (3, 3));
    widgets
        .create(&PostParams::default(), &widget("later", 1))
        .await
        .unwrap();
    while reader.state().len() < 4 {
        tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap();
    }
    server.shutdown().await;
}
