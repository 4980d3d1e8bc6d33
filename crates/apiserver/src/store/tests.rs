//! The store without HTTP: versions, conflicts, finalizers, garbage collection,
//! namespaces, the event window and paging.

use super::*;

fn store_with_widgets() -> (Store, Arc<ResourceType>) {
    let store = Store::new(100);
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}}]
        }
    });
    let crd_type = store.resolve(CRD_GROUP, "v1", CRD_PLURAL).unwrap();
    store
        .create(&crd_type, "", crd, &WriteOptions::default())
        .unwrap();
    let widgets = store.resolve("example.com", "v1", "widgets").unwrap();
    (store, widgets)
}

fn widget(name: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 1}})
}

#[test]
fn resource_versions_increase_and_generation_follows_spec_only() {
    let (store, rt) = store_with_widgets();
    let created = store
        .create(&rt, "default", widget("a"), &WriteOptions::default())
        .unwrap();
    let rv1: u64 = meta::resource_version(&created).parse().unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    let (status_only, _) = store
        .patch(
            &rt,
            "default",
            "a",
            PatchType::Merge,
            &json!({"status": {"phase": "Done"}}),
            Some("status"),
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(status_only["metadata"]["generation"], 1);
    assert!(meta::resource_version(&status_only).parse::<u64>().unwrap() > rv1);
    let (spec, _) = store
        .patch(
            &rt,
            "default",
            "a",
            PatchType::Merge,
            &json!({"spec": {"size": 2}, "status": {"phase": "Ignored"}}),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(spec["metadata"]["generation"], 2);
    assert_eq!(spec["status"]["phase"], "Done");
}

#[test]
fn stale_updates_conflict_and_duplicates_already_exist() {
    let (store, rt) = store_with_widgets();
    let created = store
        .create(&rt, "default", widget("a"), &WriteOptions::default())
        .unwrap();
    assert_eq!(
        store
            .create(&rt, "default", widget("a"), &WriteOptions::default())
            .unwrap_err()
            .reason,
        "AlreadyExists"
    );
    let mut stale = created.clone();
    stale["spec"]["size"] = json!(5);
    store
        .update(
            &rt,
            "default",
            "a",
            stale.clone(),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    let err = store
        .update(&rt, "default", "a", stale, None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let (store, rt) = store_with_widgets();
    let mut w = widget("a");
    w["metadata"]["finalizers"] = json!(["example.com/hold"]);
    store
        .create(&rt, "default", w, &WriteOptions::default())
        .unwrap();
    let marked = store
        .delete(&rt, "default", "a", &DeleteOptions::default())
        .unwrap();
    assert!(meta::is_deleting(&marked));
    assert!(store.get(&rt, "default", "a").is_ok());
    store
        .patch(
            &rt,
            "default",
            "a",
            PatchType::Merge,
            &json!({"metadata": {"finalizers": null}}),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(store.get(&rt, "default", "a").unwrap_err().code, 404);
}

#[test]
fn dependents_of_a_deleted_owner_are_collected() {
    let (store, rt) = store_with_widgets();
    let owner = store
        .create(&rt, "default", widget("owner"), &WriteOptions::default())
        .unwrap();
    let mut dependent = widget("dependent");
    dependent["metadata"]["ownerReferences"] = json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "owner", "uid": owner["metadata"]["uid"]}]);
    store
        .create(&rt, "default", dependent, &WriteOptions::default())
        .unwrap();
    store
        .delete(&rt, "default", "owner", &DeleteOptions::default())
        .unwrap();
    assert_eq!(
        store.get(&rt, "default", "dependent").unwrap_err().code,
        404
    );
}

#[test]
fn system_namespaces_cannot_be_deleted() {
    let store = Store::new(10);
    let ns = store.resolve("", "v1", "namespaces").unwrap();
    let err = store
        .delete(&ns, "", "default", &DeleteOptions::default())
        .unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}

#[test]
fn objects_need_an_existing_namespace() {
    let (store, rt) = store_with_widgets();
    let err = store
        .create(&rt, "nowhere", widget("a"), &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "namespaces \"nowhere\" not found");
}

#[test]
fn watch_from_an_evicted_version_is_gone() {
    let store = Store::new(2);
    let ns = store.resolve("", "v1", "namespaces").unwrap();
    for n in ["a", "b", "c"] {
        store
            .create(
                &ns,
                "",
                json!({"metadata": {"name": n}}),
                &WriteOptions::default(),
            )
            .unwrap();
    }
    let err = store
        .watch(&ns, WatchFrom::After(1), &Filter::default())
        .err()
        .unwrap();
    assert_eq!(err.code, 410);
    let rv = store.current_rv();
    assert!(
        store
            .watch(&ns, WatchFrom::After(rv - 1), &Filter::default())
            .is_ok()
    );
}

#[test]
fn lists_page_with_continue_tokens() {
    let (store, rt) = store_with_widgets();
    for i in 0..5 {
        store
            .create(
                &rt,
                "default",
                widget(&format!("w{i}")),
                &WriteOptions::default(),
            )
            .unwrap();
    }
    let options = ListOptions {
        limit: Some(2),
        ..ListOptions::default()
    };
    let first = store.list(&rt, &options).unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.remaining, Some(3));
    let next = ListOptions {
        limit: Some(10),
        continue_token: first.continue_token,
        ..ListOptions::default()
    };
    let rest = store.list(&rt, &next).unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.continue_token.is_none());
    assert_eq!(rest.resource_version, first.resource_version);
}
