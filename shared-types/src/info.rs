//! `GET /v1/info`: what a client needs to know about the server before using it.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerInfo {
    pub version: String,
    /// Whether `POST /v1/sessions/{id}/metadata` is accepted.
    pub http_publish: bool,
    pub auth: AuthMode,
}

#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuthMode {
    /// Requests need no token.
    None,
    /// `/v1/sessions/…` requests need a JWT (Bearer header, cookie or `access_token`
    /// query; docs/SECURITY.md).
    Jwt,
}
