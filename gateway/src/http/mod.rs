//! The HTTP surface: one shared [`AppState`], one router per concern, merged here.
//! `serve` is the accept loop (header timeout, client address) and `stream_conn` its lean
//! path for SSE streams; `observe` gives each request its span and metric; `extract` and
//! `guard` turn bad input and clients over their limits into [`ApiError`]s, `openapi`
//! describes the routes as they are merged. `sessions` has the single-session stream,
//! `events` the multiplexed one; `sse` is the answer both stream with.

pub mod assets;
mod auth;
mod error;
mod events;
mod extract;
mod feedback;
mod guard;
mod observe;
mod openapi;
mod ops;
mod serve;
mod sessions;
mod sse;
mod stream_conn;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::routing::get_service;
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;

pub use auth::{authenticated, guarded, require, OptionalPrincipal};
pub use error::ApiError;
pub use extract::{parse_json, ApiJson, ApiQuery, SessionPath};
pub use guard::{StreamPermit, WithinRate};
pub use serve::serve;

use crate::auth::Auth;
use crate::config::{Config, CorsOrigins};
use crate::feedback::FeedbackService;
use crate::health::Health;
use crate::hub::Hub;
use crate::limits::Limits;

/// Everything a handler may need. Every request clones it several times (the router, the
/// auth layer and each `State` extractor), so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct AppParts {
    pub config: Arc<Config>,
    pub hub: Hub,
    pub feedback: FeedbackService,
    pub health: Health,
    pub auth: Auth,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    pub ops: crate::ops::Ops,
    /// Cancelled on shutdown: ends the SSE streams so the server can drain.
    pub stop: CancellationToken,
}

pub fn router(state: AppState) -> Router {
    // The QA page's files; a path that is neither a route nor a file is a JSON 404, and a
    // method other than GET/HEAD on it a JSON 405.
    let demo = match assets::Demo::from_config(&state.config) {
        assets::Demo::Dir(dir) => get_service(
            ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .not_found_service(axum::handler::HandlerWithoutStateExt::into_service(
                    not_found,
                )),
        )
        .fallback(method_not_allowed),
        assets::Demo::Embedded => axum::routing::get(assets::embedded).fallback(method_not_allowed),
    };
    let (routes, doc) = openapi::base()
        .merge(sessions::router(&state))
        .merge(events::router(&state))
        .merge(feedback::router(&state))
        .merge(ops::router(&state))
        .split_for_parts();
    let doc = openapi::Document(
        serde_json::to_vec(&doc)
            .expect("the document serializes")
            .into(),
    );
    // One stack, outermost first: `Router::layer` boxes every route once more per call,
    // and each request clones the route's boxes. No layer may rewrite response bodies
    // (compression, say): on the lean path the fan-out writes a stream's live frames to
    // its socket past them (`stream_conn`).
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(cors(&state.config.cors_allowed_origins))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(Extension(doc));
    Router::new()
        .merge(routes)
        .fallback_service(demo)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(layers)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route or file at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
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
