//! A session's local fan-out: its framed events reach each local subscriber either through
//! the subscriber's own task (a broadcast channel) or, when the subscriber's connection
//! allows it, straight on its socket from the fan-out (a *lane*).
//!
//! A lane skips the task hop: while the subscriber's task is idle and caught up, its lane
//! is *armed*, and whoever fans a live frame out writes it to the socket at once — one
//! non-blocking write, no wake-up of the subscriber's task, which sleeps until its
//! heartbeat. Anything else (the frame is not the one after the subscriber's position,
//! the socket is full or takes only part of it, the connection's writer is busy) disarms
//! the lane and wakes the task, which finds the frame on its channel as before. The lane
//! is a shortcut, never the only way a frame arrives: every frame is sent on the channel
//! first, so the subscription keeps every guarantee (each event once and in order,
//! bounded buffers, catch-up on a gap or lag).

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use shared_types::EventId;
use tokio::sync::{broadcast, Notify};

use super::Frame;
use crate::metrics;

/// A connection that can take a frame of the response body without waiting.
pub trait LiveSocket: Send + Sync {
    /// Writes `frame` (one SSE event, framed as the connection frames its body) now if
    /// the socket takes it; never waits.
    fn write_now(&self, frame: &Bytes) -> Written;
}

/// How much of a frame [`LiveSocket::write_now`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Whole,
    /// The start of it: the connection keeps the rest and sends it before anything else,
    /// once its writer runs.
    Part,
    /// None of it: the socket is full, the connection's writer is busy, or it failed.
    Nothing,
}

/// What a live frame means for a subscriber at `position`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Send,
    Skip,
    CatchUp,
}

pub(super) fn step(position: EventId, frame: &Frame) -> Step {
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

/// One session's local fan-out.
pub(super) struct Fanout {
    sender: broadcast::Sender<Frame>,
    /// Weak: a lane lives as long as its subscription; dead ones are pruned on offer.
    lanes: Mutex<Vec<Weak<Lane>>>,
}

/// A frame sent on the channel and still to be offered to the lanes: [`Sent::offer`]
/// may run after the lock that ordered the send is released.
#[must_use = "a sent frame must be offered to the lanes, or armed lanes miss it"]
pub(super) struct Sent {
    fanout: Arc<Fanout>,
    frame: Frame,
}

impl Fanout {
    /// A fan-out whose channel holds `capacity` frames per subscriber.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            sender: broadcast::channel(capacity).0,
            lanes: Mutex::default(),
        })
    }

    pub fn join(&self) -> broadcast::Receiver<Frame> {
        self.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Sends `frame` to every subscriber's channel; the lanes get it from [`Sent::offer`].
    pub fn send(self: &Arc<Self>, frame: Frame) -> Sent {
        let _ = self.sender.send(frame.clone());
        Sent {
            fanout: self.clone(),
            frame,
        }
    }

    /// Adds a subscriber's lane.
    pub fn add_lane(&self, lane: &Arc<Lane>) {
        lock(&self.lanes).push(Arc::downgrade(lane));
    }
}

impl Sent {
    /// Writes the frame on every armed lane. The lanes are collected first, so the writes
    /// do not hold up subscribers joining meanwhile, and the task yields within its
    /// cooperative budget: a fan-out to thousands of lanes does not hold its worker (new
    /// connections, other sessions) for the whole round.
    pub async fn offer(self) {
        let lanes: Vec<Arc<Lane>> = {
            let mut lanes = lock(&self.fanout.lanes);
            if lanes.is_empty() {
                return;
            }
            let mut live = Vec::with_capacity(lanes.len());
            lanes.retain(|lane| match lane.upgrade() {
                Some(lane) => {
                    live.push(lane);
                    true
                }
                None => false,
            });
            live
        };
        for lane in lanes {
            lane.offer(&self.frame);
            tokio::task::consume_budget().await;
        }
    }
}

