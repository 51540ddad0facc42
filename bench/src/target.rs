//! The servers under test: where a subscriber connects and how an event is published over
//! HTTP. The gateway gets `{"operation": "update", "metadata": {…}}` and frames it as
//! `{"session_id", "event", "operation", "metadata", "timestamp"}`; Nchan and Pushpin,
//! which pass the published body through, get that same JSON, so every target's
//! subscribers read `data:` payloads of equal size (the report shows the bytes) and find
//! the sequence number and due time in `data.metadata` on all of them.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::config::{Config, TargetKind};

pub struct Target {
    kind: TargetKind,
    base: String,
    /// Pushpin publishes through a separate API port; the others publish on `base`.
    publish_base: String,
    client: reqwest::Client,
}

impl Target {
    pub fn new(config: &Config) -> Result<Self> {
        let base = config.url.trim_end_matches('/').to_owned();
        let publish_base = match (config.target, &config.publish_url) {
            (TargetKind::Pushpin, Some(url)) => url.trim_end_matches('/').to_owned(),
            (TargetKind::Pushpin, None) => bail!("--target pushpin needs --publish-url"),
            _ => base.clone(),
        };
        Ok(Self {
            kind: config.target,
            base,
            publish_base,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(config.concurrency as usize)
                .build()?,
        })
    }

    /// The SSE endpoint of one session. Nchan and Pushpin serve `/sub/{channel}` as set
    /// up by `bench/nchan.conf` and `bench/pushpin/`.
    pub fn subscribe_url(&self, session: &str) -> String {
        match self.kind {
            TargetKind::Gateway => format!("{}/v1/sessions/{session}/events", self.base),
            TargetKind::Nchan | TargetKind::Pushpin => format!("{}/sub/{session}", self.base),
        }
    }

    /// Publishes one event and waits for the target to accept it.
    pub async fn publish(&self, session: &str, event: &Value) -> Result<()> {
        let request = match self.kind {
            TargetKind::Gateway => self
                .client
                .post(format!("{}/v1/sessions/{session}/metadata", self.base))
                .json(event),
            TargetKind::Nchan => self
                .client
                .post(format!("{}/pub/{session}", self.base))
                .json(&as_framed(session, event)),
            TargetKind::Pushpin => {
                let event = as_framed(session, event);
                let content = format!("event: metadata\ndata: {event}\n\n");
                let body = json!({"items": [{
                    "channel": session,
                    "formats": {"http-stream": {"content": content}},
                }]});
                self.client
                    .post(format!("{}/publish/", self.publish_base))
                    .json(&body)
            }
        };
        let response = request.send().await.context("publish request")?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("publish answered {status}: {body}");
        }
        Ok(())
    }
}

/// The JSON the gateway sends its subscribers for `event`, for the targets that send
/// what was published as it is.
fn as_framed(session: &str, event: &Value) -> Value {
    json!({
        "session_id": session,
        "event": "metadata_update",
        "operation": event["operation"],
        "metadata": event["metadata"],
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    })
}
