//! The HTTP surface: one shared [`AppState`], one router per concern, merged here.

mod auth;
mod error;
mod extract;
mod feedback;
mod ops;
mod sessions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use auth::{require, OptionalPrincipal};
pub use error::ApiError;
pub use extract::{ApiJson, ApiQuery, SessionPath};

use crate::auth::Auth;
use crate::config::{Config, CorsOrigins};
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
    Router::new()
        .merge(sessions::router(&state))
        .merge(feedback::router(&state))
        .merge(ops::router(&state))
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

/// Cross-origin access: none by default; listed origins with credentials (the auth
/// cookie); `*` for any origin without credentials.
fn cors(allowed: &CorsOrigins) -> CorsLayer {
    let layer = match allowed {
        CorsOrigins::Any => CorsLayer::new().allow_origin(AllowOrigin::any()),
        CorsOrigins::List(origins) => CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
            ))
            .allow_credentials(true),
    };
    layer
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
}
