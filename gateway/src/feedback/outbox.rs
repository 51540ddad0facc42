//! The notifier: delivers the pending notifications of the store to SNS.
//!
//! Delivery is at least once. A notification is claimed (leased) before it is
//! published, so several gateway instances sharing one MongoDB do not send it twice;
//! only an instance that dies between SNS accepting a message and recording that can
//! cause a duplicate, after the lease expires. Failed publishes are retried with
//! exponential backoff until SNS accepts them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use shared_types::{FeedbackRecord, Sentiment};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::notify::{Notifier, MAX_BATCH};
use super::store::{Store, StoreError, StoredFeedback};
use crate::backoff::Backoff;
use crate::health::{ComponentStatus, Health};
use crate::metrics;

/// How long a claimed notification is hidden from other notifiers: well above the time
/// a batch can take (`BATCH / CONCURRENT_PUBLISHES` rounds of at most the 10 s SNS
/// publish timeout).
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Notifications claimed per store round trip.
const BATCH: u32 = 32;
/// `PublishBatch` calls in flight at once: SNS latency, not CPU, limits a serial notifier.
const CONCURRENT_PUBLISHES: usize = 8;
/// Longest sleep between looks at the store: picks up notifications that another
/// instance stored or that a crashed instance left leased.
const POLL: Duration = Duration::from_secs(5);

pub struct Outbox {
    pub store: Store,
    pub notifier: Notifier,
    /// Signalled when a pending notification is stored, so it goes out at once.
    pub wake: Arc<Notify>,
    /// Retry delays, from the attempt count stored with each notification.
    pub backoff: Backoff,
    pub health: Health,
}

impl Outbox {
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let idle = match self.drain(&stop).await {
                Ok(idle) => idle,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: feedback store failed; retrying");
                    POLL
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// Delivers every due notification; returns how long to sleep until the next one.
    async fn drain(&self, stop: &CancellationToken) -> Result<Duration, StoreError> {
        while !stop.is_cancelled() {
            let now = Utc::now();
            let batch = self.store.claim_due(now, now + LEASE, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            // One PublishBatch call per topic and 10 notifications drains a backlog in a
            // tenth of the calls; several calls are in flight at once.
            let mut by_topic: HashMap<Sentiment, Vec<StoredFeedback>> = HashMap::new();
            for claimed in batch {
                by_topic
                    .entry(claimed.record.sentiment)
                    .or_default()
                    .push(claimed);
            }
            let chunks: Vec<Vec<StoredFeedback>> = by_topic
                .into_values()
                .flat_map(|group| {
                    let mut group = group.into_iter().peekable();
                    std::iter::from_fn(move || {
                        group.peek()?;
                        Some(group.by_ref().take(MAX_BATCH).collect())
                    })
                })
                .collect();
            futures::stream::iter(chunks)
                .map(|chunk| self.deliver(chunk))
                .buffer_unordered(CONCURRENT_PUBLISHES)
                .try_collect::<()>()
                .await?;
        }
        ::metrics::gauge!(metrics::OUTBOX_PENDING).set(self.store.pending_count().await? as f64);
        let oldest = self.store.oldest_pending().await?;
        let age = oldest.map_or(0.0, |t| {
            ((Utc::now() - t).num_milliseconds() as f64 / 1000.0).max(0.0)
        });
        ::metrics::gauge!(metrics::OUTBOX_OLDEST_AGE).set(age);
        let idle = match self.store.next_due().await? {
            Some(due) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
            None => POLL,
        };
        Ok(idle.min(POLL))
    }

    /// Publishes one chunk (one topic, at most [`MAX_BATCH`]) and records each outcome.
    async fn deliver(&self, chunk: Vec<StoredFeedback>) -> Result<(), StoreError> {
        let records: Vec<&FeedbackRecord> = chunk.iter().map(|c| &c.record).collect();
        let results = self.notifier.publish_batch(&records).await;
        for (record, result) in records.into_iter().zip(results) {
            self.settle(record, result).await?;
        }
        Ok(())
    }

    async fn settle(
        &self,
        record: &FeedbackRecord,
        result: anyhow::Result<()>,
    ) -> Result<(), StoreError> {
        match result {
            Ok(()) => {
                ::metrics::counter!(metrics::NOTIFICATIONS, "outcome" => "sent").increment(1);
                self.health.set("sns", ComponentStatus::ok("sns"));
                tracing::debug!(id = %record.id, session = %record.session_id, "notification sent");
                self.store.mark_sent(&record.id, Utc::now()).await
            }
            Err(e) => {
                ::metrics::counter!(metrics::NOTIFICATIONS, "outcome" => "failed").increment(1);
                self.health
                    .set("sns", ComponentStatus::degraded("sns", format!("{e:#}")));
                let attempts = record.notification.attempts;
                // `attempts` counts this failed one: the first failure waits `base`.
                let delay = self.backoff.delay_for(attempts.saturating_sub(1));
                tracing::warn!(id = %record.id, attempts, retry_in = ?delay, error = %format!("{e:#}"), "notification failed");
                let at = Utc::now() + TimeDelta::from_std(delay).unwrap_or(LEASE);
                self.store
                    .reschedule(&record.id, at, &format!("{e:#}"))
                    .await
            }
        }
    }
}
