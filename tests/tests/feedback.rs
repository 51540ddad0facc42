//! Feedback end to end: the gateway binary with the in-memory store (what a browser sees
//! of the HTTP contract), then with the real MongoDB (secantusd) and SNS (moto), whose
//! notifications are read back through SQS queues subscribed to the topics.

use std::time::Duration;

use e2e_tests::feedback::{error_of, list, post, readyz};
use e2e_tests::sns::{Attribute, Envelope, TopicTap};
use e2e_tests::{free_port, unique, Gateway, Services};
use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use shared_types::{FeedbackRecord, NotificationStatus, Rating, Sentiment};

/// Environment of a gateway storing feedback in a fresh database of the shared MongoDB,
/// with AWS pointed at moto; `extra` adds topics and tuning.
fn with_mongodb(
    services: &Services,
    database: &str,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut env = services.aws_env();
    env.push(("MONGODB_URI", services.mongodb_uri.clone()));
    env.push(("MONGODB_DATABASE", database.to_owned()));
    env.extend_from_slice(extra);
    env
}

/// Polls the session's newest record until `done` holds for it.
async fn newest_when(
    gateway: &Gateway,
    session: &str,
    done: impl Fn(&FeedbackRecord) -> bool,
) -> FeedbackRecord {
    for _ in 0..150 {
        if let Some(record) = list(gateway, session, "?limit=1").await.items.pop() {
            if done(&record) {
                return record;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the newest feedback of {session} never reached the expected state");
}

// ---- The HTTP contract, in-memory store, SNS off ----

/// A post answers 201 with the record it stored; the list returns it, newest first,
/// and with SNS off each notification is `disabled`.
#[tokio::test]
async fn posted_feedback_is_returned_and_listed_newest_first() {
    let gateway = Gateway::start(&[]).await;
    let mut posted = Vec::new();
    for (rating, comment) in [
        (json!("up"), "helpful"),
        (json!("down"), "too slow"),
        (Value::Null, "meh"),
    ] {
        let body = json!({"rating": rating, "comment": comment});
        let response = post(&gateway, "user-session-123", &body, None).await;
        assert_eq!(response.status(), 201);
        let record: FeedbackRecord = response.json().await.unwrap();
        assert_eq!(record.session_id.as_str(), "user-session-123");
        assert_eq!(record.comment, comment);
        assert_eq!(record.notification.status, NotificationStatus::Disabled);
        assert_eq!(record.notification.attempts, 0);
        posted.push(record);
    }
    let kinds: Vec<_> = posted.iter().map(|r| (r.rating, r.sentiment)).collect();
    assert_eq!(
        kinds,
        [
            (Some(Rating::Up), Sentiment::Positive),
            (Some(Rating::Down), Sentiment::Negative),
            (None, Sentiment::Neutral),
        ]
    );

    let page = list(&gateway, "user-session-123", "").await;
    posted.reverse();
    assert_eq!(page.items, posted);
    assert_eq!(page.next_cursor, None);
    assert!(list(&gateway, "another-session", "").await.items.is_empty());
}

/// Following `next_cursor` visits every record of the session exactly once, newest first.
#[tokio::test]
async fn the_cursor_pages_through_every_record_once() {
    let gateway = Gateway::start(&[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"comment": format!("#{i}")});
        let response = post(&gateway, "paged", &body, None).await;
        ids.push(response.json::<FeedbackRecord>().await.unwrap().id);
        post(&gateway, "noise", &json!({"comment": "other"}), None).await;
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = list(&gateway, "paged", &query).await;
        pages += 1;
        seen.extend(page.items.into_iter().map(|r| r.id));
        match page.next_cursor {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
}

/// Every wrong input answers its documented status and code, and stores nothing.
#[tokio::test]
async fn invalid_posts_answer_precise_errors() {
    let gateway = Gateway::start(&[("FEEDBACK_COMMENT_MAX_CHARS", "10".into())]).await;
    for (body, status, code) in [
        (json!({"rating": "sideways"}), 422, "invalid_rating"),
        (json!({"rating": 1, "comment": "x"}), 422, "invalid_rating"),
        (json!({"rating": "up", "ratng": "up"}), 422, "invalid_body"),
        (json!({"comment": 5}), 422, "invalid_body"),
        (json!(["up", "x"]), 422, "invalid_body"),
        (json!({"comment": "eleven char"}), 422, "comment_too_long"),
    ] {
        let response = post(&gateway, "s1", &body, None).await;
        assert_eq!(
            error_of(response).await,
            (status, code.to_owned()),
            "{body}"
        );
    }

    let http = reqwest::Client::new();
    let url = gateway.url("/v1/sessions/s1/feedback");
    let not_json = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{rating")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(not_json).await, (400, "invalid_json".into()));
    let form = http.post(&url).body("rating=up").send().await.unwrap();
    assert_eq!(error_of(form).await, (415, "unsupported_media_type".into()));
    let up = json!({"rating": "up"});
    let bad_session = post(&gateway, "bad%20id", &up, None).await;
    assert_eq!(
        error_of(bad_session).await,
        (400, "invalid_session_id".into())
    );
    let bad_key = post(&gateway, "s1", &up, Some("has space")).await;
    assert_eq!(
        error_of(bad_key).await,
        (400, "invalid_idempotency_key".into())
    );

    assert!(
        list(&gateway, "s1", "").await.items.is_empty(),
        "nothing stored"
    );
}

/// A retried post with the same `Idempotency-Key` gets the first record back without
/// storing another; the same key with another body is a 409; keys are per session.
#[tokio::test]
async fn an_idempotency_key_replays_the_first_record() {
    let gateway = Gateway::start(&[]).await;
    let body = json!({"rating": "down", "comment": "lost my answer"});
    let first = post(&gateway, "s1", &body, Some("click-1")).await;
    assert_eq!(first.status(), 201);
    let first: FeedbackRecord = first.json().await.unwrap();

    let retry = post(&gateway, "s1", &body, Some("click-1")).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.json::<FeedbackRecord>().await.unwrap(), first);

    let changed = json!({"rating": "up", "comment": "lost my answer"});
    let changed = post(&gateway, "s1", &changed, Some("click-1")).await;
    assert_eq!(
        error_of(changed).await,
        (409, "idempotency_conflict".into())
    );

    let other_session = post(&gateway, "s2", &body, Some("click-1")).await;
    assert_eq!(other_session.status(), 201);
    let other: FeedbackRecord = other_session.json().await.unwrap();
    assert_ne!(other.id, first.id);

    assert_eq!(list(&gateway, "s1", "").await.items, vec![first]);
}

/// A limit out of range, a non-numeric limit or a forged cursor answer 400.
#[tokio::test]
async fn invalid_list_queries_answer_400_invalid_query() {
    let gateway = Gateway::start(&[]).await;
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?cursor=not-a-cursor",
    ] {
        let url = gateway.url(&format!("/v1/sessions/s1/feedback{query}"));
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(
            error_of(response).await,
            (400, "invalid_query".into()),
            "{query}"
        );
    }
}

/// `/readyz` names the feedback backends in use and `/metrics` counts stored feedback.
#[tokio::test]
async fn readiness_and_metrics_describe_the_feedback_backends() {
    let gateway = Gateway::start(&[]).await;
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 200, "{body}");
    let components = &body["components"];
    assert_eq!(
        status_of(&components["mongodb"]),
        json!({"status": "ok", "backend": "in-memory"})
    );
    assert_eq!(
        status_of(&components["sns"]),
        json!({"status": "ok", "backend": "disabled"})
    );

    post(&gateway, "metered", &json!({"rating": "up"}), None).await;
    let metrics = gateway.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"gateway_feedback_stored_total{sentiment="positive"} 1"#),
        "{metrics}"
    );
}

// ---- Real MongoDB and SNS ----

/// Each rating goes to the topic of its sentiment with exactly the contract's subject,
/// message and attributes, and the stored record then says `sent`.
#[tokio::test]
async fn each_sentiment_is_published_to_its_topic_in_the_contract_format() {
    let services = Services::from_env();
    let good = TopicTap::create(&services, &unique("good")).await;
    let bad = TopicTap::create(&services, &unique("bad")).await;
    let neutral = TopicTap::create(&services, &unique("neutral")).await;
    let gateway = Gateway::start(&with_mongodb(
        &services,
        &unique("fb"),
        &[
            ("SNS_TOPIC_FEEDBACK_GOOD", good.topic_arn.clone()),
            ("SNS_TOPIC_FEEDBACK_BAD", bad.topic_arn.clone()),
            ("SNS_TOPIC_FEEDBACK_NEUTRAL", neutral.topic_arn.clone()),
        ],
    ))
    .await;

    for (tap, rating, sentiment, comment) in [
        (&good, json!("up"), "positive", "spot on"),
        (&bad, json!("down"), "negative", "wrong answer\nsecond line"),
        (&neutral, Value::Null, "neutral", ""),
    ] {
        let body = json!({"rating": rating, "comment": comment});
        let response = post(&gateway, "user-session-123", &body, None).await;
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
                    ("rating".to_owned(), Attribute::string(sentiment)),
                    (
                        "session_id".to_owned(),
                        Attribute::string("user-session-123")
                    ),
                ]
                .into(),
            }]
        );
        let sent = newest_when(&gateway, "user-session-123", |r| {
            r.notification.status == NotificationStatus::Sent
        })
        .await;
        assert_eq!(sent.id, record.id);
        assert_eq!(sent.notification.attempts, 1);
        assert!(sent.notification.sent_at.is_some());
    }
    for tap in [&good, &bad, &neutral] {
        let extra = tap.receive(1, Duration::from_secs(1)).await;
        assert!(extra.is_empty(), "one message per post: {extra:?}");
    }
    let (status, ready) = readyz(&gateway).await;
    assert_eq!(status, 200, "{ready}");
    let components = &ready["components"];
    assert_eq!(
        status_of(&components["sns"]),
        json!({"status": "ok", "backend": "sns"})
    );
    assert_eq!(
        status_of(&components["mongodb"]),
        json!({"status": "ok", "backend": "mongodb"})
    );
}

