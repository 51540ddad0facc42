//! One measured run: read the target's memory, open every subscriber, wait until all are
//! connected, then either hold them idle (memory per connection) or publish on the
//! open-loop schedule (with a reconnect storm if asked), wait for the deliveries (at most
//! `drain_secs` after the last publish), and add it all up.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::{Config, PublishVia, TargetKind};
use crate::plan::Plan;
use crate::publish::{self, Publisher};
use crate::report::{Measured, Record};
use crate::sqs::SqsPublisher;
use crate::sse_client::Url;
use crate::target::Target;
use crate::{procstat, subscribe, timeline};

/// Longest wait for all subscribers to be connected before publishing starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(config: &Config) -> Result<Record> {
    let idle = config.idle_secs.map(Duration::from_secs);
    ensure!(
        idle.is_some() || config.events >= config.sessions,
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
    let sources = (1..=config.source_addrs)
        .map(|n| Ipv4Addr::new(127, 0, 0, n))
        .collect();

    let start = Instant::now();
    // The target's memory is read before and after the run, never while latencies are
    // measured: reading a process's PSS walks all of its page tables, on the client's
    // core and in the target's memory map, and sampling every 0.5 s added about 1 ms to
    // the p99 of `sessions` (BENCHMARKS.md).
    let before = procstat::sample(&config.pid);
    let (connected, mut connections) = mpsc::channel(config.subscribers as usize);
    let (stop, stopped) = watch::channel(false);
    let (storm, storm_rx) = watch::channel(false);
    let shared = subscribe::Shared {
        sources: Arc::new(sources),
        start,
        connecting: Arc::new(Semaphore::new(config.connect_concurrency as usize)),
        connected,
        stop: stopped,
        storm: storm_rx,
    };
    let mut subscribers = JoinSet::new();
    let mut expected = 0;
    for index in 0..config.subscribers as usize {
        let session = index % plan.sessions.len();
        let last_seq = if idle.is_some() {
            None
        } else {
            expected += plan.events_of(session);
            Some(plan.last_seq(session).expect("every session gets an event"))
        };
        let target = &subscribe_targets[index % subscribe_targets.len()];
        let me = subscribe::Subscriber {
            index,
            url: Url::parse(&target.subscribe_url(&plan.sessions[session]))?,
            session: session as u64,
            sessions: plan.sessions.len() as u64,
            last_seq,
        };
        subscribers.spawn(subscribe::run(me, shared.clone()));
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

    let mut per_connection = None;
    let mut storm_began_ns = None;
    let published = if let Some(idle) = idle {
        // Let the target settle (allocator, lazy buffers), then read it.
        tokio::time::sleep(idle).await;
        per_connection = before
            .zip(procstat::sample(&config.pid))
            .map(|(before, now)| {
                (now.pss_kib as f64 - before.pss_kib as f64) / f64::from(config.subscribers)
            });
        let _ = stop.send(true);
        publish::Outcome::default()
    } else {
        let publishing = tokio::spawn(publish::run(
            Arc::new(publisher),
            plan.clone(),
            config.rate,
            config.concurrency,
            start,
            config.timeline.is_some(),
        ));
        if let Some(after) = config.storm_after_secs {
            tokio::time::sleep(Duration::from_secs_f64(after)).await;
            storm_began_ns = Some(start.elapsed().as_nanos() as u64);
            let _ = storm.send(true);
        }
        publishing.await.context("publisher")?
    };

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
    if let Some(path) = &config.timeline {
        let deliveries = outcomes.iter().flat_map(|o| o.deliveries.iter().copied());
        let csv = timeline::csv(
            config.timeline_slot_ms,
            published.timeline.iter().copied(),
            deliveries,
        );
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let after = procstat::sample(&config.pid);
    Record::new(
        config,
        Measured {
            expected,
            published: &published,
            subscribers: &outcomes,
            cpu: before
                .zip(after)
                .map(|(before, after)| after.cpu.saturating_sub(before.cpu)),
            pss_before: before,
            pss_end_kib: before.and(after).map(|after| after.pss_kib),
            pss_per_connection_kib: per_connection,
            storm_began_ns,
        },
    )
}
