//! The one error type of the HTTP boundary. User errors say exactly what was wrong;
//! internal errors are logged here and answered with a generic 500.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use shared_types::ErrorBody;

use crate::auth::{AuthError, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with its status and machine-readable code.
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Refused by access control: 401 (no valid token, with a `WWW-Authenticate: Bearer`
    /// challenge), 403 (a token without the right) or 503 (keys unavailable). The code is
    /// `unauthorized`/`forbidden`; the precise cause is `reason`.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A client over one of its limits (rate, streams): the status, a code and when to
    /// retry, sent as `Retry-After` in whole seconds (rounded up).
    #[error("{message}")]
    Limited {
        status: StatusCode,
        code: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// A backend the request needs is unreachable; the client should retry later.
    #[error("{component} unavailable: {message}")]
    Unavailable {
        component: &'static str,
        message: String,
        retry_after: Duration,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, code, message)
    }

    pub fn limited(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        retry_after: Duration,
    ) -> Self {
        Self::Limited {
            status,
            code,
            message: message.into(),
            retry_after,
        }
    }

    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<crate::hub::HubError> for ApiError {
    fn from(err: crate::hub::HubError) -> Self {
        Self::Unavailable {
            component: "redis",
            message: err.to_string(),
            retry_after: Duration::from_secs(2),
        }
    }
}

impl From<crate::hub::ApplyError> for ApiError {
    fn from(err: crate::hub::ApplyError) -> Self {
        match err {
            crate::hub::ApplyError::Refused(refused) => Self::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                refused.code(),
                refused.to_string(),
            ),
            crate::hub::ApplyError::Unavailable(err) => err.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Client {
                status,
                code,
                message,
            } => (status, Json(ErrorBody::new(code, message))).into_response(),
            Self::Auth(error) => auth_response(&error),
            Self::Limited {
                status,
                code,
                message,
                retry_after,
            } => (
                status,
                [(header::RETRY_AFTER, retry_after_secs(retry_after))],
                Json(ErrorBody::new(code, message)),
            )
                .into_response(),
            Self::Unavailable {
                component,
                message,
                retry_after,
            } => {
                tracing::warn!(component, %message, "request failed: backend unavailable");
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(ErrorBody::new(
                        "service_unavailable",
                        format!("{component} is unavailable, retry later"),
                    )),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_secs(retry_after));
                response
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "request failed: internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(ErrorBody::new("internal", "internal error")),
                )
                    .into_response()
            }
        }
    }
}

fn auth_response(error: &AuthError) -> Response {
    let (status, code, challenge) = match error.refusal() {
        Refusal::Unauthenticated if *error == AuthError::Missing => {
            (StatusCode::UNAUTHORIZED, "unauthorized", "Bearer")
        }
        Refusal::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            r#"Bearer error="invalid_token""#,
        ),
        Refusal::Forbidden => (
            StatusCode::FORBIDDEN,
            "forbidden",
            r#"Bearer error="insufficient_scope""#,
        ),
        Refusal::Unavailable => {
            return ApiError::Unavailable {
                component: "auth",
                message: error.to_string(),
                retry_after: Duration::from_secs(10),
            }
            .into_response()
        }
    };
    let body = ErrorBody::new(code, error.to_string()).with_reason(error.code());
    (status, [(header::WWW_AUTHENTICATE, challenge)], Json(body)).into_response()
}

/// `Retry-After` in whole seconds, rounded up and at least 1: a client that waits what it
/// is told must not come back a moment too early.
fn retry_after_secs(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}
