//! One span and one log line per request, and `gateway_http_requests_total`: method,
//! route (the matched route template such as `/v1/sessions/{session_id}/events`, never
//! the raw path, so neither session ids nor query strings with `access_token` reach logs
//! or metric labels), status, latency and the `x-request-id` (set by the layer outside
//! this one when the client sent none).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics;

/// The label of requests no route matched: QA page files and 404s.
const UNMATCHED: &str = "unmatched";

pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    // For an SSE stream this is when its headers go out; the stream runs on.
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    span.in_scope(|| tracing::info!("request answered"));
    ::metrics::counter!(
        metrics::HTTP_REQUESTS,
        "route" => route,
        "method" => method.as_str().to_owned(),
        "status" => status.to_string(),
    )
    .increment(1);
    response
}
