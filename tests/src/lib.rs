//! Helpers for the end-to-end tests: the real services started by `scripts/services.sh`,
//! the gateway binary as a child process, and an SSE reader.
//!
//! Run the suite with `scripts/test.sh`, which starts the services and builds the gateway
//! first. To run a single test by hand:
//! `scripts/services.sh start && source .services/env && cargo build -p gateway &&
//! cargo test -p e2e-tests --test sqs_to_sse`.

pub mod app;
pub mod feedback;
pub mod proxy;
pub mod redis;
pub mod sns;
pub mod sqs;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Endpoints of the real services, read from the environment `.services/env` exports.
#[derive(Debug, Clone)]
pub struct Services {
    /// moto_server: the SQS + SNS API.
    pub aws_endpoint: String,
    /// secantusd-py: the MongoDB wire server.
    pub mongodb_uri: String,
    /// Binaries for tests that need a private instance they can stop.
    pub moto_bin: PathBuf,
    pub secantusd_bin: PathBuf,
}

impl Services {
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: run the suite with scripts/test.sh, or \
                     `scripts/services.sh start && source .services/env` first"
                )
            })
        };
        Self {
            aws_endpoint: var("AWS_ENDPOINT_URL"),
            mongodb_uri: var("MONGODB_URI"),
            moto_bin: var("MOTO_SERVER_BIN").into(),
            secantusd_bin: var("SECANTUSD_BIN").into(),
        }
    }

    /// Environment that points a gateway at these services' AWS API.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.aws_endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&aws_config(&self.aws_endpoint).await)
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&aws_config(&self.aws_endpoint).await)
    }
}

/// AWS SDK configuration for a local AWS-compatible endpoint with test credentials.
pub async fn aws_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "e2e",
        ))
        .load()
        .await
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

/// `prefix` plus a random suffix, for queue, topic, database and session names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The gateway binary (`target/<profile>/gateway`) running as a child process, so tests
/// can kill it like a crash would and start it again on the same port.
pub struct Gateway {
    pub base_url: String,
    pub port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    logs: Arc<Mutex<String>>,
}

impl Gateway {
    /// Starts the gateway on a free port with `env` on top of a clean environment (no
    /// inherited AWS or MongoDB settings) and waits until `/healthz` answers.
    pub async fn start(env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut gateway = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            child: None,
            logs: Arc::default(),
        };
        gateway.spawn().await;
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET path`, its body as text (any status).
    pub async fn get_text(&self, path: &str) -> String {
        let response = reqwest::get(self.url(path))
            .await
            .expect("the gateway answers");
        response.text().await.expect("a body")
    }

    /// `GET path`, its body as JSON (any status).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.get_text(path).await).expect("a JSON body")
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Everything the process wrote to stdout and stderr so far, across restarts.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing the gateway");
        }
    }

    /// SIGTERM, then waits for a graceful exit (at most 15 s).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
            match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
                Ok(status) => {
                    let status = status.expect("waiting for the gateway");
                    assert!(status.success(), "gateway exited with {status}");
                }
                Err(_) => panic!(
                    "gateway did not stop within 15 s of SIGTERM:\n{}",
                    self.logs()
                ),
            }
        }
    }

    /// Starts the gateway again on the same port with the same environment.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(gateway_binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,gateway=debug")
            .env("LISTEN_ADDR", format!("127.0.0.1:{}", self.port))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("starting the gateway binary");
        collect(child.stdout.take().unwrap(), self.logs.clone());
        collect(child.stderr.take().unwrap(), self.logs.clone());
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("gateway exited with {status}:\n{}", self.logs());
                }
            }
            if client.get(self.url("/healthz")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gateway did not answer /healthz within 15 s:\n{}",
            self.logs()
        );
    }
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, logs: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("E2E_ECHO_GATEWAY_LOGS").is_some() {
                eprintln!("[gateway] {line}");
            }
            let mut logs = logs.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
}

/// Starts the gateway with `env` only and returns what it printed on stderr; panics
/// unless it refused to start.
pub async fn startup_error(env: &[(&str, &str)]) -> String {
    let output = Command::new(gateway_binary())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("running the gateway binary");
    assert!(!output.status.success(), "the gateway started with {env:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `target/<profile>/gateway`, next to the test binary's `deps/` folder. `scripts/test.sh`
/// builds it before the tests; `GATEWAY_BIN` overrides the path.
pub fn gateway_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GATEWAY_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps")
        .join("gateway");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p gateway` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// One server-sent event as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

type EventStream = futures::stream::BoxStream<'static, Result<SseEvent, String>>;

/// A real SSE reader: an HTTP GET whose body is parsed as `text/event-stream`.
pub struct SseStream {
    events: EventStream,
}

impl SseStream {
    /// Opens the stream; panics unless the answer is `200 text/event-stream`.
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        Self::open(request).await
    }

