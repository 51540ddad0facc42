//! The merged metadata view of one subscription and where it stands in the stream.

use shared_types::{Metadata, MetadataEvent, Operation, SnapshotEvent};

#[derive(Debug, Default)]
pub(crate) struct View {
    pub metadata: Metadata,
    /// Id to resume from; `None` forces a fresh snapshot on the next connection.
    pub last_event_id: Option<String>,
}

impl View {
    /// A snapshot replaces the whole view.
    pub fn replace(&mut self, snapshot: &SnapshotEvent, id: Option<String>) {
        self.metadata = snapshot.metadata.clone();
        self.last_event_id = id.or_else(|| snapshot.last_event_id.map(|id| id.to_string()));
    }

    /// An update sets the keys it lists; a delete removes them.
    pub fn apply(&mut self, event: &MetadataEvent, id: Option<String>) {
        for (key, value) in &event.metadata {
            match event.operation {
                Operation::Update => {
                    self.metadata.insert(key.clone(), value.clone());
                }
                Operation::Delete => {
                    self.metadata.remove(key);
                }
            }
        }
        if id.is_some() {
            self.last_event_id = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(operation: &str, metadata: serde_json::Value) -> MetadataEvent {
        serde_json::from_value(json!({
            "session_id": "s1", "event": "metadata_update", "operation": operation,
            "metadata": metadata, "timestamp": "2024-01-26T10:30:45.123456Z"
        }))
        .unwrap()
    }

    #[test]
    fn updates_merge_and_deletes_remove() {
        let mut view = View::default();
        view.apply(
            &event(
                "update",
                json!({"status": "processing", "priority": "high"}),
            ),
            Some("1-1".into()),
        );
        view.apply(
            &event("update", json!({"status": "done"})),
            Some("1-2".into()),
        );
        view.apply(
            &event("delete", json!({"priority": null})),
            Some("1-3".into()),
        );
        assert_eq!(
            serde_json::Value::Object(view.metadata.clone()),
            json!({"status": "done"})
        );
        assert_eq!(view.last_event_id.as_deref(), Some("1-3"));
    }

    #[test]
    fn a_snapshot_replaces_everything() {
        let mut view = View::default();
        view.apply(&event("update", json!({"stale": true})), Some("1-9".into()));
        let snapshot: SnapshotEvent = serde_json::from_value(json!({
            "session_id": "s1", "metadata": {"status": "idle"},
            "updated_at": null, "last_event_id": "2-4"
        }))
        .unwrap();
        view.replace(&snapshot, None);
        assert_eq!(
            serde_json::Value::Object(view.metadata.clone()),
            json!({"status": "idle"})
        );
        assert_eq!(view.last_event_id.as_deref(), Some("2-4"));
    }
}
