//! Cluster mode when Redis goes away and comes back: nothing is lost, nobody is left
//! silently behind, and readiness tells the load balancer the truth.

use std::time::Duration;

use e2e_tests::redis::{Persistence, RedisServer};
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Gateway, Services, View};
use serde_json::{json, Map, Value};

/// Polls `/readyz` until its status code is `status` (panics after 20 s).
async fn wait_ready_status(gateway: &Gateway, status: u16) -> Value {
    for _ in 0..200 {
        let response = reqwest::get(gateway.url("/readyz")).await.unwrap();
        if response.status() == status {
            return response.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}");
}

/// Redis killed while producer messages flow through SQS, then restarted:
/// - both nodes go not-ready naming Redis, and HTTP publish answers 503 + Retry-After;
/// - the subscribers' streams stay open, and after Redis is back each one is sent a
///   fresh snapshot on that same stream, so every view ends at the true state;
/// - every message sent is in that state: none was deleted from SQS unapplied.
#[tokio::test]
async fn redis_killed_and_restarted_while_events_flow_loses_nothing() {
    let services = Services::from_env();
    // Acknowledged writes survive a kill, as with a persistent or replicated Redis.
    let mut redis = RedisServer::start(Persistence::AppendOnly).await;
    // A short visibility timeout: messages a node held when Redis died come back soon.
    let queue = Queue::create(&services, 2).await;
    let env = [
        ("REDIS_URL", redis.url()),
        ("SQS_WAIT_SECONDS", "1".into()),
        ("HEARTBEAT_SECONDS", "1".into()),
    ];
    let (a, b) = (
        queue.gateway_with(&services, &env).await,
        queue.gateway_with(&services, &env).await,
    );
    let session = unique("session");
    let url = |g: &Gateway| g.url(&format!("/v1/sessions/{session}/events"));
    let (mut on_a, mut view_a) = View::subscribe(&url(&a)).await;
    let (mut on_b, mut view_b) = View::subscribe(&url(&b)).await;

    let mut expected = Map::new();
    let mut send = |step: u32| {
        expected.insert(format!("k{step}"), json!(step));
        producer_message(
            &session,
            "update",
            json!({ format!("k{step}"): step }),
            step % 60,
        )
    };
    for step in 1..=10 {
        queue.send(&send(step)).await;
    }
    redis.kill().await;
    for step in 11..=20 {
        queue.send(&send(step)).await;
    }

    for gateway in [&a, &b] {
        let readiness = wait_ready_status(gateway, 503).await;
        assert_eq!(readiness["components"]["redis"]["status"], "down");
        assert!(readiness["components"]["redis"]["error"].is_string());
        let response = reqwest::Client::new()
            .post(gateway.url(&format!("/v1/sessions/{session}/metadata")))
            .json(&json!({"operation": "update", "metadata": {"during": "outage"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "service_unavailable");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    redis.restart().await;
    for step in 21..=30 {
        queue.send(&send(step)).await;
    }
    for gateway in [&a, &b] {
        let readiness = wait_ready_status(gateway, 200).await;
        assert_eq!(readiness["components"]["redis"]["status"], "ok");
    }

    // The same streams, never reopened: they were resynced and then followed.
    view_a
        .follow_until(&mut on_a, &expected, Duration::from_secs(20))
        .await;
    view_b
        .follow_until(&mut on_b, &expected, Duration::from_secs(20))
        .await;
    let snapshot = a.get_json(&format!("/v1/sessions/{session}")).await;
    assert_eq!(snapshot["metadata"], Value::Object(expected));
}
