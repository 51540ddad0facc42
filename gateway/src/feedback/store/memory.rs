//! The in-memory store of the embedded mode: records live as long as the process.
//! Listing scans all records, which is fine for the development and test loads it is
//! meant for; production uses MongoDB.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use shared_types::{FeedbackRecord, NotificationStatus, SessionId};

use super::{Inserted, StoredFeedback};
use crate::feedback::input::IdempotencyKey;

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// By id; ids are UUIDv7, so this is creation order.
    records: BTreeMap<String, StoredFeedback>,
    by_key: HashMap<(SessionId, IdempotencyKey), String>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("feedback store lock poisoned")
    }

    pub fn insert(&self, feedback: &StoredFeedback) -> Inserted {
        let mut inner = self.lock();
        if let Some(key) = &feedback.idempotency_key {
            let slot = (feedback.record.session_id.clone(), key.clone());
            if let Some(id) = inner.by_key.get(&slot) {
                return Inserted::Duplicate(Box::new(inner.records[id].clone()));
            }
            inner.by_key.insert(slot, feedback.record.id.clone());
        }
        inner
            .records
            .insert(feedback.record.id.clone(), feedback.clone());
        Inserted::Created
    }

    pub fn list(
        &self,
        session: &SessionId,
        before: Option<&str>,
        limit: u32,
    ) -> Vec<FeedbackRecord> {
        let inner = self.lock();
        let end = before.map_or(Bound::Unbounded, Bound::Excluded);
        inner
            .records
            .range::<str, _>((Bound::Unbounded, end))
            .rev()
            .map(|(_, stored)| &stored.record)
            .filter(|record| &record.session_id == session)
            .take(limit as usize)
            .cloned()
            .collect()
    }

    pub fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Vec<StoredFeedback> {
        let mut inner = self.lock();
        let mut due: Vec<&mut StoredFeedback> = inner
            .records
            .values_mut()
            .filter(|s| s.record.notification.status == NotificationStatus::Pending)
            .filter(|s| s.next_attempt_at.is_some_and(|at| at <= now))
            .collect();
        due.sort_by_key(|s| s.next_attempt_at);
        due.into_iter()
            .take(limit as usize)
            .map(|claimed| {
                claimed.next_attempt_at = Some(lease_until);
                claimed.record.notification.attempts += 1;
                claimed.clone()
            })
            .collect()
    }

    pub fn mark_sent(&self, id: &str, at: DateTime<Utc>) {
        if let Some(stored) = self.lock().records.get_mut(id) {
            stored.record.notification.status = NotificationStatus::Sent;
            stored.record.notification.sent_at = Some(at);
            stored.next_attempt_at = None;
            stored.last_error = None;
        }
    }

    pub fn reschedule(&self, id: &str, at: DateTime<Utc>, error: &str) {
        if let Some(stored) = self.lock().records.get_mut(id) {
            stored.next_attempt_at = Some(at);
            stored.last_error = Some(error.to_owned());
        }
    }

    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock()
            .records
            .values()
            .filter(|s| s.record.notification.status == NotificationStatus::Pending)
            .filter_map(|s| s.next_attempt_at)
            .min()
    }

    pub fn oldest_pending(&self) -> Option<DateTime<Utc>> {
        self.lock()
            .records
            .values()
            .filter(|s| s.record.notification.status == NotificationStatus::Pending)
            .map(|s| s.record.created_at)
            .min()
    }

    pub fn pending_count(&self) -> u64 {
        self.lock()
            .records
            .values()
            .filter(|s| s.record.notification.status == NotificationStatus::Pending)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use shared_types::{NotificationState, Rating, Sentiment};

    use super::*;

    fn stored(session: &str, status: NotificationStatus, key: Option<&str>) -> StoredFeedback {
        let now = Utc::now();
        StoredFeedback {
            record: FeedbackRecord {
                id: uuid::Uuid::now_v7().to_string(),
                session_id: SessionId::parse(session).unwrap(),
                rating: Some(Rating::Up),
                sentiment: Sentiment::Positive,
                comment: String::new(),
                created_at: now,
                notification: NotificationState {
                    status,
                    attempts: 0,
                    sent_at: None,
                },
            },
            idempotency_key: key.map(|k| IdempotencyKey::parse(k.as_bytes()).unwrap()),
            next_attempt_at: (status == NotificationStatus::Pending).then_some(now),
            last_error: None,
        }
    }

    #[test]
    fn lists_one_session_newest_first_from_a_cursor() {
        let store = MemoryStore::default();
        let ids: Vec<String> = (0..5)
            .map(|_| {
                let s = stored("s1", NotificationStatus::Disabled, None);
                store.insert(&s);
                store.insert(&stored("other", NotificationStatus::Disabled, None));
                s.record.id
            })
            .collect();
        let session = SessionId::parse("s1").unwrap();
        let page: Vec<String> = store
            .list(&session, None, 2)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(page, [ids[4].clone(), ids[3].clone()]);
        let rest: Vec<String> = store
            .list(&session, Some(&ids[3]), 10)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(rest, [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    }

    #[test]
    fn an_idempotency_key_is_unique_per_session() {
        let store = MemoryStore::default();
        let first = stored("s1", NotificationStatus::Disabled, Some("k"));
        assert!(matches!(store.insert(&first), Inserted::Created));
        match store.insert(&stored("s1", NotificationStatus::Disabled, Some("k"))) {
            Inserted::Duplicate(existing) => assert_eq!(*existing, first),
            Inserted::Created => panic!("a reused key created a second record"),
        }
        let other_session = stored("s2", NotificationStatus::Disabled, Some("k"));
        assert!(matches!(store.insert(&other_session), Inserted::Created));
    }

    #[test]
    fn claims_take_the_earliest_due_first_up_to_the_limit() {
        let store = MemoryStore::default();
        let now = Utc::now();
        let mut ids = Vec::new();
        for late_by in [3, 1, 2] {
            let mut s = stored("s1", NotificationStatus::Pending, None);
            s.next_attempt_at = Some(now - TimeDelta::seconds(late_by));
            store.insert(&s);
            ids.push(s.record.id);
        }
        let lease = now + TimeDelta::seconds(30);
        let first: Vec<String> = store
            .claim_due(now, lease, 2)
            .into_iter()
            .map(|s| s.record.id)
            .collect();
        assert_eq!(first, [ids[0].clone(), ids[2].clone()]);
        let rest = store.claim_due(now, lease, 2);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].record.id, ids[1]);
    }

    #[test]
    fn a_claimed_notification_is_leased_until_rescheduled_or_sent() {
        let store = MemoryStore::default();
        let pending = stored("s1", NotificationStatus::Pending, None);
        store.insert(&pending);
        store.insert(&stored("s1", NotificationStatus::Disabled, None));
        let now = Utc::now();
        let lease = now + TimeDelta::seconds(30);

        let claimed = store.claim_due(now, lease, 10);
        assert_eq!(claimed.len(), 1, "only the pending record is due");
        assert_eq!(claimed[0].record.id, pending.record.id);
        assert_eq!(claimed[0].record.notification.attempts, 1);
        assert!(
            store.claim_due(now, lease, 10).is_empty(),
            "leased records are not due"
        );
        assert_eq!(store.next_due(), Some(lease));

        store.reschedule(&pending.record.id, now, "boom");
        let again = store.claim_due(now, lease, 10);
        assert_eq!(again[0].record.notification.attempts, 2);
        assert_eq!(again[0].last_error.as_deref(), Some("boom"));

        store.mark_sent(&pending.record.id, now);
        assert_eq!(store.pending_count(), 0);
        assert_eq!(store.next_due(), None);
        let sent = &store.list(&pending.record.session_id, None, 10)[1];
        assert_eq!(sent.notification.status, NotificationStatus::Sent);
        assert_eq!(sent.notification.sent_at, Some(now));
    }
}
