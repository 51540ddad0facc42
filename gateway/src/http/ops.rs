//! Operational endpoints: liveness, readiness, Prometheus metrics, server info.
//!
//! `/healthz` and `/v1/info` are open (a load balancer and a client without a token need
//! them; neither says more than a version and whether auth is on). `/readyz` is open but
//! lists its components only to the `admin` scope; `/metrics` needs `admin`. Without
//! authentication configured everything is open.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use shared_types::ServerInfo;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{guarded, AppState, OptionalPrincipal};
use crate::auth::Scope;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(guarded(routes!(metrics), state, Scope::Admin))
        .routes(routes!(info))
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses(
    (status = 200, description = "`{\"status\": \"ok\"}`", body = Object),
))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `200` when every configured component works, `503` otherwise; the body lists each to
/// callers with the `admin` scope (and to everyone when access control is off).
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
