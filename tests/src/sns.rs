//! Reading what is published to SNS: an SQS queue subscribed to a topic (without raw
//! delivery, so the subject and attributes arrive in the notification envelope).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

use crate::{unique, Services};

/// An SNS notification as an SQS subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    #[serde(default)]
    pub message_attributes: BTreeMap<String, Attribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    #[serde(rename = "Type")]
    pub kind: String,
    pub value: String,
}

impl Attribute {
    pub fn string(value: &str) -> Self {
        Self {
            kind: "String".into(),
            value: value.into(),
        }
    }
}

/// An SNS topic with a fresh SQS queue subscribed to it.
pub struct TopicTap {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl TopicTap {
    /// Creates (or reuses) the topic `name` and subscribes a new queue to it.
    pub async fn create(services: &Services, name: &str) -> Self {
        let sns = services.sns().await;
        let sqs = services.sqs().await;
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("creating the topic")
            .topic_arn
            .expect("a topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("tap"))
            .send()
            .await
            .expect("creating the queue")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("reading the queue ARN")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("a queue ARN");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribing the queue");
        Self {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Receives (and deletes) notifications until `count` arrived or `within` passed.
    pub async fn receive(&self, count: usize, within: Duration) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + within;
        let mut received = Vec::new();
        while received.len() < count && tokio::time::Instant::now() < deadline {
            let answer = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receiving from the tap queue");
            for message in answer.messages.unwrap_or_default() {
                let body = message.body.expect("a message body");
                received.push(serde_json::from_str(&body).expect("an SNS envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.expect("a receipt handle"))
                    .send()
                    .await
                    .expect("deleting from the tap queue");
            }
        }
        received
    }
}
