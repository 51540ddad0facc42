//! The multiplexed stream, `GET`/`POST /v1/events`, over real HTTP: its frames carry
//! their session, each session resumes exactly from its own position, the connection
//! holds one stream slot, and bad requests and tokens get their precise answers.
//! Gateways run in this process (`gateway::run` on port 0).

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_tests::app::App;
use e2e_tests::SseStream;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn token(claims: Value) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let mut claims = claims;
    claims["exp"] = json!(now.unwrap().as_secs() + 600);
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A session name unique to this run, so tests sharing nothing cannot collide.
fn sessions(prefix: &str, n: usize) -> Vec<String> {
    let run = e2e_tests::unique(prefix);
    (0..n).map(|i| format!("{run}-{i}")).collect()
}

fn query(sessions: &[String]) -> String {
    let list: Vec<String> = sessions.iter().map(|s| format!("session={s}")).collect();
    format!("/v1/events?{}", list.join("&"))
}

async fn publish(app: &App, bearer: Option<&str>, session: &str, key: &str, value: u64) {
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/v1/sessions/{session}/metadata")))
        .json(&json!({"operation": "update", "metadata": {key: value}}));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
}

/// One event of a multiplexed stream, split into its session and `{epoch}-{seq}`.
#[derive(Debug, Clone, PartialEq)]
struct Tagged {
    session: String,
    id: String,
    event: String,
    data: Value,
}

async fn next(stream: &mut SseStream) -> Tagged {
    let event = stream
        .next(Duration::from_secs(10))
        .await
        .expect("an event within 10 s");
    let data = event.json();
    let (session, id) = match &event.id {
        Some(id) => {
            let (session, id) = id.split_once('/').expect("ids are {session}/{epoch}-{seq}");
            (session.to_owned(), id.to_owned())
        }
        None => (
            data["session_id"].as_str().unwrap().to_owned(),
            String::new(),
        ),
    };
    assert_eq!(
        data["session_id"],
        session.as_str(),
        "tag and payload agree"
    );
    Tagged {
        session,
        id,
        event: event.event,
        data,
    }
}

async fn next_n(stream: &mut SseStream, n: usize) -> Vec<Tagged> {
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(next(stream).await);
    }
    events
}

/// Nothing more arrives within `wait` (heartbeats are comments, not events).
async fn assert_quiet(stream: &mut SseStream, wait: Duration) {
    if let Some(extra) = stream.next(wait).await {
        panic!("unexpected event {extra:?}");
    }
}

async fn status_and_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

/// One stream carries every listed session: a snapshot each, tagged with its session, then
/// each update on its own session only, and the connection takes one stream slot (a
/// client allowed one stream gets 20 sessions on it and is refused a second stream).
#[tokio::test]
async fn twenty_sessions_share_one_connection_and_each_update_is_tagged_with_its_session() {
    let app = App::start(&["--max-streams-per-client", "1"]).await;
    let ids = sessions("grid", 20);
    let mut stream = SseStream::connect(&app.url(&query(&ids)), None).await;
    let snapshots = next_n(&mut stream, 20).await;
    let mut seen: Vec<&str> = snapshots.iter().map(|e| e.session.as_str()).collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(seen, want, "one snapshot per session");
    assert!(snapshots.iter().all(|e| e.event == "snapshot"));

    let second = reqwest::get(app.url(&query(&ids[..1]))).await.unwrap();
    assert_eq!(
        status_and_code(second).await,
        (429, "too_many_streams".into())
    );

    for (n, session) in ids.iter().enumerate().rev() {
        publish(&app, None, session, "n", n as u64).await;
    }
    for event in next_n(&mut stream, 20).await {
        assert_eq!(event.event, "metadata");
        let n = ids.iter().position(|s| *s == event.session).unwrap();
        assert_eq!(event.data["metadata"]["n"], n as u64, "{event:?}");
        assert!(
            event.id.ends_with("-1"),
            "the session's first event: {event:?}"
        );
    }
    assert_quiet(&mut stream, Duration::from_millis(300)).await;
}

