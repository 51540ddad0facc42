//! Command line of the load generator. `loadgen --help` is the reference.

use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", version, about, long_about = None)]
pub struct Config {
    /// The server under test; decides the publish and subscribe URLs and bodies.
    #[arg(long, value_enum, default_value_t = TargetKind::Gateway)]
    pub target: TargetKind,

    /// Base URL of the target's subscriber side (and of its publisher side for the
    /// gateway and Nchan), e.g. `http://127.0.0.1:8080`. Loopback only.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// More subscriber-side base URLs, e.g. the other nodes of a gateway cluster: the
    /// subscribers are spread round-robin over `--url` and these, events are published
    /// through `--url` only. Repeat the flag or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub also_subscribe_url: Vec<String>,

    /// Pushpin only: base URL of its publish API (the handler's `push_in_http_port`).
    #[arg(long)]
    pub publish_url: Option<String>,

    /// How events reach the target: its HTTP publish endpoint, or (gateway only) the SQS
    /// metadata queue it consumes.
    #[arg(long, value_enum, default_value_t = PublishVia::Http)]
    pub via: PublishVia,

    /// SQS queue URL for `--via sqs`; the AWS endpoint and credentials come from the
    /// usual `AWS_*` environment variables.
    #[arg(long, env = "SQS_METADATA_QUEUE_URL")]
    pub queue_url: Option<String>,

    /// Sessions (channels) the load is spread over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub sessions: u32,

    /// SSE subscribers in total, spread round-robin over the sessions.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,

    /// Events published in total, spread round-robin over the sessions.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub events: u32,

    /// Events per second over all sessions; 0 publishes as fast as the target accepts.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Publishes in flight at once. Each session is published by one worker, in order,
    /// so a session's events cannot overtake each other.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Filler bytes added to every event's metadata, to vary the message size.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,

    /// Subscriber connections being opened at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_concurrency: u32,

    /// Seconds subscribers keep waiting for missing events after the last publish.
    #[arg(long, default_value_t = 10)]
    pub drain_secs: u64,

    /// Processes of the target (comma-separated pids) whose CPU time and peak RSS are read
    /// from /proc; for nginx, the master and its workers.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Scenario name printed in the result row.
    #[arg(long, default_value = "custom")]
    pub label: String,

    /// Print the markdown table header that matches the result rows, and exit.
    #[arg(long)]
    pub print_header: bool,
}

impl Config {
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    Gateway,
    Nchan,
    Pushpin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishVia {
    Http,
    Sqs,
}
