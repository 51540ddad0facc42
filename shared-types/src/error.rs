//! The JSON error body: `{"error": {"code": "invalid_rating", "message": "..."}}`.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable, snake_case (`invalid_session_id`, `payload_too_large`…).
    pub code: String,
    /// What was wrong, for a human.
    pub message: String,
    /// The precise cause under a general `code`, where there is one: for `unauthorized`
    /// and `forbidden`, e.g. `token_expired` or `session_not_allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                reason: None,
            },
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.error.reason = Some(reason.into());
        self
    }
}
