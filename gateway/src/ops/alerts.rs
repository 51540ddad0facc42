//! The alert rules of deploy/prometheus/alerts.yml, evaluated in-process on the history
//! of this gateway's own metrics so `/ops` shows them without a Prometheus. Same
//! conditions and `for` durations; one gateway's view (the Prometheus rules take the
//! `max` over every gateway). `GatewayScrapeFailing` needs an outside observer and is
//! left to Prometheus.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// What the rules read from one look at the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// Visible + in-flight messages of the DLQ, when one is known.
    pub dlq_messages: Option<f64>,
    /// Age of the metadata queue's oldest message, when SQS ingest is on.
    pub metadata_age: Option<f64>,
    pub events_applied_sqs: f64,
    pub sqs_received: f64,
    pub outbox_pending: f64,
    pub outbox_oldest_age: f64,
    /// `gateway_component_up` by component.
    pub components: Vec<(String, f64)>,
}

/// An alert whose condition holds: `pending` until it held for the rule's `for`, then
/// `firing`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub name: String,
    pub severity: &'static str,
    pub state: &'static str,
    /// Since when the condition holds.
    pub since: DateTime<Utc>,
    pub summary: String,
}

/// How long each condition must hold before the alert fires (as in alerts.yml).
fn hold(name: &str) -> TimeDelta {
    match name {
        "GatewayDeadLetterQueueNotEmpty" => TimeDelta::minutes(1),
        "GatewayMetadataQueueAgeRising" | "GatewayNoEventsApplied" => TimeDelta::minutes(5),
        "GatewayOutboxOldestPendingTooOld" => TimeDelta::minutes(5),
        "GatewaySNSDown" | "GatewayOutboxBacklog" => TimeDelta::minutes(10),
        _ => TimeDelta::minutes(2),
    }
}

/// The conditions that hold at the newest point of `history` (oldest first): name,
/// severity, summary.
pub fn conditions(history: &[Point]) -> Vec<(String, &'static str, String)> {
    let Some(now) = history.last() else {
        return Vec::new();
    };
    let mut holding = Vec::new();
    let window = |minutes: i64| {
        let start = now.at - TimeDelta::minutes(minutes);
        history.iter().find(|p| p.at >= start).unwrap_or(now)
    };

    if let Some(dlq) = now.dlq_messages.filter(|&n| n > 0.0) {
        holding.push((
            "GatewayDeadLetterQueueNotEmpty".into(),
            "warning",
            format!("{dlq} message(s) in the metadata dead-letter queue"),
        ));
    }
    if let Some(age) = now.metadata_age.filter(|&a| a > 60.0) {
        let before = window(5).metadata_age.unwrap_or(age);
        if age > before {
            holding.push((
                "GatewayMetadataQueueAgeRising".into(),
                "warning",
                format!("Metadata queue's oldest message is {age}s old and rising"),
            ));
        }
    }
    let start = window(10);
    if now.events_applied_sqs - start.events_applied_sqs == 0.0
        && now.sqs_received - start.sqs_received > 0.0
    {
        holding.push((
            "GatewayNoEventsApplied".into(),
            "critical",
            "No session events applied for 10 minutes while SQS delivers messages".into(),
        ));
    }
    for (component, up) in &now.components {
        if *up != 0.0 {
            continue;
        }
        let (name, severity) = match component.as_str() {
            "sqs" => ("GatewaySQSDown", "critical"),
            "mongodb" => ("GatewayMongoDBDown", "critical"),
            "redis" => ("GatewayRedisDown", "critical"),
            "sns" => ("GatewaySNSDown", "warning"),
            _ => continue,
        };
        holding.push((name.into(), severity, format!("cannot reach {component}")));
    }
    if now.outbox_pending > 100.0 {
        holding.push((
            "GatewayOutboxBacklog".into(),
            "warning",
            format!(
                "{} feedback notifications waiting for SNS",
                now.outbox_pending
            ),
        ));
    }
    if now.outbox_oldest_age > 900.0 {
        holding.push((
            "GatewayOutboxOldestPendingTooOld".into(),
            "warning",
            format!(
                "A feedback notification has waited {}s for SNS",
                now.outbox_oldest_age
            ),
        ));
    }
    holding
}

