//! Smaller points where the in-memory server follows the real kube-apiserver's code:
//! how query parameters decode, reads from a resourceVersion the server has not reached
//! yet, and server-side apply that creates.

use std::net::SocketAddr;
use std::time::Duration;

use apiserver::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{Widget, start, start_with, widget};

/// A generous bound that only fires when something hangs; never a synchronisation.
const HANG: Duration = Duration::from_secs(20);

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

struct Answer {
    code: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends one request and reads the answer until the server closes it or `enough` holds
/// for the (de-chunked) body read so far.
async fn exchange_until(
    address: SocketAddr,
    request_line: &str,
    enough: impl Fn(&[u8]) -> bool,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("{request_line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = tokio::time::timeout(HANG, stream.read(&mut buffer))
            .await
            .expect("the server answers")
            .unwrap();
        received.extend_from_slice(&buffer[..read]);
        let answer = split(&received);
        if read == 0 || answer.as_ref().is_some_and(|a| enough(&a.body)) {
            return answer.unwrap_or_else(|| {
                panic!(
                    "no complete head in {:?}",
                    String::from_utf8_lossy(&received)
                )
            });
        }
    }
}

async fn exchange(address: SocketAddr, request_line: &str) -> Answer {
    exchange_until(address, request_line, |_| false).await
}

fn split(received: &[u8]) -> Option<Answer> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let raw = &received[end + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Some(Answer { code, head, body })
}

/// The payload of the complete chunks in `raw`.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..line_end]).to_string();
        let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || raw.len() < start + size {
            break;
        }
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    body
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(body)))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Go's `strconv.ParseInt` message, which the real server returns unwrapped as the
/// BadRequest message (handlers/get.go ListResource: DecodeParameters -> NewBadRequest).
fn parse_int_error(value: &str, why: &str) -> String {
    format!("strconv.ParseInt: parsing \"{value}\": {why}")
}

#[tokio::test]
async fn malformed_integer_parameters_are_refused_as_the_real_decoder_refuses_them() {
    let server = start().await;
    let address = server.address();
    let cases = [
        (
            format!("GET {WIDGETS}?timeoutSeconds=abc"),
            "abc",
            "invalid syntax",
        ),
        (
            format!("GET {WIDGETS}?watch=1&timeoutSeconds=1.5"),
            "1.5",
            "invalid syntax",
        ),
        (format!("GET {WIDGETS}?limit=abc"), "abc", "invalid syntax"),
        (format!("GET {WIDGETS}?limit="), "", "invalid syntax"),
        (
            format!("GET {WIDGETS}?limit=99999999999999999999"),
            "99999999999999999999",
            "value out of range",
        ),
        (
            format!("DELETE {WIDGETS}?timeoutSeconds=x"),
            "x",
            "invalid syntax",
        ),
        (
            format!("DELETE {WIDGETS}/a?gracePeriodSeconds=soon"),
            "soon",
            "invalid syntax",
        ),
    ];
    for (request, value, why) in cases {
        let answer = exchange(address, &request).await;
        let status = json_of(&answer.body);
        assert_eq!(answer.code, 400, "{request}: {status}");
        assert_eq!(status["reason"], "BadRequest", "{request}");
        assert_eq!(status["message"], parse_int_error(value, why), "{request}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_negative_limit_lists_everything_as_the_storage_ignores_it() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    for name in ["a", "b", "c"] {
        widgets
            .create(&PostParams::default(), &widget(name, 1))
            .await
            .unwrap();
    }
    let answer = exchange(server.address(), &format!("GET {WIDGETS}?limit=-1")).await;
    assert_eq!(answer.code, 200);
    assert!(answer.head.contains("content-type: application/json"));
    let list = json_of(&answer.body);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
    assert!(list["metadata"].get("continue").is_none(), "{list}");
    server.shutdown().await;
}

#[tokio::test]
async fn boolean_parameters_are_true_unless_false_or_zero() {
    let server =
        start_with(ApiServer::builder().bookmark_interval(Duration::from_millis(50))).await;
    let address = server.address();
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    // `watch=yes` and a bare `watch` are watches (the current state arrives as ADDED) ...
    for watch in ["watch=yes", "watch", "watch=TRUE"] {
        let answer = exchange_until(address, &format!("GET {WIDGETS}?{watch}"), |body| {
            contains(body, "\"ADDED\"")
        })
        .await;
        assert_eq!(answer.code, 200, "{watch}");
        assert!(contains(&answer.body, "\"ADDED\""), "{watch}");
    }
    // ... while `false` in any case and `0` are lists.
    for list in ["watch=False", "watch=0"] {
        let answer = exchange(address, &format!("GET {WIDGETS}?{list}")).await;
        assert_eq!(json_of(&answer.body)["kind"], "WidgetList", "{list}");
    }
    // `allowWatchBookmarks=maybe` asks for bookmarks.
    let rv = server.resource_version();
    let answer = exchange_until(
        address,
        &format!("GET {WIDGETS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=maybe"),
        |body| contains(body, "\"BOOKMARK\""),
    )
    .await;
    assert!(contains(&answer.body, "\"BOOKMARK\""));
    server.shutdown().await;
}
fn assert_too_large(status: &Value, asked: u64, current: u64) {
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["code"], 504, "{status}");
    assert_eq!(status["reason"], "Timeout", "{status}");
    assert_eq!(
        status["message"],
        format!("Timeout: Too large resource version: {asked}, current: {current}")
    );
    assert_eq!(
        status["details"],
        json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        })
    );
}

