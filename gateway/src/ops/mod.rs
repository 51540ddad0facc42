//! Operations: what the `/ops` page and `/ops/summary` show, and the dead-letter
//! workflow. No HTTP here (that is `http::ops`).
//!
//! - [`samples`]: the gateway's `/metrics` text read back as numbers.
//! - [`alerts`]: the rules of deploy/prometheus/alerts.yml, evaluated in-process.
//! - [`summary`]: the page's figures, built from the above (pure).
//! - [`recent`]: the last warnings and errors logged.
//! - [`dlq`]: list and redrive dead-letter messages.
//!
//! A background task reads the metrics every [`TICK`] (also folding histogram samples,
//! so the recorder's memory stays bounded when nobody scrapes), keeps
//! [`HISTORY`] of readings for rates and the alerts' windows, and evaluates the alerts.

pub mod alerts;
pub mod dlq;
pub mod recent;
pub mod samples;
pub mod summary;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::health::Health;
use crate::ingest::monitor::QueueMonitor;
use alerts::{Alert, AlertState, Point};
use dlq::DeadLetters;
use samples::Samples;
use summary::{Counters, Inputs, Summary};

/// How often the metrics are read.
const TICK: Duration = Duration::from_secs(5);
/// How much history is kept: the longest alert window (10 min) and some.
const HISTORY: TimeDelta = TimeDelta::minutes(11);
/// The interval `/ops` computes rates over (events/s, fan-out latency).
const RATE_WINDOW: TimeDelta = TimeDelta::seconds(10);

/// The operations service; cheap to clone.
#[derive(Clone)]
pub struct Ops {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: PrometheusHandle,
    health: Health,
    monitor: Option<QueueMonitor>,
    dead_letters: Option<DeadLetters>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    history: VecDeque<(Point, Counters)>,
    alerts: AlertState,
}

impl Ops {
    /// Starts the sampler on `tasks`. `dead_letters` is built lazily from the monitor's
    /// DLQ (it may be found only after SQS answers).
    pub fn start(
        metrics: PrometheusHandle,
        health: Health,
        monitor: Option<QueueMonitor>,
        limits: crate::limits::MetadataLimits,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let dead_letters = monitor.as_ref().map(|m| DeadLetters {
            client: m.client().clone(),
            dlq_url: String::new(),
            target_url: m.stats().metadata.url,
            limits,
        });
        let ops = Self {
            inner: Arc::new(Inner {
                metrics,
                health,
                monitor,
                dead_letters,
                state: Mutex::default(),
            }),
        };
        let sampler = ops.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {
                        sampler.sample();
                    }
                }
            }
        });
        ops
    }

    /// One reading: appended to the history, the alerts evaluated on it. Returns the
    /// reading, the counters of an earlier one for rates, and the alerts.
    fn sample(&self) -> (Samples, Option<Counters>, Vec<Alert>) {
        let now = Utc::now();
        let samples = Samples::parse(&self.inner.metrics.render());
        let queues = self.inner.monitor.as_ref().map(QueueMonitor::stats);
        let point = summary::point(now, &samples, queues.as_ref());
        let counters = Counters::read(now, &samples);
        let mut state = self.inner.state.lock().expect("ops lock");
        // The newest reading at least RATE_WINDOW old, else the oldest there is.
        let earlier = state
            .history
            .iter()
            .rev()
            .map(|(_, c)| c)
            .find(|c| now - c.at >= RATE_WINDOW)
            .or_else(|| state.history.front().map(|(_, c)| c))
            .cloned();
        state.history.push_back((point, counters));
        while state
            .history
            .front()
            .is_some_and(|(p, _)| now - p.at > HISTORY)
        {
            state.history.pop_front();
        }
        let points: Vec<Point> = state.history.iter().map(|(p, _)| p.clone()).collect();
        let alerts = state.alerts.evaluate(&points);
        (samples, earlier, alerts)
    }

    /// The page's figures now (also a reading for the history and the alerts).
    pub fn summary(&self) -> Summary {
        let (samples, earlier, alerts) = self.sample();
        summary::build(Inputs {
            now: Utc::now(),
            samples: &samples,
            earlier: earlier.as_ref(),
            queues: self.inner.monitor.as_ref().map(QueueMonitor::stats),
            components: self.inner.health.snapshot(),
            alerts,
            recent_errors: recent::recent(),
        })
    }

    /// The DLQ, once one is configured or found.
    pub fn dead_letters(&self) -> Option<DeadLetters> {
        let monitor = self.inner.monitor.as_ref()?;
        let dlq = monitor.stats().dlq?;
        let mut letters = self.inner.dead_letters.clone()?;
        letters.dlq_url = dlq.url;
        Some(letters)
    }

    /// Reads the queues again (after a redrive).
    pub async fn refresh_queues(&self) {
        if let Some(monitor) = &self.inner.monitor {
            monitor.refresh().await;
        }
    }
}
