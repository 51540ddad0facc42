//! Per-client limits as extractors: a handler that takes [`StreamPermit`] or
//! [`WithinRate`] is limited, one that does not is not — the policy is in the signature,
//! not in a path match. The client is the TCP peer ([`super::serve::peer`]).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::limits::{client_key, StreamSlot, StreamsRefused};

/// How long a client refused a stream is told to wait: streams are long-lived, so a place
/// frees up on the scale of reconnects, not milliseconds.
pub const STREAM_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A place among the open SSE streams, held until the stream ends.
pub struct StreamPermit(pub StreamSlot);

impl FromRequestParts<AppState> for StreamPermit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state
            .limits
            .streams
            .acquire_for(client(parts), subject(parts))
            .map(Self)
            .map_err(|refused| {
                let status = match refused {
                    StreamsRefused::Client { .. } | StreamsRefused::Principal { .. } => {
                        StatusCode::TOO_MANY_REQUESTS
                    }
                    StreamsRefused::Total { .. } => StatusCode::SERVICE_UNAVAILABLE,
                };
                ApiError::limited(
                    status,
                    "too_many_streams",
                    refused.to_string(),
                    STREAM_RETRY_AFTER,
                )
            })
    }
}

/// The client is within its POST rate (publish, feedback); the check counts this request.
pub struct WithinRate;

impl FromRequestParts<AppState> for WithinRate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state
            .limits
            .posts
            .check(client(parts))
            .map(|()| Self)
            .map_err(|wait| {
                ApiError::limited(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many requests from this client; retry in {} ms",
                        wait.as_millis()
                    ),
                    wait,
                )
            })
    }
}

/// Requests that did not come through the accept loop (in-process router tests) all
/// count as one unknown client.
/// The token's subject, put in the request by the auth layer; `None` when anonymous.
fn subject(parts: &Parts) -> Option<&str> {
    parts
        .extensions
        .get::<Principal>()
        .and_then(|p| p.subject.as_deref())
}

fn client(parts: &Parts) -> IpAddr {
    super::serve::peer(&parts.extensions).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| {
        client_key(addr.ip())
    })
}
