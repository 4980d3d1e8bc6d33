//! `fieldValidation`: Strict refuses unknown fields, Warn (the default) drops them
//! with a `Warning` header each, Ignore drops them silently.

use kube::client::Body;
use serde_json::{Value, json};

use super::kubectl::server_with_gadgets;
use super::support::start;

/// POSTs a Widget with two unknown fields: status, `Warning` headers and body.
async fn create_with_unknown_fields(
    client: &kube::Client,
    name: &str,
    field_validation: Option<&str>,
) -> (u16, Vec<String>, Value) {
    let mut uri = "/apis/example.com/v1/namespaces/default/widgets".to_string();
    if let Some(directive) = field_validation {
        uri.push_str(&format!("?fieldValidation={directive}"));
    }
    let widget = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1, "shade": "dark", "extras": [{"a": 1}]},
    });
    let request = http::Request::post(uri)
        .header("Content-Type", "application/json")
        .body(Body::from(serde_json::to_vec(&widget).unwrap()))
        .unwrap();
    let response = client.send(request).await.unwrap();
    let status = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let body = response.into_body().collect_bytes().await.unwrap();
    (status, warnings, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn unknown_fields_are_warned_about_ignored_or_refused() {
    let server = start().await;
    let client = server.client().unwrap();
    let expected = vec![
        r#"299 - "unknown field \"spec.extras\"""#.to_string(),
        r#"299 - "unknown field \"spec.shade\"""#.to_string(),
    ];

    let (status, warnings, created) = create_with_unknown_fields(&client, "default", None).await;
    assert_eq!(status, 201);
    assert_eq!(warnings, expected, "Warn is the default");
    assert_eq!(created["spec"], json!({"size": 1}));

    let (status, warnings, _) = create_with_unknown_fields(&client, "warn", Some("Warn")).await;
    assert_eq!((status, warnings), (201, expected));

    let (status, warnings, created) =
        create_with_unknown_fields(&client, "ignore", Some("Ignore")).await;
    assert_eq!((status, warnings), (201, Vec::new()));
    assert_eq!(created["spec"], json!({"size": 1}));

    let (status, warnings, refused) =
        create_with_unknown_fields(&client, "strict", Some("Strict")).await;
    assert_eq!((status, warnings), (400, Vec::new()));
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(r#"unknown field "spec.shade""#),
        "{message}"
    );

    let (status, _, refused) = create_with_unknown_fields(&client, "odd", Some("Loud")).await;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("fieldValidation")
    );

    // Warnings also come back from a patch that brings an unknown field.
    let patch = http::Request::patch("/apis/example.com/v1/namespaces/default/widgets/ignore")
        .header("Content-Type", "application/merge-patch+json")
        .body(Body::from(br#"{"spec":{"hue":1}}"#.to_vec()))
        .unwrap();
    let response = client.send(patch).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("warning").unwrap(),
        r#"299 - "unknown field \"spec.hue\"""#
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_the_servers_unknown_field_warnings() {
    let (server, kubectl) = server_with_gadgets().await;
    let manifest = kubectl.write(
        "gadget.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g9}\nspec: {size: 2, shade: dark}\n",
    );
    let out = kubectl
        .run(&["apply", "--validate=warn", "-f", &manifest])
        .await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("gadget.example.com/g9 created"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains(r#"Warning: unknown field "spec.shade""#),
        "{}",
        out.stderr
    );
    let out = kubectl
        .run(&["apply", "--validate=false", "-f", &manifest])
        .await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        !out.stderr.contains("Warning"),
        "Ignore is silent: {}",
        out.stderr
    );
    server.shutdown().await;
}
