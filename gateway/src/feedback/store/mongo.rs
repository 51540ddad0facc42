//! The MongoDB store. One document per feedback, `_id` = the record id (a UUIDv7
//! string, so `_id` order is creation order). Indexes, created on first use:
//! - `session_id, _id` for listing a session newest first;
//! - `notification.status, next_attempt_at` for the outbox;
//! - unique `session_id, idempotency_key` where a key exists, so a retried POST can
//!   never store a second record, whichever gateway instance it reaches.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Document};
use mongodb::error::{ErrorKind, WriteFailure, RETRYABLE_WRITE_ERROR};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, IndexModel};
use serde::{Deserialize, Serialize};
use shared_types::{
    FeedbackRecord, NotificationState, NotificationStatus, Rating, Sentiment, SessionId,
};
use tokio::sync::OnceCell;

use super::{Inserted, StoreError, StoredFeedback};
use crate::feedback::input::IdempotencyKey;

/// How long a request waits for a reachable server before answering 503, unless the
/// URI sets `serverSelectionTimeoutMS` (the driver's own default is 30 s).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);
const DUPLICATE_KEY: i32 = 11000;

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    collection: Collection<FeedbackDoc>,
    /// Set once the indexes exist; retried on each use until then, so a gateway started
    /// while MongoDB is down gets its indexes when MongoDB comes back.
    indexed: std::sync::Arc<OnceCell<()>>,
}

impl MongoStore {
    /// Parses the URI and builds the client; does not contact the server.
    pub async fn connect(uri: &str, database: &str, collection: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(uri)
            .await
            .context("MONGODB_URI: invalid connection string")?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options
            .app_name
            .get_or_insert_with(|| "session-gateway".to_owned());
        let client = Client::with_options(options).context("MONGODB_URI")?;
        let collection = client.database(database).collection(collection);
        Ok(Self {
            client,
            collection,
            indexed: Default::default(),
        })
    }

    async fn collection(&self) -> Result<&Collection<FeedbackDoc>, StoreError> {
        self.indexed
            .get_or_try_init(|| async {
                let unique_key = IndexOptions::builder()
                    .unique(true)
                    .partial_filter_expression(doc! {"idempotency_key": {"$exists": true}})
                    .build();
                self.collection
                    .create_indexes([
                        IndexModel::builder()
                            .keys(doc! {"session_id": 1, "_id": -1})
                            .build(),
                        IndexModel::builder()
                            .keys(doc! {"notification.status": 1, "next_attempt_at": 1})
                            .build(),
                        IndexModel::builder()
                            .keys(doc! {"session_id": 1, "idempotency_key": 1})
                            .options(unique_key)
                            .build(),
                    ])
                    .await
                    .map_err(|e| classify(e, "creating feedback indexes"))?;
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(&self.collection)
    }

    pub async fn insert(&self, feedback: &StoredFeedback) -> Result<Inserted, StoreError> {
        let collection = self.collection().await?;
        let document = FeedbackDoc::from(feedback);
        match collection.insert_one(&document).await {
            Ok(_) => Ok(Inserted::Created),
            Err(e) if is_duplicate_key(&e) => {
                let key = feedback
                    .idempotency_key
                    .as_ref()
                    .context("duplicate key on a record without idempotency key")?;
                let filter = doc! {
                    "session_id": feedback.record.session_id.as_str(),
                    "idempotency_key": key.as_str(),
                };
                let existing = collection
                    .find_one(filter)
                    .await
                    .map_err(|e| classify(e, "reading the duplicate feedback"))?
                    .context("duplicate feedback vanished")?;
                Ok(Inserted::Duplicate(Box::new(existing.try_into()?)))
            }
            Err(e) => Err(classify(e, "inserting feedback")),
        }
    }

    pub async fn list(
        &self,
        session: &SessionId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FeedbackRecord>, StoreError> {
        let mut filter = doc! {"session_id": session.as_str()};
        if let Some(before) = before {
            filter.insert("_id", doc! {"$lt": before});
        }
        let docs: Vec<FeedbackDoc> = self
            .collection()
            .await?
            .find(filter)
            .sort(doc! {"_id": -1})
            .limit(i64::from(limit))
            .await
            .map_err(|e| classify(e, "listing feedback"))?
            .try_collect()
            .await
            .map_err(|e| classify(e, "listing feedback"))?;
        docs.into_iter()
            .map(|d| StoredFeedback::try_from(d).map(|s| s.record))
            .collect()
    }

    /// One indexed query finds the due records; each is then claimed by a
    /// compare-and-set on the `next_attempt_at` that was read, so of several notifiers
    /// reading the same record only the first to update it wins.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredFeedback>, StoreError> {
        let collection = self.collection().await?;
        let pending = status_bson(NotificationStatus::Pending);
        let due: Vec<FeedbackDoc> = collection
            .find(doc! {
                "notification.status": pending.clone(),
                "next_attempt_at": {"$lte": bson::DateTime::from_chrono(now)},
            })
            .sort(doc! {"next_attempt_at": 1})
            .limit(i64::from(limit))
            .await
            .map_err(|e| classify(e, "finding due notifications"))?
            .try_collect()
            .await
            .map_err(|e| classify(e, "finding due notifications"))?;
        let mut claimed = Vec::with_capacity(due.len());
        for candidate in due {
            let Some(seen) = candidate.next_attempt_at else {
                continue;
            };
            let won = collection
                .find_one_and_update(
                    doc! {
                        "_id": &candidate.id,
                        "notification.status": pending.clone(),
                        "next_attempt_at": seen,
                    },
                    doc! {
                        "$set": {"next_attempt_at": bson::DateTime::from_chrono(lease_until)},
                        "$inc": {"notification.attempts": 1},
                    },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(|e| classify(e, "claiming a notification"))?;
            if let Some(won) = won {
                claimed.push(won.try_into()?);
            }
        }
        Ok(claimed)
    }

    pub async fn mark_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.collection()
            .await?
            .update_one(
                doc! {"_id": id},
                doc! {
                    "$set": {
                        "notification.status": status_bson(NotificationStatus::Sent),
                        "notification.sent_at": bson::DateTime::from_chrono(at),
                    },
                    "$unset": {"next_attempt_at": "", "last_error": ""},
                },
            )
            .await
            .map_err(|e| classify(e, "marking a notification sent"))?;
        Ok(())
    }

    pub async fn reschedule(
        &self,
        id: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.collection()
            .await?
            .update_one(
                doc! {"_id": id},
                doc! {"$set": {
                    "next_attempt_at": bson::DateTime::from_chrono(at),
                    "last_error": error,
                }},
            )
            .await
            .map_err(|e| classify(e, "rescheduling a notification"))?;
        Ok(())
    }

    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first = self
            .collection()
            .await?
            .find_one(pending_filter())
            .sort(doc! {"next_attempt_at": 1})
            .await
            .map_err(|e| classify(e, "finding the next notification"))?;
        Ok(first.and_then(|d| d.next_attempt_at.map(bson::DateTime::to_chrono)))
    }

    pub async fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first = self
            .collection()
            .await?
            .find_one(pending_filter())
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| classify(e, "finding the oldest pending notification"))?;
        Ok(first.map(|d| d.created_at.to_chrono()))
    }

    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        self.collection()
            .await?
            .count_documents(pending_filter())
            .await
            .map_err(|e| classify(e, "counting pending notifications"))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map_err(|e| classify(e, "ping"))?;
        // Also settles the indexes, so the first request after a restart does not wait.
        self.collection().await?;
        Ok(())
    }
}

