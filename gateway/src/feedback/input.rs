//! Validation of what a client sends with a feedback: the body, the `Idempotency-Key`
//! header and the paging query. Everything is checked here once, so the store and the
//! notifier only ever see valid values.

use serde_json::Value;
use shared_types::{FeedbackRequest, Rating};
use uuid::Uuid;

use super::FeedbackError;

/// Page size of `GET …/feedback` when the client names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// Longest accepted `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A feedback body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    pub rating: Option<Rating>,
    pub comment: String,
}

impl NewFeedback {
    /// Parses a `POST …/feedback` body. The rating is checked before the rest so that a
    /// wrong rating answers `invalid_rating` (serde alone would only say "unknown
    /// variant"); the other shape errors answer `invalid_body` with serde's message.
    pub fn parse(body: Value, comment_max_chars: usize) -> Result<Self, FeedbackError> {
        // serde would also accept a struct written as an array (`["up", "..."]`).
        if !body.is_object() {
            return Err(FeedbackError::InvalidBody(
                "expected a JSON object like {\"rating\": \"up\", \"comment\": \"...\"}".into(),
            ));
        }
        if let Some(rating) = body.get("rating") {
            if !(rating.is_null() || rating == "up" || rating == "down") {
                return Err(FeedbackError::InvalidRating(format!(
                    "rating must be \"up\", \"down\" or null, got {}",
                    truncated(&rating.to_string(), 40)
                )));
            }
        }
        let request: FeedbackRequest =
            serde_json::from_value(body).map_err(|e| FeedbackError::InvalidBody(e.to_string()))?;
        let chars = request.comment.chars().count();
        if chars > comment_max_chars {
            return Err(FeedbackError::CommentTooLong {
                max: comment_max_chars,
                actual: chars,
            });
        }
        Ok(Self {
            rating: request.rating,
            comment: request.comment,
        })
    }
}

/// An `Idempotency-Key` header value: 1 to 255 visible ASCII characters. Keys are
/// scoped to the session, so two sessions may use the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, FeedbackError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_IDEMPOTENCY_KEY_LEN
            && raw.iter().all(|b| b.is_ascii_graphic());
        if valid {
            // Visible ASCII is valid UTF-8.
            Ok(Self(String::from_utf8_lossy(raw).into_owned()))
        } else {
            Err(FeedbackError::InvalidIdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated page request: newest first, records strictly older than `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// Id of the last record of the previous page. Ids are UUIDv7 in their lowercase
    /// hyphenated form, so comparing them as strings compares their creation times.
    pub before: Option<String>,
}

impl PageRequest {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, FeedbackError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(FeedbackError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
            )));
        }
        let before = match cursor {
            None => None,
            Some(raw) => Some(
                Uuid::try_parse(raw)
                    .map_err(|_| {
                        FeedbackError::InvalidQuery(format!(
                            "cursor {:?} is not a cursor this server returned",
                            truncated(raw, 64)
                        ))
                    })?
                    .hyphenated()
                    .to_string(),
            ),
        };
        Ok(Self { limit, before })
    }
}

fn truncated(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<NewFeedback, FeedbackError> {
        NewFeedback::parse(body, 10)
    }

    #[test]
    fn accepts_each_rating_and_a_missing_one() {
        for (body, rating) in [
            (
                json!({"rating": "up", "comment": "great"}),
                Some(Rating::Up),
            ),
            (json!({"rating": "down"}), Some(Rating::Down)),
            (json!({"rating": null, "comment": ""}), None),
            (json!({"comment": "meh"}), None),
        ] {
            assert_eq!(parse(body.clone()).unwrap().rating, rating, "{body}");
        }
    }

    #[test]
    fn a_wrong_rating_is_invalid_rating_not_invalid_body() {
        for rating in [
            json!("sideways"),
            json!(1),
            json!("UP"),
            json!({"up": true}),
        ] {
            let err = parse(json!({ "rating": rating })).unwrap_err();
            assert!(matches!(err, FeedbackError::InvalidRating(_)), "{err:?}");
        }
    }

    #[test]
    fn other_shape_errors_are_invalid_body_naming_the_field() {
        let err = parse(json!({"rating": "up", "ratng": "up"})).unwrap_err();
        assert!(
            matches!(&err, FeedbackError::InvalidBody(m) if m.contains("ratng")),
            "{err:?}"
        );
        let err = parse(json!({"comment": 5})).unwrap_err();
        assert!(matches!(err, FeedbackError::InvalidBody(_)), "{err:?}");
        let err = parse(json!(["up"])).unwrap_err();
        assert!(matches!(err, FeedbackError::InvalidBody(_)), "{err:?}");
    }

    #[test]
    fn comment_length_counts_characters_not_bytes() {
        assert!(parse(json!({"comment": "ééééééééé€"})).is_ok());
        let err = parse(json!({"comment": "ééééééééé€x"})).unwrap_err();
        assert!(matches!(
            err,
            FeedbackError::CommentTooLong {
                max: 10,
                actual: 11
            }
        ));
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert_eq!(
            IdempotencyKey::parse(b"retry-7f3a").unwrap().as_str(),
            "retry-7f3a"
        );
        assert!(IdempotencyKey::parse(&[b'k'; MAX_IDEMPOTENCY_KEY_LEN]).is_ok());
        for bad in [
            &b""[..],
            b"has space",
            b"tab\t",
            "é".as_bytes(),
            &[b'k'; MAX_IDEMPOTENCY_KEY_LEN + 1],
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn page_requests_bound_the_limit_and_normalise_the_cursor() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                limit: DEFAULT_PAGE_LIMIT,
                before: None
            }
        );
        let id = "019A9E1C-7A8B-7C3D-8E4F-0123456789AB";
        assert_eq!(
            PageRequest::parse(Some(5), Some(id))
                .unwrap()
                .before
                .unwrap(),
            id.to_lowercase()
        );
        for (limit, cursor) in [(Some(0), None), (Some(MAX_PAGE_LIMIT + 1), None)] {
            assert!(PageRequest::parse(limit, cursor).is_err());
        }
        assert!(PageRequest::parse(None, Some("not-a-cursor")).is_err());
    }
}
