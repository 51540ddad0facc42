//! The metadata queue's dead-letter queue, for operators: list its messages (body,
//! receive count, why the gateway rejects it) and redrive chosen ones to the metadata
//! queue.
//!
//! Listing receives with a visibility timeout of 0, so the messages stay visible (and
//! their receive count grows by one per look). Redriving is receive → send to the
//! metadata queue → delete from the DLQ, per message (SQS's `StartMessageMoveTask`
//! moves whole queues only, and the SQS API server the tests use lacks it); messages not
//! chosen are made visible again at once. A message is sent before it is deleted, so a
//! failure in between leaves a copy in both queues, never in neither: the hub applies
//! a redelivered change once by its content's timestamps.

use std::collections::HashSet;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ingest::sqs::parse;
use crate::limits::MetadataLimits;

/// Receive calls one listing or redrive makes at most (10 messages each).
const MAX_ROUNDS: usize = 20;
/// Seconds a message being redriven is hidden from other readers.
const REDRIVE_VISIBILITY: i32 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    /// SQS's `ApproximateReceiveCount`, this listing's receive included.
    pub receive_count: Option<u64>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the gateway rejects the body (`None`: it parses, so it failed for another
    /// reason, such as the hub's Redis being unreachable).
    pub rejection: Option<Rejection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

/// Which messages to redrive.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Ids(HashSet<String>),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RedriveReport {
    /// Message ids moved (the DLQ's ids; the metadata queue gives them new ones).
    pub moved: Vec<String>,
    /// Requested ids not found in the DLQ (already moved, or deleted).
    pub not_found: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DlqError(pub String);

/// The DLQ and where its messages go back to.
#[derive(Clone)]
pub struct DeadLetters {
    pub client: Client,
    pub dlq_url: String,
    pub target_url: String,
    pub limits: MetadataLimits,
}

impl DeadLetters {
    /// Up to `max` messages of the DLQ.
    pub async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, DlqError> {
        let mut seen = HashSet::new();
        let mut letters = Vec::new();
        for _ in 0..MAX_ROUNDS {
            if letters.len() >= max {
                break;
            }
            let batch = self.receive(0).await?;
            let mut new = 0;
            for message in batch {
                let id = message.message_id.clone().unwrap_or_default();
                if seen.insert(id) && letters.len() < max {
                    new += 1;
                    letters.push(self.describe(message));
                }
            }
            if new == 0 {
                break;
            }
        }
        Ok(letters)
    }

    /// Moves the chosen messages to the metadata queue.
    pub async fn redrive(&self, selection: Selection) -> Result<RedriveReport, DlqError> {
        let mut report = RedriveReport::default();
        let mut wanted = match &selection {
            Selection::All => HashSet::new(),
            Selection::Ids(ids) => ids.clone(),
        };
        let mut skipped = Vec::new();
        for _ in 0..MAX_ROUNDS {
            if matches!(selection, Selection::Ids(_)) && wanted.is_empty() {
                break;
            }
            let batch = self.receive(REDRIVE_VISIBILITY).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let id = message.message_id.clone().unwrap_or_default();
                let chosen = match &selection {
                    Selection::All => true,
                    Selection::Ids(_) => wanted.remove(&id),
                };
                if chosen {
                    self.move_back(&message).await?;
                    tracing::info!(message_id = %id, "dead-letter message redriven to the metadata queue");
                    report.moved.push(id);
                } else if let Some(receipt) = message.receipt_handle {
                    skipped.push(receipt);
                }
            }
        }
        // Visible again for the next look; a failure here only delays them.
        for receipt in skipped {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.dlq_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await;
        }
        report.not_found = wanted.into_iter().collect();
        report.not_found.sort();
        Ok(report)
    }

    async fn receive(&self, visibility: i32) -> Result<Vec<Message>, DlqError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| DlqError(format!("reading the DLQ: {}", DisplayErrorContext(e))))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Sends `message` to the metadata queue with its attributes, then deletes it here.
    async fn move_back(&self, message: &Message) -> Result<(), DlqError> {
        let attribute = |name: MessageSystemAttributeName| {
            message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&name))
                .cloned()
        };
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.target_url)
            .set_message_body(message.body.clone())
            .set_message_attributes(message.message_attributes.clone());
        if let Some(group) = attribute(MessageSystemAttributeName::MessageGroupId) {
            // A FIFO queue: same group; the DLQ's id keeps a redrive from doubling it.
            send = send
                .message_group_id(group)
                .set_message_deduplication_id(message.message_id.clone());
        }
        send.send().await.map_err(|e| {
            DlqError(format!(
                "sending to the metadata queue: {}",
                DisplayErrorContext(e)
            ))
        })?;
        if let Some(receipt) = &message.receipt_handle {
            self.client
                .delete_message()
                .queue_url(&self.dlq_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| {
                    DlqError(format!(
                        "deleting from the DLQ (the message is now in both queues): {}",
                        DisplayErrorContext(e)
                    ))
                })?;
        }
        Ok(())
    }

    fn describe(&self, message: Message) -> DeadLetter {
        let attribute = |name: MessageSystemAttributeName| {
            message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<i64>().ok())
        };
        let receive_count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| u64::try_from(n).ok());
        let sent_at = attribute(MessageSystemAttributeName::SentTimestamp)
            .and_then(DateTime::from_timestamp_millis);
        let rejection = parse(message.body.as_deref(), &self.limits)
            .err()
            .map(|r| Rejection {
                reason: r.reason,
                detail: r.detail,
            });
        DeadLetter {
            message_id: message.message_id.unwrap_or_default(),
            body: message.body.unwrap_or_default(),
            receive_count,
            sent_at,
            rejection,
        }
    }
}