/// A `/readyz` component's status and backend (its `since` and `last_error` vary).
fn status_of(component: &Value) -> Value {
    assert!(component["since"].is_string(), "{component}");
    json!({"status": component["status"], "backend": component["backend"]})
}

/// A sentiment whose route is `none` is stored as `disabled` and published nowhere.
#[tokio::test]
async fn a_route_set_to_none_stores_the_feedback_without_notifying() {
    let services = Services::from_env();
    let good = TopicTap::create(&services, &unique("good")).await;
    let gateway = Gateway::start(&with_mongodb(
        &services,
        &unique("fb"),
        &[
            ("SNS_TOPIC_FEEDBACK_GOOD", good.topic_arn.clone()),
            ("SNS_TOPIC_FEEDBACK_BAD", "none".into()),
        ],
    ))
    .await;
    let body = json!({"rating": "down", "comment": "no route"});
    let response = post(&gateway, "quiet", &body, None).await;
    assert_eq!(response.status(), 201);
    let record: FeedbackRecord = response.json().await.unwrap();
    assert_eq!(record.notification.status, NotificationStatus::Disabled);
    assert!(good.receive(1, Duration::from_secs(2)).await.is_empty());
    assert_eq!(list(&gateway, "quiet", "").await.items, vec![record]);
}

