//! Depth and age of the metadata queue and its dead-letter queue, read on an interval
//! (`QUEUE_STATS_INTERVAL_SECONDS`) for the metrics and `/ops`.
//!
//! Depth is SQS's `ApproximateNumberOfMessages` (visible) and `…NotVisible` (in flight).
//! SQS has no oldest-message attribute (CloudWatch's `ApproximateAgeOfOldestMessage` is
//! the AWS-side figure, alarmed in deploy/cloudformation.yaml), and peeking would count
//! receives towards the DLQ, so the age is what this gateway sees: for the metadata
//! queue, the age (`SentTimestamp`) of the oldest message its pollers received during the
//! last interval, growing by the interval while messages wait and none is received; for
//! the DLQ, how long it has not been empty.
//!
//! The DLQ is `SQS_METADATA_DLQ_URL`, or the target of the metadata queue's redrive
//! policy, looked up until found.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics;

/// No message received since the last sample.
const NONE_SEEN: i64 = i64::MAX;

/// What one queue looked like at the last read.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct QueueStats {
    pub url: String,
    pub visible: u64,
    pub in_flight: u64,
    pub oldest_age_seconds: f64,
    /// When the queue was last read successfully.
    pub read_at: Option<DateTime<Utc>>,
    /// Why the last read failed, if it did.
    pub error: Option<String>,
}

impl QueueStats {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub metadata: QueueStats,
    /// `None` until a DLQ is configured or found.
    pub dlq: Option<QueueStats>,
    /// Receives before SQS moves a message to the DLQ (from the redrive policy).
    pub max_receive_count: Option<u64>,
}

/// Reads the queues' attributes; cheap to clone.
#[derive(Clone)]
pub struct QueueMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    stats: RwLock<Stats>,
    /// Oldest `SentTimestamp` (ms) the pollers received since the last sample.
    oldest_sent_ms: AtomicI64,
    /// When the DLQ was first seen non-empty (for its age).
    dlq_nonempty_since: RwLock<Option<DateTime<Utc>>>,
}

