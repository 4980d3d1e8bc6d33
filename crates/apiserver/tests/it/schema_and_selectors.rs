//! Behaviour that rests on the schema, selector, patch and apply modules:
//! 422 with field paths, strict unknown fields, label and field selectors, and
//! server-side apply conflicts.

use std::time::Duration;

use apiserver::ApiServer;
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ListParams, Patch, PatchParams, PostParams, ValidationDirective, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::kubectl::server_with_gadgets;
use super::support::{Widget, argo_example, argo_workflow_crd, start, widget};

fn status_of(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists_and_watches() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "bronze")] {
        let mut w = widget(name, 1);
        w.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        widgets.create(&PostParams::default(), &w).await.unwrap();
    }
    let names = |list: kube::core::ObjectList<Widget>| {
        list.items
            .into_iter()
            .map(|w| w.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            widgets
                .list(&ListParams::default().labels("tier=gold"))
                .await
                .unwrap()
        ),
        vec!["a"]
    );
    assert_eq!(
        names(
            widgets
                .list(&ListParams::default().labels("tier in (gold,silver)"))
                .await
                .unwrap()
        ),
        vec!["a", "b"]
    );
    assert_eq!(
        names(
            widgets
                .list(&ListParams::default().labels("tier!=gold"))
                .await
                .unwrap()
        ),
        vec!["b", "c"]
    );
    assert_eq!(
        names(
            widgets
                .list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        vec!["c"]
    );
    assert!(
        widgets
            .list(&ListParams::default().fields("spec.size=1"))
            .await
            .is_err(),
        "unsupported field selectors are refused"
    );

    let from = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = widgets
        .watch(
            &WatchParams::default().labels("tier=gold").timeout(10),
            &from,
        )
        .await
        .unwrap()
        .boxed();
    widgets
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "gold"}}})),
        )
        .await
        .unwrap();
    widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "lead"}}})),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(&first, WatchEvent::Added(w) if w.metadata.name.as_deref() == Some("b")),
        "{first:?}"
    );
    let second = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(&second, WatchEvent::Deleted(w) if w.metadata.name.as_deref() == Some("a")),
        "{second:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn custom_resources_are_validated_and_defaulted_against_the_crd_schema() {
    let (server, _kubectl) = server_with_gadgets().await;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Gadget");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(
        server.client().unwrap(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "gadgets"),
    );
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "bad"},
        "spec": {"size": 500, "color": "blue"}
    }))
    .unwrap();
    let status = status_of(
        gadgets
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    let fields: Vec<String> = status
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(
        fields.contains(&"spec.size".to_string()) && fields.contains(&"spec.color".to_string()),
        "{fields:?}"
    );

    let missing: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "missing"}, "spec": {}
    }))
    .unwrap();
    let status = status_of(
        gadgets
            .create(&PostParams::default(), &missing)
            .await
            .unwrap_err(),
    );
    assert!(
        status.message.contains("spec.size: Required value"),
        "{}",
        status.message
    );

    let good: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "good"}, "spec": {"size": 1, "extra": true}
    }))
    .unwrap();
    let created = gadgets.create(&PostParams::default(), &good).await.unwrap();
    assert!(
        created.data["spec"].get("extra").is_none(),
        "unknown fields are pruned"
    );
    assert_eq!(
        created.data["spec"]["shape"], "round",
        "absent fields are defaulted"
    );
    let square: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "square"},
        "spec": {"size": 1, "shape": "square"}
    }))
    .unwrap();
    let created = gadgets
        .create(&PostParams::default(), &square)
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"]["shape"], "square",
        "a given value is kept"
    );

    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let status = status_of(
        gadgets
            .patch(
                "good",
                &strict,
                &Patch::Merge(json!({"spec": {"unknown": 1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 400);
    assert!(
        status.message.contains("unknown field \"spec.unknown\""),
        "{}",
        status.message
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_invalid_workflow_is_refused_as_argos_crd_would() {
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
    let mut invalid = argo_example("arguments-parameters.yaml");
    invalid["spec"]["entrypoint"] = json!(5);
    invalid["spec"]["parallelism"] = json!("many");
    let invalid: DynamicObject = serde_json::from_value(invalid).unwrap();
    let status = status_of(
        workflows
            .create(&PostParams::default(), &invalid)
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    let fields: Vec<String> = status
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(
        fields.contains(&"spec.entrypoint".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.parallelism".to_string()),
        "{fields:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers_unless_forced() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let config = |size: i64| {
        Patch::Apply(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": size}}),
        )
    };
    widgets
        .patch("w", &PatchParams::apply("alice"), &config(1))
        .await
        .unwrap();
    let merged = widgets
        .patch("w", &PatchParams::apply("alice"), &Patch::Apply(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, "color": "red"}
        })))
        .await
        .unwrap();
    assert_eq!(merged.spec.color.as_deref(), Some("red"));
    let status = status_of(
        widgets
            .patch("w", &PatchParams::apply("bob"), &config(2))
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("conflict with \"alice\""),
        "{}",
        status.message
    );
    let forced = widgets
        .patch("w", &PatchParams::apply("bob").force(), &config(2))
        .await
        .unwrap();
    assert_eq!(forced.spec.size, 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_with_a_label_selector() {
    let (server, kubectl) = server_with_gadgets().await;
    for (name, app) in [("g1", "demo"), ("g2", "other")] {
        let manifest = format!(
            "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: {name}, labels: {{app: {app}}}}}\nspec: {{size: 1}}\n"
        );
        let path = kubectl.write(&format!("{name}.yaml"), &manifest);
        kubectl.ok(&["apply", "-f", &path]).await;
    }
    let out = kubectl
        .ok(&["get", "gadgets", "-l", "app=demo", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "gadget.example.com/g1");
    server.shutdown().await;
}
