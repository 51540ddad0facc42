//! `POST /v1/sessions/{id}/feedback` (store and notify) and `GET …/feedback` (list).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use shared_types::{ErrorBody, FeedbackPage, FeedbackRecord, FeedbackRequest, SessionId};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{guarded, ApiError, ApiJson, ApiQuery, AppState, SessionPath, WithinRate};
use crate::auth::Scope;
use crate::feedback::input::{IdempotencyKey, NewFeedback, PageRequest};
use crate::feedback::{FeedbackError, RETRY_AFTER};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(guarded(routes!(submit, list), state, Scope::Feedback))
}

/// `201` with the stored record; a retry with the same `Idempotency-Key` and body
/// answers the record stored the first time.
#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/feedback",
    tag = "feedback",
    params(
        ("id" = SessionId, Path, description = "The session"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1 to 255 visible ASCII characters; a retry with the same key and body answers the first record"),
    ),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Stored; its SNS notification is queued", body = FeedbackRecord),
        (status = 400, description = "`invalid_session_id`, `invalid_json`, `invalid_utf8`, `invalid_idempotency_key`", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body took longer than `BODY_TIMEOUT_SECONDS`", body = ErrorBody),
        (status = 409, description = "`idempotency_conflict`: the key was used with another body", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `MAX_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_rating`, `comment_too_long`, `invalid_body`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over `POST_RATE_PER_MINUTE`; `Retry-After`", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: MongoDB is down; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "feedback.submit", skip_all, fields(session = %session))]
async fn submit(
    State(state): State<AppState>,
    SessionPath(session): SessionPath,
    _rate: WithinRate,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<FeedbackRecord>), ApiError> {
    let feedback = NewFeedback::parse(body, state.config.feedback_comment_max_chars)?;
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()?;
    let record = state.feedback.submit(session, feedback, key).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Stored feedback of a session, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/feedback",
    tag = "feedback",
    params(("id" = SessionId, Path, description = "The session"), ListQuery),
    responses(
        (status = 200, description = "One page, newest first", body = FeedbackPage),
        (status = 400, description = "`invalid_session_id`, `invalid_query`", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: MongoDB is down; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "feedback.list", skip_all, fields(session = %session))]
async fn list(
    State(state): State<AppState>,
    SessionPath(session): SessionPath,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<FeedbackPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.feedback.list(&session, page).await?))
}

impl From<FeedbackError> for ApiError {
    fn from(e: FeedbackError) -> Self {
        let message = e.to_string();
        let unprocessable =
            |code| ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
        match e {
            FeedbackError::InvalidRating(_) => unprocessable("invalid_rating"),
            FeedbackError::CommentTooLong { .. } => unprocessable("comment_too_long"),
            FeedbackError::InvalidBody(_) => unprocessable("invalid_body"),
            FeedbackError::InvalidIdempotencyKey => {
                ApiError::bad_request("invalid_idempotency_key", message)
            }
            FeedbackError::InvalidQuery(_) => ApiError::bad_request("invalid_query", message),
            FeedbackError::IdempotencyConflict => {
                ApiError::client(StatusCode::CONFLICT, "idempotency_conflict", message)
            }
            FeedbackError::Unavailable(_) => ApiError::Unavailable {
                component: "mongodb",
                message,
                retry_after: RETRY_AFTER,
            },
            FeedbackError::Internal(e) => ApiError::Internal(e),
        }
    }
}
