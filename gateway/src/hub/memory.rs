//! The in-memory backend: every session lives in this process (the embedded default).
//!
//! Each session has its merged state, a ring buffer of its last `REPLAY_BUFFER` framed
//! events and one broadcast channel to its subscribers; a change is merged, framed,
//! buffered and broadcast under the session's lock, so subscribers joining concurrently
//! see each event exactly once. Sessions without subscribers or writes for
//! `SESSION_IDLE_SECONDS` are dropped, and at most `MAX_SESSIONS` are held: a new
//! session at the bound first drops the least recently used sixteenth of the sessions
//! without subscribers (one scan per many new sessions, not one per session). Sessions
//! with subscribers are never dropped; their number is bounded by the stream limits.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shared_types::{
    EventId, Metadata, MetadataEvent, SessionId, SnapshotEvent, EVENT_METADATA, EVENT_SNAPSHOT,
};
use tokio_util::sync::CancellationToken;

use super::bounds::{Refused, SessionBounds};
use super::fanout::{Fanout, Sent};
use super::frame::Frame;
use super::recent::RecentIds;
use super::state::MergedState;
use super::{CatchUp, Change, Joined, Outcome};
use crate::config::Config;
use crate::metrics;

/// SQS message ids remembered to apply a redelivered message once.
const RECENT_MESSAGE_IDS: usize = 100_000;

/// The registry of sessions; cheap to clone.
#[derive(Clone)]
pub struct MemoryHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    recent_message_ids: Mutex<RecentIds>,
    replay_capacity: usize,
    subscriber_buffer: usize,
    bounds: SessionBounds,
    /// Most sessions held; see the module doc for what happens at the bound.
    max_sessions: usize,
    /// The newest epoch handed out; epochs are Unix milliseconds, bumped to stay unique.
    last_epoch: AtomicU64,
}

