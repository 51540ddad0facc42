//! The hub: per-session merged state, a bounded replay buffer and subscriber fan-out.
//!
//! Every change, from SQS or HTTP, goes through [`Hub::apply`]: it is merged into the
//! session's state ([`state`]), and the keys that won become one `metadata` event that is
//! framed once ([`frame`]), kept in the session's ring buffer for `Last-Event-ID` resumes
//! and broadcast to the session's subscribers ([`subscription`]).
//!
//! Memory is bounded per session: the ring buffer holds `REPLAY_BUFFER` events, and each
//! subscriber lags at most `SUBSCRIBER_BUFFER` events behind before it is resynced with a
//! snapshot. Sessions without subscribers or writes for `SESSION_IDLE_SECONDS` are dropped.

mod frame;
mod recent;
mod state;
mod subscription;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shared_types::{
    EventId, Metadata, MetadataEvent, Operation, SessionId, SnapshotEvent, EVENT_METADATA,
    EVENT_SNAPSHOT,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use frame::{retry_hint, Frame, HEARTBEAT};
pub use subscription::Subscription;

use crate::config::Config;
use crate::metrics;
use recent::RecentIds;
use state::MergedState;

/// SQS message ids remembered to apply a redelivered message once.
const RECENT_MESSAGE_IDS: usize = 100_000;

/// One change to a session's metadata, from any source.
#[derive(Debug, Clone)]
pub struct Change {
    pub session_id: SessionId,
    pub event: String,
    pub operation: Operation,
    pub metadata: Metadata,
    pub timestamp: DateTime<Utc>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An SQS message; its `MessageId` identifies redeliveries.
    Sqs { message_id: String },
    /// `POST /v1/sessions/{id}/metadata`.
    Http,
}

impl Source {
    fn label(&self) -> &'static str {
        match self {
            Self::Sqs { .. } => "sqs",
            Self::Http => "http",
        }
    }
}

/// What [`Hub::apply`] did with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Id of the event sent to subscribers; `None` when no key changed.
    pub event_id: Option<EventId>,
    pub applied: Vec<String>,
    pub ignored: Vec<String>,
}

/// The registry of sessions; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    recent_message_ids: Mutex<RecentIds>,
    replay_capacity: usize,
    subscriber_buffer: usize,
    /// The newest epoch handed out; epochs are Unix milliseconds, bumped to stay unique.
    last_epoch: AtomicU64,
}

struct Session {
    id: SessionId,
    inner: Mutex<SessionInner>,
    /// Carries each framed event to the subscribers; its capacity is the subscriber buffer.
    sender: broadcast::Sender<Frame>,
}

struct SessionInner {
    epoch: u64,
    seq: u64,
    state: MergedState,
    replay: VecDeque<Frame>,
    touched: Instant,
    /// Set when the idle sweep dropped the session; a writer holding it must look again.
    evicted: bool,
}

