//! User feedback: validated at the boundary, stored with its notification state (the
//! outbox) in one write, then published to the SNS topic of its sentiment in the
//! background, so a slow or failing SNS never fails or slows a feedback post.
//!
//! - [`input`]: validation of bodies, `Idempotency-Key` headers and page queries.
//! - [`store`]: MongoDB or in-memory records, outbox state included.
//! - [`notify`]: the SNS message format and the publish call.
//! - [`outbox`]: the background notifier with retries.

pub mod input;
pub mod notify;
pub mod outbox;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use shared_types::{
    FeedbackPage, FeedbackRecord, NotificationState, NotificationStatus, Sentiment, SessionId,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::health::{ComponentStatus, Health, NOT_CHECKED};
use crate::metrics;
use input::{IdempotencyKey, NewFeedback, PageRequest};
use notify::{Notifier, Routes};
use outbox::Outbox;
use store::{Inserted, MemoryStore, MongoStore, Store, StoreError, StoredFeedback};

/// How often the MongoDB connection and the SNS topics are checked for `/readyz`.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// What `Retry-After` tells a client when MongoDB is down.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("{0}")]
    InvalidRating(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("comment has {actual} characters; at most {max} are accepted")]
    CommentTooLong { max: usize, actual: usize },
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different feedback")]
    IdempotencyConflict,
    #[error("{0}")]
    InvalidQuery(String),
    #[error("feedback store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// Accepts and lists feedback; cheap to clone.
#[derive(Clone)]
pub struct FeedbackService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    routes: Routes,
    /// Wakes the notifier when a pending notification is stored.
    wake: Arc<Notify>,
    health: Health,
}

