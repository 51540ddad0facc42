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
    /// A `snapshot` replaces whatever a subscriber had: it is sent even if its id is not
    /// newer, and its id becomes the subscriber's position.
    pub snapshot: bool,
    /// When the event was applied here (or arrived from another node): the start of the
    /// fan-out latency.
    pub applied_at: std::time::Instant,
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
            snapshot: event == shared_types::EVENT_SNAPSHOT,
            applied_at: std::time::Instant::now(),
        }
    }

    /// Reads back a `metadata` frame framed elsewhere (by another node): its id is the
    /// first line. `None` for anything else.
    pub fn parse_event(bytes: Bytes) -> Option<Self> {
        let rest = bytes.strip_prefix(b"id: ")?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let id = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        Some(Self {
            id,
            bytes,
            snapshot: false,
            applied_at: std::time::Instant::now(),
        })
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
        let parsed = Frame::parse_event(frame.bytes.clone()).unwrap();
        assert_eq!((parsed.id, parsed.bytes), (frame.id, frame.bytes));
        assert!(Frame::parse_event(Bytes::from_static(b"id: x\n")).is_none());
        assert!(Frame::parse_event(Bytes::from_static(b"event: x\n")).is_none());
    }
}
