//! What one session may hold, on both hub backends: the in-memory one, and Redis when
//! `TEST_REDIS_URL` names one (`scripts/services.sh` starts it). Keys and snapshot bytes
//! are bounded, delete tombstones are collected after their horizon, timestamps far in
//! the future are refused (HTTP) or dead-lettered (SQS), and fields outside
//! `GATEWAY_METADATA_FIELDS` never reach a browser.

use std::time::Duration;

use chrono::{SecondsFormat, TimeDelta, Utc};
use e2e_tests::app::App;
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Services, SseStream};
use serde_json::{json, Value};

/// The hub backends to run each test on: memory, and Redis if the environment has one.
fn backends() -> Vec<Vec<String>> {
    let mut backends = vec![vec![]];
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        backends.push(vec!["--redis-url".into(), url]);
    }
    backends
}

/// An in-process gateway on `backend` with `args`.
async fn app(backend: &[String], args: &[&str]) -> App {
    let all: Vec<&str> = backend
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect();
    App::start(&all).await
}

/// `POST …/metadata` of `body` to a fresh session's path: status, error code (or ""),
/// and the body.
async fn publish(app: &App, session: &str, body: Value) -> (u16, String, Value) {
    let response = reqwest::Client::new()
        .post(app.url(&format!("/v1/sessions/{session}/metadata")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code, body)
}

fn update(metadata: Value) -> Value {
    json!({"operation": "update", "metadata": metadata})
}

async fn snapshot(app: &App, session: &str) -> Value {
    let url = app.url(&format!("/v1/sessions/{session}"));
    reqwest::get(url)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["metadata"]
        .clone()
}

/// A session holds at most `MAX_SESSION_KEYS` keys: a change that would add more is
/// `422 session_full` and applies nothing, not even its other keys; replacing keys, or
/// deleting some first, still works.
#[tokio::test]
async fn a_session_holds_at_most_max_session_keys() {
    for backend in backends() {
        let app = app(&backend, &["--max-session-keys", "3"]).await;
        let s = unique("keys");
        let (status, _, _) = publish(&app, &s, update(json!({"a": 1, "b": 1, "c": 1}))).await;
        assert_eq!(status, 202, "{backend:?}");
        let (status, code, _) = publish(&app, &s, update(json!({"a": 2, "d": 1}))).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "session_full"),
            "{backend:?}"
        );
        assert_eq!(snapshot(&app, &s).await, json!({"a": 1, "b": 1, "c": 1}));

        let (status, _, _) = publish(&app, &s, update(json!({"a": 2, "b": 2, "c": 2}))).await;
        assert_eq!(status, 202, "replacing keys adds none");
        let delete = json!({"operation": "delete", "metadata": {"b": null}});
        assert_eq!(publish(&app, &s, delete).await.0, 202);
        assert_eq!(publish(&app, &s, update(json!({"d": 1}))).await.0, 202);
        assert_eq!(snapshot(&app, &s).await, json!({"a": 2, "c": 2, "d": 1}));
    }
}

/// A session's snapshot is at most `MAX_SNAPSHOT_BYTES` (keys plus compact JSON
/// values): a change that would grow it further is `422 snapshot_too_large`; one that
/// shrinks a value fits again.
#[tokio::test]
async fn a_session_snapshot_holds_at_most_max_snapshot_bytes() {
    for backend in backends() {
        let app = app(&backend, &["--max-snapshot-bytes", "100"]).await;
        let s = unique("bytes");
        // "big" (3) + 80 characters in quotes (82) = 85 bytes.
        let big = "x".repeat(80);
        assert_eq!(publish(&app, &s, update(json!({"big": big}))).await.0, 202);
        // + "more" (4) + 20 characters in quotes (22) = 111 > 100.
        let (status, code, body) = publish(&app, &s, update(json!({"more": "y".repeat(20)}))).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "snapshot_too_large"),
            "{body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("111"),
            "{body}"
        );
        assert_eq!(snapshot(&app, &s).await, json!({"big": big}));
        let (status, _, _) = publish(
            &app,
            &s,
            update(json!({"big": "x", "more": "y".repeat(20)})),
        )
        .await;
        assert_eq!(status, 202, "{backend:?}");
    }
}

/// A delete's tombstone keeps an older, late update out only for
/// `TOMBSTONE_HORIZON_SECONDS`; after that it is collected and the late update is
/// taken (the documented trade-off). With the default horizon it is still refused.
#[tokio::test]
async fn delete_tombstones_are_collected_after_the_horizon() {
    for backend in backends() {
        for (horizon, late_update_wins) in [("1", true), ("3600", false)] {
            let app = app(&backend, &["--tombstone-horizon-seconds", horizon]).await;
            let s = unique("tomb");
            let write = |op: &str, metadata: Value, second: u32| {
                json!({"operation": op, "metadata": metadata,
                       "timestamp": format!("2024-01-26T10:30:{second:02}")})
            };
            publish(&app, &s, write("update", json!({"status": "new"}), 10)).await;
            publish(&app, &s, write("delete", json!({"status": null}), 20)).await;
            let (_, _, late) =
                publish(&app, &s, write("update", json!({"status": "old"}), 15)).await;
            assert_eq!(late["ignored"], json!(["status"]), "within the horizon");

            tokio::time::sleep(Duration::from_millis(1200)).await;
            let (_, _, later) =
                publish(&app, &s, write("update", json!({"status": "old"}), 15)).await;
            let expected = if late_update_wins {
                json!({"status": "old"})
            } else {
                json!({})
            };
            assert_eq!(
                snapshot(&app, &s).await,
                expected,
                "{backend:?} {horizon} {later}"
            );
        }
    }
}

