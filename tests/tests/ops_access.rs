//! The operator endpoints (`/ops`, `/ops/summary`, `/ops/dlq`, `/ops/dlq/redrive`) need
//! the `admin` scope when access control is on, and answer bad requests with precise
//! JSON errors.

use e2e_tests::app::App;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "an-ops-test-secret-of-at-least-32-bytes";

fn token(scope: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = json!({"sub": "operator", "exp": exp, "sessions": "*", "scope": scope});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn status(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn code(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Without a token: 401; with a token lacking `admin`: 403; with `admin`: the page (HTML),
/// the summary (JSON with the components), and a precise error where no DLQ exists.
#[tokio::test]
async fn ops_endpoints_need_the_admin_scope() {
    let app = App::start(&["--auth-jwt-secret", SECRET]).await;
    let client = reqwest::Client::new();
    let (reader, admin) = (token("subscribe"), token("admin"));
    for path in ["/ops", "/ops/summary", "/ops/dlq"] {
        assert_eq!(status(client.get(app.url(path))).await.0, 401, "{path}");
        let refused = status(client.get(app.url(path)).bearer_auth(&reader)).await;
        assert_eq!(refused.0, 403, "{path}: {}", refused.1);
    }
    let redrive = || {
        client
            .post(app.url("/ops/dlq/redrive"))
            .json(&json!({"all": true}))
    };
    assert_eq!(status(redrive()).await.0, 401);
    assert_eq!(status(redrive().bearer_auth(&reader)).await.0, 403);

    let page = client
        .get(app.url("/ops"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("/ops/summary"));

    let (code_, body) = status(client.get(app.url("/ops/summary")).bearer_auth(&admin)).await;
    assert_eq!(code_, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["components"]["sqs"]["backend"], "disabled");
    assert!(summary["queues"].is_null(), "SQS ingest is off: {summary}");
    assert!(summary["alerts"].is_array());

    let (code_, body) = status(client.get(app.url("/ops/dlq")).bearer_auth(&admin)).await;
    assert_eq!((code_, code(&body)), (404, "dlq_not_configured".into()));
    let (code_, body) = status(redrive().bearer_auth(&admin)).await;
    assert_eq!((code_, code(&body)), (404, "dlq_not_configured".into()));
}

/// A redrive names ids or `all`, not both and not neither; a listing's limit is 1–100.
#[tokio::test]
async fn bad_ops_requests_get_precise_errors() {
    let app = App::start(&[]).await;
    let client = reqwest::Client::new();
    for body in [
        json!({}),
        json!({"message_ids": []}),
        json!({"all": true, "message_ids": ["a"]}),
        json!({"all": "yes"}),
        json!({"ids": ["a"]}),
    ] {
        let (status_, text) = status(client.post(app.url("/ops/dlq/redrive")).json(&body)).await;
        assert_eq!(
            (status_, code(&text)),
            (422, "invalid_body".into()),
            "{body}"
        );
    }
    for query in ["?limit=0", "?limit=101", "?limit=x"] {
        let (status_, text) = status(client.get(app.url(&format!("/ops/dlq{query}")))).await;
        assert_eq!(
            (status_, code(&text)),
            (400, "invalid_query".into()),
            "{query}"
        );
    }
}
