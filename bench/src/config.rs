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

    /// Events per second over all sessions. The publisher is open-loop: event `k` is
    /// scheduled at `k / rate` seconds after publishing starts, whatever the target did
    /// with the ones before, and its latency is counted from that scheduled time, so a
    /// stalled target is charged for the whole stall. 0 publishes as fast as the target
    /// accepts (closed-loop: latency from the actual send).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Publishers. Each session is published by one publisher, in order, so a session's
    /// events cannot overtake each other; a publisher behind its schedule sends at once.
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

    /// Idle scenario: publish nothing; hold the subscribers open this many seconds after
    /// the last one connected, then read the target's memory per connection.
    #[arg(long)]
    pub idle_secs: Option<u64>,

    /// Reconnect storm: this many seconds after publishing starts, every subscriber drops
    /// its connection at once and resumes with `Last-Event-ID` while events keep flowing.
    #[arg(long)]
    pub storm_after_secs: Option<f64>,

    /// Loopback source addresses the subscribers are spread over (127.0.0.1, .2, …): one
    /// address has about 28 000 ephemeral ports, too few for 50 000 connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_addrs: u8,

    /// Processes of the target (comma-separated pids) whose CPU time and memory (PSS) are
    /// read from /proc; for nginx, the master and its workers.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Scenario name printed in the result row.
    #[arg(long, default_value = "custom")]
    pub label: String,

    /// Also append the run's record, one JSON line, to this file (`--summarize` reads it).
    #[arg(long)]
    pub record: Option<std::path::PathBuf>,

    /// Also write the run as a timeline to this file (CSV): slots of `--timeline-slot-ms`
    /// of due time, each with its deliveries, how many were later than 5 ms, the latest,
    /// and how far its publishes were behind schedule and waited for an answer. Shows
    /// whether a tail comes from steady queueing or from stalls, and on which side.
    #[arg(long)]
    pub timeline: Option<std::path::PathBuf>,

    /// Width of one timeline slot, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeline_slot_ms: u64,

    /// Print the markdown tables (min / median / max over the repeats) of the JSON records
    /// in this file, and exit.
    #[arg(long)]
    pub summarize: Option<std::path::PathBuf>,
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
