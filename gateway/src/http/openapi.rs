//! `/openapi.json`: the OpenAPI document, built from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas as the routes are assembled, so a route
//! cannot exist without being described.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::path::Paths;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::auth::Scope;

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

/// Adds the refusals of an access-control guard requiring `scope` (401, 403, and 503 when
/// the identity provider's keys cannot be fetched) to every operation of
/// `paths`, next to what the handler documents for the same status.
pub fn document_guard(paths: &mut Paths, scope: Scope) {
    let refusals = [
        (
            "401",
            "`unauthorized`: no valid token (missing, expired, not yet valid, bad signature, \
             wrong issuer or audience); `WWW-Authenticate: Bearer`"
                .to_owned(),
        ),
        (
            "403",
            format!("`forbidden`: the token does not grant the `{scope}` scope (on this session)"),
        ),
        (
            "503",
            "`service_unavailable`: the keys that verify tokens (`AUTH_JWKS_URL`) cannot be \
             fetched; `Retry-After`"
                .to_owned(),
        ),
    ];
    for item in paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, description) in &refusals {
                match operation.responses.responses.get_mut(*status) {
                    Some(RefOr::T(response)) => {
                        response.description =
                            format!("{}; or {description}", response.description);
                    }
                    _ => {
                        let response = ResponseBuilder::new()
                            .description(description.clone())
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build();
                        operation
                            .responses
                            .responses
                            .insert((*status).to_owned(), RefOr::T(response));
                    }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};

    use super::*;

    #[test]
    fn a_guard_documents_its_refusals_beside_the_handlers_own() {
        let operation = OperationBuilder::new()
            .response(
                "403",
                ResponseBuilder::new()
                    .description("`publish_disabled`")
                    .build(),
            )
            .build();
        let mut paths = PathsBuilder::new()
            .path("/x", PathItem::new(HttpMethod::Post, operation))
            .build();
        document_guard(&mut paths, Scope::Publish);
        let responses = &paths.paths["/x"].post.as_ref().unwrap().responses.responses;
        let description = |status: &str| match &responses[status] {
            RefOr::T(response) => response.description.clone(),
            RefOr::Ref(_) => panic!("a reference"),
        };
        assert!(description("401").starts_with("`unauthorized`"));
        assert_eq!(
            description("403"),
            "`publish_disabled`; or `forbidden`: the token does not grant the `publish` scope (on this session)"
        );
        assert!(description("503").contains("AUTH_JWKS_URL"));
    }
}
