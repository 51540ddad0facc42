//! An SQS queue of the real SQS API server (moto_server) and the producer's messages.

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use crate::{unique, Gateway, Services};

/// The producer's message, byte for byte as documented, for `session` at `second`.
pub fn producer_message(session: &str, operation: &str, metadata: Value, second: u32) -> String {
    format!(
        r#"{{"session_id": "{session}", "event": "metadata_update", "operation": "{operation}", "metadata": {metadata}, "timestamp": "2024-01-26T10:30:{second:02}.123456"}}"#
    )
}

pub struct Queue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl Queue {
    /// A fresh standard queue; `visibility` is how soon an undeleted message reappears.
    pub async fn create(services: &Services, visibility: u32) -> Self {
        Self::create_with(services, &unique("metadata"), visibility, &[]).await
    }

    pub async fn create_with(
        services: &Services,
        name: &str,
        visibility: u32,
        extra: &[(QueueAttributeName, String)],
    ) -> Self {
        let sqs = services.sqs().await;
        let mut request = sqs.create_queue().queue_name(name).attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        );
        for (name, value) in extra {
            request = request.attributes(name.clone(), value);
        }
        let url = request.send().await.unwrap().queue_url.unwrap();
        Self { sqs, url }
    }

    /// A fresh metadata queue whose redrive policy moves a message to a fresh dead-letter
    /// queue after `max_receives` receives: `(queue, dlq)`.
    pub async fn with_dead_letter_queue(
        services: &Services,
        visibility: u32,
        max_receives: u32,
    ) -> (Self, Self) {
        let dlq = Self::create(services, 30).await;
        let redrive = json!({
            "deadLetterTargetArn": dlq.arn().await,
            "maxReceiveCount": max_receives.to_string(),
        });
        let queue = Self::create_with(
            services,
            &unique("metadata"),
            visibility,
            &[(QueueAttributeName::RedrivePolicy, redrive.to_string())],
        )
        .await;
        (queue, dlq)
    }

    /// Receives (and leaves in flight) until `count` bodies arrived or about `seconds`
    /// passed; the bodies, sorted, so a test compares them with what it sent.
    pub async fn receive_bodies(&self, count: usize, seconds: u32) -> Vec<String> {
        let mut bodies = Vec::new();
        for _ in 0..seconds {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            bodies.extend(
                received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.body),
            );
            if bodies.len() >= count {
                break;
            }
        }
        bodies.sort();
        bodies
    }

    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    pub async fn arn(&self) -> String {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone()
    }

    /// A gateway consuming this queue.
    pub async fn gateway(&self, services: &Services) -> Gateway {
        self.gateway_with(services, &[]).await
    }

    /// A gateway consuming this queue, with `extra` settings.
    pub async fn gateway_with(&self, services: &Services, extra: &[(&str, String)]) -> Gateway {
        let mut env = services.aws_env();
        env.push(("SQS_METADATA_QUEUE_URL", self.url.clone()));
        env.extend(extra.iter().cloned());
        Gateway::start(&env).await
    }
}
