//! The multiplexed stream: `GET /v1/events?session=a&session=b…` and `POST /v1/events`
//! (the same request as a JSON body, for lists too long for a URL) carry several
//! sessions' events on one SSE connection, so a page watching many sessions stays under
//! the browser's six connections per origin.
//!
//! Each session is one hub subscription, exactly as on the single-session stream (same
//! snapshot, replay and resync); its frames are the same bytes with the session put in
//! the id, `id: {session}/{epoch}-{seq}`. A resume position is a list of such ids
//! (`shared_types::multiplex`). The connection holds one stream slot; one heartbeat
//! serves all its sessions. Sessions the token does not cover get one `refused` event
//! and the others stream on; a token that covers none is refused with `403`.

use std::future::ready;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use shared_types::multiplex::{parse_positions, POSITION_SEPARATOR};
use shared_types::{ErrorBody, EventId, EventsRequest, RefusedEvent, SessionId, EVENT_REFUSED};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_stream::wrappers::IntervalStream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::count_refusal;
use super::{authenticated, ApiError, ApiJson, AppState, StreamPermit};
use crate::auth::{AuthError, Principal, Scope};
use crate::hub::HEARTBEAT;
use crate::metrics;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // The route checks the token and its `subscribe` scope; each session is checked here.
    OpenApiRouter::new().routes(authenticated(
        routes!(events_get, events_post),
        state,
        Scope::Subscribe,
    ))
}

