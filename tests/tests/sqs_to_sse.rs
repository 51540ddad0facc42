//! The metadata path end to end: the producer's JSON sent with the SQS API (moto_server)
//! reaches SSE subscribers of the gateway binary, read as raw SSE over HTTP.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Gateway, Services, SseEvent, SseStream};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(10);

fn events_url(gateway: &Gateway, session: &str) -> String {
    gateway.url(&format!("/v1/sessions/{session}/events"))
}

/// Reads `metadata` events until their keys cover `keys` (heartbeats are comments and
/// never show up as events).
async fn collect_keys(stream: &mut SseStream, keys: usize) -> Vec<SseEvent> {
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    while seen.len() < keys {
        let event = stream
            .next(PATIENCE)
            .await
            .unwrap_or_else(|| panic!("only {} of {keys} keys arrived: {seen:?}", seen.len()));
        if event.event == "metadata" {
            seen.extend(keys_in(&event));
            events.push(event);
        }
    }
    events
}

/// The producer's exact JSON, sent through the SQS API, reaches a subscriber of its
/// session as a `metadata` event; a subscriber of another session gets nothing; a delete
/// removes the key from the snapshot.
#[tokio::test]
async fn producer_messages_reach_only_their_sessions_subscribers() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 30).await;
    let gateway = queue.gateway(&services).await;
    let (session, other) = (unique("user-session"), unique("other-session"));
    let mut stream = SseStream::connect(&events_url(&gateway, &session), None).await;
    let mut other_stream = SseStream::connect(&events_url(&gateway, &other), None).await;
    assert_eq!(
        stream.expect("snapshot").await.json()["metadata"],
        json!({})
    );
    other_stream.expect("snapshot").await;

    let metadata = json!({"status": "processing", "agent_state": "thinking", "priority": "high"});
    queue
        .send(&producer_message(&session, "update", metadata.clone(), 45))
        .await;
    let update = stream.expect("metadata").await;
    assert_eq!(
        update.json(),
        json!({"session_id": session, "event": "metadata_update", "operation": "update",
               "metadata": metadata, "timestamp": "2024-01-26T10:30:45.123456Z"})
    );
    let id = update.id.expect("metadata events carry an id");

    queue
        .send(&producer_message(
            &session,
            "delete",
            json!({"priority": null}),
            46,
        ))
        .await;
    let delete = stream.expect("metadata").await;
    assert_eq!(delete.json()["operation"], "delete");
    assert_eq!(delete.json()["metadata"], json!({"priority": null}));
    assert_ne!(delete.id.as_deref(), Some(id.as_str()));

    let snapshot: Value = gateway.get_json(&format!("/v1/sessions/{session}")).await;
    assert_eq!(
        snapshot["metadata"],
        json!({"status": "processing", "agent_state": "thinking"})
    );
    assert_eq!(snapshot["last_event_id"], delete.id.unwrap().as_str());
    assert!(
        other_stream
            .next(Duration::from_millis(500))
            .await
            .is_none(),
        "another session's subscriber got an event"
    );
}

/// A subscriber that reconnects with `Last-Event-ID` gets exactly the events it missed,
/// in order and without a snapshot; an id the gateway does not know gets a snapshot.
#[tokio::test]
async fn resume_replays_exactly_the_missed_events() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 30).await;
    let gateway = queue.gateway(&services).await;
    let session = unique("session");
    let url = events_url(&gateway, &session);
    let mut stream = SseStream::connect(&url, None).await;
    stream.expect("snapshot").await;
    queue
        .send(&producer_message(&session, "update", json!({"step": 1}), 1))
        .await;
    let seen = stream.expect("metadata").await.id.unwrap();
    drop(stream);

    for step in 2..=4 {
        queue
            .send(&producer_message(
                &session,
                "update",
                json!({ format!("k{step}"): step }),
                step,
            ))
            .await;
    }
    // Wait until the gateway applied all three before resuming.
    let mut watcher = SseStream::connect(&url, Some(&seen)).await;
    collect_keys(&mut watcher, 3).await;

    let mut resumed = SseStream::connect(&url, Some(&seen)).await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let event = resumed.next(PATIENCE).await.expect("a replayed event");
        assert_eq!(
            event.event, "metadata",
            "a known id replays, it does not resync"
        );
        replayed.push(event.json()["metadata"].clone());
    }
    assert_eq!(
        replayed,
        vec![json!({"k2": 2}), json!({"k3": 3}), json!({"k4": 4})]
    );
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    for unknown in [
        "1-1",
        "garbage",
        &format!("{}-999", seen.split('-').next().unwrap()),
    ] {
        let mut fresh = SseStream::connect(&url, Some(unknown)).await;
        let snapshot = fresh.expect("snapshot").await;
        assert_eq!(
            snapshot.json()["metadata"],
            json!({"step": 1, "k2": 2, "k3": 3, "k4": 4}),
            "resume from {unknown}"
        );
    }
    // The query parameter works like the header, for clients that cannot set headers.
    let mut by_query = SseStream::connect(&format!("{url}?last_event_id={seen}"), None).await;
    assert_eq!(
        by_query.expect("metadata").await.json()["metadata"],
        json!({"k2": 2})
    );
}

