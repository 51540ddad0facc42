//! Operational endpoints: liveness, readiness, Prometheus metrics, server info, and the
//! operator page `/ops` with its JSON twin `/ops/summary` and the dead-letter workflow.
//!
//! `/healthz` and `/v1/info` are open (a load balancer and a client without a token need
//! them; neither says more than a version and whether auth is on). `/readyz` is open but
//! lists its components only to the `admin` scope; `/metrics` and `/ops*` need `admin`.
//! Without authentication configured everything is open.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shared_types::{ErrorBody, ServerInfo};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{assets, guarded, ApiError, ApiJson, ApiQuery, AppState, OptionalPrincipal};
use crate::auth::Scope;
use crate::ops::dlq::{DeadLetters, DlqError, RedriveReport, Selection};
use crate::ops::summary::Summary;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(guarded(routes!(metrics), state, Scope::Admin))
        .routes(routes!(info))
        .routes(guarded(routes!(ops_page), state, Scope::Admin))
        .routes(guarded(routes!(ops_summary), state, Scope::Admin))
        .routes(guarded(routes!(dead_letters), state, Scope::Admin))
        .routes(guarded(routes!(redrive), state, Scope::Admin))
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses(
    (status = 200, description = "`{\"status\": \"ok\"}`", body = Object),
))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `200` when every configured component works, `503` otherwise; the body lists each to
/// callers with the `admin` scope (and to everyone when access control is off): its
/// status and backend, `since` when (RFC 3339) it has been in that status, and its
/// `last_error` (message and time), kept after it recovers.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready: `{\"status\": \"ready\", \"components\": {…}}`", body = Object),
    (status = 503, description = "Not ready; the body says which component is down", body = Object),
))]
async fn readyz(
    State(state): State<AppState>,
    OptionalPrincipal(principal): OptionalPrincipal,
) -> impl IntoResponse {
    let ready = state.health.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status_text = if ready { "ready" } else { "not_ready" };
    let body = match principal.is_some_and(|p| p.allows(None, Scope::Admin)) {
        true => json!({"status": status_text, "components": state.health.snapshot()}),
        false => json!({"status": status_text}),
    };
    (status, Json(body))
}

/// What a client needs to know before using the API.
#[utoipa::path(get, path = "/v1/info", tag = "ops", responses(
    (status = 200, description = "Version and features of this gateway", body = ServerInfo),
))]
async fn info(State(state): State<AppState>) -> Json<ServerInfo> {
    Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        http_publish: state.config.http_publish,
        auth: state.auth.mode(),
    })
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
))]
async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}

/// The operator page: queues, DLQ, connections, events, latency, notifications,
/// components, alerts and recent errors, refreshed live from `/ops/summary`.
#[utoipa::path(get, path = "/ops", tag = "ops", responses(
    (status = 200, description = "The page (HTML with its script)", content_type = "text/html", body = String),
))]
async fn ops_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        assets::OPS_PAGE,
    )
}

/// The operator page's figures as JSON, for scripts.
#[utoipa::path(get, path = "/ops/summary", tag = "ops", responses(
    (status = 200, description = "Queues, connections, events, latency, notifications, components, alerts, recent errors", body = Object),
))]
async fn ops_summary(State(state): State<AppState>) -> Json<Summary> {
    Json(state.ops.summary())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Most messages to list (1–100, default 50).
    limit: Option<usize>,
}

/// Messages of the metadata queue's dead-letter queue: body, receive count, sent time
/// and why the gateway rejects it.
#[utoipa::path(get, path = "/ops/dlq", tag = "ops", params(ListQuery), responses(
    (status = 200, description = "`{\"dlq_url\": …, \"messages\": [{message_id, body, receive_count, sent_at, rejection}]}`", body = Object),
    (status = 400, description = "`invalid_query`", body = ErrorBody),
    (status = 404, description = "`dlq_not_configured`: no SQS ingest, or no DLQ configured or found", body = ErrorBody),
    (status = 503, description = "`service_unavailable`: SQS cannot be reached", body = ErrorBody),
))]
async fn dead_letters(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to 100, not {limit}"),
        ));
    }
    let letters = dlq(&state)?;
    let messages = letters.list(limit).await.map_err(sqs_unavailable)?;
    Ok(Json(
        json!({"dlq_url": letters.dlq_url, "messages": messages}),
    ))
}

/// Which dead-letter messages to move back to the metadata queue: the listed ids, or
/// every message with `all`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RedriveRequest {
    #[serde(default)]
    message_ids: Vec<String>,
    #[serde(default)]
    all: bool,
}

/// Moves dead-letter messages back to the metadata queue (send, then delete from the
/// DLQ). The page asks for a confirmation first.
#[utoipa::path(post, path = "/ops/dlq/redrive", tag = "ops", request_body = RedriveRequest, responses(
    (status = 200, description = "`{\"moved\": [ids], \"not_found\": [ids]}`", body = Object),
    (status = 400, description = "`invalid_json`, `invalid_utf8`", body = ErrorBody),
    (status = 404, description = "`dlq_not_configured`", body = ErrorBody),
    (status = 408, description = "`request_timeout`", body = ErrorBody),
    (status = 413, description = "`payload_too_large`", body = ErrorBody),
    (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    (status = 422, description = "`invalid_body`: neither ids nor `all`, or both", body = ErrorBody),
    (status = 503, description = "`service_unavailable`: SQS cannot be reached", body = ErrorBody),
))]
async fn redrive(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RedriveRequest>,
) -> Result<Json<RedriveReport>, ApiError> {
    let selection = match (request.all, request.message_ids.is_empty()) {
        (true, true) => Selection::All,
        (false, false) => Selection::Ids(request.message_ids.into_iter().collect()),
        _ => {
            return Err(ApiError::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "give either `message_ids` (not empty) or `\"all\": true`",
            ))
        }
    };
    let letters = dlq(&state)?;
    let report = letters.redrive(selection).await.map_err(sqs_unavailable)?;
    state.ops.refresh_queues().await;
    Ok(Json(report))
}

fn dlq(state: &AppState) -> Result<DeadLetters, ApiError> {
    state.ops.dead_letters().ok_or_else(|| {
        ApiError::not_found(
            "dlq_not_configured",
            "no dead-letter queue: set SQS_METADATA_DLQ_URL, or give the metadata queue a redrive policy",
        )
    })
}

fn sqs_unavailable(error: DlqError) -> ApiError {
    ApiError::Unavailable {
        component: "sqs",
        message: error.to_string(),
        retry_after: std::time::Duration::from_secs(5),
    }
}