impl Hub {
    /// Creates the hub and starts its idle-session sweep, which ends with `stop`.
    pub fn new(config: &Config, stop: CancellationToken) -> Self {
        tracing::info!(component = "hub", backend = "in-memory", "session state");
        let hub = Self {
            inner: Arc::new(HubInner {
                sessions: Mutex::default(),
                recent_message_ids: Mutex::new(RecentIds::new(RECENT_MESSAGE_IDS)),
                replay_capacity: config.replay_buffer as usize,
                subscriber_buffer: config.subscriber_buffer as usize,
                last_epoch: AtomicU64::new(0),
            }),
        };
        let idle = config.session_idle();
        let sweeper = hub.clone();
        tokio::spawn(async move {
            let period = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => sweeper.evict_idle(idle),
                }
            }
        });
        hub
    }

    /// Merges `change` into its session and forwards the keys that won to subscribers.
    pub fn apply(&self, change: Change) -> Outcome {
        let source = change.source.label();
        if let Source::Sqs { message_id } = &change.source {
            let mut recent = self.inner.recent_message_ids.lock().expect("hub lock");
            if !recent.insert(message_id) {
                ::metrics::counter!(metrics::EVENTS_IGNORED, "reason" => "duplicate_message")
                    .increment(1);
                return Outcome {
                    event_id: None,
                    applied: Vec::new(),
                    ignored: change.metadata.keys().cloned().collect(),
                };
            }
        }
        let Change {
            session_id,
            event,
            operation,
            metadata,
            timestamp,
            ..
        } = change;
        self.with_session(&session_id, |session, inner| {
            let merge = inner.state.merge(operation, metadata, timestamp);
            if !merge.ignored.is_empty() {
                ::metrics::counter!(metrics::EVENTS_IGNORED, "reason" => "stale")
                    .increment(merge.ignored.len() as u64);
            }
            if merge.applied.is_empty() {
                return Outcome {
                    event_id: None,
                    applied: Vec::new(),
                    ignored: merge.ignored,
                };
            }
            ::metrics::counter!(metrics::EVENTS_APPLIED, "source" => source).increment(1);
            inner.seq += 1;
            let id = inner.event_id();
            let applied = merge.applied.keys().cloned().collect();
            let event = MetadataEvent {
                session_id: session.id.clone(),
                event,
                operation,
                metadata: merge.applied,
                timestamp,
            };
            let frame = Frame::new(id, EVENT_METADATA, &event);
            if inner.replay.len() == self.inner.replay_capacity {
                inner.replay.pop_front();
            }
            inner.replay.push_back(frame.clone());
            // Sent under the session lock so that a subscriber that joins concurrently
            // sees each event exactly once: in its initial frames or on its receiver.
            let _ = session.sender.send(frame);
            Outcome {
                event_id: Some(id),
                applied,
                ignored: merge.ignored,
            }
        })
    }

    /// The current merged metadata of a session (empty for a session never written).
    pub fn snapshot(&self, session_id: &SessionId) -> SnapshotEvent {
        let session = self
            .inner
            .sessions
            .lock()
            .expect("hub lock")
            .get(session_id)
            .cloned();
        match session {
            Some(session) => session.snapshot(&session.inner.lock().expect("session lock")),
            None => SnapshotEvent {
                session_id: session_id.clone(),
                metadata: Metadata::new(),
                updated_at: None,
                last_event_id: None,
            },
        }
    }

    /// Subscribes to a session. A `resume` id the buffer still covers replays the events
    /// after it; any other id, or none, starts with a snapshot.
    pub fn subscribe(&self, session_id: &SessionId, resume: Option<EventId>) -> Subscription {
        self.with_session(session_id, |session, inner| {
            let receiver = session.sender.subscribe();
            let initial = match resume.and_then(|id| inner.replay_after(id)) {
                Some(frames) => frames,
                None => {
                    let frame =
                        Frame::new(inner.event_id(), EVENT_SNAPSHOT, &session.snapshot(inner));
                    vec![frame.bytes]
                }
            };
            Subscription::new(session.clone(), receiver, initial, inner.seq)
        })
    }

    /// Runs `f` on session `id` (created if missing) under its lock, marked as used now.
    /// Looks again if the idle sweep dropped the session between lookup and lock, so a
    /// write or subscriber never lands on an evicted session.
    fn with_session<R>(
        &self,
        id: &SessionId,
        f: impl FnOnce(&Arc<Session>, &mut SessionInner) -> R,
    ) -> R {
        loop {
            let session = self.session(id);
            let mut inner = session.inner.lock().expect("session lock");
            if inner.evicted {
                continue;
            }
            inner.touched = Instant::now();
            return f(&session, &mut inner);
        }
    }

    fn session(&self, id: &SessionId) -> Arc<Session> {
        let mut sessions = self.inner.sessions.lock().expect("hub lock");
        if let Some(session) = sessions.get(id) {
            return session.clone();
        }
        let session = Arc::new(Session {
            id: id.clone(),
            inner: Mutex::new(SessionInner {
                epoch: self.next_epoch(),
                seq: 0,
                state: MergedState::default(),
                replay: VecDeque::with_capacity(self.inner.replay_capacity.min(64)),
                touched: Instant::now(),
                evicted: false,
            }),
            sender: broadcast::channel(self.inner.subscriber_buffer).0,
        });
        sessions.insert(id.clone(), session.clone());
        session
    }

    /// A new epoch: the current Unix time in milliseconds, or one more than the last
    /// epoch when that is not smaller, so epochs never repeat within a process and a
    /// restarted gateway's epochs are newer than its predecessor's.
    fn next_epoch(&self) -> u64 {
        let now = Utc::now().timestamp_millis().max(0) as u64;
        let previous = self
            .inner
            .last_epoch
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always succeeds");
        now.max(previous + 1)
    }

    fn evict_idle(&self, idle: Duration) {
        let mut sessions = self.inner.sessions.lock().expect("hub lock");
        sessions.retain(|_, session| {
            let mut inner = session.inner.lock().expect("session lock");
            let keep = session.sender.receiver_count() > 0 || inner.touched.elapsed() < idle;
            inner.evicted = !keep;
            keep
        });
    }
}

impl Session {
    fn snapshot(&self, inner: &SessionInner) -> SnapshotEvent {
        SnapshotEvent {
            session_id: self.id.clone(),
            metadata: inner.state.metadata().clone(),
            updated_at: inner.state.updated_at(),
            last_event_id: Some(inner.event_id()),
        }
    }

