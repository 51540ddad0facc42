//! SSE framing. Each event is serialized and framed once, and the resulting bytes are
//! shared by every subscriber of the session (a `Bytes` clone is a reference count).
//! The framing is written here rather than with `axum::response::sse::Event` because that
//! type frames per response and cannot hand out shareable bytes.

use bytes::Bytes;
use serde::Serialize;
use shared_types::EventId;

/// One framed SSE event and its id.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: EventId,
    pub bytes: Bytes,
}

impl Frame {
    /// `id: …\nevent: …\ndata: {json}\n\n`. Compact JSON never contains a raw newline,
    /// so the payload always fits one `data:` line.
    pub fn new(id: EventId, event: &str, payload: &impl Serialize) -> Self {
        let mut buf = format!("id: {id}\nevent: {event}\ndata: ").into_bytes();
        serde_json::to_writer(&mut buf, payload).expect("event payloads serialize");
        buf.extend_from_slice(b"\n\n");
        Self {
            id,
            bytes: buf.into(),
        }
    }
}

/// The `retry:` hint that opens every stream (milliseconds before a client reconnects).
pub fn retry_hint(millis: u64) -> Bytes {
    format!("retry: {millis}\n\n").into()
}

/// A comment line that keeps proxies and clients from timing the stream out.
pub const HEARTBEAT: Bytes = Bytes::from_static(b": ping\n\n");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_single_data_lines() {
        let frame = Frame::new(
            EventId { epoch: 7, seq: 3 },
            "metadata",
            &serde_json::json!({"comment": "two\nlines"}),
        );
        assert_eq!(
            &frame.bytes[..],
            b"id: 7-3\nevent: metadata\ndata: {\"comment\":\"two\\nlines\"}\n\n"
        );
    }
}
