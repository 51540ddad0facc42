//! Feedback against the real services: MongoDB (secantusd) for storage and the outbox,
//! SNS (moto) for notifications, read back through SQS queues subscribed to the topics.
//! Needs `scripts/services.sh start && source .services/env`.

use std::time::Duration;

use e2e_tests::app::TestApp;
use e2e_tests::services::{self, Attribute, Envelope, TopicTap};
use gateway::config::{Config, TopicRoute};
use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use shared_types::{FeedbackRecord, NotificationStatus};

/// Feedback stored in a fresh database of the shared MongoDB.
fn use_mongodb(config: &mut Config, database: &str) {
    config.mongodb_uri = Some(services::mongodb_uri());
    config.mongodb_database = database.to_owned();
}

fn route(arn: &str) -> TopicRoute {
    arn.parse().expect("a topic ARN")
}

/// Fast retries, so a test sees several attempts quickly.
fn fast_retries(config: &mut Config) {
    config.feedback_retry_base_ms = 50;
    config.feedback_retry_max_ms = 200;
}

/// Polls the session's newest record until `done` holds for it.
async fn newest_when(
    app: &TestApp,
    session: &str,
    done: impl Fn(&FeedbackRecord) -> bool,
) -> FeedbackRecord {
    for _ in 0..150 {
        if let Some(record) = app.list_feedback(session, "?limit=1").await.items.pop() {
            if done(&record) {
                return record;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the newest feedback of {session} never reached the expected state");
}

fn attribute(value: &str) -> Attribute {
    Attribute {
        kind: "String".into(),
        value: value.into(),
    }
}

/// Each rating goes to the topic of its sentiment with exactly the contract's subject,
/// message and attributes, and the stored record then says `sent`.
#[tokio::test]
async fn each_sentiment_is_published_to_its_topic_in_the_contract_format() {
    let aws = services::aws().await;
    let good = TopicTap::create(&aws, &services::unique("good")).await;
    let bad = TopicTap::create(&aws, &services::unique("bad")).await;
    let neutral = TopicTap::create(&aws, &services::unique("neutral")).await;
    let database = services::unique("fb");
    let app = TestApp::start(|config| {
        use_mongodb(config, &database);
        config.sns_topic_feedback_good = route(&good.topic_arn);
        config.sns_topic_feedback_bad = route(&bad.topic_arn);
        config.sns_topic_feedback_neutral = route(&neutral.topic_arn);
    })
    .await;

    for (tap, rating, sentiment, comment) in [
        (&good, json!("up"), "positive", "spot on"),
        (&bad, json!("down"), "negative", "wrong answer\nsecond line"),
        (&neutral, Value::Null, "neutral", ""),
    ] {
        let response = app
            .post_feedback(
                "user-session-123",
                json!({"rating": rating, "comment": comment}),
                None,
            )
            .await;
        assert_eq!(response.status(), 201);
        let record: FeedbackRecord = response.json().await.unwrap();
        assert_eq!(record.notification.status, NotificationStatus::Pending);

        let received = tap.receive(1, Duration::from_secs(15)).await;
        assert_eq!(
            received,
            vec![Envelope {
                topic_arn: tap.topic_arn.clone(),
                subject: Some(format!(
                    "Virtual Agents Feedback {sentiment} on session user-session-123"
                )),
                message: format!("Session: user-session-123\n\n{comment}"),
                message_attributes: [
                    ("rating".to_owned(), attribute(sentiment)),
                    ("session_id".to_owned(), attribute("user-session-123")),
                ]
                .into(),
            }]
        );
        let sent = newest_when(&app, "user-session-123", |r| {
            r.notification.status == NotificationStatus::Sent
        })
        .await;
        assert_eq!(sent.id, record.id);
        assert_eq!(sent.notification.attempts, 1);
        assert!(sent.notification.sent_at.is_some());
    }
    for tap in [&good, &bad, &neutral] {
        assert!(
            tap.receive(1, Duration::from_secs(1)).await.is_empty(),
            "one message per post"
        );
    }
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready["components"]["sns"],
        json!({"status": "ok", "backend": "sns"})
    );
    assert_eq!(
        ready["components"]["mongodb"],
        json!({"status": "ok", "backend": "mongodb"})
    );
    app.stop().await.unwrap();
}

/// A sentiment whose route is `none` is stored as `disabled` and published nowhere.
#[tokio::test]
async fn a_route_set_to_none_stores_the_feedback_without_notifying() {
    let aws = services::aws().await;
    let good = TopicTap::create(&aws, &services::unique("good")).await;
    let database = services::unique("fb");
    let app = TestApp::start(|config| {
        use_mongodb(config, &database);
        config.sns_topic_feedback_good = route(&good.topic_arn);
    })
    .await;
    let response = app
        .post_feedback(
            "quiet",
            json!({"rating": "down", "comment": "no route"}),
            None,
        )
        .await;
    assert_eq!(response.status(), 201);
    let record: FeedbackRecord = response.json().await.unwrap();
    assert_eq!(record.notification.status, NotificationStatus::Disabled);
    assert!(good.receive(1, Duration::from_secs(2)).await.is_empty());
    assert_eq!(app.list_feedback("quiet", "").await.items, vec![record]);
    app.stop().await.unwrap();
}

/// Records live in MongoDB: a restarted gateway lists exactly what the first one
/// stored, and the document holds the fields operators query.
#[tokio::test]
async fn feedback_survives_a_gateway_restart() {
    let database = services::unique("fb");
    let first = TestApp::start(|config| use_mongodb(config, &database)).await;
    let response = first
        .post_feedback(
            "durable",
            json!({"rating": "up", "comment": "kept"}),
            Some("k-1"),
        )
        .await;
    assert_eq!(response.status(), 201);
    let record: FeedbackRecord = response.json().await.unwrap();
    first.stop().await.unwrap();

    let second = TestApp::start(|config| use_mongodb(config, &database)).await;
    assert_eq!(
        second.list_feedback("durable", "").await.items,
        vec![record.clone()]
    );
    let replay = second
        .post_feedback(
            "durable",
            json!({"rating": "up", "comment": "kept"}),
            Some("k-1"),
        )
        .await;
    assert_eq!(replay.json::<FeedbackRecord>().await.unwrap(), record);
    second.stop().await.unwrap();

    let client = mongodb::Client::with_uri_str(services::mongodb_uri())
        .await
        .unwrap();
    let stored: Document = client
        .database(&database)
        .collection("feedback")
        .find_one(doc! {"_id": &record.id})
        .await
        .unwrap()
        .expect("the document");
    assert_eq!(stored.get_str("session_id").unwrap(), "durable");
    assert_eq!(stored.get_str("sentiment").unwrap(), "positive");
    assert_eq!(stored.get_str("idempotency_key").unwrap(), "k-1");
    assert!(stored.get_datetime("created_at").is_ok());
}

/// Concurrent retries of one post, spread over two gateways sharing MongoDB, store one
/// record and all answer it.
#[tokio::test]
async fn an_idempotency_key_holds_across_gateway_instances() {
    let database = services::unique("fb");
    let a = TestApp::start(|config| use_mongodb(config, &database)).await;
    let b = TestApp::start(|config| use_mongodb(config, &database)).await;
    let body = json!({"rating": "up", "comment": "double click"});
    let posts = (0..8).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_feedback("racy", body.clone(), Some("click-42"))
    });
    let mut ids = Vec::new();
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 201);
        ids.push(response.json::<FeedbackRecord>().await.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(a.list_feedback("racy", "").await.items.len(), 1);
    let conflict = b
        .post_feedback("racy", json!({"rating": "down"}), Some("click-42"))
        .await;
    assert_eq!(conflict.status(), 409);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// Two gateways draining one outbox publish each notification once.
#[tokio::test]
async fn two_instances_publish_each_notification_once() {
    let aws = services::aws().await;
    let tap = TopicTap::create(&aws, &services::unique("good")).await;
    let database = services::unique("fb");
    let configure = |config: &mut Config| {
        use_mongodb(config, &database);
        config.sns_topic_feedback_good = route(&tap.topic_arn);
    };
    let a = TestApp::start(configure).await;
    let b = TestApp::start(configure).await;
    let posts = (0..20).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_feedback(
            "busy",
            json!({"rating": "up", "comment": format!("#{i}")}),
            None,
        )
    });
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 201);
    }
    let mut messages: Vec<String> = tap
        .receive(21, Duration::from_secs(5))
        .await
        .into_iter()
        .map(|e| e.message)
        .collect();
    messages.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("Session: busy\n\n#{i}")).collect();
    expected.sort();
    assert_eq!(messages, expected);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// While its topic is missing, a notification stays pending and is retried, and
