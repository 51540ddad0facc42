//! `/openapi.json`: the OpenAPI document, built from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas as the routes are assembled, so a route
//! cannot exist without being described.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Session Gateway",
        description = "Per-session SSE streams of session metadata, and user feedback. \
                       Every error is `{\"error\": {\"code\", \"message\"}}` (docs/API.md)."
    ),
    tags(
        (name = "sessions", description = "Session streams, snapshots and publishing"),
        (name = "feedback", description = "User feedback, stored and routed to SNS"),
        (name = "ops", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

/// The document's skeleton, to which each router adds its paths.
pub fn base() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi()).routes(routes!(document))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API", body = Object),
))]
async fn document(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// The finished document, serialized once at startup.
#[derive(Clone)]
pub struct Document(pub Bytes);
