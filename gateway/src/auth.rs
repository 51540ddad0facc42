//! Optional client authentication with HS256 JWTs (`AUTH_JWT_SECRET`).
//!
//! The token comes as `Authorization: Bearer …` or, for the browser's `EventSource`
//! which cannot set headers, as the `access_token` query parameter (the request log
//! never records query strings, so it does not leak there). Claims: `exp` (required),
//! `sessions` (session ids the token may use; absent = all), `publish` (may post
//! metadata).

use axum::extract::{Query, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared_types::{AuthMode, SessionId};

use crate::config::Config;
use crate::http::{ApiError, AppState};

/// Verifies tokens when a secret is configured; lets everything through otherwise.
#[derive(Clone)]
pub struct Auth {
    verifier: Option<(DecodingKey, Validation)>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sessions: Option<Vec<String>>,
    #[serde(default)]
    publish: bool,
}

/// What a request wants to do with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribe, read, post feedback.
    Use,
    /// `POST …/metadata`.
    Publish,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        let verifier = config.auth_jwt_secret.as_ref().map(|secret| {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp"]);
            (DecodingKey::from_secret(&secret.0), validation)
        });
        tracing::info!(
            component = "auth",
            backend = if verifier.is_some() { "jwt" } else { "none" },
            "client authentication"
        );
        Self { verifier }
    }

    pub fn mode(&self) -> AuthMode {
        match self.verifier {
            Some(_) => AuthMode::Jwt,
            None => AuthMode::None,
        }
    }

    /// `Ok` if `token` allows `access` to `session`: 401 for a missing or invalid token,
    /// 403 for a valid one that does not cover the request.
    pub fn check(
        &self,
        token: Option<&str>,
        session: &SessionId,
        access: Access,
    ) -> Result<(), ApiError> {
        let Some((key, validation)) = &self.verifier else {
            return Ok(());
        };
        let token =
            token.ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?
            .claims;
        let forbidden =
            |what: String| ApiError::client(axum::http::StatusCode::FORBIDDEN, "forbidden", what);
        if let Some(sessions) = &claims.sessions {
            if !sessions.iter().any(|s| s == session.as_str()) {
                return Err(forbidden(format!(
                    "the token does not cover session {session}"
                )));
            }
        }
        if access == Access::Publish && !claims.publish {
            return Err(forbidden("the token does not allow publishing".into()));
        }
        Ok(())
    }
}

/// Middleware for the `/v1/sessions/{id}/…` routes.
pub async fn require_token(
    State(state): State<AppState>,
    crate::http::SessionPath(session): crate::http::SessionPath,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let access = if request.method() == Method::POST && request.uri().path().ends_with("/metadata")
    {
        Access::Publish
    } else {
        Access::Use
    };
    let token = bearer(&request).or_else(|| query_token(&request));
    state.auth.check(token.as_deref(), &session, access)?;
    Ok(next.run(request).await)
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(request: &Request) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenQuery {
        access_token: Option<String>,
    }
    Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()?
        .0
        .access_token
}
