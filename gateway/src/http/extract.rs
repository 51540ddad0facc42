//! Extractors that turn axum's rejections into precise [`ApiError`]s, so every bad input
//! answers the same JSON error shape.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared_types::SessionId;

use super::error::ApiError;
use super::AppState;

/// The `{id}` path segment, validated as a [`SessionId`].
pub struct SessionPath(pub SessionId);

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_session_id", e.body_text()))?;
        SessionId::parse(raw)
            .map(Self)
            .map_err(|e| ApiError::bad_request("invalid_session_id", e.to_string()))
    }
}

/// `Query<T>` whose rejection is a 400 `invalid_query` naming the parameter at fault.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// A JSON body, checked step by step so each fault has its own answer:
/// - `415 unsupported_media_type`: no `Content-Type: application/json` (or `…+json`);
/// - `413 payload_too_large`: over `MAX_BODY_BYTES`;
/// - `408 request_timeout`: the body took longer than `BODY_TIMEOUT_SECONDS` to arrive;
/// - `400 invalid_utf8`: the bytes are not UTF-8;
/// - `400 invalid_json`: not JSON (syntax, truncated, nested deeper than 128 levels);
/// - `422 invalid_body`: valid JSON of the wrong shape; the message names the field.
///
/// A body is parsed straight into `T`. Only a body that fails is parsed again, into a JSON
/// value first and then into `T`, to name its fault: serde_json reports some type errors
/// during a direct parse as syntax errors (`"operation": 5` is "expected value"), while
/// from a value every error is about the shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected `Content-Type: application/json`",
            ));
        }
        let timeout = state.config.body_timeout();
        let bytes = tokio::time::timeout(timeout, Bytes::from_request(req, state))
            .await
            .map_err(|_| {
                ApiError::client(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!("the body did not arrive within {} s", timeout.as_secs()),
                )
            })?
            .map_err(body_rejection)?;
        Ok(Self(parse_json(&bytes)?))
    }
}

/// Parses a request body as described on [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Most bodies are valid: one pass. One that fails is judged through a value, which
    // names its fault and accepts what a value accepts (a repeated key: the last wins).
    serde_json::from_slice(bytes).or_else(|_| parse_via_value(bytes))
}

fn parse_via_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_utf8",
            format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = match e.path().to_string().as_str() {
            "." => e.inner().to_string(),
            path => format!("{path}: {}", e.inner()),
        };
        ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
    })
}

/// `application/json`, or any `application/…+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            rejection.body_text(),
        )
    } else {
        ApiError::bad_request("invalid_body", rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use shared_types::PublishRequest;

    use super::*;

    fn fault(body: &str) -> (StatusCode, &'static str, String) {
        match parse_json::<PublishRequest>(body.as_bytes()) {
            Err(ApiError::Client {
                status,
                code,
                message,
            }) => (status, code, message),
            other => panic!("expected a client error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_body_is_parsed() {
        let request: PublishRequest =
            parse_json(br#"{"operation": "update", "metadata": {"status": "active"}}"#).unwrap();
        assert_eq!(request.metadata["status"], "active");
    }

    #[test]
    fn a_repeated_key_keeps_the_last_value_as_a_json_value_does() {
        // A direct parse refuses the repeated field; the body is judged through a value.
        let request: PublishRequest = parse_json(
            br#"{"operation": "update", "metadata": {"a": 1}, "metadata": {"status": "b"}}"#,
        )
        .unwrap();
        assert_eq!(request.metadata.len(), 1);
        assert_eq!(request.metadata["status"], "b");
    }

    #[test]
    fn each_fault_has_its_own_code() {
        let (status, code, message) = fault(r#"{"operation": 5, "metadata": {}}"#);
        assert_eq!(
            (status, code),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        );
        assert!(message.starts_with("operation: "), "{message}");
        let (status, code, _) = fault(r#"{"operation": "update", "metadata": {"#);
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_json"));
        let (status, code, _) = fault(r#"{"operation": "update", "metadata": {}} trailing"#);
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_json"));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_as_such() {
        let body = b"{\"operation\": \"update\", \"metadata\": {\"s\": \"\xff\"}}";
        match parse_json::<PublishRequest>(body) {
            Err(ApiError::Client { status, code, .. }) => {
                assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_utf8"))
            }
            other => panic!("expected invalid_utf8, got {other:?}"),
        }
    }
}
