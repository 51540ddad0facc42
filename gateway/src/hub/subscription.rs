//! One subscriber of one session: its initial frames (a snapshot or the replayed events),
//! then the session's live events and heartbeats.
//!
//! Each live event carries its `{epoch}-{seq}` id, and seq grows by one per event, so the
//! subscriber knows its exact position: an event it already has is skipped, and when it
//! lagged (its buffer overflowed), saw a gap (an event lost between nodes) or saw a new
//! epoch, it is caught up from the history — exactly the missed events, or a snapshot
//! when the history no longer holds them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use shared_types::{EventId, SessionId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::fanout::{step, Fanout, Lane, LiveSocket, Step};
use super::{Frame, Hub, Joined, HEARTBEAT};
use crate::metrics;

pub struct Subscription {
    hub: Hub,
    session_id: SessionId,
    fanout: Arc<Fanout>,
    receiver: Receiver<Frame>,
    /// Frames to send before live ones.
    pub(super) pending: VecDeque<Bytes>,
    /// The newest event this subscriber has been sent (or covered by a snapshot); while
    /// the lane is armed, the lane holds it.
    position: EventId,
    /// Whether a frame went out since the last heartbeat tick: a busy stream needs no
    /// ping, and a flag is cheaper than resetting the timer on every frame.
    sent_since_tick: bool,
    /// The subscriber's connection, for a lane once the session shows traffic.
    socket: Option<Arc<dyn LiveSocket>>,
    /// The direct way to the subscriber's socket (see [`Subscription::with_lane`]).
    lane: Option<Arc<Lane>>,
    /// Whether the lane is armed: the task then waits on the lane, not on its channel.
    armed: bool,
    /// The channel overflowed: a gap found next is counted as a lag.
    lagged: bool,
    gauge: metrics::StreamGauge,
}

/// What the stream yields for "send what the connection holds": the rest of a frame the
/// lane could write only in part. Only a stream with a lane yields it.
pub const FLUSH: Bytes = Bytes::new();

impl Subscription {
    pub(super) fn new(hub: Hub, session_id: SessionId, joined: Joined) -> Self {
        Self {
            hub,
            session_id,
            fanout: joined.fanout,
            receiver: joined.receiver,
            pending: joined.catch_up.frames.into(),
            position: joined.catch_up.last,
            sent_since_tick: false,
            socket: None,
            lane: None,
            armed: false,
            lagged: false,
            gauge: metrics::StreamGauge::open(),
        }
    }

    /// Lets the fan-out write live frames straight to `socket` while this subscriber is
    /// caught up and idle (see [`super::fanout`]). The stream may then yield [`FLUSH`], and
    /// its consumer must keep `socket` out of the fan-out's way while it writes. The lane
    /// opens with the first live frame, so a stream of a quiet session costs no more.
    pub fn with_lane(mut self, socket: Arc<dyn LiveSocket>) -> Self {
        self.socket = Some(socket);
        self
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
            if self.armed || self.arm() {
                match self.wait_on_lane(ticker, stop).await? {
                    Some(bytes) => return Some(bytes),
                    None => continue,
                }
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.gauge.closing("shutdown");
                    return None;
                }
                received = self.receiver.recv() => match received {
                    Ok(frame) => {
                        let lagged = std::mem::take(&mut self.lagged);
                        match step(self.position, &frame) {
                            Step::Send => {
                                self.position = frame.id;
                                self.sent_since_tick = true;
                                self.open_lane();
                                metrics::hot().fanout_latency.record(frame.applied_at.elapsed());
                                return Some(frame.bytes);
                            }
                            Step::Skip => continue,
                            // Boxed here: the backend's read is large and rare, and inline
                            // it would size every idle subscriber's stream.
                            Step::CatchUp => {
                                let reason = if lagged { "lagged" } else { "gap" };
                                Box::pin(self.catch_up(reason)).await?;
                            }
                        }
                    }
                    // The channel goes on from its oldest frame; the next one tells whether
                    // anything was missed (nothing, if the lane sent it all meanwhile).
                    Err(RecvError::Lagged(_)) => self.lagged = true,
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

    fn open_lane(&mut self) {
        if let Some(socket) = self.socket.take() {
            let lane = Lane::new(socket);
            self.fanout.add_lane(&lane);
            self.lane = Some(lane);
        }
    }

    /// Arms the lane, if there is one and nothing waits on the channel.
    fn arm(&mut self) -> bool {
        let Some(lane) = &self.lane else {
            return false;
        };
        let receiver = &self.receiver;
        self.armed = lane.arm(self.position, || !receiver.is_empty());
        self.armed
    }

    /// Takes the position back from the lane; true if the connection must flush.
    fn disarm(&mut self) -> bool {
        let back = self.lane.as_ref().expect("armed with a lane").disarm();
        self.armed = false;
        self.position = back.position;
        self.sent_since_tick |= back.sent;
        back.flush
    }

    /// Waits while the lane carries the live frames: `Some(Some(bytes))` to yield,
    /// `Some(None)` to look again (the lane handed back), `None` on shutdown.
    async fn wait_on_lane(
        &mut self,
        ticker: &mut Interval,
        stop: &CancellationToken,
    ) -> Option<Option<Bytes>> {
        let lane = self.lane.clone().expect("armed with a lane");
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                self.gauge.closing("shutdown");
                None
            }
            () = lane.woken() => Some(self.disarm().then_some(FLUSH)),
            _ = ticker.tick() => {
                let task_sent = std::mem::take(&mut self.sent_since_tick);
                if lane.take_sent() == Some(false) && !task_sent {
                    self.disarm();
                    return Some(Some(HEARTBEAT));
                }
                Some(None)
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
