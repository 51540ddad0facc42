//! Feedback storage. Each record carries its own outbox state (`notification` plus the
//! time of the next publish attempt), so storing a feedback and queueing its notification
//! is one atomic write, and a notification is never lost between the two.
//!
//! Two backends behind one enum: [`memory`] for the embedded mode and tests, [`mongo`]
//! for production. Both give the same guarantees within one process; only MongoDB
//! shares them between gateway instances.

mod memory;
mod mongo;

use chrono::{DateTime, Utc};
use shared_types::{FeedbackRecord, SessionId};

pub use memory::MemoryStore;
pub use mongo::MongoStore;

use super::input::{IdempotencyKey, PageRequest};
use crate::metrics;

/// Times a MongoDB call for `gateway_mongodb_call_duration_seconds`.
async fn timed<T>(op: &'static str, call: impl std::future::Future<Output = T>) -> T {
    metrics::timed(metrics::MONGODB_CALL_DURATION, op, call).await
}

/// A feedback record with the fields only the gateway sees.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeedback {
    pub record: FeedbackRecord,
    /// The client's `Idempotency-Key`, unique per session.
    pub idempotency_key: Option<IdempotencyKey>,
    /// While the notification is pending: when the notifier may next try. A notifier
    /// that claims the record pushes it into the future (a lease), so an instance that
    /// dies mid-publish only delays the notification.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last publish attempt failed, for operators reading the database.
    pub last_error: Option<String>,
}

/// What an insert did.
#[derive(Debug)]
pub enum Inserted {
    /// The record is new.
    Created,
    /// A record with the same session and idempotency key exists already: this one.
    Duplicate(Box<StoredFeedback>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached; the request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The feedback store of this gateway; cheap to clone.
#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Mongo(MongoStore),
}

impl Store {
    /// Name shown in logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "in-memory",
            Self::Mongo(_) => "mongodb",
        }
    }

    pub async fn insert(&self, feedback: &StoredFeedback) -> Result<Inserted, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.insert(feedback)),
            Self::Mongo(store) => timed("insert", store.insert(feedback)).await,
        }
    }

    /// One page of a session's records, newest first, plus whether more follow.
    pub async fn list(
        &self,
        session: &SessionId,
        page: &PageRequest,
    ) -> Result<(Vec<FeedbackRecord>, bool), StoreError> {
        let mut records = match self {
            Self::Memory(store) => store.list(session, page.before.as_deref(), page.limit + 1),
            Self::Mongo(store) => {
                timed(
                    "list",
                    store.list(session, page.before.as_deref(), page.limit + 1),
                )
                .await?
            }
        };
        let more = records.len() > page.limit as usize;
        records.truncate(page.limit as usize);
        Ok((records, more))
    }

    /// Claims up to `limit` pending notifications due at or before `now`, earliest
    /// first: counts an attempt on each and leases it until `lease_until`, so no other
    /// notifier takes it meanwhile.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredFeedback>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.claim_due(now, lease_until, limit)),
            Self::Mongo(store) => {
                timed("claim_due", store.claim_due(now, lease_until, limit)).await
            }
        }
    }

    pub async fn mark_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.mark_sent(id, at);
                Ok(())
            }
            Self::Mongo(store) => timed("mark_sent", store.mark_sent(id, at)).await,
        }
    }

    /// Keeps the notification pending and schedules its next attempt.
    pub async fn reschedule(
        &self,
        id: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.reschedule(id, at, error);
                Ok(())
            }
            Self::Mongo(store) => timed("reschedule", store.reschedule(id, at, error)).await,
        }
    }

    /// When the earliest pending notification is due, if any is pending.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.next_due()),
            Self::Mongo(store) => timed("next_due", store.next_due()).await,
        }
    }

    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.pending_count()),
            Self::Mongo(store) => timed("pending_count", store.pending_count()).await,
        }
    }

    /// When the oldest pending notification was created, if any is pending.
    pub async fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.oldest_pending()),
            Self::Mongo(store) => timed("oldest_pending", store.oldest_pending()).await,
        }
    }

    /// Checks the backend answers (a no-op in memory).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Mongo(store) => timed("ping", store.ping()).await,
        }
    }
}
