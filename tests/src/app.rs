//! The gateway inside the test process: `gateway::run` on a listener bound to port 0 (no
//! port race, no prebuilt binary), stopped when the [`App`] is dropped. For tests that do
//! not need to kill or restart the process.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use gateway::config::{Config, TopicRoute};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct App {
    pub addr: SocketAddr,
    pub base_url: String,
    _stop: oneshot::Sender<()>,
}

impl App {
    /// Starts a gateway configured by `args` (command-line flags) on 127.0.0.1:0 and waits
    /// until `/healthz` answers.
    pub async fn start(args: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base_url = format!("http://{addr}");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway::run(config(args), listener, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        for _ in 0..100 {
            assert!(!task.is_finished(), "the gateway stopped: {:?}", task.await);
            let healthz = client.get(format!("{base_url}/healthz")).send();
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_millis(500), healthz).await {
                if r.status().is_success() {
                    return Self {
                        addr,
                        base_url,
                        _stop: stop,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the in-process gateway did not answer /healthz");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// The configuration `args` give, in the embedded mode: the backends the test
/// environment exports (`MONGODB_URI`, …) are switched off so the test depends on `args`
/// alone.
pub fn config(args: &[&str]) -> Config {
    let mut config = Config::try_parse_from(std::iter::once("gateway").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"));
    config.mongodb_uri = None;
    config.sqs_metadata_queue_url = None;
    config.sns_topic_feedback_good = TopicRoute::Disabled;
    config.sns_topic_feedback_bad = TopicRoute::Disabled;
    config.sns_topic_feedback_neutral = TopicRoute::Disabled;
    config
}

/// Runs a gateway on `listener` and returns its result if it stops within a second
/// (`None` if it is still serving).
pub async fn run_briefly(config: Config, listener: TcpListener) -> Option<anyhow::Result<()>> {
    let never = std::future::pending::<()>();
    let run: std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> =
        Box::pin(gateway::run(config, listener, never));
    tokio::time::timeout(Duration::from_secs(1), run).await.ok()
}
