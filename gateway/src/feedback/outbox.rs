//! The notifier: delivers the pending notifications of the store to SNS.
//!
//! Delivery is at least once. A notification is claimed (leased) before it is
//! published, so several gateway instances sharing one MongoDB do not send it twice;
//! only an instance that dies between SNS accepting a message and recording that can
//! cause a duplicate, after the lease expires. Failed publishes are retried with
//! exponential backoff until SNS accepts them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::notify::Notifier;
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
/// Publishes in flight at once: SNS latency, not CPU, limits a serial notifier.
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
            futures::stream::iter(batch)
                .map(|claimed| self.deliver(claimed))
                .buffer_unordered(CONCURRENT_PUBLISHES)
                .try_collect::<()>()
                .await?;
        }
        ::metrics::gauge!(metrics::OUTBOX_PENDING).set(self.store.pending_count().await? as f64);
        let idle = match self.store.next_due().await? {
            Some(due) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
            None => POLL,
        };
        Ok(idle.min(POLL))
    }

    async fn deliver(&self, claimed: StoredFeedback) -> Result<(), StoreError> {
        let record = &claimed.record;
        match self.notifier.publish(record).await {
            Ok(()) => {
                ::metrics::counter!(metrics::NOTIFICATIONS, "outcome" => "sent").increment(1);
                self.health.set("sns", ComponentStatus::ok("sns"));
                tracing::debug!(id = %record.id, session = %record.session_id, "notification sent");
                self.store.mark_sent(&record.id, Utc::now()).await
            }
            Err(e) => {
                ::metrics::counter!(metrics::NOTIFICATIONS, "outcome" => "failed").increment(1);
                self.health
                    .set("sns", ComponentStatus::down("sns", format!("{e:#}")));
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