/// Messages delivered out of order and more than once (as SQS standard queues do)
/// converge to the state of the newest write per key, whatever the order.
#[tokio::test]
async fn out_of_order_and_duplicated_messages_converge() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 30).await;
    let gateway = queue.gateway(&services).await;
    let session = unique("session");
    let writes = [
        ("update", json!({"status": "queued", "progress": 0}), 1),
        ("update", json!({"status": "processing", "progress": 10}), 2),
        (
            "update",
            json!({"progress": 50, "agent_state": "thinking"}),
            3,
        ),
        ("delete", json!({"agent_state": null}), 4),
        ("update", json!({"status": "done", "progress": 100}), 5),
    ];
    // Newest first, then everything again in order: every key sees stale writes late.
    let order = [4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 4];
    for i in order {
        let (op, metadata, second) = &writes[i];
        queue
            .send(&producer_message(&session, op, metadata.clone(), *second))
            .await;
    }
    let url = events_url(&gateway, &session);
    let expected = json!({"status": "done", "progress": 100});
    let snapshot_url = gateway.url(&format!("/v1/sessions/{session}"));
    let mut state = Value::Null;
    for _ in 0..100 {
        state = reqwest::get(&snapshot_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["metadata"] == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state["metadata"], expected);
    // Let stragglers land, then check the stream agrees and nothing stale was forwarded
    // after the newest write: the last event of each key carries the final value.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut stream = SseStream::connect(&url, Some(&format!("{}-0", epoch_of(&state)))).await;
    let mut last_value = BTreeMap::new();
    while let Some(event) = stream.next(Duration::from_millis(300)).await {
        for (key, value) in event.json()["metadata"].as_object().unwrap() {
            last_value.insert(key.clone(), value.clone());
        }
    }
    assert_eq!(last_value["status"], "done");
    assert_eq!(last_value["progress"], 100);
    assert_eq!(last_value["agent_state"], Value::Null);
}

/// The metadata keys an event carries: the changed ones of a `metadata` event, all of a
/// `snapshot`.
fn keys_in(event: &SseEvent) -> Vec<String> {
    let metadata = event.json()["metadata"].clone();
    metadata.as_object().unwrap().keys().cloned().collect()
}

fn epoch_of(snapshot: &Value) -> String {
    let id = snapshot["last_event_id"].as_str().unwrap();
    id.split('-').next().unwrap().to_owned()
}

