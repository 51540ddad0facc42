//! One subscriber of one session: its initial frames (a snapshot or the replayed events),
//! then the session's live events and heartbeats.
//!
//! Each live event carries its `{epoch}-{seq}` id, and seq grows by one per event, so the
//! subscriber knows its exact position: an event it already has is skipped, and when it
//! lagged (its buffer overflowed), saw a gap (an event lost between nodes) or saw a new
//! epoch, it is caught up from the history — exactly the missed events, or a snapshot
//! when the history no longer holds them.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use shared_types::{EventId, SessionId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::{Receiver, Sender};
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{Frame, Hub, Joined, HEARTBEAT};
use crate::metrics;

pub struct Subscription {
    hub: Hub,
    session_id: SessionId,
    /// The session's channel, to rejoin it at the live end after lagging.
    sender: Sender<Frame>,
    receiver: Receiver<Frame>,
    /// Frames to send before live ones.
    pub(super) pending: VecDeque<Bytes>,
    /// The newest event this subscriber has been sent (or covered by a snapshot).
    position: EventId,
    /// Whether a frame went out since the last heartbeat tick: a busy stream needs no
    /// ping, and a flag is cheaper than resetting the timer on every frame.
    sent_since_tick: bool,
    gauge: metrics::StreamGauge,
}

/// What a live frame means for a subscriber at `position`.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Send,
    Skip,
    CatchUp,
}

fn step(position: EventId, frame: &Frame) -> Step {
    if frame.snapshot {
        Step::Send
    } else if frame.id.epoch != position.epoch || frame.id.seq > position.seq + 1 {
        Step::CatchUp
    } else if frame.id.seq == position.seq + 1 {
        Step::Send
    } else {
        Step::Skip
    }
}

impl Subscription {
    pub(super) fn new(hub: Hub, session_id: SessionId, joined: Joined) -> Self {
        Self {
            hub,
            session_id,
            sender: joined.sender,
            receiver: joined.receiver,
            pending: joined.catch_up.frames.into(),
            position: joined.catch_up.last,
            sent_since_tick: false,
            gauge: metrics::StreamGauge::open(),
        }
    }

    /// The subscriber's SSE byte stream: ends when `stop` is cancelled, or when the hub's
    /// backend cannot be reached to catch the subscriber up (the client reconnects).
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
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                self.sent_since_tick = true;
                return Some(bytes);
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.gauge.closing("shutdown");
                    return None;
                }
                received = self.receiver.recv() => match received {
                    Ok(frame) => match step(self.position, &frame) {
                        Step::Send => {
                            self.position = frame.id;
                            self.sent_since_tick = true;
                            metrics::hot().fanout_latency.record(frame.applied_at.elapsed());
                            return Some(frame.bytes);
                        }
                        Step::Skip => continue,
                        // Boxed here and below: the backend's read is large and rare, and
                        // inline it would size every idle subscriber's stream.
                        Step::CatchUp => Box::pin(self.catch_up("gap")).await?,
                    },
                    Err(RecvError::Lagged(_)) => {
                        // Back to the live end first, then read the history: whatever is
                        // published in between arrives twice and the copy is skipped.
                        self.receiver = self.sender.subscribe();
                        Box::pin(self.catch_up("lagged")).await?;
                    }
                    Err(RecvError::Closed) => {
                        self.gauge.closing("session_closed");
                        return None;
                    }
                },
                _ = ticker.tick() => {
                    if !std::mem::take(&mut self.sent_since_tick) {
                        return Some(HEARTBEAT);
                    }
                }
            }
        }
    }

    /// Queues what brings the subscriber from its position to now.
    async fn catch_up(&mut self, reason: &'static str) -> Option<()> {
        ::metrics::counter!(metrics::SSE_RESYNCS, "reason" => reason).increment(1);
        match self.hub.catch_up(&self.session_id, self.position).await {
            Ok(catch_up) => {
                tracing::debug!(session = %self.session_id, reason, frames = catch_up.frames.len(), "subscriber caught up");
                self.pending.extend(catch_up.frames);
                self.position = catch_up.last;
                Some(())
            }
            Err(err) => {
                tracing::warn!(session = %self.session_id, reason, error = %err, "cannot catch a subscriber up; closing its stream");
                self.gauge.closing("backend_unavailable");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(epoch: u64, seq: u64, snapshot: bool) -> Frame {
        Frame {
            id: EventId { epoch, seq },
            bytes: Bytes::new(),
            snapshot,
            applied_at: std::time::Instant::now(),
        }
    }

    #[test]
    fn live_frames_are_sent_once_in_order_and_gaps_are_caught_up() {
        let at = EventId { epoch: 7, seq: 3 };
        assert_eq!(step(at, &frame(7, 4, false)), Step::Send);
        assert_eq!(step(at, &frame(7, 3, false)), Step::Skip, "already sent");
        assert_eq!(step(at, &frame(7, 1, false)), Step::Skip, "already sent");
        assert_eq!(step(at, &frame(7, 5, false)), Step::CatchUp, "4 is missing");
        assert_eq!(
            step(at, &frame(8, 1, false)),
            Step::CatchUp,
            "a new history"
        );
        assert_eq!(
            step(at, &frame(7, 3, true)),
            Step::Send,
            "a resync snapshot"
        );
    }
}
