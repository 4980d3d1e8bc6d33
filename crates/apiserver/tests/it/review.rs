//! Behaviour a real API server has and the operator relies on, checked from the
//! outside: resourceVersion ordering under concurrent writers, optimistic
//! concurrency on every write path, server-side apply, and error answers.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchEvent,
    WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{Widget, WidgetStatus, start, widget};

/// A generous bound that only fires when something hangs; never a synchronisation.
const HANG: Duration = Duration::from_secs(20);

fn api_error(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv_of(widget: &Widget) -> u64 {
    widget.resource_version().unwrap().parse().unwrap()
}

/// Reads a watch until an event satisfies `done` (given its RV and object name),
/// returning every object event's (resourceVersion, type, name).
async fn collect_until(
    widgets: &Api<Widget>,
    from: &str,
    done: impl Fn(u64, &str) -> bool,
) -> Vec<(u64, &'static str, String)> {
    let mut stream = widgets
        .watch(&WatchParams::default().timeout(60), from)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(HANG, stream.try_next())
            .await
            .expect("the watch delivers every write")
            .unwrap()
            .expect("the watch stays open");
        let (kind, object) = match event {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("{e:?}"),
        };
        let rv = rv_of(&object);
        let name = object.name_any();
        let finished = done(rv, &name);
        seen.push((rv, kind, name));
        if finished {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_yield_one_gapless_ordered_history_for_every_watcher() {
    let server = start().await;
    let client = server.client().unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let before = server.resource_version();
    let early = {
        let widgets = widgets.clone();
        let from = before.to_string();
        tokio::spawn(async move { collect_until(&widgets, &from, |_, name| name == "fin").await })
    };
    const WRITERS: usize = 8;
    const WRITES: usize = 12;
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let widgets = widgets.clone();
        writers.push(tokio::spawn(async move {
            let name = format!("w{writer}");
            let mut rvs = vec![rv_of(
                &widgets
                    .create(&PostParams::default(), &widget(&name, 0))
                    .await
                    .unwrap(),
            )];
            for size in 1..WRITES as i64 {
                let patched = widgets
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"size": size}})),
                    )
                    .await
                    .unwrap();
                rvs.push(rv_of(&patched));
                // A write returned is visible to any list that starts afterwards.
                let listed = widgets.get(&name).await.unwrap();
                assert!(rv_of(&listed) >= rv_of(&patched));
            }
            rvs
        }));
    }
    // A watcher that joins in the middle of the burst, from an RV it just read.
    let middle = loop {
        let rv = server.resource_version();
        if rv >= before + (WRITERS * WRITES / 2) as u64 {
            break rv;
        }
        tokio::task::yield_now().await;
    };
    let late = {
        let widgets = widgets.clone();
        tokio::spawn(async move {
            collect_until(&widgets, &middle.to_string(), |_, name| name == "fin").await
        })
    };
    let mut written = BTreeSet::new();
    for writer in writers {
        for rv in writer.await.unwrap() {
            assert!(
                written.insert(rv),
                "resourceVersion {rv} was handed out twice"
            );
        }
    }
    let last = *written.last().unwrap();
    assert_eq!(last, server.resource_version());
    // Nothing else wrote meanwhile, so the writes are exactly before+1..=last.
    assert_eq!(written, (before + 1..=last).collect::<BTreeSet<_>>());
    // Finish both watches with one more write whose RV is known.
    let fin = widgets
        .create(&PostParams::default(), &widget("fin", 0))
        .await
        .unwrap();
    let fin_rv = rv_of(&fin);
    for (watcher, from) in [(early, before), (late, middle)] {
        let seen = tokio::time::timeout(HANG, watcher).await.unwrap().unwrap();
        let rvs: Vec<u64> = seen.iter().map(|(rv, _, _)| *rv).collect();
        let expected: Vec<u64> = (from + 1..=fin_rv).collect();
        assert_eq!(
            rvs, expected,
            "watch from {from}: every write once, in order"
        );
    }
    let list = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), WRITERS + 1);
    assert_eq!(
        list.metadata.resource_version.as_deref(),
        Some(fin_rv.to_string().as_str())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn watch_start_points_follow_the_real_semantics() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let a = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    // From "0": the current state first, as ADDED.
    let seen = collect_until(&widgets, "0", |rv, _| rv >= rv_of(&a)).await;
    assert_eq!(seen, vec![(rv_of(&a), "ADDED", "a".to_string())]);
    // From an exact RV: only later changes, with the same RV the object then has.
    let watch_from = a.resource_version().unwrap();
    let b_task = {
        let widgets = widgets.clone();
        tokio::spawn(async move {
            widgets
                .create(&PostParams::default(), &widget("b", 1))
                .await
                .unwrap()
        })
    };
    let b = b_task.await.unwrap();
    let seen = collect_until(&widgets, &watch_from, |rv, _| rv >= rv_of(&b)).await;
    assert_eq!(seen, vec![(rv_of(&b), "ADDED", "b".to_string())]);
    assert_eq!(
        rv_of(&widgets.get("b").await.unwrap()),
        rv_of(&b),
        "the RV in the watch event is the object's"
    );
    // A list at "0" and an unset one both see both.
    for rv in [Some("0"), None] {
        let mut params = ListParams::default();
        if let Some(rv) = rv {
            params = params.match_any();
            assert_eq!(rv, "0");
        }
        assert_eq!(widgets.list(&params).await.unwrap().items.len(), 2);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_write_path_enforces_optimistic_concurrency() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    // A custom resource needs a resourceVersion to be replaced (AllowUnconditionalUpdate is false).
    let mut unconditional = created.clone();
    unconditional.metadata.resource_version = None;
    let (code, reason) = api_error(
        widgets
            .replace("a", &PostParams::default(), &unconditional)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let mut bumped = created.clone();
    bumped.spec.size = 2;
    let current = widgets
        .replace("a", &PostParams::default(), &bumped)
        .await
        .unwrap();
    // Stale resourceVersion: replace, merge patch carrying it, and status write all conflict.
    let (code, _) = api_error(
        widgets
            .replace("a", &PostParams::default(), &bumped)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    let stale_rv = created.resource_version().unwrap();
    let (code, _) = api_error(
        widgets
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"resourceVersion": stale_rv}, "spec": {"size": 3}}),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    let mut status_write = created.clone();
    status_write.status = Some(WidgetStatus {
        phase: "Done".into(),
    });
    let (code, _) = api_error(
        widgets
            .replace_status("a", &PostParams::default(), &status_write)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    // Server-side apply with a resourceVersion in the body is conditional too.
    let mut applied = created.clone();
    applied.metadata.managed_fields = None;
    applied.spec.size = 7;
    let (code, reason) = api_error(
        widgets
            .patch(
                "a",
                &PatchParams::apply("ctl").force(),
                &Patch::Apply(&applied),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(widgets.get("a").await.unwrap().spec.size, 2);
    applied.metadata.resource_version = current.metadata.resource_version.clone();
    let fresh = widgets
        .patch(
            "a",
            &PatchParams::apply("ctl").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(fresh.spec.size, 7);
    server.shutdown().await;
}

#[tokio::test]
async fn status_and_metadata_writes_leave_generation_alone() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let mut with_status = created.clone();
    with_status.spec.size = 99;
    with_status.status = Some(WidgetStatus {
        phase: "Done".into(),
    });
    let written = widgets
        .replace_status("a", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(written.spec.size, 1, "spec in a status write is ignored");
    assert_eq!(written.status.as_ref().unwrap().phase, "Done");
    assert_eq!(written.metadata.generation, Some(1));
    assert!(rv_of(&written) > rv_of(&created));
    let labelled = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    assert!(rv_of(&labelled) > rv_of(&written));
    server.shutdown().await;
}

#[tokio::test]
async fn deletion_preconditions_and_finalizers() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let mut held = widget("a", 1);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let created = widgets.create(&PostParams::default(), &held).await.unwrap();
    for preconditions in [
        Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        },
        Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        },
    ] {
        let params = DeleteParams {
            preconditions: Some(preconditions),
            ..DeleteParams::default()
        };
        let (code, reason) = api_error(widgets.delete("a", &params).await.unwrap_err());
        assert_eq!((code, reason.as_str()), (409, "Conflict"));
    }
    let first = widgets
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .unwrap_left();
    assert!(first.metadata.deletion_timestamp.is_some());
    let second = widgets
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .unwrap_left();
    assert_eq!(
        second.resource_version(),
        first.resource_version(),
        "deleting again changes nothing"
    );
    // Removing the last finalizer with a stale RV conflicts and keeps the object.
    let mut stale = created.clone();
    stale.metadata.finalizers = None;
    let (code, _) = api_error(
        widgets
            .replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    assert!(widgets.get_opt("a").await.unwrap().is_some());
    let mut current = widgets.get("a").await.unwrap();
    current.metadata.finalizers = None;
    widgets
        .replace("a", &PostParams::default(), &current)
        .await
        .unwrap();
    assert!(widgets.get_opt("a").await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_as_controllers_use_it() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let config = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "a"}, "spec": {"size": 1}});
    let created = widgets
        .patch("a", &PatchParams::apply("one"), &Patch::Apply(&config))
        .await
        .unwrap();
    let again = widgets
        .patch("a", &PatchParams::apply("one"), &Patch::Apply(&config))
        .await
        .unwrap();
    assert_eq!(
        again.resource_version(),
        created.resource_version(),
        "a no-op apply is not a write"
    );
    let other = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "a"}, "spec": {"size": 2}});
    let (code, reason) = api_error(
        widgets
            .patch("a", &PatchParams::apply("two"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let forced = widgets
        .patch(
            "a",
            &PatchParams::apply("two").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.size, 2);
    let status = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "a"}, "status": {"phase": "Done"}});
    let with_status = widgets
        .patch_status(
            "a",
            &PatchParams::apply("one").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(with_status.status.unwrap().phase, "Done");
    assert_eq!(with_status.spec.size, 2);
    assert_eq!(with_status.metadata.generation, forced.metadata.generation);
    server.shutdown().await;
}

