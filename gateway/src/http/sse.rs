//! What both SSE endpoints (one session, several sessions) answer with: the headers, the
//! `retry:` hint first, and a body that holds the stream's slot until it ends.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::hub::retry_hint;

/// Milliseconds a client should wait before reconnecting, sent as the stream's `retry:`.
const RETRY_HINT_MS: u64 = 2000;

/// `200 text/event-stream` with `frames` after the `retry:` hint. `held` (the stream's
/// slot, gauges) lives as long as the body: it is dropped when the stream ends, however
/// it ends.
pub fn response(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    held: impl Send + Sync + 'static,
) -> Response {
    let body = futures::stream::once(async { retry_hint(RETRY_HINT_MS) })
        .chain(frames)
        .map(move |frame| {
            let _held = &held;
            Ok::<_, std::convert::Infallible>(frame)
        });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Where the client resumes: the `Last-Event-ID` header, else the `last_event_id` query
/// parameter (for clients that cannot set headers).
pub fn resume_from(headers: &HeaderMap, query: Option<String>) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query)
}
