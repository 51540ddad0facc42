//! Cluster mode on a Redis Cluster (three masters made with `redis-cli --cluster create`):
//! sessions spread over the shards, and two gateways still act as one.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e_tests::redis::RedisCluster;
use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Services, View};
use serde_json::{json, Map};

/// Two gateways on one SQS queue and a 3-master Redis Cluster, with sessions chosen so
/// that every master holds some: a subscriber of each session on each node receives
/// every update (sharded pub/sub reaches the right shard), and both nodes' snapshots
/// agree.
#[tokio::test]
async fn two_gateways_on_a_redis_cluster_deliver_every_session_on_every_shard() {
    let services = Services::from_env();
    let cluster = RedisCluster::start().await;
    let mut sessions = Vec::new();
    let mut shards = BTreeSet::new();
    while shards.len() < 3 || sessions.len() < 6 {
        let session = unique("session");
        shards.insert(cluster.node_of(&format!("{{{session}}}")).await);
        sessions.push(session);
    }
    let queue = Queue::create(&services, 30).await;
    let env = [
        ("REDIS_URL", cluster.url()),
        ("SQS_WAIT_SECONDS", "1".into()),
    ];
    let (a, b) = (
        queue.gateway_with(&services, &env).await,
        queue.gateway_with(&services, &env).await,
    );

    let mut streams = Vec::new();
    for session in &sessions {
        for gateway in [&a, &b] {
            let url = gateway.url(&format!("/v1/sessions/{session}/events"));
            let (stream, view) = View::subscribe(&url).await;
            streams.push((session.clone(), stream, view));
        }
    }
    for step in 1..=5u32 {
        for session in &sessions {
            queue
                .send(&producer_message(
                    session,
                    "update",
                    json!({ format!("k{step}"): step }),
                    step,
                ))
                .await;
        }
    }
    let expected: Map<_, _> = (1..=5u32).map(|s| (format!("k{s}"), json!(s))).collect();
    for (session, stream, view) in &mut streams {
        view.follow_until(stream, &expected, Duration::from_secs(15))
            .await;
        for gateway in [&a, &b] {
            let snapshot = gateway.get_json(&format!("/v1/sessions/{session}")).await;
            assert_eq!(snapshot["metadata"], json!(expected), "{session}");
        }
    }
}
