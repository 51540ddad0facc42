//! The HTTP half of access control: find the request's token, authenticate it with
//! [`Auth`](crate::auth::Auth), check the scope its route declares (and the session in its
//! path), and put the [`Principal`] in the request's extensions.
//!
//! Token sources, first present wins (a later one is not read when an earlier one is
//! present, even if that one is invalid): the `Authorization: Bearer` header, the
//! `AUTH_COOKIE_NAME` cookie, the `access_token` query parameter (if `AUTH_QUERY_TOKEN`).

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::{self, FromFnLayer, Next};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde::Deserialize;
use utoipa_axum::router::{UtoipaMethodRouter, UtoipaMethodRouterExt};

use super::{ApiError, AppState, SessionPath};
use crate::auth::{AuthError, Principal, Scope};

/// The layer [`require`] returns: a route layer that admits only principals with a scope.
pub type RequireLayer = FromFnLayer<GuardFn, Guard, (State<Guard>, Request)>;
type GuardFn = fn(State<Guard>, Request, Next) -> BoxFuture<'static, Response>;

/// What [`require`]'s layer needs: the app, and the scope its routes declare.
#[derive(Clone)]
pub struct Guard {
    state: AppState,
    scope: Scope,
    /// Whether the session is the one in the path; `false` for routes that name several
    /// sessions and check each one themselves ([`authenticated`]).
    session_in_path: bool,
}

/// `routes` (from `routes!`) behind [`require`]`(state, scope)`, their OpenAPI operations
/// documenting the guard's 401 and 403.
pub fn guarded(
    routes: UtoipaMethodRouter<AppState>,
    state: &AppState,
    scope: Scope,
) -> UtoipaMethodRouter<AppState> {
    let (schemas, mut paths, router) = routes;
    super::openapi::document_guard(&mut paths, scope);
    (schemas, paths, router).map(|r| r.route_layer(require(state, scope)))
}

/// `routes` behind a check of the token and of `scope`, but of no session: for routes
/// that name their sessions elsewhere than the path and check each with the request's
/// [`Principal`] (an extension).
pub fn authenticated(
    routes: UtoipaMethodRouter<AppState>,
    state: &AppState,
    scope: Scope,
) -> UtoipaMethodRouter<AppState> {
    let guard = Guard {
        state: state.clone(),
        scope,
        session_in_path: false,
    };
    routes.map(|r| r.route_layer(middleware::from_fn_with_state(guard, check as GuardFn)))
}

/// A route layer that lets a request through only if its token grants `scope` (on the
/// session in the path, for per-session scopes): 401 without a valid token, 403 with one
/// that does not cover the request.
pub fn require(state: &AppState, scope: Scope) -> RequireLayer {
    let guard = Guard {
        state: state.clone(),
        scope,
        session_in_path: scope.is_per_session(),
    };
    middleware::from_fn_with_state(guard, check as GuardFn)
}

fn check(State(guard): State<Guard>, request: Request, next: Next) -> BoxFuture<'static, Response> {
    Box::pin(async move {
        let (mut parts, body) = request.into_parts();
        match authorize(&guard, &mut parts).await {
            Ok(principal) => {
                parts.extensions.insert(principal);
                next.run(Request::from_parts(parts, body)).await
            }
            Err(error) => error.into_response(),
        }
    })
}

async fn authorize(guard: &Guard, parts: &mut Parts) -> Result<Principal, ApiError> {
    let principal = authenticate(&guard.state, parts).await?;
    let session = match guard.session_in_path {
        true => Some(SessionPath::from_request_parts(parts, &()).await?.0),
        false => None,
    };
    principal
        .authorize(session.as_ref(), guard.scope)
        .map_err(refused)?;
    Ok(principal)
}

async fn authenticate(state: &AppState, parts: &Parts) -> Result<Principal, ApiError> {
    let token = token(
        parts,
        &state.config.auth_cookie_name,
        state.config.auth_query_token,
    )
    .map_err(refused)?;
    state
        .auth
        .authenticate(token.as_deref())
        .await
        .map_err(refused)
}

