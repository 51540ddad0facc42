//! The metadata message the producer sends to SQS, and the HTTP publish body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SessionId;

/// A session's metadata: key → any JSON value.
pub type Metadata = serde_json::Map<String, Value>;

/// The `event` value the producer writes.
pub const METADATA_UPDATE_EVENT: &str = "metadata_update";

/// What a message does to the keys it lists.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Operation {
    /// Set each listed key to its value.
    Update,
    /// Remove each listed key; the producer sends the removed keys with `null` values.
    Delete,
}

/// The SQS message body, byte-compatible with the producer:
///
/// ```json
/// {"session_id": "user-session-123", "event": "metadata_update", "operation": "update",
///  "metadata": {"status": "processing"}, "timestamp": "2024-01-26T10:30:45.123456"}
/// ```
///
/// Unknown extra fields are ignored so that producer additions never break ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataMessage {
    pub session_id: SessionId,
    #[serde(default = "default_event")]
    pub event: String,
    pub operation: Operation,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    #[serde(with = "crate::timestamp")]
    pub timestamp: DateTime<Utc>,
}

/// Body of `POST /v1/sessions/{id}/metadata`: the SQS message without `session_id` (the
/// path names the session). A `session_id` may still be sent but must match the path;
/// a missing `timestamp` means "now" on the server.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    #[serde(default = "default_event")]
    pub event: String,
    pub operation: Operation,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    #[cfg_attr(feature = "typescript", tsify(type = "string"))]
    // The shapes `timestamp::parse` accepts: naive ISO-8601 (UTC) or RFC 3339 with `Z` or
    // an offset. (It checks the calendar too: `2024-02-30` has the shape but is refused.)
    #[cfg_attr(
        feature = "openapi",
        schema(
            value_type = Option<String>,
            pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
        )
    )]
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<DateTime<Utc>>,
}

/// Answer of `POST /v1/sessions/{id}/metadata`: which keys changed the session and which
/// were stale (older than the key's current value) and ignored.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishResponse {
    /// Id of the `metadata` event sent to subscribers; `None` when nothing changed.
    pub event_id: Option<crate::EventId>,
    pub applied: Vec<String>,
    pub ignored: Vec<String>,
}

fn default_event() -> String {
    METADATA_UPDATE_EVENT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_producers_exact_message() {
        let body = r#"{"session_id": "user-session-123", "event": "metadata_update", "operation": "update",
 "metadata": {"status": "processing", "agent_state": "thinking", "priority": "high"},
 "timestamp": "2024-01-26T10:30:45.123456"}"#;
        let msg: MetadataMessage = serde_json::from_str(body).unwrap();
        assert_eq!(msg.session_id.as_str(), "user-session-123");
        assert_eq!(msg.operation, Operation::Update);
        assert_eq!(msg.metadata["agent_state"], "thinking");
        assert_eq!(
            crate::timestamp::format(&msg.timestamp),
            "2024-01-26T10:30:45.123456Z"
        );
    }

    #[test]
    fn parses_deletes_and_ignores_unknown_fields() {
        let body = r#"{"session_id":"s","event":"metadata_update","operation":"delete",
            "metadata":{"priority":null},"timestamp":"2024-01-26T10:30:45+00:00",
            "producer_version":"2.1","trace":{"id":1}}"#;
        let msg: MetadataMessage = serde_json::from_str(body).unwrap();
        assert_eq!(msg.operation, Operation::Delete);
        assert!(msg.metadata["priority"].is_null());
    }

    #[test]
    fn rejects_missing_or_wrong_fields() {
        for bad in [
            r#"{"event":"metadata_update","operation":"update","metadata":{},"timestamp":"2024-01-26T10:30:45"}"#,
            r#"{"session_id":"s","operation":"upsert","metadata":{},"timestamp":"2024-01-26T10:30:45"}"#,
            r#"{"session_id":"s","operation":"update","metadata":[],"timestamp":"2024-01-26T10:30:45"}"#,
            r#"{"session_id":"s","operation":"update","metadata":{},"timestamp":"soon"}"#,
            r#"{"session_id":"bad id","operation":"update","metadata":{},"timestamp":"2024-01-26T10:30:45"}"#,
        ] {
            assert!(
                serde_json::from_str::<MetadataMessage>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn publish_request_defaults() {
        let req: PublishRequest =
            serde_json::from_str(r#"{"operation":"update","metadata":{"status":"done"}}"#).unwrap();
        assert_eq!(req.event, METADATA_UPDATE_EVENT);
        assert_eq!(req.timestamp, None);
        assert_eq!(req.session_id, None);
    }
}
