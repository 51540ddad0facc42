//! The HTTP surface: one shared [`AppState`], one router per concern, merged here.

mod error;
mod extract;
mod feedback;
mod ops;
mod sessions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::{middleware, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use extract::{ApiJson, ApiQuery, SessionPath};

use crate::auth::{self, Auth};
use crate::config::Config;
use crate::feedback::FeedbackService;
use crate::health::Health;
use crate::hub::Hub;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Hub,
    pub feedback: FeedbackService,
    pub health: Health,
    pub auth: Auth,
    pub metrics: PrometheusHandle,
    /// Cancelled on shutdown: ends the SSE streams so the server can drain.
    pub stop: CancellationToken,
}

pub fn router(state: AppState) -> Router {
    let demo = ServeDir::new(&state.config.demo_dir).append_index_html_on_directories(true);
    let session_routes = Router::new()
        .merge(sessions::router())
        .merge(feedback::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(session_routes)
        .merge(ops::router())
        .fallback_service(demo)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors(&state.config.cors_allowed_origins))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span: method and path only, so tokens in query strings stay out of logs.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

fn cors(allowed: &str) -> CorsLayer {
    let origins = if allowed.trim() == "*" {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(
            allowed
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
        .expose_headers([header::RETRY_AFTER])
}