/// Picks the backends from `config`, starts the notifier and the readiness probe on
/// `tasks`, and returns the service. A MongoDB that is down at start is not fatal: the
/// gateway reports it in `/readyz` and answers feedback posts with 503 until it is back.
pub async fn start(
    config: &Config,
    aws: Option<&SdkConfig>,
    health: &Health,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<FeedbackService> {
    let store = match &config.mongodb_uri {
        Some(uri) => Store::Mongo(
            MongoStore::connect(
                uri,
                &config.mongodb_database,
                &config.mongodb_feedback_collection,
            )
            .await?,
        ),
        None => Store::Memory(MemoryStore::default()),
    };
    let routes = Routes::from_config(config);
    let notifier = match aws {
        Some(aws) if routes.any_enabled() => Some(Notifier::new(aws, routes.clone())),
        None if routes.any_enabled() => anyhow::bail!("SNS topics are set but AWS is not"),
        _ => None,
    };
    health.set(
        "mongodb",
        match store {
            Store::Memory(_) => ComponentStatus::ok(store.backend()),
            Store::Mongo(_) => ComponentStatus::down(store.backend(), NOT_CHECKED),
        },
    );
    health.set(
        "sns",
        if notifier.is_some() {
            ComponentStatus::degraded("sns", NOT_CHECKED)
        } else {
            ComponentStatus::ok("disabled")
        },
    );

    let wake = Arc::new(Notify::new());
    tasks.spawn(probe(
        store.clone(),
        notifier.clone(),
        health.clone(),
        stop.clone(),
    ));
    if let Some(notifier) = notifier {
        let outbox = Outbox {
            store: store.clone(),
            notifier,
            wake: wake.clone(),
            backoff: Backoff::new(
                Duration::from_millis(config.feedback_retry_base_ms),
                Duration::from_millis(config.feedback_retry_max_ms),
            ),
            health: health.clone(),
        };
        tasks.spawn(outbox.run(stop));
    }
    Ok(FeedbackService {
        inner: Arc::new(Inner {
            store,
            routes,
            wake,
            health: health.clone(),
        }),
    })
}

impl FeedbackService {
    /// Stores a feedback and queues its notification. With an idempotency key already
    /// used for this session, returns the stored record if the body is the same and
    /// [`FeedbackError::IdempotencyConflict`] if it differs.
    pub async fn submit(
        &self,
        session: SessionId,
        feedback: NewFeedback,
        key: Option<IdempotencyKey>,
    ) -> Result<FeedbackRecord, FeedbackError> {
        let id = Uuid::now_v7();
        let created_at = creation_time(id)?;
        let sentiment = Sentiment::of(feedback.rating);
        let pending = self.inner.routes.topic(sentiment).is_some();
        let stored = StoredFeedback {
            record: FeedbackRecord {
                id: id.hyphenated().to_string(),
                session_id: session,
                rating: feedback.rating,
                sentiment,
                comment: feedback.comment,
                created_at,
                notification: NotificationState {
                    status: if pending {
                        NotificationStatus::Pending
                    } else {
                        NotificationStatus::Disabled
                    },
                    attempts: 0,
                    sent_at: None,
                },
            },
            idempotency_key: key,
            next_attempt_at: pending.then_some(created_at),
            last_error: None,
        };
        match self
            .inner
            .store
            .insert(&stored)
            .await
            .map_err(|e| self.store_failed(e))?
        {
            Inserted::Created => {
                ::metrics::counter!(metrics::FEEDBACK_STORED, "sentiment" => sentiment.as_str())
                    .increment(1);
                if pending {
                    self.inner.wake.notify_one();
                }
                Ok(stored.record)
            }
            Inserted::Duplicate(existing) => {
                let same = existing.record.rating == stored.record.rating
                    && existing.record.comment == stored.record.comment;
                if same {
                    Ok(existing.record)
                } else {
                    Err(FeedbackError::IdempotencyConflict)
                }
            }
        }
    }

    /// One page of a session's feedback, newest first.
    pub async fn list(
        &self,
        session: &SessionId,
        page: PageRequest,
    ) -> Result<FeedbackPage, FeedbackError> {
        let (items, more) = self
            .inner
            .store
            .list(session, &page)
            .await
            .map_err(|e| self.store_failed(e))?;
        let next_cursor = if more {
            items.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(FeedbackPage { items, next_cursor })
    }

    /// Reports an unreachable store in `/readyz` at once, without waiting for the probe.
    fn store_failed(&self, e: StoreError) -> FeedbackError {
        match e {
            StoreError::Unavailable(message) => {
                let backend = self.inner.store.backend();
                self.inner
                    .health
                    .set("mongodb", ComponentStatus::down(backend, &message));
                FeedbackError::Unavailable(message)
            }
            StoreError::Other(e) => FeedbackError::Internal(e),
        }
    }
}

/// The creation time encoded in a UUIDv7 (millisecond precision), so ordering records by
/// id and by `created_at` agree, and the time survives MongoDB's millisecond dates.
fn creation_time(id: Uuid) -> Result<DateTime<Utc>, FeedbackError> {
    let (secs, nanos) = id
        .get_timestamp()
        .context("a UUIDv7 has a timestamp")
        .map_err(FeedbackError::Internal)?
        .to_unix();
    i64::try_from(secs)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, nanos))
        .context("UUIDv7 timestamp out of range")
        .map_err(FeedbackError::Internal)
}

/// Keeps the `mongodb` and `sns` readiness current, including recovery after an outage.
async fn probe(store: Store, notifier: Option<Notifier>, health: Health, stop: CancellationToken) {
    loop {
        let status = match store.ping().await {
            Ok(()) => ComponentStatus::ok(store.backend()),
            Err(e) => ComponentStatus::down(store.backend(), e),
        };
        health.set("mongodb", status);
        if let Some(notifier) = &notifier {
            let status = match notifier.check().await {
                Ok(()) => ComponentStatus::ok("sns"),
                Err(e) => ComponentStatus::degraded("sns", format!("{e:#}")),
            };
            health.set("sns", status);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_time_is_the_uuid_millisecond() {
        let before = Utc::now();
        let id = Uuid::now_v7();
        let after = Utc::now();
        let t = creation_time(id).unwrap();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
        assert!(t >= before - chrono::TimeDelta::milliseconds(1) && t <= after);
    }
}
