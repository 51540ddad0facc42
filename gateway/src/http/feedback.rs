//! `POST /v1/sessions/{id}/feedback` (store and notify) and `GET …/feedback` (list).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use shared_types::{FeedbackPage, FeedbackRecord};

use super::{require, ApiError, ApiJson, ApiQuery, AppState, SessionPath};
use crate::auth::Scope;
use crate::feedback::input::{IdempotencyKey, NewFeedback, PageRequest};
use crate::feedback::{FeedbackError, RETRY_AFTER};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/v1/sessions/{id}/feedback",
        post(submit)
            .get(list)
            .route_layer(require(state, Scope::Feedback)),
    )
}

/// `201` with the stored record; a retry with the same `Idempotency-Key` and body
/// answers the record stored the first time.
#[tracing::instrument(name = "feedback.submit", skip_all, fields(session = %session))]
async fn submit(
    State(state): State<AppState>,
    SessionPath(session): SessionPath,
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

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

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
