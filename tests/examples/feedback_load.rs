//! Load measurement of the feedback path: posts feedback at a fixed concurrency to a
//! gateway running in this process, backed by the real MongoDB and SNS servers of
//! `scripts/services.sh`, and reports post latency, throughput and how long the outbox
//! took to publish every notification.
//!
//! ```sh
//! scripts/services.sh start && source .services/env
//! cargo run --release -p e2e-tests --example feedback_load -- [POSTS] [CONCURRENCY]
//! ```

use std::time::{Duration, Instant};

use e2e_tests::app::TestApp;
use e2e_tests::services::{self, TopicTap};
use futures::StreamExt;
use serde_json::json;
use shared_types::NotificationStatus;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let posts: usize = args.next().map_or(2000, |a| a.parse().expect("POSTS"));
    let concurrency: usize = args.next().map_or(32, |a| a.parse().expect("CONCURRENCY"));

    let aws = services::aws().await;
    let tap = TopicTap::create(&aws, &services::unique("load")).await;
    let database = services::unique("load");
    let app = TestApp::start(|config| {
        config.mongodb_uri = Some(services::mongodb_uri());
        config.mongodb_database = database.clone();
        config.sns_topic_feedback_good = tap.topic_arn.parse().unwrap();
    })
    .await;
    // The first request settles the connection pool and the indexes.
    app.post_feedback("warmup", json!({"rating": "down"}), None)
        .await;

    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..posts)
        .map(|i| {
            let app = &app;
            async move {
                let sent = Instant::now();
                let response = app
                    .post_feedback(
                        &format!("load-{}", i % 100),
                        json!({"rating": "up", "comment": format!("feedback #{i}")}),
                        None,
                    )
                    .await;
                assert_eq!(response.status(), 201);
                sent.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let posting = started.elapsed();

    let mut received = 0;
    while received < posts {
        let got = tap
            .receive(posts - received, Duration::from_secs(30))
            .await
            .len();
        assert!(got > 0, "notifications stopped at {received} of {posts}");
        received += got;
    }
    let published = started.elapsed();
    let newest = app.list_feedback("load-0", "?limit=1").await.items;
    assert_eq!(newest[0].notification.status, NotificationStatus::Sent);
    app.stop().await.unwrap();

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!("posts {posts}, concurrency {concurrency}");
    println!(
        "POST …/feedback: {:.0}/s; latency p50 {:?}, p99 {:?}, max {:?}",
        posts as f64 / posting.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "all {posts} notifications published {:.2?} after the first post ({:.0}/s end to end)",
        published,
        posts as f64 / published.as_secs_f64()
    );
}