fn pending_filter() -> Document {
    doc! {"notification.status": status_bson(NotificationStatus::Pending)}
}

fn status_bson(status: NotificationStatus) -> bson::Bson {
    bson::to_bson(&status).expect("a unit enum serializes")
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    matches!(
        e.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY
    )
}

/// Connection problems and errors the server labels retryable (e.g. a primary stepping
/// down) are [`StoreError::Unavailable`]: the client may retry. Anything else is a bug
/// or a misconfiguration.
fn classify(e: mongodb::error::Error, doing: &str) -> StoreError {
    let unreachable = matches!(
        e.kind.as_ref(),
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
    );
    if unreachable || e.contains_label(RETRYABLE_WRITE_ERROR) {
        StoreError::Unavailable(format!("{doing}: {e}"))
    } else {
        StoreError::Other(anyhow::Error::new(e).context(doing.to_owned()))
    }
}

/// The stored document. Times are BSON dates (millisecond precision; record times are
/// created with millisecond precision so they round-trip exactly).
#[derive(Debug, Serialize, Deserialize)]
struct FeedbackDoc {
    #[serde(rename = "_id")]
    id: String,
    session_id: String,
    rating: Option<Rating>,
    sentiment: Sentiment,
    comment: String,
    created_at: bson::DateTime,
    notification: NotificationDoc,
    /// Absent (not null) without a key: the unique index only covers present keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<bson::DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NotificationDoc {
    status: NotificationStatus,
    attempts: i64,
    #[serde(default)]
    sent_at: Option<bson::DateTime>,
}

impl From<&StoredFeedback> for FeedbackDoc {
    fn from(s: &StoredFeedback) -> Self {
        let r = &s.record;
        Self {
            id: r.id.clone(),
            session_id: r.session_id.as_str().to_owned(),
            rating: r.rating,
            sentiment: r.sentiment,
            comment: r.comment.clone(),
            created_at: bson::DateTime::from_chrono(r.created_at),
            notification: NotificationDoc {
                status: r.notification.status,
                attempts: i64::from(r.notification.attempts),
                sent_at: r.notification.sent_at.map(bson::DateTime::from_chrono),
            },
            idempotency_key: s.idempotency_key.as_ref().map(|k| k.as_str().to_owned()),
            next_attempt_at: s.next_attempt_at.map(bson::DateTime::from_chrono),
            last_error: s.last_error.clone(),
        }
    }
}

impl TryFrom<FeedbackDoc> for StoredFeedback {
    type Error = StoreError;

    /// Re-validates what is read back, so a document edited by hand cannot put an
    /// invalid session id or key on the wire.
    fn try_from(d: FeedbackDoc) -> Result<Self, StoreError> {
        let context = || format!("feedback document {:?} is invalid", d.id);
        let session_id = SessionId::parse(d.session_id.as_str()).with_context(context)?;
        let idempotency_key = d
            .idempotency_key
            .as_deref()
            .map(|k| IdempotencyKey::parse(k.as_bytes()))
            .transpose()
            .map_err(|_| anyhow::anyhow!("{}: bad idempotency_key", context()))?;
        Ok(Self {
            record: FeedbackRecord {
                session_id,
                rating: d.rating,
                sentiment: d.sentiment,
                comment: d.comment,
                created_at: d.created_at.to_chrono(),
                notification: NotificationState {
                    status: d.notification.status,
                    attempts: u32::try_from(d.notification.attempts).unwrap_or(u32::MAX),
                    sent_at: d.notification.sent_at.map(bson::DateTime::to_chrono),
                },
                id: d.id,
            },
            idempotency_key,
            next_attempt_at: d.next_attempt_at.map(bson::DateTime::to_chrono),
            last_error: d.last_error,
        })
    }
}