/// Counts and logs a refusal (its code, never the token) on its way to the client.
fn refused(error: AuthError) -> ApiError {
    count_refusal(&error);
    ApiError::Auth(error)
}

/// Counts and logs a refusal, for refusals answered otherwise than with an error response.
pub fn count_refusal(error: &AuthError) {
    tracing::info!(code = error.code(), "request refused: {error}");
    ::metrics::counter!(crate::metrics::AUTH_REFUSED, "code" => error.code()).increment(1);
}

/// The principal of a request if its token is valid, for endpoints that show more to some
/// callers (`/readyz`) but refuse no one.
pub struct OptionalPrincipal(pub Option<Principal>);

impl FromRequestParts<AppState> for OptionalPrincipal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token(
            parts,
            &state.config.auth_cookie_name,
            state.config.auth_query_token,
        );
        let principal = match token {
            Ok(token) => state.auth.authenticate(token.as_deref()).await.ok(),
            Err(_) => None,
        };
        Ok(Self(principal))
    }
}

/// The request's token, by the precedence in the module doc.
fn token(parts: &Parts, cookie: &str, query_allowed: bool) -> Result<Option<String>, AuthError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let not_bearer = AuthError::Invalid("the Authorization header is not `Bearer <token>`");
        let value = value.to_str().map_err(|_| not_bearer.clone())?;
        let (scheme, token) = value.split_once(' ').ok_or(not_bearer.clone())?;
        return match scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            true => Ok(Some(token.trim().to_owned())),
            false => Err(not_bearer),
        };
    }
    if let Some(token) = cookie_value(parts, cookie) {
        return Ok(Some(token));
    }
    if query_allowed {
        #[derive(Deserialize)]
        struct TokenQuery {
            access_token: Option<String>,
        }
        let query = Query::<TokenQuery>::try_from_uri(&parts.uri)
            .map_err(|_| AuthError::Invalid("the query string cannot be read"))?;
        return Ok(query.0.access_token);
    }
    Ok(None)
}

/// `name`'s value in the request's `Cookie` headers (RFC 6265: `a=1; b=2`).
fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn find(uri: &str, headers: &[(&str, &str)]) -> Result<Option<String>, AuthError> {
        token(&parts(uri, headers), "sg_token", true)
    }

    #[test]
    fn the_header_wins_over_the_cookie_and_the_cookie_over_the_query() {
        let cookie = ("cookie", "theme=dark; sg_token=from-cookie");
        let header = ("authorization", "Bearer from-header");
        let all = find("/x?access_token=from-query", &[cookie, header]);
        assert_eq!(all.unwrap().as_deref(), Some("from-header"));
        let no_header = find("/x?access_token=from-query", &[cookie]);
        assert_eq!(no_header.unwrap().as_deref(), Some("from-cookie"));
        let query = find("/x?last_event_id=1-2&access_token=from-query", &[]);
        assert_eq!(query.unwrap().as_deref(), Some("from-query"));
        assert_eq!(find("/x", &[]).unwrap(), None);
    }

    #[test]
    fn a_non_bearer_header_is_invalid_not_ignored() {
        for value in ["Basic dXNlcjpwdw==", "Bearer", "Bearer  ", "token"] {
            let err = find("/x?access_token=q", &[("authorization", value)]).unwrap_err();
            assert_eq!(err.code(), "token_invalid", "{value}");
        }
    }

    #[test]
    fn the_query_source_can_be_turned_off() {
        let found = token(&parts("/x?access_token=q", &[]), "sg_token", false);
        assert_eq!(found.unwrap(), None);
    }

    #[test]
    fn cookies_are_matched_by_exact_name() {
        let p = parts("/x", &[("cookie", "xsg_token=a; sg_token2=b")]);
        assert_eq!(cookie_value(&p, "sg_token"), None);
        let p = parts("/x", &[("cookie", "a=1"), ("cookie", "sg_token=\"t\"")]);
        assert_eq!(cookie_value(&p, "sg_token").as_deref(), Some("t"));
    }
}