    /// Moves a subscriber that fell behind to the live end of the channel and returns the
    /// snapshot that covers everything before it. Both happen under the session lock, so
    /// no event falls between them.
    fn resync(&self, receiver: &mut broadcast::Receiver<Frame>) -> Frame {
        let inner = self.inner.lock().expect("session lock");
        *receiver = self.sender.subscribe();
        Frame::new(inner.event_id(), EVENT_SNAPSHOT, &self.snapshot(&inner))
    }
}

impl SessionInner {
    fn event_id(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// The framed events after `id`, if the buffer holds all of them.
    fn replay_after(&self, id: EventId) -> Option<Vec<bytes::Bytes>> {
        if id.epoch != self.epoch || id.seq > self.seq {
            return None;
        }
        let oldest = self.replay.front().map_or(self.seq + 1, |f| f.id.seq);
        if id.seq + 1 < oldest {
            return None;
        }
        Some(
            self.replay
                .iter()
                .filter(|f| f.id.seq > id.seq)
                .map(|f| f.bytes.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use clap::Parser;
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    fn hub(args: &[&str]) -> Hub {
        let config = Config::try_parse_from(["gateway"].iter().chain(args)).unwrap();
        Hub::new(&config, CancellationToken::new())
    }

    fn change(session: &str, key: &str, second: u32) -> Change {
        Change {
            session_id: SessionId::parse(session).unwrap(),
            event: "metadata_update".into(),
            operation: Operation::Update,
            metadata: json!({ key: second }).as_object().unwrap().clone(),
            timestamp: shared_types::timestamp::parse(&format!("2024-01-26T10:30:{second:02}"))
                .unwrap(),
            source: Source::Http,
        }
    }

    /// Parses `id`/`event` lines of the frames a stream yields (heartbeats excluded).
    async fn read(
        stream: &mut (impl futures::Stream<Item = Bytes> + Unpin),
        n: usize,
    ) -> Vec<(String, String)> {
        let mut frames = Vec::new();
        while frames.len() < n {
            let bytes = tokio::time::timeout(Duration::from_secs(2), stream.next())
                .await
                .expect("a frame in time")
                .expect("the stream is open");
            let text = std::str::from_utf8(&bytes).unwrap();
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::to_owned)
            };
            if let (Some(id), Some(event)) = (field("id"), field("event")) {
                frames.push((id, event));
            }
        }
        frames
    }

    /// A subscriber that stops reading is not buffered without bound: once it is more
    /// than `SUBSCRIBER_BUFFER` events behind, it gets one snapshot of the current state
    /// and then live events again.
    #[tokio::test]
    async fn a_slow_subscriber_is_resynced_with_a_snapshot() {
        let hub = hub(&["--subscriber-buffer", "4"]);
        let session = SessionId::parse("s").unwrap();
        let subscription = hub.subscribe(&session, None);
        let mut stream =
            Box::pin(subscription.into_stream(Duration::from_secs(60), CancellationToken::new()));
        assert_eq!(read(&mut stream, 1).await[0].1, "snapshot");
        for second in 1..=20 {
            hub.apply(change("s", &format!("k{second}"), second));
        }
        let (id, event) = read(&mut stream, 1).await.remove(0);
        assert_eq!(event, "snapshot", "the lagging subscriber is resynced");
        assert!(id.ends_with("-20"), "the snapshot covers every event: {id}");
        hub.apply(change("s", "k21", 21));
        let (id, event) = read(&mut stream, 1).await.remove(0);
        assert_eq!((event.as_str(), id.ends_with("-21")), ("metadata", true));
    }

    /// Resuming inside the replay buffer replays; before it, a snapshot is sent.
    #[tokio::test]
    async fn resume_replays_within_the_buffer_only() {
        let hub = hub(&["--replay-buffer", "3"]);
        let session = SessionId::parse("s").unwrap();
        let mut last = None;
        for second in 1..=5 {
            last = hub.apply(change("s", "k", second)).event_id;
        }
        let last = last.unwrap();
        let at = |seq| {
            Some(EventId {
                epoch: last.epoch,
                seq,
            })
        };
        let replayed = |seq| hub.subscribe(&session, at(seq)).pending.len();
        assert_eq!(replayed(2), 3, "events 3, 4 and 5 are buffered");
        assert_eq!(replayed(5), 0, "up to date: nothing to send");
        let mut too_old = hub.subscribe(&session, at(1));
        assert!(std::str::from_utf8(&too_old.pending.pop_front().unwrap())
            .unwrap()
            .contains("event: snapshot"));
        let mut future = hub.subscribe(&session, at(9));
        assert!(std::str::from_utf8(&future.pending.pop_front().unwrap())
            .unwrap()
            .contains("event: snapshot"));
    }
}
