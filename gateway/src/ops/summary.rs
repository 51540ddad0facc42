//! What `/ops` and `/ops/summary` show, built from the metrics (as rendered for
//! Prometheus), the queue monitor, the components' readiness, the alerts and the recent
//! errors. Pure: no I/O here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::alerts::{Alert, Point};
use super::recent::RecentError;
use super::samples::Samples;
use crate::health::ComponentReport;
use crate::ingest::monitor::Stats;
use crate::metrics as m;

/// The counters `/ops` turns into rates, at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub at: DateTime<Utc>,
    pub events_applied: f64,
    pub fanout_buckets: Vec<(f64, f64)>,
    pub fanout_sum: f64,
}

impl Counters {
    pub fn read(at: DateTime<Utc>, samples: &Samples) -> Self {
        Self {
            at,
            events_applied: samples.sum(m::EVENTS_APPLIED, &[]),
            fanout_buckets: samples.buckets(m::FANOUT_LATENCY),
            fanout_sum: samples.sum(&format!("{}_sum", m::FANOUT_LATENCY), &[]),
        }
    }

    fn fanout_count(&self) -> f64 {
        self.fanout_buckets.last().map_or(0.0, |b| b.1)
    }
}

/// What the alert rules read, from one rendering.
pub fn point(at: DateTime<Utc>, samples: &Samples, queues: Option<&Stats>) -> Point {
    Point {
        at,
        dlq_messages: queues
            .and_then(|q| q.dlq.as_ref())
            .map(|d| d.total() as f64),
        metadata_age: queues.map(|q| q.metadata.oldest_age_seconds),
        events_applied_sqs: samples.sum(m::EVENTS_APPLIED, &[("source", "sqs")]),
        sqs_received: samples.sum(m::SQS_RECEIVED, &[]),
        outbox_pending: samples.sum(m::OUTBOX_PENDING, &[]),
        outbox_oldest_age: samples.sum(m::OUTBOX_OLDEST_AGE, &[]),
        components: samples.by_label(m::COMPONENT_UP, "component"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub generated_at: DateTime<Utc>,
    pub version: &'static str,
    /// Open SSE streams on this gateway.
    pub connections: f64,
    pub sessions: f64,
    pub events: Events,
    pub fanout_latency: Latency,
    pub sqs: Sqs,
    /// `None` when SQS ingest is off.
    pub queues: Option<Stats>,
    pub feedback_stored: f64,
    pub notifications: Notifications,
    pub components: BTreeMap<&'static str, ComponentReport>,
    pub alerts: Vec<Alert>,
    pub recent_errors: Vec<RecentError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Events {
    pub applied_total: f64,
    /// Over the interval since `earlier` (0 without one).
    pub per_second: f64,
    pub ignored_total: f64,
}

/// Fan-out latency of the frames written since `earlier`, in seconds (bucket upper
/// bounds for the quantiles); `None` when no frame was written.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub frames: f64,
    pub average: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sqs {
    pub received_total: f64,
    pub applied_total: f64,
    pub deleted_total: f64,
    pub rejected_total: f64,
    pub errors_total: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notifications {
    pub pending: f64,
    pub oldest_pending_age_seconds: f64,
    pub sent_total: f64,
    pub failed_total: f64,
}

/// Everything the summary is built from.
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub samples: &'a Samples,
    /// An earlier reading of the counters, for rates.
    pub earlier: Option<&'a Counters>,
    pub queues: Option<Stats>,
    pub components: BTreeMap<&'static str, ComponentReport>,
    pub alerts: Vec<Alert>,
    pub recent_errors: Vec<RecentError>,
}

pub fn build(inputs: Inputs<'_>) -> Summary {
    let s = inputs.samples;
    let now = Counters::read(inputs.now, s);
    let seconds = inputs
        .earlier
        .map(|e| (now.at - e.at).num_milliseconds() as f64 / 1000.0)
        .filter(|&secs| secs > 0.0);
    let per_second = match (inputs.earlier, seconds) {
        (Some(e), Some(secs)) => (now.events_applied - e.events_applied).max(0.0) / secs,
        _ => 0.0,
    };
    Summary {
        generated_at: inputs.now,
        version: env!("CARGO_PKG_VERSION"),
        connections: s.sum(m::SSE_SUBSCRIBERS, &[]),
        sessions: s.sum(m::SESSIONS, &[]),
        events: Events {
            applied_total: now.events_applied,
            per_second,
            ignored_total: s.sum(m::EVENTS_IGNORED, &[]),
        },
        fanout_latency: latency(&now, inputs.earlier),
        sqs: Sqs {
            received_total: s.sum(m::SQS_RECEIVED, &[]),
            applied_total: s.sum(m::SQS_APPLIED, &[]),
            deleted_total: s.sum(m::SQS_DELETED, &[]),
            rejected_total: s.sum(m::SQS_REJECTED, &[]),
            errors_total: s.sum(m::SQS_ERRORS, &[]),
        },
        queues: inputs.queues,
        feedback_stored: s.sum(m::FEEDBACK_STORED, &[]),
        notifications: Notifications {
            pending: s.sum(m::OUTBOX_PENDING, &[]),
            oldest_pending_age_seconds: s.sum(m::OUTBOX_OLDEST_AGE, &[]),
            sent_total: s.sum(m::NOTIFICATIONS, &[("outcome", "sent")]),
            failed_total: s.sum(m::NOTIFICATIONS, &[("outcome", "failed")]),
        },
        components: inputs.components,
        alerts: inputs.alerts,
        recent_errors: inputs.recent_errors,
    }
}

/// The latency of the frames counted between `earlier` and `now` (all of them without
/// `earlier`).
fn latency(now: &Counters, earlier: Option<&Counters>) -> Latency {
    let before = |le: f64| {
        earlier
            .and_then(|e| e.fanout_buckets.iter().find(|b| b.0 == le))
            .map_or(0.0, |b| b.1)
    };
    let buckets: Vec<(f64, f64)> = now
        .fanout_buckets
        .iter()
        .map(|&(le, count)| (le, (count - before(le)).max(0.0)))
        .collect();
    let frames = now.fanout_count() - earlier.map_or(0.0, Counters::fanout_count);
    let sum = now.fanout_sum - earlier.map_or(0.0, |e| e.fanout_sum);
    let quantile = |q: f64| {
        let rank = q * frames;
        buckets
            .iter()
            .find(|(_, count)| *count >= rank)
            .map(|(le, _)| *le)
            .filter(|le| le.is_finite())
    };
    if frames <= 0.0 {
        return Latency {
            frames: 0.0,
            average: None,
            p50: None,
            p99: None,
        };
    }
    Latency {
        frames,
        average: Some(sum / frames),
        p50: quantile(0.5),
        p99: quantile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn samples(events: u32, fast: u32, slow: u32) -> Samples {
        let total = fast + slow;
        Samples::parse(&format!(
            "gateway_events_applied_total{{source=\"sqs\"}} {events}\n\
             gateway_fanout_latency_seconds_bucket{{le=\"0.001\"}} {fast}\n\
             gateway_fanout_latency_seconds_bucket{{le=\"0.1\"}} {total}\n\
             gateway_fanout_latency_seconds_bucket{{le=\"+Inf\"}} {total}\n\
             gateway_fanout_latency_seconds_sum {}\n\
             gateway_sse_subscribers 4\n",
            fast as f64 * 0.0005 + slow as f64 * 0.05
        ))
    }

    fn inputs<'a>(
        now: DateTime<Utc>,
        samples: &'a Samples,
        earlier: Option<&'a Counters>,
    ) -> Inputs<'a> {
        Inputs {
            now,
            samples,
            earlier,
            queues: None,
            components: BTreeMap::new(),
            alerts: Vec::new(),
            recent_errors: Vec::new(),
        }
    }

    #[test]
    fn rates_and_latency_cover_the_interval_since_the_earlier_reading() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let first = samples(100, 98, 2);
        let earlier = Counters::read(t0, &first);
        let t1 = t0 + TimeDelta::seconds(10);
        let second = samples(150, 148, 52);
        let summary = build(inputs(t1, &second, Some(&earlier)));
        assert_eq!(summary.connections, 4.0);
        assert_eq!(summary.events.applied_total, 150.0);
        assert_eq!(summary.events.per_second, 5.0);
        let latency = summary.fanout_latency;
        assert_eq!(latency.frames, 100.0);
        assert_eq!(latency.p50, Some(0.001), "half of the new frames were fast");
        assert_eq!(latency.p99, Some(0.1));
        assert!((latency.average.unwrap() - 0.02525).abs() < 1e-9);
    }

    #[test]
    fn no_frames_means_no_latency() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let s = samples(1, 0, 0);
        let earlier = Counters::read(t0, &s);
        let summary = build(inputs(t0 + TimeDelta::seconds(5), &s, Some(&earlier)));
        assert_eq!(summary.fanout_latency.frames, 0.0);
        assert_eq!(summary.fanout_latency.p99, None);
        assert_eq!(summary.events.per_second, 0.0);
    }
}
