//! Why a request was refused. Messages are ours, never a JWT library's text: they tell
//! the client what to fix without describing the verifier's internals.

use shared_types::SessionId;

use super::Scope;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a token is required: `Authorization: Bearer …`, the auth cookie or `access_token`")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    /// Malformed, badly signed, an algorithm the key does not allow, bad claims.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("no key of this gateway matches the token")]
    UnknownKey,
    /// The key set could not be fetched: not the client's fault, it may retry.
    #[error("the signing keys cannot be fetched right now")]
    KeysUnavailable,
    #[error("the token does not cover session {0}")]
    SessionNotAllowed(SessionId),
    #[error("the token lacks the `{0}` scope")]
    ScopeMissing(Scope),
}

/// How the HTTP layer answers an [`AuthError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No valid identity: 401.
    Unauthenticated,
    /// A valid identity without the right: 403.
    Forbidden,
    /// The verifier cannot decide now: 503.
    Unavailable,
}

impl AuthError {
    /// Stable, machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::Invalid(_) => "token_invalid",
            Self::WrongIssuer => "token_wrong_issuer",
            Self::WrongAudience => "token_wrong_audience",
            Self::UnknownKey => "unknown_key",
            Self::KeysUnavailable => "keys_unavailable",
            Self::SessionNotAllowed(_) => "session_not_allowed",
            Self::ScopeMissing(_) => "scope_missing",
        }
    }

    pub fn refusal(&self) -> Refusal {
        match self {
            Self::SessionNotAllowed(_) | Self::ScopeMissing(_) => Refusal::Forbidden,
            Self::KeysUnavailable => Refusal::Unavailable,
            _ => Refusal::Unauthenticated,
        }
    }

    /// Maps the JWT library's error to ours, dropping its text.
    pub(super) fn from_jwt(error: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match error.kind() {
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::NotYetValid,
            K::InvalidIssuer => Self::WrongIssuer,
            K::InvalidAudience => Self::WrongAudience,
            K::MissingRequiredClaim(claim) => match claim.as_str() {
                "iss" => Self::WrongIssuer,
                "aud" => Self::WrongAudience,
                "exp" => Self::Invalid("the `exp` claim is required"),
                _ => Self::Invalid("a required claim is missing"),
            },
            K::InvalidSignature => Self::Invalid("bad signature"),
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
                Self::Invalid("algorithm not accepted")
            }
            K::InvalidClaimFormat(_) | K::Json(_) => Self::Invalid("malformed claims"),
            _ => Self::Invalid("not a well-formed signed JWT"),
        }
    }
}
