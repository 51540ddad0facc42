//! The gateway binary's log with `LOG_FORMAT=json`: one JSON object per line, a span per
//! request (method, route template, status, latency, request id) and per SQS batch (its
//! MessageIds), and no token, secret or feedback comment anywhere in it.

use std::time::Duration;

use e2e_tests::sqs::{producer_message, Queue};
use e2e_tests::{unique, Services, SseStream};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "a-log-test-secret-of-at-least-32-bytes";

fn token(scope: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = json!({"sub": unique("user"), "exp": exp, "sessions": ["s1"], "scope": scope});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// Tokens in the query, the header and the cookie, a feedback comment and an SQS message
/// go through the gateway: every log line is JSON; the request and batch spans carry
/// what an operator needs; no token, the secret or the comment appears in any line.
#[tokio::test]
async fn json_logs_have_request_and_batch_spans_and_no_secrets() {
    let services = Services::from_env();
    let queue = Queue::create(&services, 30).await;
    let gateway = queue
        .gateway_with(
            &services,
            &[
                ("AUTH_JWT_SECRET", SECRET.into()),
                ("LOG_FORMAT", "json".into()),
                ("SQS_WAIT_SECONDS", "1".into()),
            ],
        )
        .await;
    let (query, header, cookie, poster) = (
        token("subscribe"),
        token("subscribe"),
        token("subscribe"),
        token("feedback"),
    );
    let comment = format!("private remark {}", unique("comment"));
    let client = reqwest::Client::new();

    let mut stream = SseStream::connect(
        &gateway.url(&format!("/v1/sessions/s1/events?access_token={query}")),
        None,
    )
    .await;
    stream.expect("snapshot").await;
    let by_header = client
        .get(gateway.url("/v1/sessions/s1"))
        .bearer_auth(&header)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    let by_cookie = client
        .get(gateway.url("/v1/sessions/s1"))
        .header("Cookie", format!("sg_token={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let posted = client
        .post(gateway.url("/v1/sessions/s1/feedback"))
        .bearer_auth(&poster)
        .header("x-request-id", "req-feedback-1")
        .json(&json!({"rating": "down", "comment": comment}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    assert_eq!(posted.headers()["x-request-id"], "req-feedback-1");
    let sent = queue
        .sqs
        .send_message()
        .queue_url(&queue.url)
        .message_body(producer_message("s1", "update", json!({"status": "x"}), 1))
        .send()
        .await
        .unwrap();
    let message_id = sent.message_id.unwrap();
    stream.expect("metadata").await;
    // The batch's delete and its log line come right after the event.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let logs = gateway.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for secret in [&query, &header, &cookie, &poster, SECRET, &comment] {
        assert!(!logs.contains(secret), "{secret} is in the log");
    }

    let feedback_request = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "req-feedback-1")
        .unwrap_or_else(|| panic!("no line of the feedback request:\n{logs}"));
    let span = &feedback_request["span"];
    assert_eq!(span["name"], "request");
    assert_eq!(span["method"], "POST");
    assert_eq!(span["route"], "/v1/sessions/{id}/feedback");
    let answered = lines
        .iter()
        .find(|l| {
            l["span"]["request_id"] == "req-feedback-1"
                && l["fields"]["message"] == "request answered"
        })
        .unwrap_or_else(|| panic!("no `request answered` line:\n{logs}"));
    assert_eq!(answered["span"]["status"], 201);
    assert!(answered["span"]["latency_ms"].as_f64().unwrap() >= 0.0);
    // Generated ids for requests that came without one.
    let stream_line = lines
        .iter()
        .find(|l| l["span"]["route"] == "/v1/sessions/{id}/events")
        .unwrap_or_else(|| panic!("no line of the stream request:\n{logs}"));
    assert!(!stream_line["span"]["request_id"]
        .as_str()
        .unwrap()
        .is_empty());

    let batch = lines
        .iter()
        .find(|l| l["span"]["name"] == "sqs_batch")
        .unwrap_or_else(|| panic!("no line in an SQS batch span:\n{logs}"));
    assert!(
        batch["span"]["message_ids"]
            .as_str()
            .unwrap()
            .contains(&message_id),
        "{batch}"
    );
}
