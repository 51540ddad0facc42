//! Prometheus metrics: the recorder is installed once per process and rendered by
//! `GET /metrics`. Every metric name is a constant here; docs/METRICS.md is the table of
//! their types, labels and meaning.
//!
//! The per-frame fan-out path uses the pre-registered handles of [`hot`]: recording there
//! is an atomic update, with no registry lookup, label formatting or allocation.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metadata events applied to the hub, by `source` (`sqs` | `http`).
pub const EVENTS_APPLIED: &str = "gateway_events_applied_total";
/// Keys or messages ignored because they were stale or duplicate, by `reason`.
pub const EVENTS_IGNORED: &str = "gateway_events_ignored_total";
/// Time from applying an event to handing its frame to a subscriber's response body (or
/// writing it on the subscriber's lane).
pub const FANOUT_LATENCY: &str = "gateway_fanout_latency_seconds";
/// Sessions held by this gateway's in-memory hub.
pub const SESSIONS: &str = "gateway_sessions";
/// SQS messages received from the metadata queue, before parsing.
pub const SQS_RECEIVED: &str = "gateway_sqs_messages_received_total";
/// SQS messages applied to the hub (or recognised as redeliveries).
pub const SQS_APPLIED: &str = "gateway_sqs_messages_applied_total";
/// SQS messages deleted from the metadata queue after being applied.
pub const SQS_DELETED: &str = "gateway_sqs_messages_deleted_total";
/// SQS messages rejected as malformed (left in the queue for the DLQ), by `reason`.
pub const SQS_REJECTED: &str = "gateway_sqs_messages_rejected_total";
/// Changes refused by the session bounds, by `source` and `reason` (`timestamp_in_future`
/// | `session_full` | `snapshot_too_large`).
pub const CHANGES_REFUSED: &str = "gateway_changes_refused_total";
/// Sessions dropped from memory, by `reason` (`idle` | `capacity`).
pub const SESSIONS_EVICTED: &str = "gateway_sessions_evicted_total";
/// SQS receive/delete errors and messages the hub could not apply, by `op`.
pub const SQS_ERRORS: &str = "gateway_sqs_errors_total";
/// Duration of SQS API calls, by `op` (`receive` includes the long-poll wait).
pub const SQS_CALL_DURATION: &str = "gateway_sqs_call_duration_seconds";
/// Messages in a queue, by `queue` (`metadata` | `dlq`) and `state` (`visible` | `in_flight`).
pub const SQS_QUEUE_MESSAGES: &str = "gateway_sqs_queue_messages";
/// Age of the oldest message in a queue, by `queue`.
pub const SQS_QUEUE_OLDEST_AGE: &str = "gateway_sqs_queue_oldest_message_age_seconds";
/// Open SSE streams (one per subscribed session).
pub const SSE_SUBSCRIBERS: &str = "gateway_sse_subscribers";
/// SSE streams opened.
pub const SSE_OPENED: &str = "gateway_sse_streams_opened_total";
/// SSE streams closed, by `reason` (`client_gone` | `shutdown` | `backend_unavailable`).
pub const SSE_CLOSED: &str = "gateway_sse_streams_closed_total";
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
/// Age of the oldest notification waiting in the outbox.
pub const OUTBOX_OLDEST_AGE: &str = "gateway_outbox_oldest_pending_age_seconds";
/// Duration of MongoDB calls, by `op`.
pub const MONGODB_CALL_DURATION: &str = "gateway_mongodb_call_duration_seconds";
/// Duration of SNS calls, by `op`.
pub const SNS_CALL_DURATION: &str = "gateway_sns_call_duration_seconds";
/// HTTP requests answered, by `route` (the matched route template), `method` and `status`.
pub const HTTP_REQUESTS: &str = "gateway_http_requests_total";
/// 1 when a configured component works, 0 when it is down, by `component`.
pub const COMPONENT_UP: &str = "gateway_component_up";
/// Requests refused by access control, by `code` (`token_expired`, `scope_missing`…).
pub const AUTH_REFUSED: &str = "gateway_auth_refused_total";

/// Buckets of the fan-out latency: 50 µs to 1 s.
const FANOUT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Buckets of backend calls: 1 ms to 30 s (an SQS long poll waits up to 20 s).
const CALL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 21.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder on first call (tests start many apps in one process).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let call = |name: &str| Matcher::Full(name.to_owned());
            PrometheusBuilder::new()
                .set_buckets_for_metric(call(FANOUT_LATENCY), FANOUT_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(call(SQS_CALL_DURATION), CALL_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(call(MONGODB_CALL_DURATION), CALL_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(call(SNS_CALL_DURATION), CALL_BUCKETS))
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Handles registered once, for paths that run per frame or per stream.
pub struct Hot {
    pub fanout_latency: Histogram,
    pub sse_subscribers: Gauge,
    pub sse_opened: Counter,
}

/// The pre-registered handles (registered with the recorder on first use).
pub fn hot() -> &'static Hot {
    static HOT: OnceLock<Hot> = OnceLock::new();
    HOT.get_or_init(|| {
        handle();
        Hot {
            fanout_latency: metrics::histogram!(FANOUT_LATENCY),
            sse_subscribers: metrics::gauge!(SSE_SUBSCRIBERS),
            sse_opened: metrics::counter!(SSE_OPENED),
        }
    })
}

/// One open SSE stream: counted open on creation, and closed with its reason however it
/// ends (the client going away drops it without a word).
pub struct StreamGauge {
    close_reason: &'static str,
}

impl StreamGauge {
    pub fn open() -> Self {
        let hot = hot();
        hot.sse_subscribers.increment(1);
        hot.sse_opened.increment(1);
        Self {
            close_reason: "client_gone",
        }
    }

    /// Records why the stream is ending, when the gateway ends it.
    pub fn closing(&mut self, reason: &'static str) {
        self.close_reason = reason;
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        hot().sse_subscribers.decrement(1);
        metrics::counter!(SSE_CLOSED, "reason" => self.close_reason).increment(1);
    }
}

/// Times one backend call into the histogram `name` with label `op`.
pub async fn timed<T>(
    name: &'static str,
    op: &'static str,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = std::time::Instant::now();
    let result = call.await;
    metrics::histogram!(name, "op" => op).record(started.elapsed());
    result
}
