//! The numbers of one run as a [`Record`] (one JSON line, appended to `--record`), and
//! the markdown tables `--summarize` makes of the records of several repeats: one row per
//! scenario and target, each number as median (min–max) over the repeats.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::{Config, PublishVia};
use crate::procstat::ProcSample;
use crate::publish;
use crate::seq::SeqStats;
use crate::stats::{quantile_ms, spread};
use crate::subscribe;

/// One run of one scenario against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub scenario: String,
    pub target: String,
    pub shape: String,
    pub rate: String,
    pub subscribers: u64,
    /// Events the subscribers should have received, over all of them.
    pub expected: u64,
    pub seq: SeqStats,
    pub subscriber_errors: usize,
    pub publish_failed: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The most a publish was sent after its due time (the target held the publisher).
    pub publish_behind_ms: f64,
    pub deliveries_per_second: f64,
    pub publishes_per_second: f64,
    /// Mean bytes of `data:` per delivered event.
    pub data_bytes: Option<f64>,
    pub cpu_s: Option<f64>,
    /// The target's PSS before the subscribers connected, and after the run (it is not
    /// read while latencies are measured).
    pub pss_before_kib: Option<u64>,
    pub pss_end_kib: Option<u64>,
    /// Idle scenario: (PSS with every subscriber connected − PSS before) / subscribers.
    pub pss_per_connection_kib: Option<f64>,
    /// Reconnect storm: from the drop until the last subscriber's stream was open again.
    pub storm_all_live_ms: Option<f64>,
    /// Problems that fail the run: sequence errors, lost events, broken streams.
    pub problems: Vec<String>,
}

/// What a run measured besides the subscribers' outcomes.
pub struct Measured<'a> {
    pub expected: u64,
    pub published: &'a publish::Outcome,
    pub subscribers: &'a [subscribe::Outcome],
    pub cpu: Option<std::time::Duration>,
    pub pss_before: Option<ProcSample>,
    pub pss_end_kib: Option<u64>,
    pub pss_per_connection_kib: Option<f64>,
    pub storm_began_ns: Option<u64>,
}

