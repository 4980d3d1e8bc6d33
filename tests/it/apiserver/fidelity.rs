//! Smaller points where the in-memory server follows the real kube-apiserver's code:
//! how query parameters decode, reads from a resourceVersion the server has not reached
//! yet, and server-side apply that creates.

use std::net::SocketAddr;
use std::time::Duration;

use kube::api::{Api, PostParams};
use serde_json::Value;
use thoth_operator::sandbox::apiserver::ApiServer;
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