#[tokio::test]
async fn a_list_ahead_of_the_server_waits_then_times_out_as_the_watch_cache_does() {
    let wait = Duration::from_millis(500);
    let server = start_with(ApiServer::builder().future_version_wait(wait)).await;
    let current = server.resource_version();
    let ahead = current + 5;
    let asked = std::time::Instant::now();
    let answer = exchange(
        server.address(),
        &format!("GET {WIDGETS}?resourceVersion={ahead}"),
    )
    .await;
    // A lower bound only: answering before the wait is over would be the bug.
    assert!(
        asked.elapsed() >= wait,
        "answered after {:?}, before the {wait:?} wait",
        asked.elapsed()
    );
    assert_eq!(answer.code, 504);
    assert!(
        answer.head.contains("\r\nretry-after: 1"),
        "{}",
        answer.head
    );
    assert_too_large(&json_of(&answer.body), ahead, current);
    server.shutdown().await;
}

#[tokio::test]
async fn a_list_ahead_of_the_server_is_served_once_a_write_reaches_its_version() {
    let server = start_with(ApiServer::builder().future_version_wait(HANG)).await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let ahead = server.resource_version() + 1;
    let list = {
        let widgets = widgets.clone();
        tokio::spawn(async move {
            widgets
                .list(&ListParams::default().at(&ahead.to_string()))
                .await
        })
    };
    // Write only once the list is waiting, so that the waiting path is what serves it.
    tokio::time::timeout(HANG, async {
        while server.waiting_reads() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the list waits for its version");
    assert!(!list.is_finished(), "a waiting list has no answer yet");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let listed = tokio::time::timeout(HANG, list)
        .await
        .unwrap()
        .unwrap()
        .expect("the list is served once the server reaches its version");
    assert_eq!(listed.items.len(), 1);
    let list_rv: u64 = listed.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv >= ahead);
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_ahead_of_the_server_opens_at_once_and_skips_what_it_asked_past() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let current = server.resource_version();
    let mut stream = widgets
        .watch(
            &WatchParams::default().timeout(60),
            &(current + 2).to_string(),
        )
        .await
        .unwrap()
        .boxed();
    let mut created = Vec::new();
    for name in ["a", "b", "c"] {
        created.push(
            widgets
                .create(&PostParams::default(), &widget(name, 1))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        created[1].resource_version(),
        Some((current + 2).to_string()),
        "each write takes the next version"
    );
    let first = tokio::time::timeout(HANG, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .expect("the watch stays open");
    match first {
        WatchEvent::Added(object) => assert_eq!(object.name_any(), "c"),
        other => panic!("expected c's ADDED, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_streaming_list_ahead_of_the_server_ends_with_a_too_large_error_event() {
    let server =
        start_with(ApiServer::builder().future_version_wait(Duration::from_millis(100))).await;
    let current = server.resource_version();
    let ahead = current + 3;
    let answer = exchange(
        server.address(),
        &format!(
            "GET {WIDGETS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion={ahead}"
        ),
    )
    .await;
    assert_eq!(
        answer.code, 200,
        "errors after the RV parses arrive as a watch event"
    );
    let event = json_of(&answer.body);
    assert_eq!(event["type"], "ERROR", "{event}");
    assert_too_large(&event["object"], ahead, current);
    server.shutdown().await;
}
#[tokio::test]
async fn apply_that_creates_ignores_a_resource_version_and_refuses_a_uid() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let params = PatchParams::apply("fidelity");
    let with_rv = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "a", "resourceVersion": "12345"},
        "spec": {"size": 1},
    });
    let created = widgets
        .patch("a", &params, &Patch::Apply(&with_rv))
        .await
        .expect("store.go Update creates without comparing the body's resourceVersion");
    assert_ne!(created.resource_version().as_deref(), Some("12345"));
    assert_eq!(widgets.get("a").await.unwrap().spec.size, 1);

    let with_uid = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "b", "uid": "0f0e0d0c-aaaa-bbbb-cccc-000000000001"},
        "spec": {"size": 1},
    });
    let err = widgets
        .patch("b", &params, &Patch::Apply(&with_uid))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on widgets.example.com \"b\": uid mismatch: the provided object specified uid 0f0e0d0c-aaaa-bbbb-cccc-000000000001, and no existing object was found"
    );
    assert!(widgets.get_opt("b").await.unwrap().is_none());
    server.shutdown().await;
}