/// A subscriber's direct way to its socket.
pub struct Lane {
    socket: Arc<dyn LiveSocket>,
    state: Mutex<LaneState>,
    /// Wakes the subscriber's task when the lane disarms itself.
    woken: Notify,
}

struct LaneState {
    armed: bool,
    /// While armed: the newest event the subscriber has been sent.
    position: EventId,
    /// A frame went out on the lane since the task last looked.
    sent: bool,
    /// The socket holds the rest of a frame: the task must have its writer send it.
    flush: bool,
}

/// What the subscriber's task takes back when it disarms its lane.
pub(super) struct Disarmed {
    pub position: EventId,
    /// Frames went out on the lane while it was armed.
    pub sent: bool,
    /// The connection holds part of a frame that its writer must send.
    pub flush: bool,
}

impl Lane {
    pub(super) fn new(socket: Arc<dyn LiveSocket>) -> Arc<Self> {
        Arc::new(Self {
            socket,
            state: Mutex::new(LaneState {
                armed: false,
                position: EventId { epoch: 0, seq: 0 },
                sent: false,
                flush: false,
            }),
            woken: Notify::new(),
        })
    }

    /// Arms the lane at `position` unless `pending` (the task's channel has frames) says
    /// the task has work: checked under the lane's lock, so a frame sent after the check
    /// is offered to the armed lane.
    pub(super) fn arm(&self, position: EventId, pending: impl FnOnce() -> bool) -> bool {
        let mut state = lock(&self.state);
        if pending() {
            return false;
        }
        *state = LaneState {
            armed: true,
            position,
            sent: false,
            flush: false,
        };
        true
    }

    /// Stops direct writes; after this returns none is in progress.
    pub(super) fn disarm(&self) -> Disarmed {
        let mut state = lock(&self.state);
        state.armed = false;
        Disarmed {
            position: state.position,
            sent: std::mem::take(&mut state.sent),
            flush: std::mem::take(&mut state.flush),
        }
    }

    /// Whether frames went out since the last look (and forgets it): a heartbeat is due
    /// only when none did. `None` when the lane is no longer armed.
    pub(super) fn take_sent(&self) -> Option<bool> {
        let mut state = lock(&self.state);
        state.armed.then(|| std::mem::take(&mut state.sent))
    }

    /// Resolves when the lane has disarmed itself (or a stale wake-up is consumed).
    pub(super) async fn woken(&self) {
        self.woken.notified().await;
    }

    fn offer(&self, frame: &Frame) {
        let mut state = lock(&self.state);
        if !state.armed {
            return;
        }
        match step(state.position, frame) {
            Step::Send => {}
            Step::Skip => return,
            Step::CatchUp => return self.hand_back(&mut state),
        }
        match self.socket.write_now(&frame.bytes) {
            Written::Whole => {}
            Written::Part => {
                state.flush = true;
                self.hand_back(&mut state);
            }
            Written::Nothing => return self.hand_back(&mut state),
        }
        state.position = frame.id;
        state.sent = true;
        metrics::hot()
            .fanout_latency
            .record(frame.applied_at.elapsed());
    }