/// Records live in MongoDB: after a crash (SIGKILL) the restarted gateway lists exactly
/// what was stored, still honours the idempotency key, and the document holds the fields
/// operators query.
#[tokio::test]
async fn feedback_survives_a_gateway_crash() {
    let services = Services::from_env();
    let database = unique("fb");
    let mut gateway = Gateway::start(&with_mongodb(&services, &database, &[])).await;
    let body = json!({"rating": "up", "comment": "kept"});
    let response = post(&gateway, "durable", &body, Some("k-1")).await;
    assert_eq!(response.status(), 201);
    let record: FeedbackRecord = response.json().await.unwrap();

    gateway.restart().await;
    let listed = list(&gateway, "durable", "").await.items;
    assert_eq!(listed, vec![record.clone()]);
    let replay = post(&gateway, "durable", &body, Some("k-1")).await;
    assert_eq!(replay.json::<FeedbackRecord>().await.unwrap(), record);

    let client = mongodb::Client::with_uri_str(&services.mongodb_uri)
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
    let services = Services::from_env();
    let env = with_mongodb(&services, &unique("fb"), &[]);
    let a = Gateway::start(&env).await;
    let b = Gateway::start(&env).await;
    let body = json!({"rating": "up", "comment": "double click"});
    let posts = (0..8).map(|i| {
        let gateway = if i % 2 == 0 { &a } else { &b };
        post(gateway, "racy", &body, Some("click-42"))
    });
    let mut ids = Vec::new();
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 201);
        ids.push(response.json::<FeedbackRecord>().await.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(list(&a, "racy", "").await.items.len(), 1);
    let changed = json!({"rating": "down"});
    let conflict = post(&b, "racy", &changed, Some("click-42")).await;
    assert_eq!(conflict.status(), 409);
}

