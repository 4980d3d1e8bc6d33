//! A watch that allows bookmarks gets one shortly before its `timeoutSeconds` ends,
//! carrying the newest resourceVersion, as from the real server's watch cache.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::PostParams;
use kube::client::Body;
use serde_json::Value;

use super::support::{Widget, start, widget};

/// Watches widgets for `timeout` seconds; every event, and when the stream ended.
async fn watch_until_timeout(
    client: &kube::Client,
    rv: &str,
    bookmarks: bool,
) -> (Vec<Value>, Duration) {
    let uri = format!(
        "/apis/example.com/v1/namespaces/default/widgets?watch=true&resourceVersion={rv}&timeoutSeconds=3&allowWatchBookmarks={bookmarks}"
    );
    let started = Instant::now();
    let response = client
        .send(http::Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect_bytes().await.unwrap();
    let events = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    (events, started.elapsed())
}

#[tokio::test]
async fn a_bookmark_precedes_the_watch_timeout() {
    let server = start().await;
    let client = server.client().unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let before = (rv.parse::<u64>().unwrap() - 1).to_string();

    let (with, without) = tokio::join!(
        watch_until_timeout(&client, &before, true),
        watch_until_timeout(&client, &before, false),
    );
    let (events, elapsed) = with;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ADDED", "BOOKMARK"]);
    assert_eq!(events[1]["object"]["metadata"]["resourceVersion"], rv);
    assert_eq!(events[1]["object"]["kind"], "Widget");
    assert!(
        elapsed >= Duration::from_secs(3),
        "the watch ended early: {elapsed:?}"
    );

    let (events, _) = without;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ADDED"], "no bookmark unless allowed");
    server.shutdown().await;
}