    /// Disarms the lane and wakes the task, which takes over from its channel.
    fn hand_back(&self, state: &mut LaneState) {
        state.armed = false;
        self.woken.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("fan-out lock")
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Instant;

    use super::*;

    /// A socket that takes up to `room` bytes, then nothing (a full socket).
    pub(in crate::hub) struct FakeSocket {
        room: Mutex<usize>,
        written: Mutex<Vec<u8>>,
    }

    impl FakeSocket {
        pub fn with_room(room: usize) -> Arc<Self> {
            Arc::new(Self {
                room: Mutex::new(room),
                written: Mutex::default(),
            })
        }

        pub fn set_room(&self, room: usize) {
            *self.room.lock().unwrap() = room;
        }

        pub fn written(&self) -> String {
            String::from_utf8_lossy(&self.written.lock().unwrap()).into_owned()
        }
    }

    impl LiveSocket for FakeSocket {
        fn write_now(&self, frame: &Bytes) -> Written {
            let mut room = self.room.lock().unwrap();
            let n = frame.len().min(*room);
            *room -= n;
            self.written.lock().unwrap().extend_from_slice(&frame[..n]);
            match n {
                0 => Written::Nothing,
                n if n == frame.len() => Written::Whole,
                _ => Written::Part,
            }
        }
    }

    fn frame(seq: u64) -> Frame {
        Frame {
            id: EventId { epoch: 1, seq },
            bytes: Bytes::from(format!("<{seq}>")),
            snapshot: false,
            applied_at: Instant::now(),
        }
    }

    fn setup(room: usize) -> (Arc<Fanout>, Arc<FakeSocket>, Arc<Lane>) {
        let fanout = Fanout::new(16);
        let socket = FakeSocket::with_room(room);
        let lane = Lane::new(socket.clone());
        fanout.add_lane(&lane);
        (fanout, socket, lane)
    }

    #[test]
    fn live_frames_are_sent_once_in_order_and_gaps_are_caught_up() {
        let at = EventId { epoch: 7, seq: 3 };
        let frame = |epoch, seq, snapshot| Frame {
            id: EventId { epoch, seq },
            bytes: Bytes::new(),
            snapshot,
            applied_at: Instant::now(),
        };
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

    #[tokio::test]
    async fn an_armed_lane_takes_the_next_frames_and_only_those() {
        let (fanout, socket, lane) = setup(1000);
        fanout.send(frame(1)).offer().await; // not armed yet: the task's channel has it
        assert!(lane.arm(EventId { epoch: 1, seq: 1 }, || false));
        fanout.send(frame(2)).offer().await;
        fanout.send(frame(2)).offer().await; // a repeat is skipped
        fanout.send(frame(3)).offer().await;
        assert_eq!(socket.written(), "<2><3>");
        let back = lane.disarm();
        assert_eq!((back.position.seq, back.sent, back.flush), (3, true, false));
        fanout.send(frame(4)).offer().await;
        assert_eq!(socket.written(), "<2><3>", "a disarmed lane writes nothing");
    }

    #[tokio::test]
    async fn a_gap_hands_the_frame_back_to_the_task() {
        let (fanout, socket, lane) = setup(1000);
        assert!(lane.arm(EventId { epoch: 1, seq: 1 }, || false));
        fanout.send(frame(3)).offer().await;
        lane.woken().await;
        let back = lane.disarm();
        assert_eq!((back.position.seq, back.sent), (1, false));
        assert_eq!(socket.written(), "");
    }

    #[tokio::test]
    async fn a_full_socket_hands_back_and_a_partial_write_asks_for_a_flush() {
        let (fanout, socket, lane) = setup(5);
        assert!(lane.arm(EventId { epoch: 1, seq: 0 }, || false));
        fanout.send(frame(1)).offer().await; // "<1>" fits
        fanout.send(frame(2)).offer().await; // "<2" fits, ">" is left to the connection
        lane.woken().await;
        let back = lane.disarm();
        assert_eq!((back.position.seq, back.flush), (2, true));
        assert!(lane.arm(back.position, || false));
        fanout.send(frame(3)).offer().await; // no room at all
        lane.woken().await;
        assert_eq!(lane.disarm().position.seq, 2);
        assert_eq!(socket.written(), "<1><2");
    }

    #[test]
    fn a_lane_with_work_on_its_channel_is_not_armed() {
        let (_fanout, _socket, lane) = setup(1000);
        assert!(!lane.arm(EventId { epoch: 1, seq: 0 }, || true));
        assert_eq!(lane.take_sent(), None);
    }

    #[tokio::test]
    async fn dropped_lanes_are_pruned() {
        let (fanout, _socket, lane) = setup(1000);
        drop(lane);
        fanout.send(frame(1)).offer().await;
        assert!(fanout.lanes.lock().unwrap().is_empty());
    }
}