/// `GET /v1/events`: the sessions in `session` parameters, resuming from `Last-Event-ID`
/// (or `last_event_id`).
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "sessions",
    params(
        ("session" = Vec<String>, Query, description = "A session to stream; repeat for each (at most `MAX_SESSIONS_PER_STREAM`)"),
        ("last_event_id" = Option<String>, Query, description = "Resume positions, for clients that cannot set `Last-Event-ID`"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume positions: `{session}/{epoch}-{seq}`, comma-separated; a session without a valid entry starts with a snapshot"),
    ),
    responses(
        (status = 200, description = "The sessions' events, each id `{session}/{epoch}-{seq}`: a `snapshot` per session first (or its replayed events), then `metadata` events, `refused` events for sessions the token does not cover, and `: ping` heartbeats (docs/API.md)", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_session_id`, `no_sessions`, `duplicate_session`, `too_many_sessions`, `invalid_query`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `subscribe` or covers none of the sessions", body = ErrorBody),
        (status = 429, description = "`too_many_streams`: this client address holds `MAX_STREAMS_PER_CLIENT` streams, or this token subject `MAX_STREAMS_PER_PRINCIPAL`; `Retry-After`", body = ErrorBody),
        (status = 503, description = "`too_many_streams`: the gateway holds `MAX_STREAMS` streams; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn events_get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    headers: HeaderMap,
    StreamPermit(slot): StreamPermit,
) -> Result<Response, ApiError> {
    let request = query_request(uri.query().unwrap_or_default());
    let positions = super::sse::resume_from(&headers, request.last_event_id);
    let wanted = plan(
        request.sessions,
        positions.as_deref(),
        state.config.max_sessions_per_stream,
    )
    .map_err(|invalid| invalid.into_error(StatusCode::BAD_REQUEST))?;
    open(&state, &principal, wanted, slot).await
}

/// `POST /v1/events`: the same stream, the sessions and positions in the body.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "sessions",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume positions, used when the body has no `last_event_id`"),
    ),
    request_body = EventsRequest,
    responses(
        (status = 200, description = "As `GET /v1/events`", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_json`, `invalid_utf8`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the token lacks `subscribe` or covers none of the sessions", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `MAX_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_body`, `invalid_session_id`, `no_sessions`, `duplicate_session`, `too_many_sessions`", body = ErrorBody),
        (status = 429, description = "`too_many_streams`: this client address holds `MAX_STREAMS_PER_CLIENT` streams, or this token subject `MAX_STREAMS_PER_PRINCIPAL`; `Retry-After`", body = ErrorBody),
        (status = 503, description = "`too_many_streams`: the gateway holds `MAX_STREAMS` streams; `Retry-After`", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn events_post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    StreamPermit(slot): StreamPermit,
    ApiJson(request): ApiJson<EventsRequest>,
) -> Result<Response, ApiError> {
    let positions = super::sse::resume_from(&headers, None);
    let wanted = plan(
        request.sessions,
        request.last_event_id.as_deref().or(positions.as_deref()),
        state.config.max_sessions_per_stream,
    )
    .map_err(|invalid| invalid.into_error(StatusCode::UNPROCESSABLE_ENTITY))?;
    open(&state, &principal, wanted, slot).await
}

/// The GET form read into the POST body's shape: every `session`, the first
/// `last_event_id`; other parameters (`access_token`) are not ours.
fn query_request(query: &str) -> EventsRequest {
    let mut request = EventsRequest {
        sessions: Vec::new(),
        last_event_id: None,
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "session" => request.sessions.push(value.into_owned()),
            "last_event_id" if request.last_event_id.is_none() => {
                request.last_event_id = Some(value.into_owned());
            }
            _ => {}
        }
    }
    request
}

/// A request's sessions that cannot be streamed, and why; the status depends on the form.
#[derive(Debug, PartialEq, Eq)]
struct Invalid {
    code: &'static str,
    message: String,
}

impl Invalid {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn into_error(self, status: StatusCode) -> ApiError {
        ApiError::client(status, self.code, self.message)
    }
}

/// Checks the requested sessions and pairs each with its resume position, if any.
fn plan(
    sessions: Vec<String>,
    positions: Option<&str>,
    max: u32,
) -> Result<Vec<(SessionId, Option<EventId>)>, Invalid> {
    if sessions.is_empty() {
        return Err(Invalid::new(
            "no_sessions",
            "name at least one session (`session=` parameters, or `sessions` in the body)",
        ));
    }
    if sessions.len() > max as usize {
        return Err(Invalid::new(
            "too_many_sessions",
            format!(
                "{} sessions requested; one stream carries at most {max} (MAX_SESSIONS_PER_STREAM)",
                sessions.len()
            ),
        ));
    }
    let positions = positions.map(parse_positions).unwrap_or_default();
    let mut wanted: Vec<(SessionId, Option<EventId>)> = Vec::with_capacity(sessions.len());
    for (index, raw) in sessions.into_iter().enumerate() {
        let session = SessionId::parse(raw.as_str()).map_err(|e| {
            Invalid::new(
                "invalid_session_id",
                format!("session {index} ({:?}): {e}", truncated(&raw)),
            )
        })?;
        if wanted.iter().any(|(known, _)| *known == session) {
            return Err(Invalid::new(
                "duplicate_session",
                format!("session {session} is listed more than once"),
            ));
        }
        let resume = positions
            .iter()
            .find(|(known, _)| *known == session)
            .map(|(_, id)| *id);
        wanted.push((session, resume));
    }
    Ok(wanted)
}

/// An id as quoted in an error message: a hostile one is not echoed at full length.
fn truncated(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// Subscribes to every session the principal may read and answers the merged stream.
async fn open(
    state: &AppState,
    principal: &Principal,
    wanted: Vec<(SessionId, Option<EventId>)>,
    slot: crate::limits::StreamSlot,
) -> Result<Response, ApiError> {
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    for (session, resume) in wanted {
        match principal.authorize(Some(&session), Scope::Subscribe) {
            Ok(()) => allowed.push((session, resume)),
            Err(error) => {
                count_refusal(&error);
                refused.push(error);
            }
        }
    }
    if allowed.is_empty() {
        // Nothing to stream: the answer the single-session stream gives.
        return Err(ApiError::Auth(
            refused.into_iter().next().expect("a session was requested"),
        ));
    }
    let heartbeat = state.config.heartbeat();
    let mut sessions: Vec<BoxStream<'static, Option<Bytes>>> = Vec::new();
    for (session, resume) in &allowed {
        let subscription = state.hub.subscribe(session, resume.to_owned()).await?;
        let session = session.clone();
        let frames = subscription
            .into_stream(heartbeat, state.stop.clone())
            .filter(|frame| ready(*frame != HEARTBEAT))
            .map(move |frame| Some(tag(&session, frame)))
            // A session whose stream ends (shutdown, backend unreachable) ends the
            // connection: the client reconnects with every position.
            .chain(stream::once(ready(None)));
        sessions.push(frames.boxed());
    }
    let mut ticker = interval_at(Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    sessions.push(IntervalStream::new(ticker).map(|_| Some(HEARTBEAT)).boxed());
    let live = stream::select_all(sessions)
        .take_while(|frame| ready(frame.is_some()))
        .filter_map(ready);
    let frames =
        stream::iter(refused.iter().filter_map(refused_frame).collect::<Vec<_>>()).chain(live);
    let gauge = MultiplexGauge::new(allowed.len());
    Ok(super::sse::response(frames, (slot, gauge)))
}

/// The single-session frame `id: 7-3\n…` as `id: {session}/7-3\n…`.
fn tag(session: &SessionId, frame: Bytes) -> Bytes {
    let Some(rest) = frame.strip_prefix(b"id: ") else {
        return frame;
    };
    let mut tagged = BytesMut::with_capacity(frame.len() + session.as_str().len() + 1);
    tagged.put_slice(b"id: ");
    tagged.put_slice(session.as_str().as_bytes());
    tagged.put_u8(POSITION_SEPARATOR as u8);
    tagged.put_slice(rest);
    tagged.freeze()
}

/// `event: refused` for a session the token does not cover (no id: it has no position).
fn refused_frame(error: &AuthError) -> Option<Bytes> {
    let AuthError::SessionNotAllowed(session) = error else {
        // The route already checked the scope; only sessions can be refused here.
        return None;
    };
    let body = ErrorBody::new("forbidden", error.to_string()).with_reason(error.code());
    let event = RefusedEvent {
        session_id: session.clone(),
        status: StatusCode::FORBIDDEN.as_u16(),
        error: body.error,
    };
    let mut frame = format!("event: {EVENT_REFUSED}\ndata: ").into_bytes();
    serde_json::to_writer(&mut frame, &event).expect("a refusal serializes");
    frame.extend_from_slice(b"\n\n");
    Some(frame.into())
}

/// Keeps the multiplexed gauges right however the connection ends.
struct MultiplexGauge {
    sessions: usize,
}

impl MultiplexGauge {
    fn new(sessions: usize) -> Self {
        ::metrics::gauge!(metrics::SSE_MULTIPLEXED_STREAMS).increment(1);
        ::metrics::gauge!(metrics::SSE_MULTIPLEXED_SESSIONS).increment(sessions as f64);
        Self { sessions }
    }
}

impl Drop for MultiplexGauge {
    fn drop(&mut self) {
        ::metrics::gauge!(metrics::SSE_MULTIPLEXED_STREAMS).decrement(1);
        ::metrics::gauge!(metrics::SSE_MULTIPLEXED_SESSIONS).decrement(self.sessions as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sessions_are_paired_with_their_positions() {
        let wanted = plan(sessions(&["a", "b", "c"]), Some("c/7-3,x/1-1,a/zz"), 3).unwrap();
        let resumes: Vec<_> = wanted.iter().map(|(s, r)| (s.as_str(), *r)).collect();
        assert_eq!(
            resumes,
            [
                ("a", None),
                ("b", None),
                ("c", Some(EventId { epoch: 7, seq: 3 }))
            ]
        );
    }

    #[test]
    fn bad_session_lists_are_refused_with_a_precise_code() {
        let code = |ids: &[&str], max| plan(sessions(ids), None, max).unwrap_err().code;
        assert_eq!(code(&[], 5), "no_sessions");
        assert_eq!(code(&["a", "b", "c"], 2), "too_many_sessions");
        assert_eq!(code(&["a", "b", "a"], 5), "duplicate_session");
        assert_eq!(code(&["a", "b/1-1"], 5), "invalid_session_id");
        assert_eq!(code(&["a", ""], 5), "invalid_session_id");
        let long = "é".repeat(500);
        let message = plan(sessions(&[&long]), None, 5).unwrap_err().message;
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn the_query_form_reads_repeated_sessions_and_ignores_other_parameters() {
        let request = query_request(
            "session=a&access_token=t&session=b%3Ax&last_event_id=a%2F1-2&last_event_id=z&x=1",
        );
        assert_eq!(request.sessions, ["a", "b:x"]);
        assert_eq!(request.last_event_id.as_deref(), Some("a/1-2"));
    }

    #[test]
    fn frames_get_their_session_in_the_id_and_nothing_else_changes() {
        let session = SessionId::parse("s1").unwrap();
        let frame = Bytes::from_static(b"id: 7-3\nevent: metadata\ndata: {}\n\n");
        assert_eq!(
            &tag(&session, frame)[..],
            b"id: s1/7-3\nevent: metadata\ndata: {}\n\n"
        );
        assert_eq!(&tag(&session, HEARTBEAT)[..], &HEARTBEAT[..]);
    }

    #[test]
    fn a_refusal_names_its_session_and_reason() {
        let error = AuthError::SessionNotAllowed(SessionId::parse("s9").unwrap());
        let frame = refused_frame(&error).unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        let data: serde_json::Value =
            serde_json::from_str(text.strip_prefix("event: refused\ndata: ").unwrap().trim())
                .unwrap();
        assert_eq!(data["session_id"], "s9");
        assert_eq!(data["status"], 403);
        assert_eq!(data["error"]["reason"], "session_not_allowed");
        assert!(refused_frame(&AuthError::Expired).is_none());
    }
}
