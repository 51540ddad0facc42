//! The SNS notification of a feedback, byte-compatible with what the backend's
//! subscribers already parse:
//! - Subject: `Virtual Agents Feedback {sentiment} on session {session_id}`
//! - Message: `Session: {session_id}\n\n{comment}`
//! - Attributes: `session_id` and `rating` (`positive` | `negative` | `neutral`), String.
//!
//! The topic is chosen by sentiment; a route set to `none` sends nothing.

use std::time::Duration;

use anyhow::Context;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use shared_types::{FeedbackRecord, Sentiment};

use crate::config::{Config, TopicRoute};

/// SNS rejects subjects over 100 characters.
pub const MAX_SUBJECT_LEN: usize = 100;
/// Entries SNS accepts in one `PublishBatch` call.
pub const MAX_BATCH: usize = 10;
/// A publish that takes longer is treated as failed and retried.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The topic of each sentiment.
#[derive(Debug, Clone)]
pub struct Routes {
    good: TopicRoute,
    bad: TopicRoute,
    neutral: TopicRoute,
}

impl Routes {
    pub fn from_config(config: &Config) -> Self {
        Self {
            good: config.sns_topic_feedback_good.clone(),
            bad: config.sns_topic_feedback_bad.clone(),
            neutral: config.sns_topic_feedback_neutral.clone(),
        }
    }

    pub fn topic(&self, sentiment: Sentiment) -> Option<&str> {
        match sentiment {
            Sentiment::Positive => self.good.arn(),
            Sentiment::Negative => self.bad.arn(),
            Sentiment::Neutral => self.neutral.arn(),
        }
    }

    fn enabled(&self) -> impl Iterator<Item = &str> {
        [&self.good, &self.bad, &self.neutral]
            .into_iter()
            .filter_map(TopicRoute::arn)
    }

    pub fn any_enabled(&self) -> bool {
        self.enabled().next().is_some()
    }
}

/// The subject of a feedback's notification, made acceptable to SNS: printable ASCII
/// only (anything else becomes `?`) and at most [`MAX_SUBJECT_LEN`] characters.
pub fn subject(record: &FeedbackRecord) -> String {
    format!(
        "Virtual Agents Feedback {} on session {}",
        record.sentiment.as_str(),
        record.session_id
    )
    .chars()
    .map(|c| {
        if c == ' ' || c.is_ascii_graphic() {
            c
        } else {
            '?'
        }
    })
    .take(MAX_SUBJECT_LEN)
    .collect()
}

pub fn message(record: &FeedbackRecord) -> String {
    format!("Session: {}\n\n{}", record.session_id, record.comment)
}

/// Publishes notifications to SNS.
#[derive(Clone)]
pub struct Notifier {
    client: aws_sdk_sns::Client,
    routes: Routes,
}

impl Notifier {
    pub fn new(aws: &SdkConfig, routes: Routes) -> Self {
        let config = aws_sdk_sns::config::Builder::from(aws)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(PUBLISH_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: aws_sdk_sns::Client::from_conf(config),
            routes,
        }
    }

    /// Publishes the notifications of `records` (at most [`MAX_BATCH`], all of one
    /// sentiment's topic) with one `PublishBatch` call; one result per record, in order.
    pub async fn publish_batch(&self, records: &[&FeedbackRecord]) -> Vec<anyhow::Result<()>> {
        match self.try_publish_batch(records).await {
            Ok(results) => results,
            Err(e) => {
                let e = format!("{e:#}");
                records
                    .iter()
                    .map(|_| Err(anyhow::anyhow!("{e}")))
                    .collect()
            }
        }
    }