/// A malformed message is not deleted: the queue's redrive policy moves it to the
/// dead-letter queue untouched, the rejection is counted, and valid messages around it
/// keep flowing.
#[tokio::test]
async fn malformed_messages_stay_for_the_dead_letter_queue() {
    let services = Services::from_env();
    let (queue, dlq) = Queue::with_dead_letter_queue(&services, 1, 2).await;
    let gateway = queue.gateway(&services).await;
    let session = unique("session");
    let mut stream = SseStream::connect(&events_url(&gateway, &session), None).await;
    stream.expect("snapshot").await;

    let malformed = [
        "{not json".to_string(),
        producer_message(&session, "upsert", json!({"status": "x"}), 1),
        r#"{"session_id": "bad id!", "operation": "update", "metadata": {}, "timestamp": "2024-01-26T10:30:45"}"#.to_string(),
    ];
    for body in &malformed {
        queue.send(body).await;
    }
    queue
        .send(&producer_message(
            &session,
            "update",
            json!({"status": "ok"}),
            2,
        ))
        .await;
    assert_eq!(
        stream.expect("metadata").await.json()["metadata"],
        json!({"status": "ok"})
    );

    let dead = dlq.receive_bodies(malformed.len(), 40).await;
    let mut expected = malformed.to_vec();
    expected.sort();
    assert_eq!(
        dead, expected,
        "every malformed message reached the DLQ unchanged"
    );

    let health = reqwest::get(gateway.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = gateway.get_text("/metrics").await;
    assert!(
        metrics.contains("gateway_sqs_messages_rejected_total{reason=\"invalid_json\"}"),
        "{metrics}"
    );
    assert!(
        gateway.logs().contains("malformed SQS message"),
        "{}",
        gateway.logs()
    );
}

/// A gateway killed (SIGKILL) while messages are flowing and started again loses none of
/// them: what it had not deleted is redelivered, so a subscriber that reconnects sees
/// every key across the two runs.
#[tokio::test]
async fn a_killed_gateway_loses_no_message() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 2).await;
    let session = unique("session");
    let total = 60;
    for i in 0..total {
        queue
            .send(&producer_message(
                &session,
                "update",
                json!({ format!("k{i}"): i }),
                i % 60,
            ))
            .await;
    }
    let mut gateway = queue.gateway(&services).await;
    let url = events_url(&gateway, &session);
    let mut stream = SseStream::connect(&url, None).await;
    let mut seen = HashSet::new();
    while seen.len() < 5 {
        let event = stream.next(PATIENCE).await.expect("events before the kill");
        seen.extend(keys_in(&event));
    }
    gateway.kill().await;
    while let Some(event) = stream.next(Duration::from_millis(200)).await {
        seen.extend(keys_in(&event));
    }

    gateway.restart().await;
    let mut stream = SseStream::connect(&url, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < total as usize && tokio::time::Instant::now() < deadline {
        if let Some(event) = stream.next(Duration::from_secs(1)).await {
            seen.extend(keys_in(&event));
        }
    }
    let missing: Vec<_> = (0..total)
        .map(|i| format!("k{i}"))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(missing.is_empty(), "lost across the crash: {missing:?}");
}

/// FIFO queues work too (the consumer needs nothing queue-type specific).
#[tokio::test]
async fn fifo_queues_are_consumed() {
    let services = Services::from_env();
    let name = format!("{}.fifo", unique("metadata"));
    let queue = Queue::create_with(
        &services,
        &name,
        30,
        &[
            (QueueAttributeName::FifoQueue, "true".into()),
            (QueueAttributeName::ContentBasedDeduplication, "true".into()),
        ],
    )
    .await;
    let gateway = queue.gateway(&services).await;
    let session = unique("session");
    let mut stream = SseStream::connect(&events_url(&gateway, &session), None).await;
    stream.expect("snapshot").await;
    for (i, status) in ["queued", "processing", "done"].iter().enumerate() {
        queue
            .sqs
            .send_message()
            .queue_url(&queue.url)
            .message_group_id(&session)
            .message_body(producer_message(
                &session,
                "update",
                json!({"status": status}),
                i as u32,
            ))
            .send()
            .await
            .unwrap();
    }
    let statuses: Vec<_> = collect_keys(&mut stream, 1).await.into_iter().collect();
    let mut all = statuses
        .iter()
        .map(|e| e.json()["metadata"]["status"].clone())
        .collect::<Vec<_>>();
    while all.len() < 3 {
        all.push(stream.expect("metadata").await.json()["metadata"]["status"].clone());
    }
    assert_eq!(
        all,
        vec![json!("queued"), json!("processing"), json!("done")]
    );
}

/// SIGTERM cancels the in-flight 20 s long poll and ends SSE streams: the gateway exits
/// cleanly well before the poll would have returned (the harness allows 15 s).
#[tokio::test]
async fn sigterm_cancels_the_long_poll() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 30).await;
    let mut env = services.aws_env();
    env.extend([
        ("SQS_METADATA_QUEUE_URL", queue.url.clone()),
        ("SQS_WAIT_SECONDS", "20".to_string()),
    ]);
    let mut gateway = Gateway::start(&env).await;
    let mut stream = SseStream::connect(&events_url(&gateway, "s"), None).await;
    stream.expect("snapshot").await;
    let ready = reqwest::get(gateway.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    let sqs = &body["components"]["sqs"];
    assert_eq!(
        (&sqs["status"], &sqs["backend"]),
        (&json!("ok"), &json!("sqs"))
    );
    let started = std::time::Instant::now();
    gateway.stop().await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(stream.next(Duration::from_secs(1)).await.is_none());
}