/// Since when each condition has held, across evaluations.
#[derive(Debug, Default)]
pub struct AlertState {
    since: HashMap<String, DateTime<Utc>>,
}

impl AlertState {
    /// Evaluates the rules at the newest point; a condition that stops holding forgets
    /// its start (as Prometheus does).
    pub fn evaluate(&mut self, history: &[Point]) -> Vec<Alert> {
        let Some(now) = history.last().map(|p| p.at) else {
            return Vec::new();
        };
        let holding = conditions(history);
        self.since
            .retain(|name, _| holding.iter().any(|(n, _, _)| n == name));
        holding
            .into_iter()
            .map(|(name, severity, summary)| {
                let since = *self.since.entry(name.clone()).or_insert(now);
                let state = if now - since >= hold(&name) {
                    "firing"
                } else {
                    "pending"
                };
                Alert {
                    name,
                    severity,
                    state,
                    since,
                    summary,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::minutes(minute)
    }

    fn point(minute: i64) -> Point {
        Point {
            at: at(minute),
            dlq_messages: Some(0.0),
            metadata_age: Some(0.0),
            components: vec![("sqs".into(), 1.0), ("mongodb".into(), 1.0)],
            ..Point::default()
        }
    }

    fn names(alerts: &[Alert]) -> Vec<(&str, &str)> {
        alerts.iter().map(|a| (a.name.as_str(), a.state)).collect()
    }

    #[test]
    fn a_dlq_message_is_pending_then_fires_after_a_minute_then_resolves() {
        let mut state = AlertState::default();
        let mut history = vec![point(0)];
        assert!(state.evaluate(&history).is_empty());
        let mut p = point(1);
        p.dlq_messages = Some(2.0);
        history.push(p.clone());
        let alerts = state.evaluate(&history);
        assert_eq!(
            names(&alerts),
            [("GatewayDeadLetterQueueNotEmpty", "pending")]
        );
        assert_eq!(
            alerts[0].summary,
            "2 message(s) in the metadata dead-letter queue"
        );
        p.at = at(2);
        history.push(p);
        assert_eq!(
            names(&state.evaluate(&history)),
            [("GatewayDeadLetterQueueNotEmpty", "firing")]
        );
        history.push(point(3));
        assert!(state.evaluate(&history).is_empty());
    }

    #[test]
    fn a_stuck_consumer_fires_age_rising_and_no_events() {
        let mut state = AlertState::default();
        let history: Vec<Point> = (0..=15)
            .map(|m| {
                let mut p = point(m);
                p.metadata_age = Some(60.0 * m as f64);
                p.sqs_received = 10.0 * m as f64;
                p.events_applied_sqs = 3.0;
                p
            })
            .collect();
        let mut alerts = Vec::new();
        for end in 1..=history.len() {
            alerts = state.evaluate(&history[..end]);
        }
        assert_eq!(
            names(&alerts),
            [
                ("GatewayMetadataQueueAgeRising", "firing"),
                ("GatewayNoEventsApplied", "firing")
            ]
        );
    }

    #[test]
    fn a_draining_queue_and_a_component_back_up_do_not_alert() {
        let mut state = AlertState::default();
        let mut down = point(0);
        down.components = vec![("mongodb".into(), 0.0)];
        down.metadata_age = Some(600.0);
        let mut later = point(3);
        later.metadata_age = Some(300.0);
        let alerts = state.evaluate(&[down.clone()]);
        assert_eq!(names(&alerts), [("GatewayMongoDBDown", "pending")]);
        assert!(state.evaluate(&[down, later]).is_empty());
    }
}