/// Two gateways draining one outbox publish each notification exactly once.
#[tokio::test]
async fn two_instances_publish_each_notification_once() {
    let services = Services::from_env();
    let tap = TopicTap::create(&services, &unique("good")).await;
    let env = with_mongodb(
        &services,
        &unique("fb"),
        &[("SNS_TOPIC_FEEDBACK_GOOD", tap.topic_arn.clone())],
    );
    let a = Gateway::start(&env).await;
    let b = Gateway::start(&env).await;
    let bodies: Vec<Value> = (0..20)
        .map(|i| json!({"rating": "up", "comment": format!("#{i}")}))
        .collect();
    let posts = bodies.iter().enumerate().map(|(i, body)| {
        let gateway = if i % 2 == 0 { &a } else { &b };
        post(gateway, "busy", body, None)
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
}

/// While its topic is missing, a notification stays pending and is retried, and
/// `/readyz` says SNS is down; once the topic exists the retry succeeds, the record says
/// `sent` and SNS is ready again. (SNS cannot subscribe a queue to a topic before it
/// exists, so the first successful retry may beat any subscriber: delivery itself is
/// checked by the contract-format test.)
#[tokio::test]
async fn a_failed_publish_is_retried_until_sns_accepts_it() {
    let services = Services::from_env();
    let sns = services.sns().await;
    let probe = TopicTap::create(&services, &unique("probe")).await;
    let (account_prefix, _) = probe.topic_arn.rsplit_once(':').unwrap();
    let name = unique("late");
    let arn = format!("{account_prefix}:{name}");
    let gateway = Gateway::start(&with_mongodb(
        &services,
        &unique("fb"),
        &[
            ("SNS_TOPIC_FEEDBACK_BAD", arn.clone()),
            ("FEEDBACK_RETRY_BASE_MS", "50".into()),
            ("FEEDBACK_RETRY_MAX_MS", "200".into()),
        ],
    ))
    .await;

    let body = json!({"rating": "down", "comment": "retry me"});
    let response = post(&gateway, "unlucky", &body, None).await;
    assert_eq!(response.status(), 201, "SNS trouble never fails a post");
    let failing = newest_when(&gateway, "unlucky", |r| r.notification.attempts >= 3).await;
    assert_eq!(failing.notification.status, NotificationStatus::Pending);
    let (status, ready) = readyz(&gateway).await;
    assert_eq!(
        status, 200,
        "SNS trouble does not take the gateway out of service: {ready}"
    );
    assert_eq!(ready["components"]["sns"]["status"], "degraded");

    let created = sns.create_topic().name(&name).send().await.unwrap();
    assert_eq!(created.topic_arn.as_deref(), Some(arn.as_str()));
    let sent = newest_when(&gateway, "unlucky", |r| {
        r.notification.status == NotificationStatus::Sent
    })
    .await;
    assert!(sent.notification.attempts > failing.notification.attempts);
    let (status, ready) = readyz(&gateway).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["components"]["sns"]["status"], "ok");
}

/// With MongoDB unreachable the gateway still starts; posts answer 503 with
/// `Retry-After` and `/readyz` says MongoDB is down. When MongoDB comes up, both recover.
#[tokio::test]
async fn posts_answer_503_while_mongodb_is_down_and_recover_when_it_returns() {
    let services = Services::from_env();
    let port = free_port();
    let uri =
        format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=300");
    let gateway = Gateway::start(&[("MONGODB_URI", uri)]).await;

    let up = json!({"rating": "up"});
    let response = post(&gateway, "patient", &up, None).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        error_of(response).await,
        (503, "service_unavailable".into())
    );
    let (status, ready) = readyz(&gateway).await;
    assert_eq!(status, 503);
    assert_eq!(ready["components"]["mongodb"]["status"], "down", "{ready}");

    let _mongodb = tokio::process::Command::new(&services.secantusd_bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", ":memory:", "--log-level", "WARNING"])
        .kill_on_drop(true)
        .spawn()
        .expect("starting secantusd-py");
    let mut stored = None;
    for _ in 0..100 {
        let response = post(&gateway, "patient", &up, None).await;
        if response.status() == 201 {
            stored = Some(response.json::<FeedbackRecord>().await.unwrap());
            break;
        }
        assert_eq!(response.status(), 503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = stored.expect("posts succeed once MongoDB is up");
    assert_eq!(list(&gateway, "patient", "").await.items, vec![stored]);
    let mut ready = readyz(&gateway).await;
    for _ in 0..150 {
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = readyz(&gateway).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
}

/// SNS unreachable while feedback is posted (every connection to it refused or cut):
/// each post still answers 201, and once SNS is reachable again every notification
/// arrives exactly once.
#[tokio::test]
async fn notifications_posted_while_sns_is_unreachable_arrive_once_it_is_back() {
    let services = Services::from_env();
    let tap = TopicTap::create(&services, &unique("good")).await;
    let upstream = services.aws_endpoint.trim_start_matches("http://");
    let proxy = e2e_tests::proxy::Proxy::start(upstream).await;
    let mut env = with_mongodb(
        &services,
        &unique("fb"),
        &[
            ("SNS_TOPIC_FEEDBACK_GOOD", tap.topic_arn.clone()),
            ("FEEDBACK_RETRY_BASE_MS", "50".into()),
            ("FEEDBACK_RETRY_MAX_MS", "300".into()),
        ],
    );
    env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", proxy.url.clone()));
    proxy.cut();
    let gateway = Gateway::start(&env).await;

    let comments: Vec<String> = (0..12).map(|i| format!("while down #{i}")).collect();
    for comment in &comments {
        let response = post(
            &gateway,
            "outage",
            &json!({"rating": "up", "comment": comment}),
            None,
        )
        .await;
        assert_eq!(
            response.status(),
            201,
            "SNS being unreachable never fails a post"
        );
    }
    let failing = newest_when(&gateway, "outage", |r| r.notification.attempts >= 2).await;
    assert_eq!(failing.notification.status, NotificationStatus::Pending);
    assert!(tap.receive(1, Duration::from_secs(1)).await.is_empty());

    proxy.restore();
    let mut received = tap.receive(comments.len(), Duration::from_secs(30)).await;
    received.extend(tap.receive(1, Duration::from_secs(2)).await);
    let mut messages: Vec<String> = received.into_iter().map(|e| e.message).collect();
    messages.sort();
    let mut expected: Vec<String> = comments
        .iter()
        .map(|c| format!("Session: outage\n\n{c}"))
        .collect();
    expected.sort();
    assert_eq!(messages, expected, "every notification, exactly once");
}