/// `/readyz` says SNS is down; once the topic exists the retry succeeds, the record says
/// `sent` and SNS is ready again. (SNS cannot subscribe a queue to a topic before it
/// exists, so the first successful retry may beat any subscriber: delivery itself is
/// checked by the contract-format test.)
#[tokio::test]
async fn a_failed_publish_is_retried_until_sns_accepts_it() {
    let aws = services::aws().await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let probe = TopicTap::create(&aws, &services::unique("probe")).await;
    let (account_prefix, _) = probe.topic_arn.rsplit_once(':').unwrap();
    let name = services::unique("late");
    let arn = format!("{account_prefix}:{name}");
    let database = services::unique("fb");
    let app = TestApp::start(|config| {
        use_mongodb(config, &database);
        fast_retries(config);
        config.sns_topic_feedback_bad = route(&arn);
    })
    .await;

    let response = app
        .post_feedback(
            "unlucky",
            json!({"rating": "down", "comment": "retry me"}),
            None,
        )
        .await;
    assert_eq!(response.status(), 201, "SNS trouble never fails a post");
    let failing = newest_when(&app, "unlucky", |r| r.notification.attempts >= 3).await;
    assert_eq!(failing.notification.status, NotificationStatus::Pending);
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["components"]["sns"]["status"], "down");

    let created = sns.create_topic().name(&name).send().await.unwrap();
    assert_eq!(created.topic_arn.as_deref(), Some(arn.as_str()));
    let sent = newest_when(&app, "unlucky", |r| {
        r.notification.status == NotificationStatus::Sent
    })
    .await;
    assert!(sent.notification.attempts > failing.notification.attempts);
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 200, "{ready}");
    app.stop().await.unwrap();
}