/// A timestamp beyond `MAX_CLOCK_SKEW_SECONDS` ahead is `422 timestamp_in_future` over
/// HTTP (so `9999-12-31` cannot pin a key), counted by reason; within the skew it is
/// accepted.
#[tokio::test]
async fn far_future_timestamps_are_refused_over_http() {
    for backend in backends() {
        let app = app(&backend, &["--max-clock-skew-seconds", "300"]).await;
        let s = unique("future");
        let at =
            |ahead: TimeDelta| (Utc::now() + ahead).to_rfc3339_opts(SecondsFormat::Micros, true);
        for timestamp in ["9999-12-31T23:59:59".to_owned(), at(TimeDelta::minutes(10))] {
            let body = json!({"operation": "update", "metadata": {"status": "pinned"},
                              "timestamp": timestamp});
            let (status, code, _) = publish(&app, &s, body).await;
            assert_eq!(
                (status, code.as_str()),
                (422, "timestamp_in_future"),
                "{timestamp}"
            );
        }
        let body = json!({"operation": "update", "metadata": {"status": "soon"},
                          "timestamp": at(TimeDelta::minutes(4))});
        assert_eq!(publish(&app, &s, body).await.0, 202);
        assert_eq!(snapshot(&app, &s).await, json!({"status": "soon"}));
        let metrics = reqwest::get(app.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("gateway_changes_refused_total")
                    && l.contains("reason=\"timestamp_in_future\"")
                    && l.contains("source=\"http\"")),
            "{metrics}"
        );
    }
}

/// From SQS, a far-future message is not applied and not deleted: the queue's redrive
/// policy moves it to the dead-letter queue unchanged, it is counted in
/// `gateway_sqs_messages_rejected_total{reason="timestamp_in_future"}`, and the messages
/// around it are applied. Likewise a message that would overfill its session.
#[tokio::test]
async fn far_future_and_overfilling_sqs_messages_go_to_the_dead_letter_queue() {
    let services = Services::from_env();
    for backend in backends() {
        let (queue, dlq) = Queue::with_dead_letter_queue(&services, 1, 1).await;
        let mut env = vec![
            ("SQS_WAIT_SECONDS", "1".to_owned()),
            ("MAX_SESSION_KEYS", "2".to_owned()),
        ];
        if let Some(url) = backend.get(1) {
            env.push(("REDIS_URL", url.clone()));
        }
        let gateway = queue.gateway_with(&services, &env).await;
        let s = unique("session");
        let mut stream =
            SseStream::connect(&gateway.url(&format!("/v1/sessions/{s}/events")), None).await;
        stream.expect("snapshot").await;

        let future = format!(
            r#"{{"session_id": "{s}", "event": "metadata_update", "operation": "update", "metadata": {{"status": "pinned"}}, "timestamp": "9999-12-31T23:59:59"}}"#
        );
        let overfilling = producer_message(&s, "update", json!({"x": 1, "y": 1, "z": 1}), 2);
        queue.send(&future).await;
        queue.send(&overfilling).await;
        queue
            .send(&producer_message(&s, "update", json!({"status": "ok"}), 3))
            .await;
        assert_eq!(
            stream.expect("metadata").await.json()["metadata"],
            json!({"status": "ok"})
        );

        let dead = dlq.receive_bodies(2, 30).await;
        let mut expected = vec![future.clone(), overfilling.clone()];
        expected.sort();
        assert_eq!(dead, expected, "{backend:?}");
        assert_eq!(
            gateway.get_json(&format!("/v1/sessions/{s}")).await["metadata"],
            json!({"status": "ok"})
        );
        let metrics = gateway.get_text("/metrics").await;
        for reason in ["timestamp_in_future", "session_full"] {
            assert!(
                metrics.contains(&format!(
                    "gateway_sqs_messages_rejected_total{{reason=\"{reason}\"}}"
                )),
                "{reason}: {metrics}"
            );
        }
    }
}

/// With `GATEWAY_METADATA_FIELDS`, unlisted fields are dropped as a change arrives: the
/// publisher is told they were ignored, and neither the live update nor the snapshot
/// (JSON or SSE) carries them.
#[tokio::test]
async fn fields_outside_the_allow_list_never_reach_browsers() {
    for backend in backends() {
        let app = app(&backend, &["--metadata-fields", "status,agent_state"]).await;
        let s = unique("fields");
        let events = app.url(&format!("/v1/sessions/{s}/events"));
        let mut live = SseStream::connect(&events, None).await;
        live.expect("snapshot").await;

        let body =
            update(json!({"status": "busy", "internal_score": 0.3, "agent_state": "thinking"}));
        let (status, _, answer) = publish(&app, &s, body).await;
        assert_eq!(status, 202);
        assert_eq!(answer["ignored"], json!(["internal_score"]));
        let event = live.expect("metadata").await.json();
        assert_eq!(
            event["metadata"],
            json!({"status": "busy", "agent_state": "thinking"}),
            "{backend:?}"
        );
        let (_, _, only_unlisted) = publish(&app, &s, update(json!({"secret": 1}))).await;
        assert_eq!(only_unlisted["event_id"], Value::Null, "nothing to send");

        let expected = json!({"status": "busy", "agent_state": "thinking"});
        assert_eq!(snapshot(&app, &s).await, expected);
        let mut fresh = SseStream::connect(&events, None).await;
        assert_eq!(fresh.expect("snapshot").await.json()["metadata"], expected);
    }
}
