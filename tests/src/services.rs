//! The real services the tests talk to, found through the variables that
//! `scripts/services.sh start` writes to `.services/env`.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `scripts/services.sh start && source .services/env` first")
    })
}

/// `MONGODB_URI` of the shared test server.
pub fn mongodb_uri() -> String {
    required("MONGODB_URI")
}

/// The `secantusd-py` binary, for tests that need a MongoDB of their own to stop.
pub fn secantusd_bin() -> String {
    required("SECANTUSD_BIN")
}

/// A name no other test run uses, for databases, topics and queues.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The AWS configuration pointing at the local SQS/SNS server.
pub async fn aws() -> SdkConfig {
    let endpoint = required("AWS_ENDPOINT_URL");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to local services, not {endpoint}"
    );
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An SNS notification as an SQS subscriber without raw delivery receives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    #[serde(default)]
    pub message_attributes: std::collections::BTreeMap<String, Attribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    #[serde(rename = "Type")]
    pub kind: String,
    pub value: String,
}

/// An SNS topic with an SQS queue subscribed to it, to read what is published.
pub struct TopicTap {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl TopicTap {
    /// Creates (or reuses) the topic `name` and subscribes a fresh queue to it.
    pub async fn create(aws: &SdkConfig, name: &str) -> Self {
        let sns = aws_sdk_sns::Client::new(aws);
        let sqs = aws_sdk_sqs::Client::new(aws);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("a topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("tap"))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("a queue ARN");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe the queue");
        Self {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Receives notifications until `count` arrived or `within` passed.
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
                .expect("receive");
            for message in answer.messages.unwrap_or_default() {
                let body = message.body.expect("a body");
                received.push(serde_json::from_str(&body).expect("an SNS envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.expect("a receipt handle"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
        received
    }
}
