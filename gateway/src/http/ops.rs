//! Operational endpoints: liveness, readiness, Prometheus metrics, server info.
//!
//! `/healthz` and `/v1/info` are open (a load balancer and a client without a token need
//! them; neither says more than a version and whether auth is on). `/readyz` is open but
//! lists its components only to the `admin` scope; `/metrics` needs `admin`. Without
//! authentication configured everything is open.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use shared_types::ServerInfo;

use super::{require, AppState, OptionalPrincipal};
use crate::auth::Scope;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(metrics).route_layer(require(state, Scope::Admin)),
        )
        .route("/v1/info", get(info))
}

/// `200` when every configured component works, `503` otherwise; the body lists each to
/// callers with the `admin` scope.
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
async fn info(State(state): State<AppState>) -> Json<ServerInfo> {
    Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        http_publish: state.config.http_publish,
        auth: state.auth.mode(),
    })
}

async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}
