//! One session's merged metadata and the per-key versions that decide which write wins.
//!
//! SQS standard queues reorder and duplicate messages, so a change is merged key by key:
//! a key takes a write only if the write is newer (by the event's `timestamp`) than the
//! last write of that key, deletes included (a deleted key keeps a tombstone version, so
//! an older update arriving late does not bring it back). Equal timestamps are broken by
//! comparing the written values, so every replica converges whatever the arrival order.
//!
//! The state stays within its [`SessionBounds`]: tombstones are collected after the
//! horizon and capped, and a change that would grow the state over a bound is refused
//! whole. `redis/apply.lua` does the same steps in the same order.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared_types::{Metadata, Operation};

use super::bounds::{entry_bytes, Refused, SessionBounds, Size};

/// The last write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    timestamp: DateTime<Utc>,
    /// Tie-breaker for equal timestamps: the written value as JSON, empty for a delete.
    value: String,
    /// For a delete: when it arrived (Unix microseconds), which starts its horizon.
    deleted_at: Option<i64>,
}

impl Version {
    fn cmp_order(&self, other: &Self) -> Ordering {
        self.timestamp
            .cmp(&other.timestamp)
            .then_with(|| self.value.cmp(&other.value))
    }
}

/// The merged metadata of a session.
#[derive(Debug, Default)]
pub struct MergedState {
    metadata: Metadata,
    versions: HashMap<String, Version>,
    /// Tombstones by arrival, then key: the order in which they are collected.
    tombstones: BTreeSet<(i64, String)>,
    /// The snapshot's size in bytes (see [`entry_bytes`]).
    bytes: usize,
    updated_at: Option<DateTime<Utc>>,
}

/// What merging one change did, key by key.
#[derive(Debug, Default, PartialEq)]
pub struct Merge {
    /// The applied keys with their new values (`null` for a delete), to forward.
    pub applied: Metadata,
    /// Keys whose write was stale or a repeat of the current one.
    pub ignored: Vec<String>,
}

impl MergedState {
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    pub fn size(&self) -> Size {
        Size {
            keys: self.metadata.len(),
            bytes: self.bytes,
        }
    }

    /// Merges `metadata` written at `timestamp` by `operation`, arriving at `now`: first
    /// collects the tombstones older than the horizon, then applies the keys that win,
    /// unless that would take the state over a bound.
    pub fn merge(
        &mut self,
        operation: Operation,
        metadata: Metadata,
        timestamp: DateTime<Utc>,
        now: DateTime<Utc>,
        bounds: &SessionBounds,
    ) -> Result<Merge, Refused> {
        self.collect_tombstones(bounds.tombstone_cutoff(now));
        let before = self.size();
        let mut after = before;
        let mut wins = Vec::with_capacity(metadata.len());
        for (key, value) in metadata {
            let version = Version {
                timestamp,
                value: match operation {
                    Operation::Update => value.to_string(),
                    Operation::Delete => String::new(),
                },
                deleted_at: (operation == Operation::Delete).then(|| now.timestamp_micros()),
            };
            let current = self.versions.get(&key);
            let newer =
                current.is_none_or(|current| version.cmp_order(current) == Ordering::Greater);
            if newer {
                if let Some(old) = current.filter(|v| v.deleted_at.is_none()) {
                    after.keys -= 1;
                    after.bytes -= entry_bytes(&key, &old.value);
                }
                if operation == Operation::Update {
                    after.keys += 1;
                    after.bytes += entry_bytes(&key, &version.value);
                }
            }
            wins.push((key, value, version, newer));
        }
        bounds.check_growth(before, after)?;

        let mut merge = Merge::default();
        for (key, value, version, newer) in wins {
            if !newer {
                merge.ignored.push(key);
                continue;
            }
            if let Some(old) = self.versions.insert(key.clone(), version.clone()) {
                if let Some(at) = old.deleted_at {
                    self.tombstones.remove(&(at, key.clone()));
                }
            }
            match version.deleted_at {
                None => {
                    self.metadata.insert(key.clone(), value.clone());
                    merge.applied.insert(key, value);
                }
                Some(at) => {
                    self.metadata.remove(&key);
                    self.tombstones.insert((at, key.clone()));
                    merge.applied.insert(key, Value::Null);
                }
            }
        }
        self.bytes = after.bytes;
        if !merge.applied.is_empty() {
            self.cap_tombstones(bounds.max_keys);
            if self.updated_at.is_none_or(|t| timestamp > t) {
                self.updated_at = Some(timestamp);
            }
        }
        Ok(merge)
    }

