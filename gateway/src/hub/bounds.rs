//! What one session may hold, enforced the same way by both backends: the memory state
//! ([`super::state`]) and `redis/apply.lua` implement [`SessionBounds::check_growth`] and
//! the tombstone rules below line for line, and `gateway/tests/merge_properties.rs`
//! checks that they agree.
//!
//! - Keys: at most `max_keys` live keys; deleted keys keep a tombstone (their last
//!   version, so a late older write cannot resurrect them) for `tombstone_horizon`
//!   after the delete arrived, and at most `max_keys` tombstones are kept (the oldest
//!   are collected first).
//! - Size: the snapshot's bytes, counted as each key's length plus its value's compact
//!   JSON length, at most `max_bytes`.
//! - A change that would take a session over a bound is refused whole (no key applied);
//!   one that shrinks a session already over a lowered bound passes.
//! - Time: a `timestamp` beyond `now + max_clock_skew` is refused, because last-writer-wins
//!   would let it pin its keys until that time.
//! - Fields: with an allow-list, unlisted fields are dropped as the change arrives, so
//!   they are never stored, framed or sent.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use shared_types::Metadata;

use crate::config::Config;

/// A session's bounds, from the configuration.
#[derive(Debug, Clone)]
pub struct SessionBounds {
    pub max_keys: usize,
    pub max_bytes: usize,
    pub tombstone_horizon: TimeDelta,
    pub max_clock_skew: TimeDelta,
    /// The metadata fields that may be kept; `None`: every field.
    pub fields: Option<HashSet<String>>,
}

/// Why a change was refused; the same for every source and backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "timestamp {timestamp} is more than {max_skew_seconds} s ahead of the gateway's clock"
    )]
    TimestampInFuture {
        timestamp: String,
        max_skew_seconds: i64,
    },
    #[error("the change would leave the session with {keys} keys; at most {max} are kept")]
    SessionFull { max: usize, keys: usize },
    #[error("the change would make the session's snapshot {bytes} bytes; at most {max} are kept")]
    SnapshotTooLarge { max: usize, bytes: usize },
}

impl Refused {
    /// Stable machine-readable code: the HTTP error code and the metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TimestampInFuture { .. } => "timestamp_in_future",
            Self::SessionFull { .. } => "session_full",
            Self::SnapshotTooLarge { .. } => "snapshot_too_large",
        }
    }
}

/// A session's size: live keys and snapshot bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub keys: usize,
    pub bytes: usize,
}

/// Bytes one key adds to the snapshot, given its value's compact JSON.
pub fn entry_bytes(key: &str, value_json: &str) -> usize {
    key.len() + value_json.len()
}

impl SessionBounds {
    pub fn from_config(config: &Config) -> Self {
        let fields = config
            .metadata_fields
            .as_ref()
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect::<HashSet<_>>()
            })
            .filter(|fields| !fields.is_empty());
        Self {
            max_keys: config.max_session_keys as usize,
            max_bytes: config.max_snapshot_bytes as usize,
            tombstone_horizon: seconds(config.tombstone_horizon_seconds),
            max_clock_skew: seconds(config.max_clock_skew_seconds),
            fields,
        }
    }

    /// Refuses a timestamp further ahead of `now` than the tolerated skew.
    pub fn check_timestamp(
        &self,
        timestamp: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        if timestamp.signed_duration_since(now) > self.max_clock_skew {
            return Err(Refused::TimestampInFuture {
                timestamp: shared_types::timestamp::format(&timestamp),
                max_skew_seconds: self.max_clock_skew.num_seconds(),
            });
        }
        Ok(())
    }

    /// Removes the fields the allow-list does not name; returns them.
    pub fn drop_unlisted(&self, metadata: &mut Metadata) -> Vec<String> {
        let Some(fields) = &self.fields else {
            return Vec::new();
        };
        let dropped: Vec<String> = metadata
            .keys()
            .filter(|key| !fields.contains(*key))
            .cloned()
            .collect();
        for key in &dropped {
            metadata.remove(key);
        }
        dropped
    }

    /// Tombstones that arrived before this time (Unix microseconds) are collected.
    pub fn tombstone_cutoff(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp_micros()
            - self
                .tombstone_horizon
                .num_microseconds()
                .unwrap_or(i64::MAX)
    }

    /// The growth rule: a change may not take the session over a bound, unless it does
    /// not grow what is over it. Keys are checked first.
    pub fn check_growth(&self, before: Size, after: Size) -> Result<(), Refused> {
        if after.keys > self.max_keys && after.keys > before.keys {
            return Err(Refused::SessionFull {
                max: self.max_keys,
                keys: after.keys,
            });
        }
        if after.bytes > self.max_bytes && after.bytes > before.bytes {
            return Err(Refused::SnapshotTooLarge {
                max: self.max_bytes,
                bytes: after.bytes,
            });
        }
        Ok(())
    }
}

fn seconds(n: u64) -> TimeDelta {
    TimeDelta::seconds(
        i64::try_from(n)
            .unwrap_or(i64::MAX / 1_000_000)
            .min(i64::MAX / 1_000_000),
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    fn bounds(args: &[&str]) -> SessionBounds {
        SessionBounds::from_config(&Config::try_parse_from(["gateway"].iter().chain(args)).unwrap())
    }

    #[test]
    fn growth_over_a_bound_is_refused_shrinking_is_not() {
        let b = bounds(&["--max-session-keys", "2", "--max-snapshot-bytes", "10"]);
        let size = |keys, bytes| Size { keys, bytes };
        assert_eq!(b.check_growth(size(2, 10), size(2, 10)), Ok(()));
        assert_eq!(
            b.check_growth(size(2, 5), size(3, 6)).unwrap_err().code(),
            "session_full"
        );
        assert_eq!(
            b.check_growth(size(1, 5), size(2, 11)).unwrap_err().code(),
            "snapshot_too_large"
        );
        // Already over a lowered bound: a change that does not grow it passes.
        assert_eq!(b.check_growth(size(5, 50), size(4, 50)), Ok(()));
    }

    #[test]
    fn timestamps_beyond_the_skew_are_refused() {
        let b = bounds(&["--max-clock-skew-seconds", "60"]);
        let now = Utc::now();
        assert_eq!(b.check_timestamp(now + TimeDelta::seconds(60), now), Ok(()));
        assert_eq!(b.check_timestamp(now - TimeDelta::days(900), now), Ok(()));
        let err = b
            .check_timestamp(now + TimeDelta::seconds(61), now)
            .unwrap_err();
        assert_eq!(err.code(), "timestamp_in_future");
    }

    #[test]
    fn the_allow_list_drops_unlisted_fields() {
        let mut metadata = json!({"status": 1, "secret": 2, "agent_state": 3})
            .as_object()
            .unwrap()
            .clone();
        assert!(bounds(&[]).drop_unlisted(&mut metadata.clone()).is_empty());
        let b = bounds(&["--metadata-fields", "status, agent_state"]);
        assert_eq!(b.drop_unlisted(&mut metadata), vec!["secret".to_string()]);
        assert_eq!(metadata.len(), 2);
        assert!(bounds(&["--metadata-fields", ""]).fields.is_none());
    }
}
