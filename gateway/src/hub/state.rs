//! One session's merged metadata and the per-key versions that decide which write wins.
//!
//! SQS standard queues reorder and duplicate messages, so a change is merged key by key:
//! a key takes a write only if the write is newer (by the event's `timestamp`) than the
//! last write of that key, deletes included (a deleted key keeps a tombstone version, so
//! an older update arriving late does not bring it back). Equal timestamps are broken by
//! comparing the written values, so every replica converges whatever the arrival order.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared_types::{Metadata, Operation};

/// The last write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    timestamp: DateTime<Utc>,
    /// Tie-breaker for equal timestamps: the written value as JSON, empty for a delete.
    value: String,
}

impl Version {
    fn of(timestamp: DateTime<Utc>, operation: Operation, value: &Value) -> Self {
        let value = match operation {
            Operation::Update => value.to_string(),
            Operation::Delete => String::new(),
        };
        Self { timestamp, value }
    }

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

    /// Merges `metadata` written at `timestamp` by `operation`.
    pub fn merge(
        &mut self,
        operation: Operation,
        metadata: Metadata,
        timestamp: DateTime<Utc>,
    ) -> Merge {
        let mut merge = Merge::default();
        for (key, value) in metadata {
            let version = Version::of(timestamp, operation, &value);
            let newer = self
                .versions
                .get(&key)
                .is_none_or(|current| version.cmp_order(current) == Ordering::Greater);
            if !newer {
                merge.ignored.push(key);
                continue;
            }
            self.versions.insert(key.clone(), version);
            match operation {
                Operation::Update => {
                    self.metadata.insert(key.clone(), value.clone());
                    merge.applied.insert(key, value);
                }
                Operation::Delete => {
                    self.metadata.remove(&key);
                    merge.applied.insert(key, Value::Null);
                }
            }
        }
        if !merge.applied.is_empty() && self.updated_at.is_none_or(|t| timestamp > t) {
            self.updated_at = Some(timestamp);
        }
        merge
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(second: u32) -> DateTime<Utc> {
        shared_types::timestamp::parse(&format!("2024-01-26T10:30:{second:02}")).unwrap()
    }

    fn meta(value: Value) -> Metadata {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn updates_and_deletes_merge_per_key() {
        let mut state = MergedState::default();
        state.merge(
            Operation::Update,
            meta(json!({"status": "processing", "priority": "high"})),
            at(1),
        );
        let merge = state.merge(Operation::Delete, meta(json!({"priority": null})), at(2));
        assert_eq!(merge.applied, meta(json!({"priority": null})));
        assert_eq!(state.metadata(), &meta(json!({"status": "processing"})));
        assert_eq!(state.updated_at(), Some(at(2)));
    }

    #[test]
    fn stale_writes_are_ignored_and_deletes_leave_tombstones() {
        let mut state = MergedState::default();
        state.merge(Operation::Update, meta(json!({"status": "done"})), at(5));
        let merge = state.merge(Operation::Update, meta(json!({"status": "queued"})), at(3));
        assert_eq!(merge.ignored, vec!["status".to_string()]);
        state.merge(Operation::Delete, meta(json!({"status": null})), at(6));
        let late = state.merge(Operation::Update, meta(json!({"status": "done"})), at(5));
        assert!(late.applied.is_empty());
        assert!(state.metadata().is_empty());
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
                    state.merge(*op, meta(value.clone()), *t);
                }
                let result = (state.metadata().clone(), state.updated_at());
                assert_eq!(expected.get_or_insert(result.clone()), &result);
            }
        }
        assert_eq!(expected.unwrap().0, meta(json!({"status": "c"})));
    }
}
