//! The feedback endpoints as a client calls them.

use serde_json::Value;
use shared_types::FeedbackPage;

use crate::Gateway;

/// `POST /v1/sessions/{session}/feedback` with a JSON body and an optional
/// `Idempotency-Key`.
pub async fn post(
    gateway: &Gateway,
    session: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(gateway.url(&format!("/v1/sessions/{session}/feedback")))
        .json(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("the gateway answers")
}

/// `GET /v1/sessions/{session}/feedback{query}`, which must answer 200.
pub async fn list(gateway: &Gateway, session: &str, query: &str) -> FeedbackPage {
    let response = reqwest::get(gateway.url(&format!("/v1/sessions/{session}/feedback{query}")))
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    response.json().await.expect("a FeedbackPage")
}

/// `GET /readyz`: status code and body.
pub async fn readyz(gateway: &Gateway) -> (u16, Value) {
    let response = reqwest::get(gateway.url("/readyz"))
        .await
        .expect("the gateway answers");
    (
        response.status().as_u16(),
        response.json().await.expect("a JSON body"),
    )
}

/// Status and `error.code` of an error answer.
pub async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}
