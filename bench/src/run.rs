//! One measured run: open every subscriber, wait until all are connected, publish, wait
//! for the deliveries (at most `drain_secs` after the last publish), and add it all up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::{Config, PublishVia, TargetKind};
use crate::plan::Plan;
use crate::publish::{self, Publisher};
use crate::report::Report;
use crate::sqs::SqsPublisher;
use crate::target::Target;
use crate::{procstat, subscribe};

/// Longest wait for all subscribers to be connected before publishing starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(config: &Config) -> Result<Report> {
    ensure!(
        config.events >= config.sessions,
        "--events must be at least --sessions, so that every session gets an event"
    );
    let plan = Arc::new(Plan::new(
        &config.label,
        config.sessions,
        config.events,
        config.payload_bytes,
    ));
    // Subscribers go round-robin to `--url` and every `--also-subscribe-url`.
    let mut subscribe_targets = vec![Target::new(config)?];
    for url in &config.also_subscribe_url {
        let node = Config {
            url: url.clone(),
            ..config.clone()
        };
        subscribe_targets.push(Target::new(&node)?);
    }
    let publisher = match config.via {
        PublishVia::Http => Publisher::Http(Target::new(config)?),
        PublishVia::Sqs => {
            ensure!(
                config.target == TargetKind::Gateway,
                "--via sqs publishes to the gateway's metadata queue; use --target gateway"
            );
            let queue = config
                .queue_url
                .clone()
                .context("--via sqs needs --queue-url")?;
            Publisher::Sqs(SqsPublisher::new(queue).await)
        }
    };

    let start = Instant::now();
    let before = procstat::sample(&config.pid);
    let (connected, mut connections) = mpsc::channel(config.subscribers as usize);
    let (stop, stopped) = watch::channel(false);
    let shared = subscribe::Shared {
        client: reqwest::Client::new(),
        start,
        connecting: Arc::new(Semaphore::new(config.connect_concurrency as usize)),
        connected,
        stop: stopped,
    };
    let mut subscribers = JoinSet::new();
    let mut expected = 0;
    for subscriber in 0..config.subscribers as usize {
        let session = subscriber % plan.sessions.len();
        let last_seq = plan.last_seq(session).expect("every session gets an event");
        expected += plan.events_of(session);
        let target = &subscribe_targets[subscriber % subscribe_targets.len()];
        let url = target.subscribe_url(&plan.sessions[session]);
        subscribers.spawn(subscribe::run(url, last_seq, shared.clone()));
    }
    drop(shared);
    for _ in 0..config.subscribers {
        if tokio::time::timeout(CONNECT_TIMEOUT, connections.recv())
            .await
            .ok()
            .flatten()
            .is_none()
        {
            let _ = stop.send(true);
            bail!("subscribers were not all connected within {CONNECT_TIMEOUT:?}");
        }
    }

    let published = publish::run(
        Arc::new(publisher),
        plan.clone(),
        config.rate,
        config.concurrency,
        start,
    )
    .await;

    let mut outcomes = Vec::with_capacity(config.subscribers as usize);
    let drain_until = tokio::time::Instant::now() + config.drain();
    loop {
        match tokio::time::timeout_at(drain_until, subscribers.join_next()).await {
            Ok(Some(outcome)) => outcomes.push(outcome.context("subscriber task")?),
            Ok(None) => break,
            Err(_) => {
                let _ = stop.send(true);
                while let Some(outcome) = subscribers.join_next().await {
                    outcomes.push(outcome.context("subscriber task")?);
                }
                break;
            }
        }
    }
    let after = procstat::sample(&config.pid);
    let target_cost = before
        .zip(after)
        .map(|(before, after)| procstat::ProcSample {
            cpu: after.cpu.saturating_sub(before.cpu),
            peak_rss_kib: after.peak_rss_kib,
        });
    Report::new(config, expected, &published, &outcomes, target_cost)
}
