//! Hostile requests, each answered with its exact status and JSON error code: oversized,
//! malformed, deeply nested or wrongly typed bodies, monstrous and control-character ids,
//! unknown routes and wrong methods. Runs the gateway in this process (embedded default).

use e2e_tests::app::App;
use serde_json::{json, Value};

/// One hostile request and the answer it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// The error code, or `None` for a success.
    code: Option<&'static str>,
}

fn case(
    what: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type: Some("application/json"),
        body: body.into(),
        status,
        code,
    }
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn cases() -> Vec<Case> {
    let publish = "/v1/sessions/hostile/metadata";
    let feedback = "/v1/sessions/hostile/feedback";
    let update = |metadata: Value| json!({"operation": "update", "metadata": metadata}).to_string();
    let many_keys: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let mut invalid_utf8 = br#"{"operation":"update","metadata":{"a":""#.to_vec();
    invalid_utf8.extend([0xff, 0xfe]);
    invalid_utf8.extend(br#""}}"#);
    vec![
        // Bodies.
        case(
            "a timestamp in the year 9999 (would pin its key for good)",
            "POST",
            publish,
            json!({"operation": "update", "metadata": {"pinned": 1},
                   "timestamp": "9999-12-31T23:59:59"})
            .to_string(),
            422,
            Some("timestamp_in_future"),
        ),
        case(
            "a timestamp an hour ahead (beyond MAX_CLOCK_SKEW_SECONDS)",
            "POST",
            publish,
            json!({"operation": "update", "metadata": {"pinned": 1},
                   "timestamp": (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339()})
            .to_string(),
            422,
            Some("timestamp_in_future"),
        ),
        case(
            "huge body",
            "POST",
            publish,
            update(json!({"a": "x".repeat(70_000)})),
            413,
            Some("payload_too_large"),
        ),
        case(
            "invalid UTF-8",
            "POST",
            publish,
            invalid_utf8,
            400,
            Some("invalid_utf8"),
        ),
        case(
            "not JSON",
            "POST",
            publish,
            "{oops",
            400,
            Some("invalid_json"),
        ),
        case("empty body", "POST", publish, "", 400, Some("invalid_json")),
        case(
            "trailing garbage",
            "POST",
            publish,
            r#"{"operation":"update","metadata":{}} x"#,
            400,
            Some("invalid_json"),
        ),
        case(
            "JSON nested 10 000 deep",
            "POST",
            publish,
            nested(10_000),
            400,
            Some("invalid_json"),
        ),
        case(
            "metadata nested 9 deep",
            "POST",
            publish,
            update(json!({"a": serde_json::from_str::<Value>(&nested(8)).unwrap()})),
            422,
            Some("metadata_too_deep"),
        ),
        case(
            "metadata nested 8 deep",
            "POST",
            publish,
            update(json!({"a": serde_json::from_str::<Value>(&nested(7)).unwrap()})),
            202,
            None,
        ),
        case(
            "65 metadata keys",
            "POST",
            publish,
            update(Value::Object(many_keys)),
            422,
            Some("metadata_too_many_keys"),
        ),
        case(
            "a 9000-byte value",
            "POST",
            publish,
            update(json!({"a": "x".repeat(9000)})),
            422,
            Some("metadata_value_too_large"),
        ),
        case(
            "operation a number",
            "POST",
            publish,
            r#"{"operation":5,"metadata":{}}"#,
            422,
            Some("invalid_body"),
        ),
        case(
            "metadata a string",
            "POST",
            publish,
            r#"{"operation":"update","metadata":"a"}"#,
            422,
            Some("invalid_body"),
        ),
        case(
            "metadata an array",
            "POST",
            publish,
            r#"{"operation":"update","metadata":[1]}"#,
            422,
            Some("invalid_body"),
        ),
        case(
            "timestamp a number",
            "POST",
            publish,
            r#"{"operation":"update","metadata":{},"timestamp":5}"#,
            422,
            Some("invalid_body"),
        ),
        case(
            "body an array",
            "POST",
            publish,
            "[]",
            422,
            Some("invalid_body"),
        ),
        case(
            "unknown fields are accepted",
            "POST",
            publish,
            r#"{"operation":"update","metadata":{"a":1},"producer":{"v":2}}"#,
            202,
            None,
        ),
        case(
            "rating a number",
            "POST",
            feedback,
            r#"{"rating":5}"#,
            422,
            Some("invalid_rating"),
        ),
        case(
            "comment a number",
            "POST",
            feedback,
            r#"{"comment":5}"#,
            422,
            Some("invalid_body"),
        ),
        case(
            "feedback with a typo field",
            "POST",
            feedback,
            r#"{"ratng":"up"}"#,
            422,
            Some("invalid_body"),
        ),
        Case {
            content_type: None,
            ..case(
                "no content type",
                "POST",
                publish,
                "{}",
                415,
                Some("unsupported_media_type"),
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..case(
                "text content type",
                "POST",
                feedback,
                "{}",
                415,
                Some("unsupported_media_type"),
            )
        },
        // Ids.
        case(
            "10 000-character id",
            "GET",
            format!("/v1/sessions/{}", "x".repeat(10_000)),
            "",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "10 000-character id, stream",
            "GET",
            format!("/v1/sessions/{}/events", "x".repeat(10_000)),
            "",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "NUL in id",
            "GET",
            "/v1/sessions/a%00b",
            "",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "newline in id",
            "GET",
            "/v1/sessions/a%0Ab/events",
            "",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "escape in id",
            "POST",
            "/v1/sessions/a%1Bb/metadata",
            "{}",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "invalid UTF-8 in id",
            "GET",
            "/v1/sessions/a%FFb",
            "",
            400,
            Some("invalid_session_id"),
        ),
        case(
            "invalid UTF-8 cursor",
            "GET",
            "/v1/sessions/s/feedback?cursor=%FF",
            "",
            400,
            Some("invalid_query"),
        ),
        case(
            "limit not a number",
            "GET",
            "/v1/sessions/s/feedback?limit=many",
            "",
            400,
            Some("invalid_query"),
        ),
        // Routes and methods.
        case(
            "unknown route",
            "GET",
            "/v1/nothing/here",
            "",
            404,
            Some("not_found"),
        ),
        case(
            "unknown file",
            "GET",
            "/no-such-file.js",
            "",
            404,
            Some("not_found"),
        ),
        case(
            "wrong method on a session",
            "DELETE",
            "/v1/sessions/s",
            "",
            405,
            Some("method_not_allowed"),
        ),
        case(
            "wrong method on publish",
            "GET",
            publish,
            "",
            405,
            Some("method_not_allowed"),
        ),
        case(
            "wrong method on an ops route",
            "PUT",
            "/healthz",
            "",
            405,
            Some("method_not_allowed"),
        ),
        case(
            "wrong method on the QA page",
            "POST",
            "/index.html",
            "",
            405,
            Some("method_not_allowed"),
        ),
    ]
}

/// Every hostile request gets its exact status and error code, as JSON with a message;
/// a 405 also says which methods are allowed; nothing hostile changes the session.
#[tokio::test]
async fn hostile_requests_get_exact_statuses_and_codes() {
    // Generous POST rate: this test is about input, not about rate limits.
    let app = App::start(&["--post-rate-per-minute", "0"]).await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let mut request = client
            .request(case.method.parse().unwrap(), app.url(&case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", case.what));
                continue;
            }
        };
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").cloned();
        let content_type = response.headers().get("content-type").cloned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str();
        let ok = status == case.status
            && code == case.code
            && (case.code.is_none()
                || (content_type
                    .as_ref()
                    .is_some_and(|t| t == "application/json")
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())))
            && (status != 405 || allow.is_some());
        if !ok {
            failures.push(format!(
                "{}: expected {} {:?}, got {status} {body} (allow: {allow:?})",
                case.what, case.status, case.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let snapshot: Value = client
        .get(app.url("/v1/sessions/hostile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&String> = snapshot["metadata"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["a"],
        "only the two accepted publishes changed the session"
    );
}

/// A wrong type's message names the field at fault, so a client can fix its request.
#[tokio::test]
async fn a_wrong_type_names_its_field() {
    let app = App::start(&[]).await;
    let answer: Value = reqwest::Client::new()
        .post(app.url("/v1/sessions/s/metadata"))
        .header("content-type", "application/json")
        .body(r#"{"operation":"update","metadata":{},"timestamp":{"t":1}}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("timestamp:"), "{message}");
}

/// A malformed `Last-Event-ID` is no error: the stream starts with a fresh snapshot.
#[tokio::test]
async fn a_garbage_last_event_id_gets_a_snapshot() {
    let app = App::start(&[]).await;
    for garbage in ["x", "1-2-3", "99999999999999999999999-1", "-1", "1-x"] {
        let mut stream =
            e2e_tests::SseStream::connect(&app.url("/v1/sessions/s/events"), Some(garbage)).await;
        stream.expect("snapshot").await;
    }
}