/// Reconnecting with every session's position (here in the POST body) replays exactly
/// what each session missed — no snapshot, no duplicate; a session already current gets
/// nothing, one without a position or with a position from another history gets a
/// snapshot. The GET form reads the same list from `Last-Event-ID`.
#[tokio::test]
async fn each_session_resumes_exactly_from_its_own_position() {
    let app = App::start(&[]).await;
    let ids = sessions("resume", 4);
    let (a, b, c, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let mut stream = SseStream::connect(&app.url(&query(&ids[..3])), None).await;
    next_n(&mut stream, 3).await;
    for session in [a, b, c] {
        publish(&app, None, session, "k", 1).await;
    }
    let mut positions = BTreeMap::new();
    for event in next_n(&mut stream, 3).await {
        positions.insert(event.session, event.id);
    }
    drop(stream);

    publish(&app, None, a, "k", 2).await;
    publish(&app, None, a, "k", 3).await;
    publish(&app, None, b, "k", 2).await;
    let epoch = positions[c].split_once('-').unwrap().0.to_owned();
    let list = format!(
        "{a}/{},{b}/{},{c}/{},{d}/{epoch}9-1",
        positions[a], positions[b], positions[c]
    );
    let request = reqwest::Client::new()
        .post(app.url("/v1/events"))
        .json(&json!({"sessions": [a, b, c, d], "last_event_id": list}));
    let mut resumed = SseStream::open(request).await;
    let mut got: Vec<(String, String, String)> = next_n(&mut resumed, 4)
        .await
        .into_iter()
        .map(|e| {
            (
                e.session,
                e.event,
                e.id.rsplit('-').next().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (a.clone(), "metadata".into(), "2".into()),
            (a.clone(), "metadata".into(), "3".into()),
            (b.clone(), "metadata".into(), "2".into()),
            (d.clone(), "snapshot".into(), "0".into()),
        ]
    );
    assert_quiet(&mut resumed, Duration::from_millis(300)).await;

    let header = format!("{a}/{},{c}/{}", positions[a], positions[c]);
    let mut by_get = SseStream::connect(&app.url(&query(&ids[..3])), Some(&header)).await;
    let mut got: Vec<(String, String)> = next_n(&mut by_get, 3)
        .await
        .into_iter()
        .map(|e| (e.session, e.event))
        .collect();
    got.sort();
    let want = [
        (a.clone(), "metadata".to_owned()),
        (a.clone(), "metadata".to_owned()),
        (b.clone(), "snapshot".to_owned()),
    ];
    assert_eq!(
        got, want,
        "a replays 2 and 3, b has no position: a snapshot"
    );
    assert_quiet(&mut by_get, Duration::from_millis(300)).await;
}

/// `MAX_SESSIONS_PER_STREAM` caps a stream: one session more is refused with
/// `too_many_sessions`, 400 in the query form and 422 in the body form.
#[tokio::test]
async fn more_sessions_than_the_cap_are_refused_precisely() {
    let app = App::start(&["--max-sessions-per-stream", "3"]).await;
    let ids = sessions("cap", 4);
    let ok = reqwest::get(app.url(&query(&ids[..3]))).await.unwrap();
    assert_eq!(ok.status(), 200);
    drop(ok);
    let over = reqwest::get(app.url(&query(&ids))).await.unwrap();
    assert_eq!(
        status_and_code(over).await,
        (400, "too_many_sessions".into())
    );
    let over = reqwest::Client::new()
        .post(app.url("/v1/events"))
        .json(&json!({"sessions": ids}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(over).await,
        (422, "too_many_sessions".into())
    );
}

/// Every malformed request gets its status and code, never a stream or a 500.
#[tokio::test]
async fn bad_requests_get_precise_errors() {
    let app = App::start(&[]).await;
    let client = reqwest::Client::new();
    let get_cases = [
        ("/v1/events", 400, "no_sessions"),
        ("/v1/events?last_event_id=a/1-1", 400, "no_sessions"),
        (
            "/v1/events?session=a&session=b&session=a",
            400,
            "duplicate_session",
        ),
        (
            "/v1/events?session=a&session=b%2Fc",
            400,
            "invalid_session_id",
        ),
        ("/v1/events?session=", 400, "invalid_session_id"),
        ("/v1/events?session=%FF", 400, "invalid_session_id"),
    ];
    for (path, status, code) in get_cases {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            status_and_code(response).await,
            (status, code.into()),
            "{path}"
        );
    }
    let post_cases: [(&str, &str, u16, &str); 8] = [
        (
            "application/json",
            r#"{"sessions": []}"#,
            422,
            "no_sessions",
        ),
        (
            "application/json",
            r#"{"sessions": ["a", "a"]}"#,
            422,
            "duplicate_session",
        ),
        (
            "application/json",
            r#"{"sessions": ["a b"]}"#,
            422,
            "invalid_session_id",
        ),
        (
            "application/json",
            r#"{"sessions": "a"}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"sessions": ["a"], "since": 1}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"sessions": ["a"]"#,
            400,
            "invalid_json",
        ),
        ("application/json", "", 400, "invalid_json"),
        (
            "text/plain",
            r#"{"sessions": ["a"]}"#,
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in post_cases {
        let response = client
            .post(app.url("/v1/events"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (status, code.into()),
            "{body}"
        );
    }
    let put = client.put(app.url("/v1/events")).send().await.unwrap();
    assert_eq!(
        status_and_code(put).await,
        (405, "method_not_allowed".into())
    );
}

/// Each session is checked against the token as on the single-session stream: the
/// covered ones stream, each uncovered one gets one `refused` event (403,
/// `session_not_allowed`) and nothing else; a token covering none, without `subscribe`,
/// or no token at all is refused outright.
#[tokio::test]
async fn each_session_is_checked_against_the_token() {
    let app = App::start(&["--auth-jwt-secret", SECRET]).await;
    let ids = sessions("auth", 3);
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let reader = token(json!({"sessions": [a, b], "scope": "subscribe"}));
    let publisher = token(json!({"sessions": "*", "scope": "publish"}));

    let request = reqwest::Client::new()
        .get(app.url(&query(&ids)))
        .bearer_auth(&reader);
    let mut stream = SseStream::open(request).await;
    let mut first = next_n(&mut stream, 3).await;
    first.sort_by(|x, y| x.session.cmp(&y.session));
    assert_eq!(
        first.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["snapshot", "snapshot", "refused"]
    );
    assert_eq!(first[2].session, *c);
    assert_eq!(first[2].data["status"], 403);
    assert_eq!(first[2].data["error"]["code"], "forbidden");
    assert_eq!(first[2].data["error"]["reason"], "session_not_allowed");
    for session in [c, b] {
        publish(&app, Some(&publisher), session, "k", 1).await;
    }
    let update = next(&mut stream).await;
    assert_eq!(
        (update.session.as_str(), update.event.as_str()),
        (b.as_str(), "metadata")
    );
    assert_quiet(&mut stream, Duration::from_millis(300)).await;

    let client = reqwest::Client::new();
    let cases = [
        (
            Some(token(json!({"sessions": ["other"], "scope": "subscribe"}))),
            403,
            "session_not_allowed",
        ),
        (
            Some(token(json!({"sessions": "*", "scope": "feedback"}))),
            403,
            "scope_missing",
        ),
        (None, 401, "token_missing"),
    ];
    for (bearer, status, reason) in cases {
        let mut request = client.get(app.url(&query(&ids)));
        if let Some(bearer) = &bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{reason}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["reason"], reason);
    }
}
