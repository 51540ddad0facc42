//! The feedback HTTP API in the embedded mode (in-memory store, SNS off): what a browser
//! sees. Needs no external service.

use e2e_tests::app::TestApp;
use serde_json::{json, Value};
use shared_types::{FeedbackRecord, NotificationStatus, Rating, Sentiment};

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// A post answers 201 with the record it stored; the list returns it, newest first,
/// and with SNS off each notification is `disabled`.
#[tokio::test]
async fn posted_feedback_is_returned_and_listed_newest_first() {
    let app = TestApp::start(|_| {}).await;
    let mut posted = Vec::new();
    for (rating, comment) in [
        (json!("up"), "helpful"),
        (json!("down"), "too slow"),
        (Value::Null, "meh"),
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
        assert_eq!(record.session_id.as_str(), "user-session-123");
        assert_eq!(record.comment, comment);
        assert_eq!(record.notification.status, NotificationStatus::Disabled);
        assert_eq!(record.notification.attempts, 0);
        posted.push(record);
    }
    assert_eq!(posted[0].rating, Some(Rating::Up));
    assert_eq!(posted[0].sentiment, Sentiment::Positive);
    assert_eq!(posted[1].sentiment, Sentiment::Negative);
    assert_eq!(
        (posted[2].rating, posted[2].sentiment),
        (None, Sentiment::Neutral)
    );

    let page = app.list_feedback("user-session-123", "").await;
    posted.reverse();
    assert_eq!(page.items, posted);
    assert_eq!(page.next_cursor, None);
    assert!(app
        .list_feedback("another-session", "")
        .await
        .items
        .is_empty());
    app.stop().await.unwrap();
}

/// Following `next_cursor` visits every record of the session exactly once, newest first.
#[tokio::test]
async fn the_cursor_pages_through_every_record_once() {
    let app = TestApp::start(|_| {}).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let response = app
            .post_feedback("paged", json!({"comment": format!("#{i}")}), None)
            .await;
        ids.push(response.json::<FeedbackRecord>().await.unwrap().id);
        app.post_feedback("noise", json!({"comment": "other session"}), None)
            .await;
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.list_feedback("paged", &query).await;
        pages += 1;
        seen.extend(page.items.into_iter().map(|r| r.id));
        match page.next_cursor {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
    app.stop().await.unwrap();
}

/// Every wrong input answers its documented status and code.
#[tokio::test]
async fn invalid_posts_answer_precise_errors() {
    let app = TestApp::start(|config| config.feedback_comment_max_chars = 10).await;
    let url = app.url("/v1/sessions/s1/feedback");
    for (body, status, code) in [
        (json!({"rating": "sideways"}), 422, "invalid_rating"),
        (json!({"rating": 1, "comment": "x"}), 422, "invalid_rating"),
        (json!({"rating": "up", "ratng": "up"}), 422, "invalid_body"),
        (json!({"comment": 5}), 422, "invalid_body"),
        (json!(["up", "x"]), 422, "invalid_body"),
        (json!({"comment": "eleven char"}), 422, "comment_too_long"),
    ] {
        let response = app.http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(
            error_of(response).await,
            (status, code.to_owned()),
            "{body}"
        );
    }

    let not_json = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{rating")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(not_json).await, (400, "invalid_json".into()));
    let form = app.http.post(&url).body("rating=up").send().await.unwrap();
    assert_eq!(error_of(form).await, (415, "unsupported_media_type".into()));
    let bad_session = app
        .post_feedback("bad%20id", json!({"rating": "up"}), None)
        .await;
    assert_eq!(
        error_of(bad_session).await,
        (400, "invalid_session_id".into())
    );
    let bad_key = app
        .post_feedback("s1", json!({"rating": "up"}), Some("has space"))
        .await;
    assert_eq!(
        error_of(bad_key).await,
        (400, "invalid_idempotency_key".into())
    );

    assert!(
        app.list_feedback("s1", "").await.items.is_empty(),
        "nothing stored"
    );
    app.stop().await.unwrap();
}

/// A retried post with the same `Idempotency-Key` gets the first record back without
/// storing another; the same key with another body is a 409; keys are per session.
#[tokio::test]
async fn an_idempotency_key_replays_the_first_record() {
    let app = TestApp::start(|_| {}).await;
    let body = json!({"rating": "down", "comment": "lost my answer"});
    let first = app.post_feedback("s1", body.clone(), Some("click-1")).await;
    assert_eq!(first.status(), 201);
    let first: FeedbackRecord = first.json().await.unwrap();

    let retry = app.post_feedback("s1", body.clone(), Some("click-1")).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.json::<FeedbackRecord>().await.unwrap(), first);

    let changed = app
        .post_feedback(
            "s1",
            json!({"rating": "up", "comment": "lost my answer"}),
            Some("click-1"),
        )
        .await;
    assert_eq!(
        error_of(changed).await,
        (409, "idempotency_conflict".into())
    );

    let other_session = app.post_feedback("s2", body, Some("click-1")).await;
    assert_eq!(other_session.status(), 201);
    assert_ne!(
        other_session.json::<FeedbackRecord>().await.unwrap().id,
        first.id
    );

    assert_eq!(app.list_feedback("s1", "").await.items, vec![first]);
    app.stop().await.unwrap();
}

/// A limit out of range, a non-numeric limit or a forged cursor answer 400.
#[tokio::test]
async fn invalid_list_queries_answer_400_invalid_query() {
    let app = TestApp::start(|_| {}).await;
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?cursor=not-a-cursor",
    ] {
        let response = app
            .http
            .get(app.url(&format!("/v1/sessions/s1/feedback{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await,
            (400, "invalid_query".into()),
            "{query}"
        );
    }
    app.stop().await.unwrap();
}

/// `/readyz` names the feedback backends in use and `/metrics` counts stored feedback.
#[tokio::test]
async fn readiness_and_metrics_describe_the_feedback_backends() {
    let app = TestApp::start(|_| {}).await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["components"]["mongodb"],
        json!({"status": "ok", "backend": "in-memory"})
    );
    assert_eq!(
        body["components"]["sns"],
        json!({"status": "ok", "backend": "disabled"})
    );

    app.post_feedback("metered", json!({"rating": "up"}), None)
        .await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"gateway_feedback_stored_total{sentiment="positive"}"#),
        "{metrics}"
    );
    app.stop().await.unwrap();
}
