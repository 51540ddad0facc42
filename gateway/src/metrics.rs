//! Prometheus metrics: the recorder is installed once per process and rendered by
//! `GET /metrics`. Metric names are listed here so they are documented in one place.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Metadata events applied to the hub, by `source` (`sqs` | `http`).
pub const EVENTS_APPLIED: &str = "gateway_events_applied_total";
/// Keys or messages ignored because they were stale or duplicate, by `reason`.
pub const EVENTS_IGNORED: &str = "gateway_events_ignored_total";
/// SQS messages rejected as malformed (left in the queue for the DLQ), by `reason`.
pub const SQS_REJECTED: &str = "gateway_sqs_messages_rejected_total";
/// SQS receive/delete errors and messages the hub could not apply, by `op`.
pub const SQS_ERRORS: &str = "gateway_sqs_errors_total";
/// Open SSE streams.
pub const SSE_SUBSCRIBERS: &str = "gateway_sse_subscribers";
/// Open multiplexed SSE connections (`/v1/events`); each holds one stream slot.
pub const SSE_MULTIPLEXED_STREAMS: &str = "gateway_sse_multiplexed_streams";
/// Sessions carried by the open multiplexed connections (each also counts in
/// `gateway_sse_subscribers`).
pub const SSE_MULTIPLEXED_SESSIONS: &str = "gateway_sse_multiplexed_sessions";
/// Subscribers caught up from the history or resynced with a snapshot, by `reason`
/// (`lagged` | `gap` | `redis_recovered`).
pub const SSE_RESYNCS: &str = "gateway_sse_resyncs_total";
/// Feedback stored, by `sentiment`.
pub const FEEDBACK_STORED: &str = "gateway_feedback_stored_total";
/// SNS notifications, by `outcome` (`sent` | `failed`).
pub const NOTIFICATIONS: &str = "gateway_notifications_total";
/// Notifications waiting in the outbox.
pub const OUTBOX_PENDING: &str = "gateway_outbox_pending";
/// Requests refused by access control, by `code` (`token_expired`, `scope_missing`…).
pub const AUTH_REFUSED: &str = "gateway_auth_refused_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder on first call (tests start many apps in one process).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
