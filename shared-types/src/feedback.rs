//! User feedback on a session: what the browser posts and what the gateway stores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SessionId;

/// The thumbs a user pressed.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Rating {
    Up,
    Down,
}

/// How a feedback is routed: `up` → positive, `down` → negative, no rating → neutral.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

impl Sentiment {
    pub fn of(rating: Option<Rating>) -> Self {
        match rating {
            Some(Rating::Up) => Self::Positive,
            Some(Rating::Down) => Self::Negative,
            None => Self::Neutral,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
            Self::Neutral => "neutral",
        }
    }
}

/// Body of `POST /v1/sessions/{id}/feedback`. Unknown fields are rejected so that a typo
/// (`"ratng"`) is an error rather than a silently neutral feedback.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackRequest {
    #[serde(default)]
    pub rating: Option<Rating>,
    #[serde(default)]
    pub comment: String,
}

/// Where a feedback's SNS notification stands.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationStatus {
    /// Stored in the outbox, not yet accepted by SNS.
    Pending,
    /// Accepted by SNS.
    Sent,
    /// The route for this sentiment is disabled: nothing will be sent.
    Disabled,
}

#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationState {
    pub status: NotificationStatus,
    /// Publish attempts so far.
    pub attempts: u32,
    #[cfg_attr(feature = "typescript", tsify(type = "string | null"))]
    #[serde(with = "crate::timestamp::option")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// A stored feedback, as `POST` and `GET …/feedback` return it.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackRecord {
    pub id: String,
    pub session_id: SessionId,
    pub rating: Option<Rating>,
    pub sentiment: Sentiment,
    pub comment: String,
    #[cfg_attr(feature = "typescript", tsify(type = "string"))]
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    pub notification: NotificationState,
}

/// One page of `GET /v1/sessions/{id}/feedback`, newest first. Pass `next_cursor` back
/// as `?cursor=` for the next page; `None` on the last page.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackPage {
    pub items: Vec<FeedbackRecord>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_map_to_sentiments() {
        let parse = |s| serde_json::from_str::<FeedbackRequest>(s).unwrap();
        assert_eq!(
            Sentiment::of(parse(r#"{"rating":"up","comment":"x"}"#).rating),
            Sentiment::Positive
        );
        assert_eq!(
            Sentiment::of(parse(r#"{"rating":"down"}"#).rating),
            Sentiment::Negative
        );
        assert_eq!(
            Sentiment::of(parse(r#"{"rating":null,"comment":""}"#).rating),
            Sentiment::Neutral
        );
        assert_eq!(
            Sentiment::of(parse(r#"{"comment":"meh"}"#).rating),
            Sentiment::Neutral
        );
    }

    #[test]
    fn strict_feedback_parsing() {
        for bad in [
            r#"{"rating":"sideways"}"#,
            r#"{"rating":1}"#,
            r#"{"comment":5}"#,
            r#"{"ratng":"up"}"#,
        ] {
            assert!(
                serde_json::from_str::<FeedbackRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