fn owned_by(name: &str, owner: &Widget) -> Widget {
    let mut dependent = widget(name, 1);
    dependent.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        name: owner.name_any(),
        uid: owner.uid().unwrap(),
        block_owner_deletion: Some(true),
        ..OwnerReference::default()
    }]);
    // Keeps the dependent (and so its owner's foreground deletion) pending.
    dependent.metadata.finalizers = Some(vec!["example.com/keep".into()]);
    dependent
}

#[tokio::test]
async fn deleting_again_with_background_drops_the_foreground_finalizer() {
    let server = start().await;
    let widgets: Api<Widget> = Api::namespaced(server.client().unwrap(), "default");
    let post = PostParams::default();
    // "held" keeps a finalizer of its own; "bare" has none besides foregroundDeletion.
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let held = widgets.create(&post, &held).await.unwrap();
    let bare = widgets.create(&post, &widget("bare", 1)).await.unwrap();
    widgets.create(&post, &owned_by("d1", &held)).await.unwrap();
    widgets.create(&post, &owned_by("d2", &bare)).await.unwrap();
    for name in ["held", "bare"] {
        let deleting = widgets
            .delete(name, &DeleteParams::foreground())
            .await
            .unwrap()
            .unwrap_left();
        assert!(
            deleting
                .finalizers()
                .iter()
                .any(|f| f == "foregroundDeletion"),
            "{name}: {:?}",
            deleting.finalizers()
        );
    }
    // store.go deletionFinalizersForGarbageCollection rewrites the GC finalizers for the new
    // policy: Background removes foregroundDeletion.
    let held_again = widgets
        .delete("held", &DeleteParams::background())
        .await
        .unwrap()
        .unwrap_left();
    assert_eq!(held_again.finalizers(), ["example.com/hold".to_string()]);
    // With no finalizer left, the object goes at once.
    widgets
        .delete("bare", &DeleteParams::background())
        .await
        .unwrap();
    assert!(widgets.get_opt("bare").await.unwrap().is_none());
    // Deleting again with no policy keeps what the object has.
    let unchanged = widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .unwrap_left();
    assert_eq!(unchanged.resource_version(), held_again.resource_version());
    server.shutdown().await;
}
