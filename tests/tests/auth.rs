//! Optional JWT authentication (`AUTH_JWT_SECRET`) of the session endpoints.

use e2e_tests::{Gateway, SseStream};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn token(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_secs() as i64
}

fn in_an_hour() -> i64 {
    unix_now() + 3600
}

async fn gateway() -> Gateway {
    Gateway::start(&[("AUTH_JWT_SECRET", SECRET.into())]).await
}

async fn status_and_code(request: reqwest::RequestBuilder) -> (u16, String, Option<String>) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code, challenge)
}

/// Without a valid token every session endpoint answers 401 with a Bearer challenge:
/// no token, a token signed with another secret, an expired token, garbage.
#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let gateway = gateway().await;
    let client = reqwest::Client::new();
    let bad_tokens = [
        None,
        Some(token(
            "another-secret-of-at-least-32-bytes!!",
            json!({"exp": in_an_hour()}),
        )),
        Some(token(SECRET, json!({"exp": unix_now() - 600}))),
        Some(token(SECRET, json!({"sessions": ["s1"]}))),
        Some("not.a.jwt".to_owned()),
    ];
    for bad in bad_tokens {
        for path in ["/v1/sessions/s1", "/v1/sessions/s1/events"] {
            let mut request = client.get(gateway.url(path));
            if let Some(t) = &bad {
                request = request.bearer_auth(t);
            }
            let (status, code, challenge) = status_and_code(request).await;
            assert_eq!(
                (status, code.as_str()),
                (401, "unauthorized"),
                "{path} with {bad:?}"
            );
            assert_eq!(challenge.as_deref(), Some("Bearer"));
        }
    }
    let health = client.get(gateway.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "operational endpoints need no token");
    let info: Value = client
        .get(gateway.url("/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["auth"], "jwt");
}

/// A valid token is limited to its `sessions` and needs `publish` to post metadata (403
/// otherwise); it works as a header and as the `access_token` query parameter.
#[tokio::test]
async fn tokens_are_scoped_to_sessions_and_publishing() {
    let gateway = gateway().await;
    let client = reqwest::Client::new();
    let reader = token(SECRET, json!({"exp": in_an_hour(), "sessions": ["s1"]}));
    let publisher = token(SECRET, json!({"exp": in_an_hour(), "publish": true}));
    let update = json!({"operation": "update", "metadata": {"status": "ok"}});

    let other = client
        .get(gateway.url("/v1/sessions/s2"))
        .bearer_auth(&reader);
    assert_eq!(status_and_code(other).await.0, 403);
    let publish = client
        .post(gateway.url("/v1/sessions/s1/metadata"))
        .bearer_auth(&reader)
        .json(&update);
    assert_eq!(&status_and_code(publish).await.1, "forbidden");
    let publish = client
        .post(gateway.url("/v1/sessions/s1/metadata"))
        .bearer_auth(&publisher)
        .json(&update);
    assert_eq!(status_and_code(publish).await.0, 202);

    let own = client
        .get(gateway.url("/v1/sessions/s1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.json::<Value>().await.unwrap()["metadata"],
        json!({"status": "ok"})
    );
    let mut stream = SseStream::connect(
        &gateway.url(&format!("/v1/sessions/s1/events?access_token={reader}")),
        None,
    )
    .await;
    assert_eq!(
        stream.expect("snapshot").await.json()["metadata"],
        json!({"status": "ok"})
    );
    assert!(
        !gateway.logs().contains(&reader),
        "the token leaked into the log"
    );
}

/// A secret too short for HS256 stops startup with the variable's name.
#[tokio::test]
async fn a_short_secret_stops_startup() {
    let stderr = e2e_tests::startup_error(&[("AUTH_JWT_SECRET", "short")]).await;
    assert!(
        stderr.contains("AUTH_JWT_SECRET") && stderr.contains("at least 32"),
        "{stderr}"
    );
}
