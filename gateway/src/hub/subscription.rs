//! One subscriber of one session: its initial frames (a snapshot or the replayed events),
//! then the session's live events, heartbeats, and a snapshot resync when it falls behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{Frame, Session, HEARTBEAT};
use crate::metrics;

pub struct Subscription {
    session: Arc<Session>,
    receiver: Receiver<Frame>,
    /// Frames to send before live ones.
    pub(super) pending: VecDeque<Bytes>,
    /// The newest seq this subscriber has been sent; live frames up to it are skipped
    /// (they are already covered by a snapshot or a replay).
    last_seq: u64,
    /// Whether a frame went out since the last heartbeat tick: a busy stream needs no
    /// ping, and a flag is cheaper than resetting the timer on every frame.
    sent_since_tick: bool,
    _gauge: SubscriberGauge,
}

impl Subscription {
    pub(super) fn new(
        session: Arc<Session>,
        receiver: Receiver<Frame>,
        initial: Vec<Bytes>,
        last_seq: u64,
    ) -> Self {
        Self {
            session,
            receiver,
            pending: initial.into(),
            last_seq,
            sent_since_tick: false,
            _gauge: SubscriberGauge::new(),
        }
    }

    /// Puts `bytes` (e.g. the `retry:` hint) before everything else.
    pub fn prepend(&mut self, bytes: Bytes) {
        self.pending.push_front(bytes);
    }

    /// The subscriber's SSE byte stream: ends when `stop` is cancelled.
    pub fn into_stream(
        self,
        heartbeat: Duration,
        stop: CancellationToken,
    ) -> impl Stream<Item = Bytes> + Send + 'static {
        let mut ticker = interval_at(Instant::now() + heartbeat, heartbeat);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        futures::stream::unfold(
            (self, ticker, stop),
            |(mut sub, mut ticker, stop)| async move {
                let next = sub.next(&mut ticker, &stop).await?;
                Some((next, (sub, ticker, stop)))
            },
        )
    }

    async fn next(&mut self, ticker: &mut Interval, stop: &CancellationToken) -> Option<Bytes> {
        if let Some(bytes) = self.pending.pop_front() {
            return Some(bytes);
        }
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return None,
                received = self.receiver.recv() => match received {
                    Ok(frame) if frame.id.seq > self.last_seq => {
                        self.last_seq = frame.id.seq;
                        self.sent_since_tick = true;
                        return Some(frame.bytes);
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(session = %self.session.id, missed, "slow subscriber resynced");
                        ::metrics::counter!(metrics::SSE_RESYNCS).increment(1);
                        let frame = self.session.resync(&mut self.receiver);
                        self.last_seq = frame.id.seq;
                        self.sent_since_tick = true;
                        return Some(frame.bytes);
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = ticker.tick() => {
                    if !std::mem::take(&mut self.sent_since_tick) {
                        return Some(HEARTBEAT);
                    }
                }
            }
        }
    }
}

/// Keeps the open-streams gauge right however a stream ends.
struct SubscriberGauge;

impl SubscriberGauge {
    fn new() -> Self {
        ::metrics::gauge!(metrics::SSE_SUBSCRIBERS).increment(1);
        Self
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        ::metrics::gauge!(metrics::SSE_SUBSCRIBERS).decrement(1);
    }
}