    async fn try_publish_batch(
        &self,
        records: &[&FeedbackRecord],
    ) -> anyhow::Result<Vec<anyhow::Result<()>>> {
        let Some(first) = records.first() else {
            return Ok(Vec::new());
        };
        anyhow::ensure!(records.len() <= MAX_BATCH, "more than {MAX_BATCH} entries");
        let topic = self
            .routes
            .topic(first.sentiment)
            .context("the route of this sentiment is disabled")?;
        let entries = records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                Ok(PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .subject(subject(record))
                    .message(message(record))
                    .message_attributes("session_id", string_attribute(record.session_id.as_str())?)
                    .message_attributes("rating", string_attribute(record.sentiment.as_str())?)
                    .build()?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let call = self
            .client
            .publish_batch()
            .topic_arn(topic)
            .set_publish_batch_request_entries(Some(entries))
            .send();
        let output =
            crate::metrics::timed(crate::metrics::SNS_CALL_DURATION, "publish_batch", call)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("publishing to {topic}: {}", DisplayErrorContext(e))
                })?;
        let mut results: Vec<anyhow::Result<()>> = records.iter().map(|_| Ok(())).collect();
        for failed in output.failed.unwrap_or_default() {
            if let Some(result) = failed
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *result = Err(anyhow::anyhow!(
                    "publishing to {topic}: {} {}",
                    failed.code,
                    failed.message.unwrap_or_default()
                ));
            }
        }
        Ok(results)
    }

    /// Checks that every enabled topic exists and is readable with our credentials.
    pub async fn check(&self) -> anyhow::Result<()> {
        for topic in self.routes.enabled() {
            let call = self.client.get_topic_attributes().topic_arn(topic).send();
            crate::metrics::timed(
                crate::metrics::SNS_CALL_DURATION,
                "get_topic_attributes",
                call,
            )
            .await
            .map_err(|e| anyhow::anyhow!("topic {topic}: {}", DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}

fn string_attribute(value: &str) -> anyhow::Result<MessageAttributeValue> {
    Ok(MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()?)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use clap::Parser;
    use shared_types::{NotificationState, NotificationStatus, Rating, SessionId};

    use super::*;

    fn record(session: &str, rating: Option<Rating>, comment: &str) -> FeedbackRecord {
        FeedbackRecord {
            id: "id".into(),
            session_id: SessionId::parse(session).unwrap(),
            rating,
            sentiment: Sentiment::of(rating),
            comment: comment.into(),
            created_at: Utc::now(),
            notification: NotificationState {
                status: NotificationStatus::Pending,
                attempts: 0,
                sent_at: None,
            },
        }
    }

    #[test]
    fn subject_and_message_match_the_contract() {
        let r = record(
            "user-session-123",
            Some(Rating::Down),
            "too slow\nsecond line",
        );
        assert_eq!(
            subject(&r),
            "Virtual Agents Feedback negative on session user-session-123"
        );
        assert_eq!(
            message(&r),
            "Session: user-session-123\n\ntoo slow\nsecond line"
        );
        assert_eq!(
            subject(&record("s", None, "")),
            "Virtual Agents Feedback neutral on session s"
        );
    }

    #[test]
    fn long_subjects_are_cut_to_what_sns_accepts() {
        let long_id = "a".repeat(shared_types::session_id::MAX_SESSION_ID_LEN);
        let s = subject(&record(&long_id, Some(Rating::Up), ""));
        assert_eq!(s.len(), MAX_SUBJECT_LEN);
        assert!(s.starts_with("Virtual Agents Feedback positive on session aaa"));
        assert!(s.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
    }

    #[test]
    fn routes_follow_the_sentiment_and_none_disables() {
        let good = "arn:aws:sns:us-east-1:123456789012:good";
        let config = Config::try_parse_from([
            "gateway",
            "--sns-topic-feedback-good",
            good,
            "--sns-topic-feedback-bad",
            "none",
            "--sns-topic-feedback-neutral",
            "",
        ])
        .unwrap();
        let routes = Routes::from_config(&config);
        assert_eq!(routes.topic(Sentiment::Positive), Some(good));
        assert_eq!(routes.topic(Sentiment::Negative), None);
        assert_eq!(routes.topic(Sentiment::Neutral), None);
        assert!(routes.any_enabled());
    }
}