impl Record {
    pub fn new(config: &Config, m: Measured<'_>) -> Result<Self> {
        let mut latency_us = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
        let mut seq = SeqStats::default();
        let mut data_bytes = 0;
        let mut last_received_ns = m.published.began_ns;
        for outcome in m.subscribers {
            for delivery in &outcome.deliveries {
                latency_us.saturating_record(delivery.latency_us.max(1));
            }
            seq.add(&outcome.seq);
            data_bytes += outcome.data_bytes;
            last_received_ns = last_received_ns.max(outcome.last_received_ns);
        }
        let per_second = |count: u64, from_ns: u64, to_ns: u64| {
            count as f64 / ((to_ns.saturating_sub(from_ns)).max(1) as f64 / 1e9)
        };
        let errors: Vec<&String> = m
            .subscribers
            .iter()
            .filter_map(|o| o.error.as_ref())
            .collect();
        let storm_all_live_ms = m.storm_began_ns.map(|began| {
            m.subscribers
                .iter()
                .filter_map(|o| o.reopened_ns)
                .max()
                .map_or(f64::NAN, |last| last.saturating_sub(began) as f64 / 1e6)
        });
        let mut problems = Vec::new();
        if !seq.is_clean() {
            problems.push(format!(
                "sequence: {} gaps, {} duplicates, {} out of order, {} foreign, {} missing",
                seq.gaps, seq.duplicates, seq.out_of_order, seq.foreign, seq.missing
            ));
        }
        if m.published.failed > 0 {
            problems.push(format!(
                "{} publishes failed, first: {}",
                m.published.failed,
                m.published.first_error.as_deref().unwrap_or("?")
            ));
        }
        if !errors.is_empty() {
            problems.push(format!(
                "{} subscribers failed, first: {}",
                errors.len(),
                errors[0]
            ));
        }
        if let Some(ms) = storm_all_live_ms.filter(|ms| ms.is_nan()) {
            problems.push(format!("no subscriber came back after the storm ({ms})"));
        }
        Ok(Self {
            scenario: config.label.clone(),
            target: match config.via {
                PublishVia::Http => format!("{:?}", config.target).to_lowercase(),
                PublishVia::Sqs => format!("{:?} via SQS", config.target).to_lowercase(),
            },
            shape: format!(
                "{} × {} × {}",
                config.sessions, config.subscribers, config.events
            ),
            rate: if config.idle_secs.is_some() {
                "idle".into()
            } else if config.rate > 0.0 {
                format!("{}", config.rate)
            } else {
                "max".into()
            },
            subscribers: u64::from(config.subscribers),
            expected: m.expected,
            seq,
            subscriber_errors: errors.len(),
            publish_failed: m.published.failed,
            p50_ms: quantile_ms(&latency_us, 0.5),
            p99_ms: quantile_ms(&latency_us, 0.99),
            p999_ms: quantile_ms(&latency_us, 0.999),
            max_ms: quantile_ms(&latency_us, 1.0),
            publish_behind_ms: m.published.behind_max_ns as f64 / 1e6,
            deliveries_per_second: per_second(
                latency_us.len(),
                m.published.began_ns,
                last_received_ns,
            ),
            publishes_per_second: per_second(
                m.published.published,
                m.published.began_ns,
                m.published.ended_ns,
            ),
            data_bytes: (seq.delivered > 0).then(|| data_bytes as f64 / seq.delivered as f64),
            cpu_s: m.cpu.map(|cpu| cpu.as_secs_f64()),
            pss_before_kib: m.pss_before.map(|s| s.pss_kib),
            pss_end_kib: m.pss_end_kib,
            pss_per_connection_kib: m.pss_per_connection_kib,
            storm_all_live_ms,
            problems,
        })
    }

    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
    }

    /// One line for a person watching the run.
    pub fn summary(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
        format!(
            "{} / {}: {} {} rate {}: delivered {} of {}, p50 {} p99 {} p99.9 {} ms, PSS at end {} KiB{}{}{}",
            self.scenario,
            self.target,
            if self.failed() { "FAILED" } else { "ok" },
            self.shape,
            self.rate,
            self.seq.delivered,
            self.expected,
            ms(self.p50_ms),
            ms(self.p99_ms),
            ms(self.p999_ms),
            self.pss_end_kib.map_or("–".into(), |k| k.to_string()),
            self.pss_per_connection_kib
                .map_or(String::new(), |k| format!(", {k:.1} KiB per connection")),
            self.storm_all_live_ms
                .map_or(String::new(), |ms| format!(", all live {ms:.0} ms after the storm")),
            self.problems
                .iter()
                .map(|p| format!("; {p}"))
                .collect::<String>(),
        )
    }

    pub fn append_to(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(self)?)?;
        Ok(())
    }
}

/// The markdown tables of the records in `path`.
pub fn summarize(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let records: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("a record line")?;
    Ok(tables(&records))
}

/// One table per scenario, one row per target (in the order they first appear), every
/// number median (min–max) over the repeats.
pub fn tables(records: &[Record]) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    let mut target_order: Vec<&str> = Vec::new();
    for r in records {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
        if !target_order.contains(&r.target.as_str()) {
            target_order.push(&r.target);
        }
        groups.entry((&r.scenario, &r.target)).or_default().push(r);
    }
    let mut out = String::new();
    for scenario in scenarios {
        let first = records.iter().find(|r| r.scenario == scenario).unwrap();
        let rate = match first.rate.as_str() {
            "idle" => "idle".to_owned(),
            "max" => "as fast as accepted".to_owned(),
            rate => format!("{rate} events/s"),
        };
        out += &format!(
            "\n### {scenario} (sessions × subscribers × events: {}, {rate})\n\n",
            first.shape
        );
        out += "| target | runs (failed) | p50 ms | p99 ms | p99.9 ms | max ms | publish behind ms | delivered / expected | gaps · dups · order · missing | resyncs | data B/event | deliveries/s | CPU s | PSS at end MiB | PSS KiB/conn | all live after storm ms |\n";
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for target in &target_order {
            let Some(runs) = groups.get(&(scenario, *target)) else {
                continue;
            };
            out += &row(target, runs);
            out.push('\n');
        }
    }
    out
}

