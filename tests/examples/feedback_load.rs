//! Load measurement of the feedback path: posts feedback at a fixed concurrency to the
//! gateway binary, backed by the real MongoDB and SNS servers of `scripts/services.sh`,
//! and reports post latency, throughput and how long the outbox took to publish every
//! notification; then checks a subscriber got each notification once.
//!
//! ```sh
//! scripts/services.sh start && source .services/env
//! cargo build --release -p gateway
//! cargo run --release -p e2e-tests --example feedback_load -- [POSTS] [CONCURRENCY] [SNS]
//! ```
//!
//! `SNS` is `healthy` (default) or `blackhole`: the gateway's AWS endpoint is then a
//! socket that accepts connections and never answers, as an SNS that hangs would, to show
//! that posts do not wait for SNS (only post latency is reported in that mode).

use std::time::{Duration, Instant};

use e2e_tests::feedback::{list, post};
use e2e_tests::sns::TopicTap;
use e2e_tests::{unique, Gateway, Services};
use futures::StreamExt;
use serde_json::json;
use shared_types::NotificationStatus;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let posts: usize = args.next().map_or(2000, |a| a.parse().expect("POSTS"));
    let concurrency: usize = args.next().map_or(32, |a| a.parse().expect("CONCURRENCY"));
    let blackhole = match args.next().as_deref() {
        None | Some("healthy") => false,
        Some("blackhole") => true,
        Some(other) => panic!("SNS is `healthy` or `blackhole`, not {other:?}"),
    };

    let services = Services::from_env();
    let tap = TopicTap::create(&services, &unique("load")).await;
    let mut env = services.aws_env();
    if blackhole {
        env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
        env.push(("AWS_ENDPOINT_URL", hanging_endpoint().await));
    }
    env.push(("MONGODB_URI", services.mongodb_uri.clone()));
    env.push(("MONGODB_DATABASE", unique("load")));
    env.push(("SNS_TOPIC_FEEDBACK_GOOD", tap.topic_arn.clone()));
    env.push(("RUST_LOG", "warn".into()));
    // Every post comes from this one address: the per-client POST rate would be the result.
    env.push(("POST_RATE_PER_MINUTE", "0".into()));
    let gateway = Gateway::start(&env).await;
    // The first request settles the connection pool and the indexes.
    post(&gateway, "warmup", &json!({"rating": "down"}), None).await;

    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..posts)
        .map(|i| {
            let gateway = &gateway;
            async move {
                let body = json!({"rating": "up", "comment": format!("feedback #{i}")});
                let sent = Instant::now();
                let response = post(gateway, &format!("load-{}", i % 100), &body, None).await;
                assert_eq!(response.status(), 201);
                sent.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let posting = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "posts {posts}, concurrency {concurrency}, SNS {}",
        if blackhole { "blackhole" } else { "healthy" }
    );
    println!(
        "POST …/feedback: {:.0}/s; latency p50 {:?}, p99 {:?}, max {:?}",
        posts as f64 / posting.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if blackhole {
        return;
    }

    // The notifier's own count of accepted publishes: how fast the outbox drains.
    let sent_metric = r#"gateway_notifications_total{outcome="sent"} "#;
    loop {
        let metrics = gateway.get_text("/metrics").await;
        let sent: usize = metrics
            .lines()
            .find_map(|line| line.strip_prefix(sent_metric))
            .map_or(0, |n| n.parse().unwrap());
        if sent >= posts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();

    // And what subscribers got: every notification, once.
    let mut received = 0;
    while received < posts {
        let got = tap.receive(posts - received, Duration::from_secs(30)).await;
        assert!(
            !got.is_empty(),
            "notifications stopped at {received} of {posts}"
        );
        received += got.len();
    }
    assert!(
        tap.receive(1, Duration::from_secs(1)).await.is_empty(),
        "duplicates"
    );
    let newest = list(&gateway, "load-0", "?limit=1").await.items;
    assert_eq!(newest[0].notification.status, NotificationStatus::Sent);

    println!(
        "outbox: all {posts} notifications accepted by SNS {drained:.2?} after the first post ({:.0}/s)",
        posts as f64 / drained.as_secs_f64()
    );
}

/// An endpoint that accepts TCP connections and never answers.
async fn hanging_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}
