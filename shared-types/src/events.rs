//! Server-sent event ids and payloads.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Metadata, Operation, SessionId};

/// SSE event name of a [`SnapshotEvent`].
pub const EVENT_SNAPSHOT: &str = "snapshot";
/// SSE event name of a [`MetadataEvent`].
pub const EVENT_METADATA: &str = "metadata";

/// An SSE event id, written `{epoch}-{seq}`. `seq` increases by one per event of a
/// session; `epoch` changes whenever the session's history restarts (e.g. the gateway
/// restarted), so a resume id from an older history is recognised as unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event id {0:?}: expected {{epoch}}-{{seq}}")]
pub struct EventIdError(pub String);

impl FromStr for EventId {
    type Err = EventIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || EventIdError(s.chars().take(64).collect());
        let (epoch, seq) = s.split_once('-').ok_or_else(err)?;
        Ok(Self {
            epoch: epoch.parse().map_err(|_| err())?,
            seq: seq.parse().map_err(|_| err())?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// `{epoch}-{seq}`, both decimal.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for EventId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]+-[0-9]+$"))
            .examples([serde_json::json!("1706265045123-42")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for EventId {}

/// `event: snapshot` — the complete merged metadata of a session. Sent first on every
/// stream, and again whenever the server cannot replay what a client missed.
/// Also the body of `GET /v1/sessions/{id}`.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotEvent {
    pub session_id: SessionId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    /// Time of the newest applied change; `None` for a session never written.
    #[cfg_attr(feature = "typescript", tsify(type = "string | null"))]
    #[serde(with = "crate::timestamp::option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Id of the newest event included; resume from here. `None` before any event.
    pub last_event_id: Option<EventId>,
}

/// `event: metadata` — one applied change. `metadata` holds only the keys that changed:
/// for an update their new values, for a delete the removed keys with `null`.
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataEvent {
    pub session_id: SessionId,
    pub event: String,
    pub operation: Operation,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    #[cfg_attr(feature = "typescript", tsify(type = "string"))]
    #[serde(with = "crate::timestamp")]
    pub timestamp: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_round_trips() {
        let id: EventId = "1706265045123-42".parse().unwrap();
        assert_eq!(
            id,
            EventId {
                epoch: 1706265045123,
                seq: 42
            }
        );
        assert_eq!(id.to_string(), "1706265045123-42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"1706265045123-42\"");
    }

    #[test]
    fn bad_event_ids_are_rejected() {
        for bad in ["", "12", "a-1", "1-", "-1", "1-2-3", "1--2"] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
    }
}
