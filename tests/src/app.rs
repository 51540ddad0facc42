//! The gateway in this test process: `gateway::run` on a port-0 listener, stopped when
//! the [`TestApp`] is dropped. For tests that need no kill or restart; it binds its own
//! listener, so there is no race for a port another test may take.

use std::net::SocketAddr;

use clap::Parser;
use gateway::config::{Config, TopicRoute};
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts the embedded default (memory stores, no SQS, no SNS) with `flags` on top,
    /// e.g. `["--max-streams", "3"]`; the services' environment (`MONGODB_URI`, …) is
    /// ignored so the answers do not depend on it.
    pub async fn spawn(flags: &[&str]) -> Self {
        let mut config =
            Config::try_parse_from(std::iter::once("gateway").chain(flags.iter().copied()))
                .expect("valid flags");
        config.mongodb_uri = None;
        config.sqs_metadata_queue_url = None;
        config.sns_topic_feedback_good = TopicRoute::Disabled;
        config.sns_topic_feedback_bad = TopicRoute::Disabled;
        config.sns_topic_feedback_neutral = TopicRoute::Disabled;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding port 0");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = gateway::run(config, listener, shutdown).await {
                panic!("the gateway failed: {e:#}");
            }
        });
        Self {
            addr,
            base_url: format!("http://{addr}"),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