struct Session {
    id: SessionId,
    inner: Mutex<SessionInner>,
    /// Carries each framed event to the subscribers; its capacity is the subscriber buffer.
    fanout: Arc<Fanout>,
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

impl MemoryHub {
    /// Creates the hub and starts its idle-session sweep, which ends with `stop`.
    pub fn start(config: &Config, stop: CancellationToken) -> Self {
        tracing::info!(component = "hub", backend = "in-memory", "session state");
        let hub = Self {
            inner: Arc::new(HubInner {
                sessions: Mutex::default(),
                recent_message_ids: Mutex::new(RecentIds::new(RECENT_MESSAGE_IDS)),
                replay_capacity: config.replay_buffer as usize,
                subscriber_buffer: config.subscriber_buffer as usize,
                bounds: SessionBounds::from_config(config),
                max_sessions: config.max_sessions as usize,
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

    pub fn bounds(&self) -> &SessionBounds {
        &self.inner.bounds
    }

    /// Merges `change`, arriving at `now`, into its session and forwards the keys that
    /// won to subscribers. A refused change is not remembered as seen, so a redelivery
    /// is judged again.
    pub async fn apply(&self, change: Change, now: DateTime<Utc>) -> Result<Outcome, Refused> {
        let source = change.source.label();
        let message_id = change.source.message_id().map(str::to_owned);
        if let Some(message_id) = &message_id {
            let mut recent = self.inner.recent_message_ids.lock().expect("hub lock");
            if !recent.insert(message_id) {
                return Ok(Outcome::duplicate(&change.metadata));
            }
        }
        let merged = self.merge(change, now, source);
        if let (Err(_), Some(message_id)) = (&merged, &message_id) {
            let mut recent = self.inner.recent_message_ids.lock().expect("hub lock");
            recent.remove(message_id);
        }
        let (outcome, sent) = merged?;
        // The direct writes need no lock: a lane takes only the frame after its position.
        if let Some(sent) = sent {
            sent.offer().await;
        }
        Ok(outcome)
    }

    fn merge(
        &self,
        change: Change,
        now: DateTime<Utc>,
        source: &'static str,
    ) -> Result<(Outcome, Option<Sent>), Refused> {
        let Change {
            session_id,
            event,
            operation,
            metadata,
            timestamp,
            ..
        } = change;
        self.with_session(&session_id, |session, inner| {
            let merge =
                inner
                    .state
                    .merge(operation, metadata, timestamp, now, &self.inner.bounds)?;
            if !merge.ignored.is_empty() {
                ::metrics::counter!(metrics::EVENTS_IGNORED, "reason" => "stale")
                    .increment(merge.ignored.len() as u64);
            }
            if merge.applied.is_empty() {
                let outcome = Outcome {
                    event_id: None,
                    applied: Vec::new(),
                    ignored: merge.ignored,
                };
                return Ok((outcome, None));
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
            let sent = session.fanout.send(frame);
            let outcome = Outcome {
                event_id: Some(id),
                applied,
                ignored: merge.ignored,
            };
            Ok((outcome, Some(sent)))
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

    /// Joins the session's channel and reads what the subscriber must be sent first,
    /// both under the session lock, so no event falls between them.
    pub(super) fn subscribe(&self, session_id: &SessionId, resume: Option<EventId>) -> Joined {
        self.with_session(session_id, |session, inner| {
            let receiver = session.fanout.join();
            let catch_up = session.catch_up(inner, resume);
            Joined {
                fanout: session.fanout.clone(),
                receiver,
                catch_up,
            }
        })
    }

    /// The frames after `after`, for a subscriber already back at the live end.
    pub(super) fn catch_up(&self, session_id: &SessionId, after: EventId) -> CatchUp {
        self.with_session(session_id, |session, inner| {
            session.catch_up(inner, Some(after))
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
        if sessions.len() >= self.inner.max_sessions {
            Self::evict_least_recently_used(&mut sessions, self.inner.max_sessions.div_ceil(16));
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
            fanout: Fanout::new(self.inner.subscriber_buffer),
        });
        sessions.insert(id.clone(), session.clone());
        ::metrics::gauge!(metrics::SESSIONS).set(sessions.len() as f64);
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
        let before = sessions.len();
        sessions.retain(|_, session| {
            let mut inner = session.inner.lock().expect("session lock");
            let keep = session.fanout.subscribers() > 0 || inner.touched.elapsed() < idle;
            inner.evicted = !keep;
            keep
        });
        ::metrics::counter!(metrics::SESSIONS_EVICTED, "reason" => "idle")
            .increment((before - sessions.len()) as u64);
        ::metrics::gauge!(metrics::SESSIONS).set(sessions.len() as f64);
    }

    /// Drops up to `count` sessions without subscribers, least recently used first.
    fn evict_least_recently_used(sessions: &mut HashMap<SessionId, Arc<Session>>, count: usize) {
        let mut idle: Vec<(Instant, SessionId)> = sessions
            .iter()
            .filter(|(_, session)| session.fanout.subscribers() == 0)
            .map(|(id, session)| {
                let touched = session.inner.lock().expect("session lock").touched;
                (touched, id.clone())
            })
            .collect();
        if idle.len() > count {
            idle.select_nth_unstable_by_key(count, |(touched, _)| *touched);
            idle.truncate(count);
        }
        for (_, id) in &idle {
            if let Some(session) = sessions.remove(id) {
                session.inner.lock().expect("session lock").evicted = true;
            }
        }
        ::metrics::counter!(metrics::SESSIONS_EVICTED, "reason" => "capacity")
            .increment(idle.len() as u64);
    }

    /// Sessions held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.sessions.lock().expect("hub lock").len()
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

    /// The events after `resume` if the buffer holds all of them, else a snapshot.
    fn catch_up(&self, inner: &SessionInner, resume: Option<EventId>) -> CatchUp {
        let frames = resume
            .and_then(|id| inner.replay_after(id))
            .unwrap_or_else(|| {
                let snapshot = Frame::new(inner.event_id(), EVENT_SNAPSHOT, &self.snapshot(inner));
                vec![snapshot.bytes]
            });
        CatchUp {
            frames,
            last: inner.event_id(),
        }
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
    use clap::Parser;
    use serde_json::json;
    use shared_types::Operation;

    use super::*;
    use crate::hub::Source;

    fn hub(args: &[&str]) -> MemoryHub {
        let config = Config::try_parse_from(["gateway"].iter().chain(args)).unwrap();
        MemoryHub::start(&config, CancellationToken::new())
    }

    async fn write(hub: &MemoryHub, session: &str) {
        let change = Change {
            session_id: SessionId::parse(session).unwrap(),
            event: "metadata_update".into(),
            operation: Operation::Update,
            metadata: json!({"k": session}).as_object().unwrap().clone(),
            timestamp: Utc::now(),
            source: Source::Http,
        };
        hub.apply(change, Utc::now()).await.unwrap();
    }

    fn held(hub: &MemoryHub, session: &str) -> bool {
        !hub.snapshot(&SessionId::parse(session).unwrap())
            .metadata
            .is_empty()
    }

    /// At `MAX_SESSIONS`, a new session drops the least recently used sixteenth of the
    /// sessions without subscribers; a session with a subscriber is kept however old.
    #[tokio::test]
    async fn at_the_session_bound_the_least_recently_used_idle_sessions_are_dropped() {
        let hub = hub(&["--max-sessions", "32"]);
        for n in 0..32 {
            write(&hub, &format!("s{n}")).await;
        }
        write(&hub, "s0").await; // used again: now the most recent
        let _subscriber = hub.subscribe(&SessionId::parse("s1").unwrap(), None);
        assert_eq!(hub.len(), 32);

        write(&hub, "s32").await;
        assert_eq!(hub.len(), 31, "two dropped (32 / 16), one added");
        assert!(held(&hub, "s0"), "recently used");
        assert!(held(&hub, "s1"), "has a subscriber");
        assert!(
            !held(&hub, "s2") && !held(&hub, "s3"),
            "least recently used"
        );
        assert!(held(&hub, "s4") && held(&hub, "s32"));
    }

    /// With every session subscribed, none is dropped: the bound yields to open streams,
    /// which their own limits bound.
    #[tokio::test]
    async fn sessions_with_subscribers_are_never_dropped() {
        let hub = hub(&["--max-sessions", "2"]);
        let _a = hub.subscribe(&SessionId::parse("a").unwrap(), None);
        let _b = hub.subscribe(&SessionId::parse("b").unwrap(), None);
        write(&hub, "c").await;
        assert_eq!(hub.len(), 3);
        write(&hub, "d").await;
        assert_eq!(hub.len(), 3, "c, idle, made room for d");
        assert!(held(&hub, "d") && !held(&hub, "c"));
    }

    /// A refused SQS message is not remembered as seen: once the session has room, its
    /// redelivery is applied.
    #[tokio::test]
    async fn a_refused_message_is_judged_again_when_redelivered() {
        let hub = hub(&["--max-session-keys", "1"]);
        let change = |key: &str, op| Change {
            session_id: SessionId::parse("s").unwrap(),
            event: "metadata_update".into(),
            operation: op,
            metadata: json!({ key: 1 }).as_object().unwrap().clone(),
            timestamp: Utc::now(),
            source: Source::Sqs {
                message_id: format!("m-{key}-{op:?}"),
            },
        };
        hub.apply(change("a", Operation::Update), Utc::now())
            .await
            .unwrap();
        let refused = hub.apply(change("b", Operation::Update), Utc::now()).await;
        assert_eq!(refused.unwrap_err().code(), "session_full");
        hub.apply(change("a", Operation::Delete), Utc::now())
            .await
            .unwrap();
        let redelivered = hub
            .apply(change("b", Operation::Update), Utc::now())
            .await
            .unwrap();
        assert_eq!(redelivered.applied, vec!["b".to_string()]);
    }
}