    /// Forgets the tombstones that arrived before `cutoff` (Unix microseconds).
    fn collect_tombstones(&mut self, cutoff: i64) {
        while let Some((at, _)) = self.tombstones.first() {
            if *at >= cutoff {
                break;
            }
            let (_, key) = self.tombstones.pop_first().expect("just seen");
            self.versions.remove(&key);
        }
    }

    /// Keeps at most `max` tombstones, forgetting the oldest.
    fn cap_tombstones(&mut self, max: usize) {
        while self.tombstones.len() > max {
            let (_, key) = self.tombstones.pop_first().expect("more than max");
            self.versions.remove(&key);
        }
    }

    /// Tombstones held now.
    #[cfg(test)]
    fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use clap::Parser;
    use serde_json::json;

    use super::*;
    use crate::config::Config;

    fn at(second: u32) -> DateTime<Utc> {
        shared_types::timestamp::parse(&format!("2024-01-26T10:30:{second:02}")).unwrap()
    }

    fn meta(value: Value) -> Metadata {
        value.as_object().unwrap().clone()
    }

    fn bounds(args: &[&str]) -> SessionBounds {
        SessionBounds::from_config(&Config::try_parse_from(["gateway"].iter().chain(args)).unwrap())
    }

    /// Merges with default bounds, arriving now.
    fn merge(state: &mut MergedState, op: Operation, value: Value, t: DateTime<Utc>) -> Merge {
        state
            .merge(op, meta(value), t, Utc::now(), &bounds(&[]))
            .unwrap()
    }

    #[test]
    fn updates_and_deletes_merge_per_key() {
        let mut state = MergedState::default();
        merge(
            &mut state,
            Operation::Update,
            json!({"status": "processing", "priority": "high"}),
            at(1),
        );
        let merge = merge(
            &mut state,
            Operation::Delete,
            json!({"priority": null}),
            at(2),
        );
        assert_eq!(merge.applied, meta(json!({"priority": null})));
        assert_eq!(state.metadata(), &meta(json!({"status": "processing"})));
        assert_eq!(state.updated_at(), Some(at(2)));
        assert_eq!(
            state.size(),
            Size {
                keys: 1,
                bytes: "status".len() + "\"processing\"".len()
            }
        );
    }

    #[test]
    fn stale_writes_are_ignored_and_deletes_leave_tombstones() {
        let mut state = MergedState::default();
        merge(
            &mut state,
            Operation::Update,
            json!({"status": "done"}),
            at(5),
        );
        let stale = merge(
            &mut state,
            Operation::Update,
            json!({"status": "queued"}),
            at(3),
        );
        assert_eq!(stale.ignored, vec!["status".to_string()]);
        merge(
            &mut state,
            Operation::Delete,
            json!({"status": null}),
            at(6),
        );
        let late = merge(
            &mut state,
            Operation::Update,
            json!({"status": "done"}),
            at(5),
        );
        assert!(late.applied.is_empty());
        assert!(state.metadata().is_empty());
        assert_eq!(state.size(), Size::default());
    }

    #[test]
    fn any_arrival_order_converges_to_the_same_state() {
        let writes = [
            (Operation::Update, json!({"status": "a", "x": 1}), at(1)),
            (Operation::Update, json!({"status": "b"}), at(2)),
            (Operation::Update, json!({"status": "c"}), at(2)),
            (Operation::Delete, json!({"x": null}), at(3)),
            (Operation::Update, json!({"x": 2}), at(2)),
        ];
        let mut expected = None;
        // Every rotation and its reverse, each with every write duplicated.
        for start in 0..writes.len() {
            for reverse in [false, true] {
                let mut order: Vec<_> = writes.iter().cycle().skip(start).take(5).collect();
                if reverse {
                    order.reverse();
                }
                let mut state = MergedState::default();
                for (op, value, t) in order.iter().chain(order.iter()) {
                    merge(&mut state, *op, value.clone(), *t);
                }
                let result = (state.metadata().clone(), state.updated_at());
                assert_eq!(expected.get_or_insert(result.clone()), &result);
            }
        }
        assert_eq!(expected.unwrap().0, meta(json!({"status": "c"})));
    }

