//! Operational endpoints: liveness, readiness per component, Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use shared_types::ServerInfo;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(info))
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses(
    (status = 200, description = "`{\"status\": \"ok\"}`", body = Object),
))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `200` when every configured component works, `503` otherwise; the body lists each.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready: `{\"status\": \"ready\", \"components\": {…}}`", body = Object),
    (status = 503, description = "Not ready; the body says which component is down", body = Object),
))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let ready = state.health.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "components": state.health.snapshot(),
    });
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
