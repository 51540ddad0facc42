//! The numbers of one run, as a human summary and as a row of the markdown table that
//! `bench/run.sh` prints and BENCHMARKS.md keeps.

use anyhow::Result;
use hdrhistogram::Histogram;

use crate::config::{Config, PublishVia};
use crate::procstat::ProcSample;
use crate::publish;
use crate::subscribe;

pub struct Report {
    label: String,
    target: String,
    shape: String,
    rate: String,
    delivered: u64,
    expected: u64,
    resyncs: u64,
    subscriber_errors: usize,
    first_subscriber_error: Option<String>,
    publish_failed: u64,
    first_publish_error: Option<String>,
    latency_us: Histogram<u64>,
    deliveries_per_second: f64,
    publishes_per_second: f64,
    target_cost: Option<ProcSample>,
}

/// The columns of [`Report::row`].
pub const HEADER: &str = "| scenario | target | sessions × subs × events | rate/s | delivered / expected | resyncs | p50 ms | p90 ms | p99 ms | max ms | deliveries/s | publishes/s | target CPU s | target peak RSS MiB |\n\
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

impl Report {
    pub fn new(
        config: &Config,
        expected: u64,
        published: &publish::Outcome,
        subscribers: &[subscribe::Outcome],
        target_cost: Option<ProcSample>,
    ) -> Result<Self> {
        let mut latency_us = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
        let mut last_received_ns = published.began_ns;
        for outcome in subscribers {
            for &us in &outcome.latencies_us {
                latency_us.saturating_record(us.max(1));
            }
            last_received_ns = last_received_ns.max(outcome.last_received_ns);
        }
        let per_second = |count: u64, from_ns: u64, to_ns: u64| {
            count as f64 / ((to_ns.saturating_sub(from_ns)).max(1) as f64 / 1e9)
        };
        let errors: Vec<&String> = subscribers
            .iter()
            .filter_map(|o| o.error.as_ref())
            .collect();
        let target = match config.via {
            PublishVia::Http => format!("{:?}", config.target).to_lowercase(),
            PublishVia::Sqs => format!("{:?} via SQS", config.target).to_lowercase(),
        };
        Ok(Self {
            label: config.label.clone(),
            target,
            shape: format!(
                "{} × {} × {}",
                config.sessions, config.subscribers, config.events
            ),
            rate: if config.rate > 0.0 {
                format!("{}", config.rate)
            } else {
                "max".into()
            },
            delivered: latency_us.len(),
            expected,
            resyncs: subscribers.iter().map(|o| o.resyncs).sum(),
            subscriber_errors: errors.len(),
            first_subscriber_error: errors.first().map(|e| e.to_string()),
            publish_failed: published.failed,
            first_publish_error: published.first_error.clone(),
            deliveries_per_second: per_second(
                latency_us.len(),
                published.began_ns,
                last_received_ns,
            ),
            publishes_per_second: per_second(
                published.published,
                published.began_ns,
                published.ended_ns,
            ),
            latency_us,
            target_cost,
        })
    }

    /// Milliseconds at `quantile`, two decimals.
    fn ms(&self, quantile: f64) -> String {
        if self.latency_us.is_empty() {
            return "–".into();
        }
        format!(
            "{:.2}",
            self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
        )
    }

    pub fn row(&self) -> String {
        let (cpu, rss) = match self.target_cost {
            Some(cost) => (
                format!("{:.2}", cost.cpu.as_secs_f64()),
                format!("{:.1}", cost.peak_rss_kib as f64 / 1024.0),
            ),
            None => ("–".into(), "–".into()),
        };
        format!(
            "| {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {} | {} |",
            self.label,
            self.target,
            self.shape,
            self.rate,
            self.delivered,
            self.expected,
            self.resyncs,
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(1.0),
            self.deliveries_per_second,
            self.publishes_per_second,
            cpu,
            rss,
        )
    }

    /// Problems a reader of the table must know about (failed publishes, broken streams).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.publish_failed > 0 {
            problems.push(format!(
                "{} publishes failed, first: {}",
                self.publish_failed,
                self.first_publish_error.as_deref().unwrap_or("?")
            ));
        }
        if self.subscriber_errors > 0 {
            problems.push(format!(
                "{} subscribers failed, first: {}",
                self.subscriber_errors,
                self.first_subscriber_error.as_deref().unwrap_or("?")
            ));
        }
        problems
    }
}