fn row(target: &str, runs: &[&Record]) -> String {
    let show = |values: Vec<f64>, decimals: usize| {
        spread(values).map_or_else(|| "–".to_owned(), |s| s.show(decimals))
    };
    let opt = |f: fn(&Record) -> Option<f64>, decimals| {
        show(runs.iter().filter_map(|r| f(r)).collect(), decimals)
    };
    let all = |f: fn(&Record) -> f64, decimals| show(runs.iter().map(|r| f(r)).collect(), decimals);
    let failed = runs.iter().filter(|r| r.failed()).count();
    let sum = |f: fn(&SeqStats) -> u64| runs.iter().map(|r| f(&r.seq)).sum::<u64>();
    format!(
        "| {target} | {} ({failed}) | {} | {} | {} | {} | {} | {} / {} | {} · {} · {} · {} | {} | {} | {} | {} | {} | {} | {} |",
        runs.len(),
        opt(|r| r.p50_ms, 2),
        opt(|r| r.p99_ms, 2),
        opt(|r| r.p999_ms, 2),
        opt(|r| r.max_ms, 1),
        all(|r| r.publish_behind_ms, 1),
        sum(|s| s.delivered),
        runs.iter().map(|r| r.expected).sum::<u64>(),
        sum(|s| s.gaps),
        sum(|s| s.duplicates),
        sum(|s| s.out_of_order + s.foreign),
        sum(|s| s.missing),
        sum(|s| s.resyncs),
        opt(|r| r.data_bytes, 0),
        all(|r| r.deliveries_per_second, 0),
        opt(|r| r.cpu_s, 2),
        opt(|r| r.pss_end_kib.map(|k| k as f64 / 1024.0), 1),
        opt(|r| r.pss_per_connection_kib, 1),
        opt(|r| r.storm_all_live_ms.filter(|ms| !ms.is_nan()), 0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str, p50: f64, gaps: u64) -> Record {
        Record {
            scenario: "fanout".into(),
            target: target.into(),
            shape: "1 × 2 × 3".into(),
            rate: "10".into(),
            subscribers: 2,
            expected: 6,
            seq: SeqStats {
                delivered: 6 - gaps,
                gaps,
                ..SeqStats::default()
            },
            subscriber_errors: 0,
            publish_failed: 0,
            p50_ms: Some(p50),
            p99_ms: Some(p50 * 2.0),
            p999_ms: None,
            max_ms: None,
            publish_behind_ms: 0.0,
            deliveries_per_second: 1.0,
            publishes_per_second: 1.0,
            data_bytes: Some(200.0),
            cpu_s: None,
            pss_before_kib: None,
            pss_end_kib: Some(2048),
            pss_per_connection_kib: None,
            storm_all_live_ms: None,
            problems: if gaps > 0 { vec!["gap".into()] } else { vec![] },
        }
    }

    #[test]
    fn repeats_become_one_row_with_their_spread_and_failures() {
        let records = [
            record("gateway", 1.0, 0),
            record("nchan", 5.0, 0),
            record("gateway", 3.0, 1),
            record("gateway", 2.0, 0),
        ];
        let text = tables(&records);
        let gateway = text.lines().find(|l| l.starts_with("| gateway")).unwrap();
        assert!(
            gateway.starts_with("| gateway | 3 (1) | 2.00 (1.00–3.00) | 4.00 (2.00–6.00) | – |"),
            "{gateway}"
        );
        assert!(gateway.contains("| 17 / 18 | 1 · 0 · 0 · 0 |"), "{gateway}");
        let nchan = text.lines().find(|l| l.starts_with("| nchan")).unwrap();
        assert!(nchan.starts_with("| nchan | 1 (0) | 5.00 |"), "{nchan}");
        // A record survives its JSON line.
        let line = serde_json::to_string(&records[2]).unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert!(back.failed());
    }
}
