//! The multiplexed stream (`GET`/`POST /v1/events`): several sessions on one SSE
//! connection. Its frames are those of the single-session stream with the session in the
//! id, `{session}/{epoch}-{seq}` (`/` is never part of a session id), and a resume
//! position is a comma-separated list of such ids, one per session.

use serde::{Deserialize, Serialize};

use crate::{ErrorDetail, EventId, SessionId};

/// SSE event name of a [`RefusedEvent`].
pub const EVENT_REFUSED: &str = "refused";

/// Separates the session from the event id in a multiplexed stream's ids.
pub const POSITION_SEPARATOR: char = '/';

/// `POST /v1/events`: the sessions to stream and where each one resumes, for lists too
/// long for a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    /// The sessions, each once.
    pub sessions: Vec<String>,
    /// Resume positions, `{session}/{epoch}-{seq}` comma-separated (as `Last-Event-ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
}

/// `event: refused` — a requested session the stream does not carry (the token does not
/// cover it); the other sessions of the stream are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedEvent {
    pub session_id: SessionId,
    /// The status the single-session stream would have answered (403).
    pub status: u16,
    pub error: ErrorDetail,
}

/// `{session}/{epoch}-{seq}`: the id of a multiplexed frame, and one entry of a position list.
pub fn format_position(session: &str, id: &str) -> String {
    let mut out = String::with_capacity(session.len() + id.len() + 1);
    out.push_str(session);
    out.push(POSITION_SEPARATOR);
    out.push_str(id);
    out
}

/// Reads one `{session}/{epoch}-{seq}`; `None` when malformed.
pub fn parse_position(raw: &str) -> Option<(SessionId, EventId)> {
    let (session, id) = raw.trim().split_once(POSITION_SEPARATOR)?;
    Some((SessionId::parse(session).ok()?, id.parse().ok()?))
}

/// Reads a comma-separated position list. A malformed entry is skipped: like an unknown
/// `Last-Event-ID` on the single-session stream, its session starts with a snapshot. For a
/// session listed twice, the first entry counts.
pub fn parse_positions(raw: &str) -> Vec<(SessionId, EventId)> {
    let mut positions: Vec<(SessionId, EventId)> = Vec::new();
    for (session, id) in raw.split(',').filter_map(parse_position) {
        if !positions.iter().any(|(known, _)| *known == session) {
            positions.push((session, id));
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(epoch: u64, seq: u64) -> EventId {
        EventId { epoch, seq }
    }

    #[test]
    fn positions_round_trip() {
        let list = [
            format_position("a", "7-3"),
            format_position("b:x@y.z", "8-0"),
        ]
        .join(",");
        assert_eq!(list, "a/7-3,b:x@y.z/8-0");
        let parsed = parse_positions(&list);
        assert_eq!(
            parsed,
            vec![
                (SessionId::parse("a").unwrap(), id(7, 3)),
                (SessionId::parse("b:x@y.z").unwrap(), id(8, 0)),
            ]
        );
    }

    #[test]
    fn malformed_entries_are_skipped_and_the_first_entry_of_a_session_counts() {
        let parsed = parse_positions(" a/1-2 ,,b/x-1,c/3,/4-5,d e/1-1,a/9-9,f/2-2/1,g/6-6");
        let sessions: Vec<String> = parsed.iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(sessions, ["a", "g"]);
        assert_eq!(parsed[0].1, id(1, 2));
        assert!(parse_positions("").is_empty());
        assert!(
            parse_position("1-2").is_none(),
            "a bare event id names no session"
        );
    }
}
