//! Cluster mode: several gateway processes on one Redis (`redis-server` from Debian) and
//! one SQS queue (moto_server) act as one gateway.

use std::time::Duration;

use e2e_tests::redis::{Persistence, RedisServer};
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Gateway, Services, SseStream, View};
use serde_json::{json, Map, Value};

const PATIENCE: Duration = Duration::from_secs(15);

/// Settings of every gateway in these tests: the shared Redis, quick polls, quick pings.
fn node_env(redis: &str) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_URL", redis.to_owned()),
        ("SQS_WAIT_SECONDS", "1".into()),
        ("HEARTBEAT_SECONDS", "1".into()),
    ]
}

/// A fresh Redis and two gateways on it (the Redis stops when dropped).
async fn two_nodes() -> (RedisServer, Gateway, Gateway) {
    let services = Services::from_env();
    let redis = RedisServer::start(Persistence::None).await;
    let mut env = services.aws_env();
    env.extend(node_env(&redis.url()));
    let (a, b) = (Gateway::start(&env).await, Gateway::start(&env).await);
    (redis, a, b)
}

fn events_url(gateway: &Gateway, session: &str) -> String {
    gateway.url(&format!("/v1/sessions/{session}/events"))
}

async fn publish(gateway: &Gateway, session: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gateway.url(&format!("/v1/sessions/{session}/metadata")))
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// The sum of `gateway_events_applied_total` samples with `source` on `gateway`.
async fn applied(gateway: &Gateway, source: &str) -> u64 {
    let metrics = gateway.get_text("/metrics").await;
    metrics
        .lines()
        .filter(|l| l.starts_with("gateway_events_applied_total") && l.contains(source))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Two gateways compete for one SQS queue, as two replicas behind a load balancer do:
/// a subscriber on each node still receives every update, whichever node consumed the
/// message, each exactly once and in order.
#[tokio::test]
async fn a_subscriber_on_each_node_receives_every_update_from_the_shared_queue() {
    let services = Services::from_env();
    let redis = RedisServer::start(Persistence::None).await;
    let queue = Queue::create(&services, 30).await;
    let env = node_env(&redis.url());
    let (a, b) = (
        queue.gateway_with(&services, &env).await,
        queue.gateway_with(&services, &env).await,
    );
    let session = unique("session");
    let (mut on_a, mut view_a) = View::subscribe(&events_url(&a, &session)).await;
    let (mut on_b, mut view_b) = View::subscribe(&events_url(&b, &session)).await;

    let mut expected = Map::new();
    for step in 1..=30u32 {
        let key = format!("k{step}");
        queue
            .send(&producer_message(
                &session,
                "update",
                json!({ &key: step }),
                step % 60,
            ))
            .await;
        expected.insert(key, json!(step));
    }
    view_a.follow_until(&mut on_a, &expected, PATIENCE).await;
    view_b.follow_until(&mut on_b, &expected, PATIENCE).await;
    assert_eq!(
        view_a.position, view_b.position,
        "both saw the same history"
    );
    let (by_a, by_b) = (applied(&a, "sqs").await, applied(&b, "sqs").await);
    assert_eq!(
        by_a + by_b,
        30,
        "each message applied once across the nodes"
    );
    eprintln!("node A applied {by_a} messages, node B {by_b}");
}

/// Writes to one session through both nodes at once, with conflicting keys and times,
/// converge: both nodes' snapshots equal the last-writer-wins result, and each node's
/// subscriber, applying its stream, ends with that same state.
#[tokio::test]
async fn concurrent_writes_through_both_nodes_converge() {
    let (_redis, a, b) = two_nodes().await;
    let session = unique("session");
    let (mut on_a, mut view_a) = View::subscribe(&events_url(&a, &session)).await;
    let (mut on_b, mut view_b) = View::subscribe(&events_url(&b, &session)).await;

    // Node A writes `status` at even seconds, node B at odd ones, in reverse time order,
    // both also writing `owner`; the newest write of each key must win everywhere.
    let writes = |gateway: &Gateway, parity: u32| {
        let (gateway, session) = (gateway.url(""), session.clone());
        async move {
            let client = reqwest::Client::new();
            for second in (0..40u32).rev().filter(|s| s % 2 == parity) {
                let body = json!({
                    "operation": "update",
                    "metadata": {"status": format!("s{second}"), "owner": format!("node{parity}"), format!("k{second}"): second},
                    "timestamp": format!("2024-01-26T10:30:{second:02}"),
                });
                let response = client
                    .post(format!("{gateway}/v1/sessions/{session}/metadata"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
            }
        }
    };
    tokio::join!(writes(&a, 0), writes(&b, 1));

    let mut expected = Map::new();
    expected.insert("status".into(), json!("s39"));
    expected.insert("owner".into(), json!("node1"));
    for second in 0..40u32 {
        expected.insert(format!("k{second}"), json!(second));
    }
    for gateway in [&a, &b] {
        let snapshot = gateway.get_json(&format!("/v1/sessions/{session}")).await;
        assert_eq!(object(snapshot["metadata"].clone()), expected);
    }
    view_a.follow_until(&mut on_a, &expected, PATIENCE).await;
    view_b.follow_until(&mut on_b, &expected, PATIENCE).await;
}

/// An event id handed out by node A resumes on node B: B replays exactly the events
/// after it from the shared history, without a snapshot.
#[tokio::test]
async fn a_last_event_id_from_one_node_replays_the_missed_events_on_another() {
    let (_redis, a, b) = two_nodes().await;
    let session = unique("session");
    let mut on_a = SseStream::connect(&events_url(&a, &session), None).await;
    on_a.expect("snapshot").await;
    publish(
        &a,
        &session,
        json!({"operation": "update", "metadata": {"step": 1}}),
    )
    .await;
    let seen = on_a.expect("metadata").await.id.unwrap();
    drop(on_a);
    for step in 2..=4 {
        let response = publish(
            &a,
            &session,
            json!({"operation": "update", "metadata": { format!("k{step}"): step }}),
        )
        .await;
        assert_eq!(response.status(), 202);
    }

    let mut on_b = SseStream::connect(&events_url(&b, &session), Some(&seen)).await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let event = on_b.expect("metadata").await;
        replayed.push(event.json()["metadata"].clone());
    }
    assert_eq!(
        replayed,
        vec![json!({"k2": 2}), json!({"k3": 3}), json!({"k4": 4})]
    );
    assert!(
        on_b.next(Duration::from_millis(500)).await.is_none(),
        "nothing but the missed events"
    );
}

/// Every node killed with SIGKILL and started again: the state lives in Redis, so the
/// snapshot still holds it on both, and ids from before the crash still resume.
#[tokio::test]
async fn every_node_killed_and_restarted_keeps_the_state() {
    let (_redis, mut a, mut b) = two_nodes().await;
    let session = unique("session");
    let first = publish(
        &a,
        &session,
        json!({"operation": "update", "metadata": {"status": "processing", "step": 1}}),
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    publish(
        &b,
        &session,
        json!({"operation": "update", "metadata": {"step": 2}}),
    )
    .await;

    a.kill().await;
    b.kill().await;
    a.restart().await;
    b.restart().await;

    for gateway in [&a, &b] {
        let snapshot = gateway.get_json(&format!("/v1/sessions/{session}")).await;
        assert_eq!(
            snapshot["metadata"],
            json!({"status": "processing", "step": 2})
        );
    }
    let id = first["event_id"].as_str().unwrap();
    let mut resumed = SseStream::connect(&events_url(&b, &session), Some(id)).await;
    assert_eq!(
        resumed.expect("metadata").await.json()["metadata"],
        json!({"step": 2})
    );
}
