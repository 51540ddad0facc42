//! Session endpoints: the SSE stream of one session, the snapshot, and publishing without SQS.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use shared_types::{ErrorBody, EventId, PublishRequest, PublishResponse, SessionId, SnapshotEvent};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::stream_conn::LeanSocket;
use super::{
    guarded, ApiError, ApiJson, ApiQuery, AppState, SessionPath, StreamPermit, WithinRate,
};
use crate::auth::Scope;
use crate::hub::{Change, Source};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(guarded(routes!(snapshot), state, Scope::Subscribe))
        .routes(guarded(routes!(events), state, Scope::Subscribe))
        .routes(guarded(routes!(publish), state, Scope::Publish))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Resume after this event id, for clients that cannot set `Last-Event-ID`.
    last_event_id: Option<String>,
}

/// `GET /v1/sessions/{id}/events`: the session's SSE stream, resumable with
/// `Last-Event-ID` (header) or `last_event_id` (query, for clients that cannot set headers).
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/events",
    tag = "sessions",
    params(
        ("id" = SessionId, Path, description = "The session"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (`{epoch}-{seq}`); anything else gets a fresh snapshot"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "The session's events: a `snapshot` first, then `metadata` events and `: ping` heartbeats (docs/API.md)", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_session_id`, `invalid_query`", body = ErrorBody),
        (status = 429, description = "`too_many_streams`: this client address holds `MAX_STREAMS_PER_CLIENT` streams, or this token's subject `MAX_STREAMS_PER_PRINCIPAL`; `Retry-After`", body = ErrorBody),
        (status = 503, description = "`too_many_streams`: the gateway holds `MAX_STREAMS` streams; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(session = %session_id))]
async fn events(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
    lean: Option<Extension<LeanSocket>>,
    StreamPermit(slot): StreamPermit,
) -> Result<Response, ApiError> {
    let resume = super::sse::resume_from(&headers, query.last_event_id)
        // A malformed id is treated like an unknown one: the client gets a snapshot.
        .and_then(|raw| raw.trim().parse::<EventId>().ok());
    let mut subscription = state.hub.subscribe(&session_id, resume).await?;
    // On the lean connection path the fan-out writes live frames to the socket itself.
    if let Some(Extension(LeanSocket(socket))) = lean {
        subscription = subscription.with_lane(socket);
    }
    let frames = subscription.into_stream(state.config.heartbeat(), state.stop.clone());
    Ok(super::sse::response(frames, slot))
}

/// `GET /v1/sessions/{id}`: the merged metadata now.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = SessionId, Path, description = "The session")),
    responses(
        (status = 200, description = "The merged metadata; empty for a session never written", body = SnapshotEvent),
        (status = 400, description = "`invalid_session_id`", body = ErrorBody),
    )
)]
async fn snapshot(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
) -> Result<Json<SnapshotEvent>, ApiError> {
    Ok(Json(state.hub.snapshot(&session_id).await?))
}

/// `POST /v1/sessions/{id}/metadata`: the SQS message body, minus `session_id`, over HTTP.
#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/metadata",
    tag = "sessions",
    params(("id" = SessionId, Path, description = "The session")),
    request_body = PublishRequest,
    responses(
        (status = 202, description = "Merged: which keys changed the session and which were stale", body = PublishResponse),
        (status = 400, description = "`invalid_session_id`, `invalid_json`, `invalid_utf8`", body = ErrorBody),
        (status = 403, description = "`publish_disabled` (`HTTP_PUBLISH=false`)", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body took longer than `BODY_TIMEOUT_SECONDS`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `MAX_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_body`, `session_mismatch`, `metadata_too_many_keys`, `metadata_too_deep`, `metadata_value_too_large`, `timestamp_in_future` (beyond `MAX_CLOCK_SKEW_SECONDS`), `session_full` (over `MAX_SESSION_KEYS`), `snapshot_too_large` (over `MAX_SNAPSHOT_BYTES`)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over `POST_RATE_PER_MINUTE`; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(session = %session_id))]
async fn publish(
    State(state): State<AppState>,
    SessionPath(session_id): SessionPath,
    _rate: WithinRate,
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
    state
        .limits
        .metadata
        .check(&request.metadata)
        .map_err(|e| ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
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
