//! Publishing through SQS, as the producer does: one `SendMessage` per event, the body in
//! the producer's format. The gateway consumes the queue; what is measured is SQS send →
//! SSE bytes, so the local SQS server's speed bounds the numbers.

use anyhow::{Context, Result};
use aws_config::BehaviorVersion;
use serde_json::{json, Value};

pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsPublisher {
    /// Endpoint, region and credentials come from the `AWS_*` environment variables
    /// (`.services/env` sets them for the local server).
    pub async fn new(queue_url: String) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self {
            client: aws_sdk_sqs::Client::new(&config),
            queue_url,
        }
    }

    /// Sends `event` (`{"operation", "metadata"}`) for `session` in the producer's format.
    pub async fn publish(&self, session: &str, event: &Value) -> Result<()> {
        let body = json!({
            "session_id": session,
            "event": "metadata_update",
            "operation": event["operation"],
            "metadata": event["metadata"],
            "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        });
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .context("SQS SendMessage")?;
        Ok(())
    }
}
