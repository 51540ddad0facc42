//! Session endpoints: the SSE stream, the snapshot, and publishing without SQS.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use futures::StreamExt;
use serde::Deserialize;
use shared_types::{EventId, PublishRequest, PublishResponse, SnapshotEvent};

use super::{require, ApiError, ApiJson, AppState, SessionPath};
use crate::auth::Scope;
use crate::hub::{retry_hint, Change, Source};

/// Milliseconds a client should wait before reconnecting, sent as the stream's `retry:`.
const RETRY_HINT_MS: u64 = 2000;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sessions/{id}",
            get(snapshot).route_layer(require(state, Scope::Subscribe)),
        )
        .route(
            "/v1/sessions/{id}/events",
            get(events).route_layer(require(state, Scope::Subscribe)),
        )
        .route(
            "/v1/sessions/{id}/metadata",
            post(publish).route_layer(require(state, Scope::Publish)),
        )
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    last_event_id: Option<String>,
}

/// `GET /v1/sessions/{id}/events`: the session's SSE stream, resumable with
/// `Last-Event-ID` (header) or `last_event_id` (query, for clients that cannot set headers).
#[tracing::instrument(skip_all, fields(session = %session_id))]
async fn events(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        // A malformed id is treated like an unknown one: the client gets a snapshot.
        .and_then(|raw| raw.trim().parse::<EventId>().ok());
    let mut subscription = state.hub.subscribe(&session_id, resume).await?;
    subscription.prepend(retry_hint(RETRY_HINT_MS));
    let stream = subscription
        .into_stream(state.config.heartbeat(), state.stop.clone())
        .map(Ok::<_, std::convert::Infallible>);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /v1/sessions/{id}`: the merged metadata now.
async fn snapshot(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<SnapshotEvent>, ApiError> {
    Ok(Json(state.hub.snapshot(&session_id).await?))
}

/// `POST /v1/sessions/{id}/metadata`: the SQS message body, minus `session_id`, over HTTP.
#[tracing::instrument(skip_all, fields(session = %session_id))]
async fn publish(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    ApiJson(request): ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<PublishResponse>), ApiError> {
    if !state.config.http_publish {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "publish_disabled",
            "publishing over HTTP is disabled on this gateway (HTTP_PUBLISH=false)",
        ));
    }
    if let Some(body_id) = request.session_id.filter(|id| *id != session_id) {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "session_mismatch",
            format!("body session_id {body_id:?} differs from the path's {session_id:?}"),
        ));
    }
    let outcome = state
        .hub
        .apply(Change {
            session_id,
            event: request.event,
            operation: request.operation,
            metadata: request.metadata,
            timestamp: request.timestamp.unwrap_or_else(Utc::now),
            source: Source::Http,
        })
        .await?;
    let response = PublishResponse {
        event_id: outcome.event_id,
        applied: outcome.applied,
        ignored: outcome.ignored,
    };
    Ok((StatusCode::ACCEPTED, Json(response)))
}