    #[test]
    fn a_change_over_the_key_bound_is_refused_whole() {
        let bounds = bounds(&["--max-session-keys", "2"]);
        let mut state = MergedState::default();
        let now = Utc::now();
        state
            .merge(
                Operation::Update,
                meta(json!({"a": 1, "b": 2})),
                at(1),
                now,
                &bounds,
            )
            .unwrap();
        let refused = state
            .merge(
                Operation::Update,
                meta(json!({"a": 9, "c": 3})),
                at(2),
                now,
                &bounds,
            )
            .unwrap_err();
        assert_eq!(refused, Refused::SessionFull { max: 2, keys: 3 });
        assert_eq!(
            state.metadata(),
            &meta(json!({"a": 1, "b": 2})),
            "nothing applied"
        );
        // Replacing a key, or deleting one to make room, passes.
        state
            .merge(
                Operation::Delete,
                meta(json!({"b": null})),
                at(3),
                now,
                &bounds,
            )
            .unwrap();
        state
            .merge(
                Operation::Update,
                meta(json!({"a": 9, "c": 3})),
                at(4),
                now,
                &bounds,
            )
            .unwrap();
        assert_eq!(state.metadata(), &meta(json!({"a": 9, "c": 3})));
    }

    #[test]
    fn a_change_over_the_snapshot_bound_is_refused_whole() {
        // "a" + "1" = 2 bytes; "b" + "\"xyz\"" = 6 bytes.
        let bounds = bounds(&["--max-snapshot-bytes", "8"]);
        let mut state = MergedState::default();
        let now = Utc::now();
        state
            .merge(
                Operation::Update,
                meta(json!({"a": 1, "b": "xyz"})),
                at(1),
                now,
                &bounds,
            )
            .unwrap();
        assert_eq!(state.size().bytes, 8);
        let refused = state
            .merge(
                Operation::Update,
                meta(json!({"b": "xyzw"})),
                at(2),
                now,
                &bounds,
            )
            .unwrap_err();
        assert_eq!(refused, Refused::SnapshotTooLarge { max: 8, bytes: 9 });
        state
            .merge(
                Operation::Update,
                meta(json!({"b": "x"})),
                at(2),
                now,
                &bounds,
            )
            .unwrap();
        assert_eq!(state.size().bytes, 6);
    }

    #[test]
    fn tombstones_are_collected_after_the_horizon_and_capped() {
        let bounds = bounds(&[
            "--tombstone-horizon-seconds",
            "60",
            "--max-session-keys",
            "2",
        ]);
        let mut state = MergedState::default();
        let t0 = Utc::now();
        let mut merge_at =
            |op, value, t, now| state.merge(op, meta(value), t, now, &bounds).unwrap();
        merge_at(Operation::Delete, json!({"a": null}), at(10), t0);
        // Within the horizon the tombstone keeps an older write out…
        let late = merge_at(
            Operation::Update,
            json!({"a": 1}),
            at(5),
            t0 + TimeDelta::seconds(60),
        );
        assert!(late.applied.is_empty());
        // …after it, the tombstone is gone and the older write is taken: the trade-off.
        let later = merge_at(
            Operation::Update,
            json!({"a": 1}),
            at(5),
            t0 + TimeDelta::seconds(61),
        );
        assert_eq!(later.applied, meta(json!({"a": 1})));
        // At most max_keys tombstones: the oldest goes first.
        merge_at(Operation::Delete, json!({"x": null}), at(10), t0);
        merge_at(
            Operation::Delete,
            json!({"y": null}),
            at(10),
            t0 + TimeDelta::seconds(1),
        );
        merge_at(
            Operation::Delete,
            json!({"z": null}),
            at(10),
            t0 + TimeDelta::seconds(2),
        );
        assert_eq!(state.tombstone_count(), 2);
        assert!(!state.versions.contains_key("x"));
        assert!(state.versions.contains_key("z"));
    }
}