impl QueueMonitor {
    /// Reads both queues once, then every `interval` until `stop`.
    pub async fn start(
        client: Client,
        metadata_url: String,
        dlq_url: Option<String>,
        interval: Duration,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let monitor = Self {
            inner: Arc::new(Inner {
                client,
                stats: RwLock::new(Stats {
                    metadata: QueueStats {
                        url: metadata_url,
                        ..QueueStats::default()
                    },
                    dlq: dlq_url.map(|url| QueueStats {
                        url,
                        ..QueueStats::default()
                    }),
                    max_receive_count: None,
                }),
                oldest_sent_ms: AtomicI64::new(NONE_SEEN),
                dlq_nonempty_since: RwLock::new(None),
            }),
        };
        monitor.sample(interval).await;
        let looper = monitor.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => looper.sample(interval).await,
                }
            }
        });
        monitor
    }

    /// Called by the pollers with each received message's `SentTimestamp`.
    pub fn saw_sent(&self, sent_ms: i64) {
        self.inner
            .oldest_sent_ms
            .fetch_min(sent_ms, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats.read().expect("stats lock").clone()
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Reads the queues now (also after a redrive, so `/ops` shows the result at once).
    pub async fn refresh(&self) {
        self.sample(Duration::ZERO).await;
    }

    async fn sample(&self, interval: Duration) {
        let now = Utc::now();
        let (metadata_url, dlq_url) = {
            let stats = self.stats();
            (stats.metadata.url, stats.dlq.map(|d| d.url))
        };
        let metadata = self.read(&metadata_url, true).await;
        let oldest_sent = self.inner.oldest_sent_ms.swap(NONE_SEEN, Ordering::Relaxed);
        let mut stats = self.stats();
        match metadata {
            Ok((visible, in_flight, redrive)) => {
                let previous_age = stats.metadata.oldest_age_seconds;
                let age = if visible + in_flight == 0 {
                    0.0
                } else if oldest_sent != NONE_SEEN {
                    ((now.timestamp_millis() - oldest_sent) as f64 / 1000.0).max(0.0)
                } else if visible > 0 {
                    previous_age + interval.as_secs_f64()
                } else {
                    previous_age
                };
                stats.metadata = QueueStats {
                    url: metadata_url,
                    visible,
                    in_flight,
                    oldest_age_seconds: age,
                    read_at: Some(now),
                    error: None,
                };
                if let Some((target_arn, max_receive_count)) = redrive {
                    stats.max_receive_count = Some(max_receive_count);
                    if stats.dlq.is_none() {
                        stats.dlq = self.find_dlq(&target_arn).await.map(|url| QueueStats {
                            url,
                            ..QueueStats::default()
                        });
                    }
                }
                export("metadata", &stats.metadata);
            }
            Err(error) => stats.metadata.error = Some(error),
        }
        if let Some(dlq) = stats.dlq.as_mut() {
            let url = dlq_url.unwrap_or_else(|| dlq.url.clone());
            match self.read(&url, false).await {
                Ok((visible, in_flight, _)) => {
                    let mut since = self.inner.dlq_nonempty_since.write().expect("dlq lock");
                    let age = if visible + in_flight == 0 {
                        *since = None;
                        0.0
                    } else {
                        let since = *since.get_or_insert(now);
                        (now - since).num_milliseconds() as f64 / 1000.0
                    };
                    *dlq = QueueStats {
                        url,
                        visible,
                        in_flight,
                        oldest_age_seconds: age,
                        read_at: Some(now),
                        error: None,
                    };
                    export("dlq", dlq);
                }
                Err(error) => dlq.error = Some(error),
            }
        }
        *self.inner.stats.write().expect("stats lock") = stats;
    }

    /// Visible and in-flight counts, and the redrive policy's target ARN and
    /// `maxReceiveCount` when asked for.
    async fn read(
        &self,
        url: &str,
        with_redrive: bool,
    ) -> Result<(u64, u64, Option<(String, u64)>), String> {
        let mut request = self
            .inner
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        if with_redrive {
            request = request.attribute_names(QueueAttributeName::RedrivePolicy);
        }
        let output = metrics::timed(
            metrics::SQS_CALL_DURATION,
            "get_queue_attributes",
            request.send(),
        )
        .await
        .map_err(|e| {
            ::metrics::counter!(metrics::SQS_ERRORS, "op" => "get_queue_attributes").increment(1);
            aws_sdk_sqs::error::DisplayErrorContext(e).to_string()
        })?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: &QueueAttributeName| {
            attributes
                .get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let redrive = attributes
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|policy| parse_redrive_policy(policy));
        Ok((
            count(&QueueAttributeName::ApproximateNumberOfMessages),
            count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            redrive,
        ))
    }

    /// The URL of the queue `arn` names (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
    async fn find_dlq(&self, arn: &str) -> Option<String> {
        let mut parts = arn.rsplitn(3, ':');
        let (name, account) = (parts.next()?, parts.next()?);
        let result = self
            .inner
            .client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await;
        match result {
            Ok(output) => {
                let url = output.queue_url?;
                tracing::info!(dlq = %url, "dead-letter queue found from the redrive policy");
                Some(url)
            }
            Err(e) => {
                tracing::warn!(%arn, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot find the dead-letter queue of the redrive policy");
                None
            }
        }
    }
}

fn export(queue: &'static str, stats: &QueueStats) {
    ::metrics::gauge!(metrics::SQS_QUEUE_MESSAGES, "queue" => queue, "state" => "visible")
        .set(stats.visible as f64);
    ::metrics::gauge!(metrics::SQS_QUEUE_MESSAGES, "queue" => queue, "state" => "in_flight")
        .set(stats.in_flight as f64);
    ::metrics::gauge!(metrics::SQS_QUEUE_OLDEST_AGE, "queue" => queue)
        .set(stats.oldest_age_seconds);
}

/// `{"deadLetterTargetArn": "...", "maxReceiveCount": 5}` (the count may be a string).
fn parse_redrive_policy(policy: &str) -> Option<(String, u64)> {
    let value: serde_json::Value = serde_json::from_str(policy).ok()?;
    let arn = value.get("deadLetterTargetArn")?.as_str()?.to_owned();
    let count = match value.get("maxReceiveCount")? {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some((arn, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_parse_with_numeric_or_string_counts() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:q-dlq";
        assert_eq!(
            parse_redrive_policy(&format!(
                r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#
            )),
            Some((arn.to_owned(), 5))
        );
        assert_eq!(
            parse_redrive_policy(&format!(
                r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"3"}}"#
            )),
            Some((arn.to_owned(), 3))
        );
        assert_eq!(parse_redrive_policy("{}"), None);
        assert_eq!(parse_redrive_policy("not json"), None);
    }
}
