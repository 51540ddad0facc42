//! The session endpoints' answers to bad and hostile input, and graceful shutdown.
//! Runs the gateway binary in its embedded default (no AWS, no MongoDB).

use std::time::Duration;

use e2e_tests::{unique, Gateway, SseStream};
use serde_json::{json, Value};

async fn post(
    gateway: &Gateway,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gateway.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// Every kind of bad publish gets its own 4xx and error code, and nothing is applied.
#[tokio::test]
async fn bad_publishes_get_precise_errors_and_change_nothing() {
    let gateway = Gateway::start(&[("MAX_BODY_BYTES", "4096".into())]).await;
    let path = "/v1/sessions/s-1/metadata";
    let json_type = "application/json";
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("not JSON", json_type, "{oops".into(), 400, "invalid_json"),
        (
            "wrong type",
            "text/plain",
            r#"{"operation":"update","metadata":{}}"#.into(),
            415,
            "unsupported_media_type",
        ),
        (
            "unknown operation",
            json_type,
            r#"{"operation":"upsert","metadata":{"a":1}}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "metadata not an object",
            json_type,
            r#"{"operation":"update","metadata":[1]}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "bad timestamp",
            json_type,
            r#"{"operation":"update","metadata":{"a":1},"timestamp":"soon"}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "other session",
            json_type,
            r#"{"session_id":"s-2","operation":"update","metadata":{"a":1}}"#.into(),
            422,
            "session_mismatch",
        ),
        (
            "oversized",
            json_type,
            format!(
                r#"{{"operation":"update","metadata":{{"a":"{}"}}}}"#,
                "x".repeat(8000)
            ),
            413,
            "payload_too_large",
        ),
    ];
    for (what, content_type, body, status, expected_code) in cases {
        let (got, answer) = post(&gateway, path, content_type, body).await;
        assert_eq!(
            (got, code(&answer)),
            (status, expected_code),
            "{what}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let (status, answer) = post(&gateway, "/v1/sessions/bad%20id/metadata", json_type, "{}").await;
    assert_eq!((status, code(&answer)), (400, "invalid_session_id"));
    let long_id = "x".repeat(129);
    let response = reqwest::get(gateway.url(&format!("/v1/sessions/{long_id}/events")))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let snapshot: Value = gateway.get_json("/v1/sessions/s-1").await;
    assert_eq!(
        snapshot["metadata"],
        json!({}),
        "no bad publish was applied"
    );
}

/// A publish answers which keys were applied and which were stale.
#[tokio::test]
async fn publish_reports_applied_and_stale_keys() {
    let gateway = Gateway::start(&[]).await;
    let path = format!("/v1/sessions/{}/metadata", unique("s"));
    let body = |ts: &str| {
        json!({"operation": "update", "metadata": {"status": ts}, "timestamp": ts}).to_string()
    };
    let (status, first) = post(
        &gateway,
        &path,
        "application/json",
        body("2024-01-26T10:30:45"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(first["applied"], json!(["status"]));
    assert!(first["event_id"].as_str().unwrap().ends_with("-1"));
    let (_, stale) = post(
        &gateway,
        &path,
        "application/json",
        body("2024-01-26T10:30:44"),
    )
    .await;
    assert_eq!(
        stale,
        json!({"event_id": null, "applied": [], "ignored": ["status"]})
    );
}

/// With `HTTP_PUBLISH=false` the publish endpoint is closed, and `/v1/info` says so.
#[tokio::test]
async fn publish_can_be_disabled() {
    let gateway = Gateway::start(&[("HTTP_PUBLISH", "false".into())]).await;
    let (status, answer) = post(
        &gateway,
        "/v1/sessions/s/metadata",
        "application/json",
        r#"{"operation":"update","metadata":{"a":1}}"#,
    )
    .await;
    assert_eq!((status, code(&answer)), (403, "publish_disabled"));
    let info: Value = gateway.get_json("/v1/info").await;
    assert_eq!(info["http_publish"], false);
}

/// SIGTERM ends open SSE streams and the gateway exits cleanly (the harness fails the
/// test if it takes more than 15 s, i.e. if a 20 s long poll or a stream held it up).
#[tokio::test]
async fn sigterm_ends_streams_and_exits_cleanly() {
    let mut gateway = Gateway::start(&[("HEARTBEAT_SECONDS", "1".into())]).await;
    let mut stream = SseStream::connect(&gateway.url("/v1/sessions/s/events"), None).await;
    stream.expect("snapshot").await;
    gateway.stop().await;
    assert!(
        stream.next(Duration::from_secs(2)).await.is_none(),
        "the stream ended"
    );
    assert!(gateway.logs().contains("shutting down"));
}

/// Startup refuses an invalid setting and names it.
#[tokio::test]
async fn invalid_settings_stop_startup_with_their_name() {
    let stderr = e2e_tests::startup_error(&[("SNS_TOPIC_FEEDBACK_GOOD", "not-an-arn")]).await;
    assert!(
        stderr.contains("SNS_TOPIC_FEEDBACK_GOOD") || stderr.contains("--sns-topic-feedback-good"),
        "{stderr}"
    );
}
