//! A session identifier validated once, at the boundary.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest accepted session id, in bytes.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// A non-empty session id of at most [`MAX_SESSION_ID_LEN`] ASCII letters, digits and
/// `-_.:@`. The charset keeps ids safe in URLs, log lines, SNS subjects and MongoDB keys.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdError {
    #[error("session id is empty")]
    Empty,
    #[error("session id is longer than {MAX_SESSION_ID_LEN} bytes")]
    TooLong,
    #[error("session id contains {0:?}; allowed are ASCII letters, digits and -_.:@")]
    InvalidChar(char),
}

impl SessionId {
    pub fn parse(raw: impl Into<String>) -> Result<Self, SessionIdError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(SessionIdError::Empty);
        }
        if raw.len() > MAX_SESSION_ID_LEN {
            return Err(SessionIdError::TooLong);
        }
        if let Some(bad) = raw
            .chars()
            // `matches!` rather than `"-_.:@".contains(c)`: the same rule without the
            // substring search code, which the browser SDK would otherwise carry.
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@')))
        {
            return Err(SessionIdError::InvalidChar(bad));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SessionId {
    type Err = SessionIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// A string of the allowed charset and length, so generated clients and API fuzzers
/// know what a valid id is.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SessionId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_SESSION_ID_LEN))
            .pattern(Some("^[A-Za-z0-9._:@-]+$"))
            .examples([serde_json::json!("user-session-123")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SessionId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_producer_style_ids() {
        for id in ["user-session-123", "a", "tenant:42@web_1.x"] {
            assert_eq!(SessionId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_empty_long_and_unsafe_ids() {
        assert_eq!(SessionId::parse(""), Err(SessionIdError::Empty));
        assert_eq!(
            SessionId::parse("x".repeat(MAX_SESSION_ID_LEN + 1)),
            Err(SessionIdError::TooLong)
        );
        assert!(SessionId::parse("x".repeat(MAX_SESSION_ID_LEN)).is_ok());
        for bad in ["a b", "a/b", "a\nb", "é", "a%2F"] {
            assert!(
                matches!(SessionId::parse(bad), Err(SessionIdError::InvalidChar(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<SessionId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<SessionId>("\"not ok\"").is_err());
    }
}