#[tokio::test]
async fn creating_with_a_resource_version_is_refused() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let mut fetched = widget("a", 1);
    fetched.metadata.resource_version = Some("5".into());
    let (code, _) = api_error(
        widgets
            .create(&PostParams::default(), &fetched)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 500);
    assert!(widgets.get_opt("a").await.unwrap().is_none());
    server.shutdown().await;
}

/// One raw HTTP/1.1 exchange: (status code, body).
async fn raw(server_addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(server_addr).await.unwrap();
    let mut request = head.to_vec();
    request.extend_from_slice(
        format!(
            "\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| response[i + 4..].to_vec())
        .unwrap_or_default();
    (code, body)
}

fn status_of(body: &[u8]) -> serde_json::Value {
    let status: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(body)));
    assert_eq!(status["kind"], "Status", "{status}");
    status
}

#[tokio::test]
async fn bad_requests_get_status_answers_and_never_panic() {
    let server = start().await;
    let address = server.address();
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let cases: Vec<(String, &[u8], u16)> = vec![
        (format!("GET {widgets}?limit=abc HTTP/1.1"), b"", 400),
        (format!("POST {widgets} HTTP/1.1"), b"{not json", 400),
        (format!("POST {widgets} HTTP/1.1"), b"[1,2]", 400),
        (
            format!("POST {widgets} HTTP/1.1"),
            b"\xff\xfe\x00garbage",
            400,
        ),
        (
            format!("POST {widgets} HTTP/1.1"),
            br#"{"metadata":{"name":"n"},"spec":{"size":1e999999}}"#,
            400,
        ),
        (format!("PUT {widgets} HTTP/1.1"), b"{}", 405),
        (format!("POST {widgets}/x HTTP/1.1"), b"{}", 405),
        (
            "GET /apis/example.com/v1/namespaces/default/gadgets HTTP/1.1".into(),
            b"",
            404,
        ),
        ("GET /apis/nowhere.io/v1/things HTTP/1.1".into(), b"", 404),
        (
            "POST /apis/example.com/v1/namespaces/nowhere/widgets HTTP/1.1".into(),
            br#"{"metadata":{"name":"n"},"spec":{"size":1}}"#,
            404,
        ),
        (
            format!("GET {widgets}?watch=1&resourceVersion=abc HTTP/1.1"),
            b"",
            400,
        ),
        (
            format!("GET {widgets}?labelSelector=%3D%3D%3D HTTP/1.1"),
            b"",
            400,
        ),
        (format!("GET {widgets}?continue=zz HTTP/1.1"), b"", 400),
        (
            format!("GET {widgets}?resourceVersion=99999999999999999999999 HTTP/1.1"),
            b"",
            400,
        ),
    ];
    for (head, body, expected) in cases {
        let (code, answer) = raw(address, head.as_bytes(), body).await;
        assert_eq!(
            code,
            expected,
            "{head}: {}",
            String::from_utf8_lossy(&answer)
        );
        let status = status_of(&answer);
        assert_eq!(status["code"], expected, "{head}");
    }
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let (code, answer) = raw(
        address,
        format!("POST {widgets} HTTP/1.1").as_bytes(),
        deep.as_bytes(),
    )
    .await;
    assert_eq!(code, 400);
    status_of(&answer);
    // Bytes that are not UTF-8 in the path and query: refused, and the server lives on.
    let mut head =
        b"GET /apis/example.com/v1/namespaces/d\xffx/widgets?labelSelector=\xfe HTTP/1.1".to_vec();
    let (code, _) = raw(address, &head, b"").await;
    assert!((400..500).contains(&code), "{code}");
    head = format!("GET {widgets}/%ff%fe HTTP/1.1").into_bytes();
    let (code, answer) = raw(address, &head, b"").await;
    assert_eq!(code, 404);
    status_of(&answer);
    let client: Client = server.client().unwrap();
    let api: Api<Widget> = Api::namespaced(client, "default");
    assert!(api.list(&ListParams::default()).await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn continued_pages_show_the_first_page_snapshot() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for name in ["a", "b", "c", "d"] {
        widgets
            .create(&PostParams::default(), &widget(name, 1))
            .await
            .unwrap();
    }
    let first = widgets.list(&ListParams::default().limit(2)).await.unwrap();
    let list_rv: u64 = first.metadata.resource_version.unwrap().parse().unwrap();
    let token = first.metadata.continue_.unwrap();
    // Writes between the pages: a real server still answers as of the first page's version.
    widgets
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    widgets.delete("d", &DeleteParams::default()).await.unwrap();
    widgets
        .create(&PostParams::default(), &widget("cc", 1))
        .await
        .unwrap();
    let rest = widgets
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        rest.metadata.resource_version.as_deref(),
        Some(list_rv.to_string().as_str())
    );
    let names: Vec<(String, i64)> = rest
        .items
        .iter()
        .map(|w| (w.name_any(), w.spec.size))
        .collect();
    assert_eq!(names, vec![("c".into(), 1), ("d".into(), 1)]);
    assert!(rest.items.iter().all(|w| rv_of(w) <= list_rv));
    // resourceVersionMatch=Exact reads the same snapshot.
    let exact = widgets
        .list(
            &ListParams::default()
                .at(&list_rv.to_string())
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .unwrap();
    let names: Vec<String> = exact.items.iter().map(|w| w.name_any()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(exact.items[2].spec.size, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_continue_token_older_than_the_window_is_expired() {
    let server = super::support::start_with(apiserver::ApiServer::builder().event_window(3)).await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for name in ["a", "b", "c"] {
        widgets
            .create(&PostParams::default(), &widget(name, 1))
            .await
            .unwrap();
    }
    let first = widgets.list(&ListParams::default().limit(1)).await.unwrap();
    let token = first.metadata.continue_.unwrap();
    for size in 2..6 {
        widgets
            .patch(
                "c",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"size": size}})),
            )
            .await
            .unwrap();
    }
    let (code, reason) = api_error(
        widgets
            .list(&ListParams::default().continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (410, "Expired"));
    server.shutdown().await;
}
#[tokio::test]
async fn a_dependent_whose_owner_is_gone_is_collected_when_written() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let owner = widgets
        .create(&PostParams::default(), &widget("owner", 1))
        .await
        .unwrap();
    widgets
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    let mut orphan = widget("orphan", 1);
    orphan.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            name: "owner".into(),
            uid: owner.uid().unwrap(),
            ..Default::default()
        },
    ]);
    widgets
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    assert!(
        widgets.get_opt("orphan").await.unwrap().is_none(),
        "the garbage collector removes a dependent whose owner does not exist"
    );
    // A live cluster-scoped owner keeps its namespaced dependent.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(widgets.clone().into_client());
    let default_ns = namespaces.get("default").await.unwrap();
    let mut kept = widget("kept", 1);
    kept.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: "default".into(),
            uid: default_ns.uid().unwrap(),
            ..Default::default()
        },
    ]);
    widgets.create(&PostParams::default(), &kept).await.unwrap();
    // A collection pass (any deletion runs one) leaves it too.
    widgets
        .create(&PostParams::default(), &widget("noise", 1))
        .await
        .unwrap();
    widgets
        .delete("noise", &DeleteParams::default())
        .await
        .unwrap();
    assert!(widgets.get_opt("kept").await.unwrap().is_some());
    server.shutdown().await;
}