/// With MongoDB unreachable the gateway still starts; posts answer 503 with
/// `Retry-After` and `/readyz` says MongoDB is down. When MongoDB comes up, both recover.
#[tokio::test]
async fn posts_answer_503_while_mongodb_is_down_and_recover_when_it_returns() {
    let port = services::free_port();
    let app = TestApp::start(|config| {
        config.mongodb_uri = Some(format!(
            "mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=300"
        ));
    })
    .await;

    let response = app
        .post_feedback("patient", json!({"rating": "up"}), None)
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503);
    assert_eq!(ready["components"]["mongodb"]["status"], "down", "{ready}");

    let _mongodb = tokio::process::Command::new(services::secantusd_bin())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", ":memory:", "--log-level", "WARNING"])
        .kill_on_drop(true)
        .spawn()
        .expect("start secantusd-py");
    let mut stored = None;
    for _ in 0..100 {
        let response = app
            .post_feedback("patient", json!({"rating": "up"}), None)
            .await;
        if response.status() == 201 {
            stored = Some(response.json::<FeedbackRecord>().await.unwrap());
            break;
        }
        assert_eq!(response.status(), 503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = stored.expect("posts succeed once MongoDB is up");
    assert_eq!(app.list_feedback("patient", "").await.items, vec![stored]);
    let mut ready = app.readyz().await;
    for _ in 0..150 {
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = app.readyz().await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    app.stop().await.unwrap();
}