    /// Sends `request` (any method, headers, body) and reads its answer as a stream;
    /// panics unless the answer is `200 text/event-stream`.
    pub async fn open(request: reqwest::RequestBuilder) -> Self {
        use eventsource_stream::Eventsource;
        let response = request
            .send()
            .await
            .expect("connecting to the SSE endpoint");
        let url = response.url().to_string();
        assert_eq!(response.status(), 200, "SSE status for {url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type}"
        );
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|event| {
                event
                    .map(|e| SseEvent {
                        id: (!e.id.is_empty()).then_some(e.id),
                        event: e.event,
                        data: e.data,
                    })
                    .map_err(|e| e.to_string())
            })
            .boxed();
        Self { events }
    }

    /// The next event, or `None` when the stream ended, failed or `timeout` passed.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        match tokio::time::timeout(timeout, self.events.next()).await {
            Ok(Some(Ok(event))) => Some(event),
            _ => None,
        }
    }

    /// The next event, which must have the name `event`.
    pub async fn expect(&mut self, event: &str) -> SseEvent {
        let next = self
            .next(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no `{event}` event within 10 s"));
        assert_eq!(next.event, event, "unexpected event {next:?}");
        next
    }
}

/// A client's view of one session built from its SSE events, as the SDK builds it: a
/// snapshot replaces the view, a `metadata` event merges its keys (`null` deletes). It
/// checks the stream's exactly-once promise on the way: within an epoch each `metadata`
/// event's seq is exactly one more than the last one seen.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct View {
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `(epoch, seq)` of the last event applied.
    pub position: Option<(u64, u64)>,
}

impl View {
    /// Opens the stream at `url` and builds the view from its first event, the snapshot.
    pub async fn subscribe(url: &str) -> (SseStream, Self) {
        let mut stream = SseStream::connect(url, None).await;
        let mut view = Self::default();
        view.apply(&stream.expect("snapshot").await);
        (stream, view)
    }

    pub fn apply(&mut self, event: &SseEvent) {
        let id = event.id.as_deref().expect("every event has an id");
        let (epoch, seq) = id.split_once('-').expect("ids are {epoch}-{seq}");
        let position = (epoch.parse().unwrap(), seq.parse().unwrap());
        let data = event.json();
        match event.event.as_str() {
            "snapshot" => {
                self.metadata = data["metadata"].as_object().unwrap().clone();
            }
            "metadata" => {
                if let Some((epoch, seq)) = self.position {
                    if epoch == position.0 {
                        assert_eq!(
                            position.1,
                            seq + 1,
                            "event {id} after {epoch}-{seq}: a gap or a duplicate"
                        );
                    }
                }
                for (key, value) in data["metadata"].as_object().unwrap() {
                    if value.is_null() {
                        self.metadata.remove(key);
                    } else {
                        self.metadata.insert(key.clone(), value.clone());
                    }
                }
            }
            other => panic!("unexpected event {other}"),
        }
        self.position = Some(position);
    }

    /// Applies events from `stream` until the view equals `expected` (panics after
    /// `patience` without an event).
    pub async fn follow_until(
        &mut self,
        stream: &mut SseStream,
        expected: &serde_json::Map<String, serde_json::Value>,
        patience: Duration,
    ) {
        while &self.metadata != expected {
            let event = stream.next(patience).await.unwrap_or_else(|| {
                panic!(
                    "the view stopped short of the expected state:\n view {:?}\n want {:?}",
                    self.metadata, expected
                )
            });
            self.apply(&event);
        }
    }
}
