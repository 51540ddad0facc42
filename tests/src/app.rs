//! A gateway running in this process on `127.0.0.1:0`, reached over real HTTP.

use std::time::Duration;

use clap::Parser;
use gateway::config::{Config, TopicRoute};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    stop: oneshot::Sender<()>,
    served: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// Starts a gateway in the embedded mode (in-memory store, SNS and SQS off, whatever
    /// the environment says), after `configure` changed its configuration.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::try_parse_from(["gateway"]).expect("the default configuration");
        config.sqs_metadata_queue_url = None;
        config.mongodb_uri = None;
        config.sns_topic_feedback_good = TopicRoute::Disabled;
        config.sns_topic_feedback_bad = TopicRoute::Disabled;
        config.sns_topic_feedback_neutral = TopicRoute::Disabled;
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway::run(config, listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            http,
            stop,
            served,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Shuts the gateway down gracefully and returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.served.await.expect("the gateway task panicked")
    }

    /// `POST /v1/sessions/{session}/feedback` with a JSON body.
    pub async fn post_feedback(
        &self,
        session: &str,
        body: serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(&format!("/v1/sessions/{session}/feedback")))
            .json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("the gateway answers")
    }

    /// `GET /v1/sessions/{session}/feedback{query}`, expected to succeed.
    pub async fn list_feedback(&self, session: &str, query: &str) -> shared_types::FeedbackPage {
        let response = self
            .http
            .get(self.url(&format!("/v1/sessions/{session}/feedback{query}")))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        response.json().await.expect("a FeedbackPage")
    }

    /// `GET /readyz`: its status code and body.
    pub async fn readyz(&self) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url("/readyz")).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}
