//! The SQS metadata queue consumer.
//!
//! `SQS_POLLERS` tasks long-poll the queue (up to 10 messages, `SQS_WAIT_SECONDS`). Each
//! message is parsed as the producer's [`MetadataMessage`] and applied to the hub; only
//! then is it deleted, in one batch per receive, so a crash between the two redelivers it
//! (the hub applies a redelivered `MessageId` once). A message the hub could not apply
//! (its Redis unreachable) is not deleted either, and while the hub is unavailable the
//! pollers do not receive at all.
//!
//! A message that does not parse, whose metadata is over the limits HTTP publishing
//! enforces (`MAX_METADATA_KEYS`, …), or that the hub refuses (a `timestamp` beyond
//! `MAX_CLOCK_SKEW_SECONDS`, a session over `MAX_SESSION_KEYS` or `MAX_SNAPSHOT_BYTES`)
//! is logged with its `MessageId`, counted by reason, and left in the queue (a message
//! only slightly ahead is taken on a later receive, once the clock has caught up): after `maxReceiveCount` receives the queue's redrive policy
//! moves it to the dead-letter queue, where it can be inspected. Errors back off
//! exponentially with jitter. Works with standard and FIFO queues alike (the body is the
//! truth; message attributes are not needed).

use std::time::Duration;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use shared_types::MetadataMessage;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::monitor::QueueMonitor;
use crate::backoff::Backoff;
use crate::config::Config;
use crate::health::{ComponentStatus, Health};
use crate::hub::{ApplyError, Change, Hub, Source};
use crate::limits::MetadataLimits;
use crate::metrics;

const COMPONENT: &str = "sqs";

/// Starts the pollers and the queue monitor, or reports SQS ingest as disabled when no
/// queue is configured.
pub async fn start(
    config: &Config,
    aws: Option<&SdkConfig>,
    hub: Hub,
    health: &Health,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<Option<QueueMonitor>> {
    let Some(queue_url) = config.sqs_metadata_queue_url.clone() else {
        tracing::info!(
            component = COMPONENT,
            backend = "disabled",
            "SQS ingest off (SQS_METADATA_QUEUE_URL unset); publish over HTTP"
        );
        health.set(COMPONENT, ComponentStatus::ok("disabled"));
        return Ok(None);
    };
    let aws = aws.context("SQS_METADATA_QUEUE_URL is set but the AWS configuration is not")?;
    let sqs = Client::new(aws);
    let monitor = QueueMonitor::start(
        sqs.clone(),
        queue_url.clone(),
        config.sqs_metadata_dlq_url.clone(),
        Duration::from_secs(config.queue_stats_interval_seconds),
        tasks,
        stop.clone(),
    )
    .await;
    let poller = Poller {
        client: sqs,
        monitor: monitor.clone(),
        queue_url,
        wait_seconds: i32::from(config.sqs_wait_seconds),
        limits: MetadataLimits::from_config(config),
        hub,
        health: health.clone(),
    };
    tracing::info!(
        component = COMPONENT,
        backend = "sqs",
        queue = %poller.queue_url,
        pollers = config.sqs_pollers,
        "SQS ingest on"
    );
    poller.check_queue().await;
    for _ in 0..config.sqs_pollers {
        let poller = poller.clone();
        let stop = stop.clone();
        tasks.spawn(async move { poller.run(stop).await });
    }
    Ok(Some(monitor))
}

#[derive(Clone)]
struct Poller {
    client: Client,
    /// Told the age of each received message (the queue's age as this gateway sees it).
    monitor: QueueMonitor,
    queue_url: String,
    wait_seconds: i32,
    /// The same bounds on metadata as HTTP publishing: a message over them is rejected.
    limits: MetadataLimits,
    hub: Hub,
    health: Health,
}

impl Poller {
    /// Reports readiness right away instead of after the first long poll.
    async fn check_queue(&self) {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .send();
        let result = metrics::timed(metrics::SQS_CALL_DURATION, "get_queue_attributes", call).await;
        match result {
            Ok(_) => self.health.set(COMPONENT, ComponentStatus::ok("sqs")),
            Err(err) => self.health.set(
                COMPONENT,
                ComponentStatus::down("sqs", aws_sdk_sqs::error::DisplayErrorContext(err)),
            ),
        }
    }

    /// Receives, applies and deletes until `stop`; an in-flight long poll is abandoned.
    async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            if !self.hub.is_available() {
                // Receiving now would only return messages to the queue unapplied and
                // count receives towards the dead-letter queue.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                }
            }
            let receive = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .wait_time_seconds(self.wait_seconds)
                .send();
            let receive = metrics::timed(metrics::SQS_CALL_DURATION, "receive", receive);
            let received = tokio::select! {
                () = stop.cancelled() => return,
                received = receive => received,
            };
            match received {
                Ok(output) => {
                    self.health.set(COMPONENT, ComponentStatus::ok("sqs"));
                    backoff.reset();
                    let messages = output.messages.unwrap_or_default();
                    if !messages.is_empty() {
                        let span = batch_span(&messages);
                        self.handle(messages).instrument(span).await;
                    }
                }
                Err(err) => {
                    let err = aws_sdk_sqs::error::DisplayErrorContext(err);
                    ::metrics::counter!(metrics::SQS_ERRORS, "op" => "receive").increment(1);
                    self.health
                        .set(COMPONENT, ComponentStatus::down("sqs", &err));
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %err, retry_in = ?delay, "SQS receive failed");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Applies every well-formed message, then deletes those in one batch.
    async fn handle(&self, messages: Vec<Message>) {
        ::metrics::counter!(metrics::SQS_RECEIVED).increment(messages.len() as u64);
        tracing::debug!(messages = messages.len(), "SQS batch received");
        let mut applied = Vec::with_capacity(messages.len());
        for message in messages {
            if let Some(sent) = message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|v| v.parse::<i64>().ok())
            {
                self.monitor.saw_sent(sent);
            }
            let message_id = message.message_id.unwrap_or_default();
            match parse(message.body.as_deref(), &self.limits) {
                Ok(parsed) => {
                    let change = Change {
                        session_id: parsed.session_id,
                        event: parsed.event,
                        operation: parsed.operation,
                        metadata: parsed.metadata,
                        timestamp: parsed.timestamp,
                        source: Source::Sqs {
                            message_id: message_id.clone(),
                        },
                    };
                    match self.hub.apply(change).await {
                        Ok(_) => {
                            ::metrics::counter!(metrics::SQS_APPLIED).increment(1);
                            if let Some(receipt) = message.receipt_handle {
                                applied.push((message_id, receipt));
                            }
                        }
                        Err(ApplyError::Refused(refused)) => {
                            ::metrics::counter!(metrics::SQS_REJECTED, "reason" => refused.code())
                                .increment(1);
                            tracing::warn!(
                                %message_id,
                                reason = refused.code(),
                                error = %refused,
                                "SQS message refused by the session bounds, left in the queue for its dead-letter queue"
                            );
                        }
                        Err(ApplyError::Unavailable(error)) => {
                            ::metrics::counter!(metrics::SQS_ERRORS, "op" => "apply").increment(1);
                            tracing::warn!(%message_id, %error, "not applied; the message stays in the queue for redelivery");
                        }
                    }
                }
                Err(rejection) => {
                    ::metrics::counter!(metrics::SQS_REJECTED, "reason" => rejection.reason)
                        .increment(1);
                    tracing::warn!(
                        %message_id,
                        reason = rejection.reason,
                        error = %rejection.detail,
                        "malformed SQS message left in the queue for its dead-letter queue"
                    );
                }
            }
        }
        if !applied.is_empty() {
            self.delete(applied).await;
        }
    }

    /// Deletes applied messages; a failed delete only means a redelivery, which the hub
    /// recognises by `MessageId`.
    async fn delete(&self, applied: Vec<(String, String)>) {
        let entries = applied
            .into_iter()
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let call = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send();
        let result = metrics::timed(metrics::SQS_CALL_DURATION, "delete", call).await;
        if let Ok(output) = &result {
            ::metrics::counter!(metrics::SQS_DELETED).increment(output.successful.len() as u64);
        }
        match result {
            Ok(output) if output.failed.is_empty() => {}
            Ok(output) => {
                ::metrics::counter!(metrics::SQS_ERRORS, "op" => "delete")
                    .increment(output.failed.len() as u64);
                for failed in output.failed {
                    tracing::warn!(code = failed.code, message = ?failed.message, "SQS delete failed; the message will be redelivered");
                }
            }
            Err(err) => {
                ::metrics::counter!(metrics::SQS_ERRORS, "op" => "delete").increment(1);
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "SQS batch delete failed; the messages will be redelivered");
            }
        }
    }
}

