//! Per-client and global limits, hit and recovered: open streams per client, per token
//! subject and in total, the POST rate per client (with `Retry-After` honoured), and the header and
//! body timeouts that close slow clients without touching open SSE streams.

use std::time::{Duration, Instant};

use e2e_tests::app::App;
use e2e_tests::SseStream;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path`: status, `Retry-After` (seconds) and the error code.
async fn refusal(app: &App, path: &str) -> (u16, Option<u64>, String) {
    let response = reqwest::get(app.url(path)).await.unwrap();
    answer(response).await
}

async fn answer(response: reqwest::Response) -> (u16, Option<u64>, String) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, retry_after, code)
}

/// Waits until `path` opens as a stream again (the server frees a slot when it notices
/// the client left, at the latest on the next heartbeat).
async fn stream_when_free(app: &App, path: &str) -> SseStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = reqwest::get(app.url(path)).await.unwrap().status();
        if status == 200 {
            return SseStream::connect(&app.url(path), None).await;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client gets `MAX_STREAMS_PER_CLIENT` streams, the next is `429 too_many_streams`
/// with `Retry-After`; closing one lets it open another.
#[tokio::test]
async fn streams_per_client_are_capped_and_freed_when_one_closes() {
    let app = App::start(&["--max-streams-per-client", "2", "--heartbeat-seconds", "1"]).await;
    let path = "/v1/sessions/capped/events";
    let mut first = SseStream::connect(&app.url(path), None).await;
    first.expect("snapshot").await;
    let mut second = SseStream::connect(&app.url("/v1/sessions/other/events"), None).await;
    second.expect("snapshot").await;

    assert_eq!(
        refusal(&app, path).await,
        (429, Some(10), "too_many_streams".into())
    );

    drop(first);
    let mut third = stream_when_free(&app, path).await;
    third.expect("snapshot").await;
}

/// A token for `subject` allowed to subscribe to every session, signed with `secret`.
fn token(secret: &str, subject: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims =
        serde_json::json!({"sub": subject, "exp": exp, "sessions": "*", "scope": "subscribe"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// One token subject gets `MAX_STREAMS_PER_PRINCIPAL` streams whatever else it could
/// open from its address, the next is `429 too_many_streams` with `Retry-After`; another
/// subject from the same address is unaffected, and a closed stream frees a place.
#[tokio::test]
async fn streams_per_principal_are_capped_and_freed_when_one_closes() {
    let secret = "an-hs256-secret-of-at-least-32-bytes!";
    let app = App::start(&[
        "--auth-jwt-secret",
        secret,
        "--max-streams-per-principal",
        "2",
        "--heartbeat-seconds",
        "1",
    ])
    .await;
    let path = |session: &str, subject: &str| {
        format!(
            "/v1/sessions/{session}/events?access_token={}",
            token(secret, subject)
        )
    };
    let mut first = SseStream::connect(&app.url(&path("p1", "alice")), None).await;
    first.expect("snapshot").await;
    let mut second = SseStream::connect(&app.url(&path("p2", "alice")), None).await;
    second.expect("snapshot").await;
    assert_eq!(
        refusal(&app, &path("p3", "alice")).await,
        (429, Some(10), "too_many_streams".into())
    );
    let mut bob = SseStream::connect(&app.url(&path("p3", "bob")), None).await;
    bob.expect("snapshot").await;

    drop(first);
    let mut third = stream_when_free(&app, &path("p3", "alice")).await;
    third.expect("snapshot").await;
}

/// Past `MAX_STREAMS` open streams in total, the gateway answers `503 too_many_streams`
/// with `Retry-After`, whoever asks; a closed stream frees its place.
#[tokio::test]
async fn total_streams_are_capped() {
    let app = App::start(&["--max-streams", "2", "--heartbeat-seconds", "1"]).await;
    let path = "/v1/sessions/total/events";
    let first = SseStream::connect(&app.url(path), None).await;
    let _second = SseStream::connect(&app.url(path), None).await;
    assert_eq!(
        refusal(&app, path).await,
        (503, Some(10), "too_many_streams".into())
    );
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200,
        "other routes still answer"
    );
    drop(first);
    stream_when_free(&app, path).await;
}

/// A client posts its burst, then gets `429 rate_limited` with `Retry-After` on publish
/// and feedback alike; after waiting that long it is accepted again.
#[tokio::test]
async fn post_rate_is_limited_per_client_and_recovers_after_retry_after() {
    let app = App::start(&["--post-rate-per-minute", "60", "--post-rate-burst", "3"]).await;
    let client = reqwest::Client::new();
    let publish = || {
        client
            .post(app.url("/v1/sessions/rate/metadata"))
            .header("content-type", "application/json")
            .body(r#"{"operation":"update","metadata":{"a":1}}"#)
            .send()
    };
    for n in 0..3 {
        assert_eq!(
            publish().await.unwrap().status(),
            202,
            "post {n} of the burst"
        );
    }
    let (status, retry_after, code) = answer(publish().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");

    let feedback = client
        .post(app.url("/v1/sessions/rate/feedback"))
        .header("content-type", "application/json")
        .body(r#"{"rating":"up"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer(feedback).await.0,
        429,
        "feedback shares the client's budget"
    );
    assert_eq!(
        reqwest::get(app.url("/v1/sessions/rate"))
            .await
            .unwrap()
            .status(),
        200,
        "reads are not rate limited"
    );

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        publish().await.unwrap().status(),
        202,
        "accepted after Retry-After"
    );
}

/// A client that sends half a request header is disconnected after
/// `HEADER_TIMEOUT_SECONDS`, while an SSE stream open for longer keeps delivering.
#[tokio::test]
async fn half_sent_headers_are_cut_and_streams_outlive_the_timeout() {
    let app = App::start(&["--header-timeout-seconds", "1", "--heartbeat-seconds", "1"]).await;
    let mut stream = SseStream::connect(&app.url("/v1/sessions/slow/events"), None).await;
    stream.expect("snapshot").await;

    let started = Instant::now();
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    let elapsed = started.elapsed();
    assert!(
        read.is_ok(),
        "the half-sent request was still open after 5 s"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "cut after {elapsed:?}, before the timeout"
    );

    // The stream has been open for longer than the header timeout: it still works.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = reqwest::Client::new()
        .post(app.url("/v1/sessions/slow/metadata"))
        .header("content-type", "application/json")
        .body(r#"{"operation":"update","metadata":{"a":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    stream.expect("metadata").await;
}

/// A client that announces a body and sends it too slowly gets `408 request_timeout`
/// after `BODY_TIMEOUT_SECONDS`.
#[tokio::test]
async fn a_slow_body_gets_408() {
    let app = App::start(&["--body-timeout-seconds", "1"]).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        b"POST /v1/sessions/s/metadata HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"operation\"",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"request_timeout""#), "{text}");
}
