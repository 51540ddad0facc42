//! Operational endpoints: liveness, readiness per component, Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `200` when every configured component works, `503` otherwise; the body lists each.
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

async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}