/// One span per received batch, naming its messages (ids only: bodies may carry
/// anything the producer put in a session's metadata).
fn batch_span(messages: &[Message]) -> tracing::Span {
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.message_id.as_deref())
        .collect();
    tracing::info_span!("sqs_batch", size = messages.len(), message_ids = ?ids)
}

/// Why a message was rejected: a metric label and the parser's words.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

/// Parses a message body as the producer's message within `limits` (also used to say
/// why a dead-letter message was rejected).
pub(crate) fn parse(
    body: Option<&str>,
    limits: &MetadataLimits,
) -> Result<MetadataMessage, Rejection> {
    let body = body.ok_or(Rejection {
        reason: "empty_body",
        detail: "the message has no body".into(),
    })?;
    let message: MetadataMessage = serde_json::from_str(body).map_err(|err| Rejection {
        reason: match err.classify() {
            serde_json::error::Category::Data => "invalid_message",
            _ => "invalid_json",
        },
        detail: err.to_string(),
    })?;
    limits.check(&message.metadata).map_err(|err| Rejection {
        reason: err.code(),
        detail: err.to_string(),
    })?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> MetadataLimits {
        use clap::Parser;
        MetadataLimits::from_config(&Config::try_parse_from(["gateway"]).unwrap())
    }

    #[test]
    fn rejections_say_why() {
        let parse = |body| parse(body, &limits());
        assert_eq!(parse(None).unwrap_err().reason, "empty_body");
        assert_eq!(parse(Some("{not json")).unwrap_err().reason, "invalid_json");
        let wrong = parse(Some(r#"{"session_id":"s","operation":"upsert","metadata":{},"timestamp":"2024-01-26T10:30:45"}"#)).unwrap_err();
        assert_eq!(wrong.reason, "invalid_message");
        assert!(wrong.detail.contains("upsert"), "{}", wrong.detail);
        let keys: serde_json::Map<_, _> = (0..65).map(|i| (format!("k{i}"), 1.into())).collect();
        let body = serde_json::json!({"session_id": "s", "operation": "update",
            "metadata": keys, "timestamp": "2024-01-26T10:30:45"});
        let too_many = parse(Some(&body.to_string())).unwrap_err();
        assert_eq!(too_many.reason, "metadata_too_many_keys");
    }
}
