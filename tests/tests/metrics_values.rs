//! `/metrics` after a scripted run through the real services: every figure is exactly
//! what the run caused. The gateway runs as its own process, so no other test's metrics
//! mix in.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_tests::sns::TopicTap;
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{feedback, unique, Gateway, Services, SseStream};
use serde_json::json;

/// The samples of a `/metrics` text: `name{labels}` → value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn metrics(gateway: &Gateway) -> BTreeMap<String, f64> {
    parse(&gateway.get_text("/metrics").await)
}

/// Waits until `series` has `value` on `/metrics` (10 s at most).
async fn wait_for(gateway: &Gateway, series: &str, value: f64) {
    for _ in 0..200 {
        if metrics(gateway).await.get(series) == Some(&value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{series} never became {value}:\n{}",
        gateway.get_text("/metrics").await
    );
}

fn events_url(gateway: &Gateway, session: &str) -> String {
    gateway.url(&format!("/v1/sessions/{session}/events"))
}

/// Three subscribers on two sessions, four producer messages (one of them stale), one
/// malformed message that SQS moves to the real dead-letter queue after two receives,
/// two feedback posts (one routed to SNS), one subscriber leaving: the counters, gauges
/// and histogram count on `/metrics` are exactly those numbers.
#[tokio::test]
async fn metrics_after_a_scripted_run_are_exact() {
    let services = Services::from_env();
    let (queue, _dead_letters) = Queue::with_dead_letter_queue(&services, 1, 2).await;
    let good = TopicTap::create(&services, &unique("good")).await;
    let gateway = queue
        .gateway_with(
            &services,
            &[
                ("SQS_WAIT_SECONDS", "1".into()),
                ("QUEUE_STATS_INTERVAL_SECONDS", "1".into()),
                ("MONGODB_URI", services.mongodb_uri.clone()),
                ("MONGODB_DATABASE", unique("metrics")),
                ("SNS_TOPIC_FEEDBACK_GOOD", good.topic_arn.clone()),
            ],
        )
        .await;
    let (a, b) = (unique("a"), unique("b"));

    // Three subscribers: two on A, one on B.
    let mut a1 = SseStream::connect(&events_url(&gateway, &a), None).await;
    let mut a2 = SseStream::connect(&events_url(&gateway, &a), None).await;
    let mut b1 = SseStream::connect(&events_url(&gateway, &b), None).await;
    for stream in [&mut a1, &mut a2, &mut b1] {
        stream.expect("snapshot").await;
    }

    // Two changes of A and one of B reach their subscribers; a stale change of A does not.
    queue
        .send(&producer_message(
            &a,
            "update",
            json!({"status": "one"}),
            10,
        ))
        .await;
    a1.expect("metadata").await;
    a2.expect("metadata").await;
    queue
        .send(&producer_message(&a, "update", json!({"status": "old"}), 5))
        .await;
    wait_for(
        &gateway,
        r#"gateway_events_ignored_total{reason="stale"}"#,
        1.0,
    )
    .await;
    queue
        .send(&producer_message(&a, "update", json!({"step": 2}), 11))
        .await;
    a1.expect("metadata").await;
    a2.expect("metadata").await;
    queue
        .send(&producer_message(&b, "update", json!({"status": "b"}), 10))
        .await;
    b1.expect("metadata").await;

    // A malformed message: received twice, then moved to the DLQ by SQS.
    queue.send("{not json").await;
    wait_for(
        &gateway,
        r#"gateway_sqs_queue_messages{queue="dlq",state="visible"}"#,
        1.0,
    )
    .await;

    // Feedback: one positive (its notification goes to SNS), one negative (no topic).
    for rating in ["up", "down"] {
        let response = feedback::post(
            &gateway,
            &a,
            &json!({"rating": rating, "comment": "c"}),
            None,
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    wait_for(
        &gateway,
        r#"gateway_notifications_total{outcome="sent"}"#,
        1.0,
    )
    .await;

    // One subscriber leaves.
    drop(a2);
    wait_for(&gateway, "gateway_sse_subscribers", 2.0).await;
    // The metadata queue is read again after the last delete.
    wait_for(
        &gateway,
        r#"gateway_sqs_queue_messages{queue="metadata",state="in_flight"}"#,
        0.0,
    )
    .await;

    let m = metrics(&gateway).await;
    let expected = [
        (r#"gateway_sse_streams_opened_total"#, 3.0),
        (r#"gateway_sse_subscribers"#, 2.0),
        (
            r#"gateway_sse_streams_closed_total{reason="client_gone"}"#,
            1.0,
        ),
        (r#"gateway_sessions"#, 2.0),
        (r#"gateway_events_applied_total{source="sqs"}"#, 3.0),
        (r#"gateway_events_ignored_total{reason="stale"}"#, 1.0),
        // Two events to two subscribers of A, one to B's.
        (r#"gateway_fanout_latency_seconds_count"#, 5.0),
        // Four producer messages, and the malformed one twice.
        (r#"gateway_sqs_messages_received_total"#, 6.0),
        (r#"gateway_sqs_messages_applied_total"#, 4.0),
        (r#"gateway_sqs_messages_deleted_total"#, 4.0),
        (
            r#"gateway_sqs_messages_rejected_total{reason="invalid_json"}"#,
            2.0,
        ),
        (
            r#"gateway_sqs_queue_messages{queue="metadata",state="visible"}"#,
            0.0,
        ),
        (
            r#"gateway_sqs_queue_messages{queue="dlq",state="visible"}"#,
            1.0,
        ),
        (
            r#"gateway_sqs_queue_messages{queue="dlq",state="in_flight"}"#,
            0.0,
        ),
        (
            r#"gateway_sqs_queue_oldest_message_age_seconds{queue="metadata"}"#,
            0.0,
        ),
        (
            r#"gateway_feedback_stored_total{sentiment="positive"}"#,
            1.0,
        ),
        (
            r#"gateway_feedback_stored_total{sentiment="negative"}"#,
            1.0,
        ),
        (r#"gateway_notifications_total{outcome="sent"}"#, 1.0),
        (r#"gateway_outbox_pending"#, 0.0),
        (r#"gateway_outbox_oldest_pending_age_seconds"#, 0.0),
        (r#"gateway_component_up{component="sqs"}"#, 1.0),
        (r#"gateway_component_up{component="mongodb"}"#, 1.0),
        (r#"gateway_component_up{component="sns"}"#, 1.0),
        (
            r#"gateway_http_requests_total{route="/v1/sessions/{id}/events",method="GET",status="200"}"#,
            3.0,
        ),
        (
            r#"gateway_http_requests_total{route="/v1/sessions/{id}/feedback",method="POST",status="201"}"#,
            2.0,
        ),
    ];
    let mut wrong = Vec::new();
    for (series, value) in expected {
        if m.get(series) != Some(&value) {
            wrong.push(format!("{series}: want {value}, got {:?}", m.get(series)));
        }
    }
    for absent in [
        "gateway_sqs_errors_total",
        "gateway_sse_resyncs_total",
        r#"gateway_events_ignored_total{reason="duplicate_message"}"#,
        r#"gateway_notifications_total{outcome="failed"}"#,
    ] {
        if m.keys().any(|k| k.starts_with(absent)) {
            wrong.push(format!("{absent}: want no series"));
        }
    }
    // The DLQ is not empty, so its age is counting (at least one interval).
    let dlq_age = m[r#"gateway_sqs_queue_oldest_message_age_seconds{queue="dlq"}"#];
    assert!(dlq_age >= 0.0, "{dlq_age}");
    // Backend calls were timed.
    for timed in [
        r#"gateway_sqs_call_duration_seconds_count{op="receive"}"#,
        r#"gateway_sqs_call_duration_seconds_count{op="delete"}"#,
        r#"gateway_sqs_call_duration_seconds_count{op="get_queue_attributes"}"#,
        r#"gateway_mongodb_call_duration_seconds_count{op="insert"}"#,
        r#"gateway_sns_call_duration_seconds_count{op="publish_batch"}"#,
    ] {
        if m.get(timed).is_none_or(|&n| n < 1.0) {
            wrong.push(format!("{timed}: want at least 1"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n\n{}",
        wrong.join("\n"),
        gateway.get_text("/metrics").await
    );
    drop((a1, b1));
}
