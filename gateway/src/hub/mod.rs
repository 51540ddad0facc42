//! The hub: per-session merged state, a bounded history for resumes and subscriber fan-out.
//!
//! Every change, from SQS or HTTP, goes through [`Hub::apply`]: it is merged into the
//! session's state key by key ([`state`]), and the keys that won become one `metadata`
//! event that is framed once ([`frame`]), kept in the session's history for
//! `Last-Event-ID` resumes and fanned out to the session's subscribers
//! ([`subscription`]). Before that, [`bounds`] refuses timestamps too far ahead and
//! drops fields the allow-list does not name; each backend then keeps the session within
//! the same key, size and tombstone bounds.
//!
//! Two backends sit behind one interface; the HTTP layer and the SQS consumer do not
//! know which one runs:
//! - [`memory`]: everything in this process (the embedded default).
//! - [`redis`]: state, history and message dedup in Redis, so several gateways act as
//!   one; events reach every node over sharded pub/sub (`REDIS_URL`).
//!
//! Either way the last hop is local ([`fanout`]): each node keeps one broadcast channel
//! per session with local subscribers, and each subscriber lags at most
//! `SUBSCRIBER_BUFFER` events behind before it is caught up from the history or resynced
//! with a snapshot. A subscriber on the lean connection path also has a lane, on which
//! the fan-out writes live frames to its socket directly while it is caught up.

pub mod bounds;
mod fanout;
mod frame;
mod memory;
mod recent;
mod redis;
mod state;
mod subscription;

use chrono::{DateTime, Utc};
use shared_types::{EventId, Metadata, Operation, SessionId, SnapshotEvent};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use bounds::Refused;
pub use fanout::{LiveSocket, Written};
pub use frame::{retry_hint, Frame, HEARTBEAT};
pub use subscription::{Subscription, FLUSH};

use crate::config::Config;
use crate::health::Health;

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

    fn message_id(&self) -> Option<&str> {
        match self {
            Self::Sqs { message_id } => Some(message_id),
            Self::Http => None,
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

impl Outcome {
    /// A redelivered message: nothing applied, every key ignored.
    fn duplicate(metadata: &Metadata) -> Self {
        ::metrics::counter!(crate::metrics::EVENTS_IGNORED, "reason" => "duplicate_message")
            .increment(1);
        Self {
            event_id: None,
            applied: Vec::new(),
            ignored: metadata.keys().cloned().collect(),
        }
    }
}

/// The hub's one failure: its backend cannot be reached. The caller should retry later
/// (HTTP answers 503, the SQS consumer leaves the message in the queue).
#[derive(Debug, Clone, thiserror::Error)]
#[error("session state backend unavailable: {0}")]
pub struct HubError(pub String);

/// Why [`Hub::apply`] did not apply a change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// The change breaks a session bound; it will be refused whenever it is sent again
    /// as it is (HTTP answers 422, the SQS consumer leaves it for the dead-letter queue).
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Unavailable(#[from] HubError),
}

/// What a subscriber must be sent to be current: replayed events or one snapshot, and
/// the id of the newest event they cover.
pub(crate) struct CatchUp {
    pub frames: Vec<bytes::Bytes>,
    pub last: EventId,
}

/// The hub, with the backend chosen by the configuration; cheap to clone.
///
/// Its methods box the Redis backend's futures: those hold the Redis client's requests
/// (about 8 KB for `apply`), and a `match`'s future is as large as its largest arm, so
/// every in-memory publish would otherwise carry them and copy them at each move.
#[derive(Clone)]
pub enum Hub {
    Memory(memory::MemoryHub),
    Redis(redis::RedisHub),
}

impl Hub {
    /// Starts the backend `REDIS_URL` names, or the in-memory one without it, with its
    /// background tasks (idle sweep; for Redis the pub/sub reader and liveness probe),
    /// which end with `stop`.
    pub async fn start(
        config: &Config,
        health: &Health,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        match &config.redis_url {
            None => Ok(Self::Memory(memory::MemoryHub::start(config, stop))),
            Some(url) => Ok(Self::Redis(
                redis::RedisHub::start(url, config, health, tasks, stop).await?,
            )),
        }
    }

    /// Merges `change` into its session and forwards the keys that won to subscribers.
    pub async fn apply(&self, change: Change) -> Result<Outcome, ApplyError> {
        self.apply_at(change, Utc::now()).await
    }

    /// [`Hub::apply`] with the gateway's clock read as `now` (which judges timestamps in
    /// the future and starts tombstone horizons), so tests can move time.
    pub async fn apply_at(
        &self,
        mut change: Change,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ApplyError> {
        let source = change.source.label();
        let bounds = match self {
            Self::Memory(hub) => hub.bounds(),
            Self::Redis(hub) => hub.bounds(),
        };
        let dropped = bounds.drop_unlisted(&mut change.metadata);
        if !dropped.is_empty() {
            ::metrics::counter!(crate::metrics::EVENTS_IGNORED, "reason" => "field_not_listed")
                .increment(dropped.len() as u64);
        }
        let result: Result<Outcome, ApplyError> =
            match bounds.check_timestamp(change.timestamp, now) {
                Err(refused) => Err(refused.into()),
                Ok(()) if change.metadata.is_empty() => Ok(Outcome {
                    event_id: None,
                    applied: Vec::new(),
                    ignored: Vec::new(),
                }),
                Ok(()) => match self {
                    Self::Memory(hub) => hub.apply(change, now).await.map_err(ApplyError::from),
                    Self::Redis(hub) => Box::pin(hub.apply(change, now)).await,
                },
            };
        if let Err(ApplyError::Refused(refused)) = &result {
            ::metrics::counter!(crate::metrics::CHANGES_REFUSED, "source" => source, "reason" => refused.code())
                .increment(1);
        }
        result.map(|mut outcome| {
            // Dropped fields are reported as not applied, like stale ones.
            outcome.ignored.extend(dropped);
            outcome
        })
    }

    /// The current merged metadata of a session (empty for a session never written).
    pub async fn snapshot(&self, session_id: &SessionId) -> Result<SnapshotEvent, HubError> {
        match self {
            Self::Memory(hub) => Ok(hub.snapshot(session_id)),
            Self::Redis(hub) => Box::pin(hub.snapshot(session_id)).await,
        }
    }

    /// Subscribes to a session. A `resume` id the history still covers replays the events
    /// after it; any other id, or none, starts with a snapshot. Each event reaches the
    /// subscriber exactly once: the live channel is joined before the history is read,
    /// and live events the initial frames already cover are skipped.
    pub async fn subscribe(
        &self,
        session_id: &SessionId,
        resume: Option<EventId>,
    ) -> Result<Subscription, HubError> {
        let joined = match self {
            Self::Memory(hub) => hub.subscribe(session_id, resume),
            Self::Redis(hub) => Box::pin(hub.subscribe(session_id, resume)).await?,
        };
        Ok(Subscription::new(self.clone(), session_id.clone(), joined))
    }

    /// Whether changes can be applied now; the SQS consumer waits while they cannot, so
    /// messages are not received (and counted towards the dead-letter queue) in vain.
    pub fn is_available(&self) -> bool {
        match self {
            Self::Memory(_) => true,
            Self::Redis(hub) => hub.is_available(),
        }
    }

    /// The frames that bring a subscriber from `after` to now, for a subscriber that
    /// lagged or saw a gap; live frames the result covers are skipped when they arrive.
    pub(crate) async fn catch_up(
        &self,
        session_id: &SessionId,
        after: EventId,
    ) -> Result<CatchUp, HubError> {
        match self {
            Self::Memory(hub) => Ok(hub.catch_up(session_id, after)),
            Self::Redis(hub) => Box::pin(hub.read(session_id, Some(after))).await,
        }
    }
}

/// A new subscriber's place in its session's local channel, and what to send it first.
pub(crate) struct Joined {
    /// Where the subscriber adds its lane, if its connection has one.
    fanout: std::sync::Arc<fanout::Fanout>,
    pub receiver: broadcast::Receiver<Frame>,
    pub catch_up: CatchUp,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use clap::Parser;
    use futures::{FutureExt, StreamExt};
    use serde_json::json;

    use super::*;

    async fn hub(args: &[&str]) -> Hub {
        let config = Config::try_parse_from(["gateway"].iter().chain(args)).unwrap();
        Hub::start(
            &config,
            &Health::default(),
            &TaskTracker::new(),
            CancellationToken::new(),
        )
        .await
        .unwrap()
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

    /// A subscriber of session `s` that has read its snapshot, and then reads nothing
    /// while 20 events are applied.
    async fn subscribe_then_miss_20_events(
        hub: &Hub,
    ) -> std::pin::Pin<Box<impl futures::Stream<Item = Bytes>>> {
        let session = SessionId::parse("s").unwrap();
        let subscription = hub.subscribe(&session, None).await.unwrap();
        let mut stream =
            Box::pin(subscription.into_stream(Duration::from_secs(60), CancellationToken::new()));
        assert_eq!(read(&mut stream, 1).await[0].1, "snapshot");
        for second in 1..=20 {
            hub.apply(change("s", &format!("k{second}"), second))
                .await
                .unwrap();
        }
        stream
    }

    /// The in-memory backend's requests do not carry the Redis backend's futures (see
    /// [`Hub`]): a publish's future was 8 KB, moved several times per request.
    #[tokio::test]
    async fn the_hubs_futures_are_as_small_as_the_memory_backends() {
        let hub = hub(&[]).await;
        let change = change("s-1", "status", 1);
        let session_id = change.session_id.clone();
        assert!(std::mem::size_of_val(&hub.apply(change)) < 4096);
        assert!(std::mem::size_of_val(&hub.snapshot(&session_id)) < 256);
        assert!(std::mem::size_of_val(&hub.subscribe(&session_id, None)) < 256);
        let after = EventId { epoch: 1, seq: 1 };
        assert!(std::mem::size_of_val(&hub.catch_up(&session_id, after)) < 256);
    }

    /// A subscriber that stops reading is not buffered without bound: once it is more
    /// than `SUBSCRIBER_BUFFER` events behind, it is caught up (here from the replay
    /// buffer, which still holds every missed event) and then gets live events again.
    #[tokio::test]
    async fn a_slow_subscriber_is_caught_up_from_the_history() {
        let hub = hub(&["--subscriber-buffer", "4"]).await;
        let mut stream = subscribe_then_miss_20_events(&hub).await;
        let frames = read(&mut stream, 20).await;
        let seqs: Vec<u64> = frames
            .iter()
            .map(|(id, _)| id.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=20).collect::<Vec<_>>(),
            "each event exactly once"
        );
        hub.apply(change("s", "k21", 21)).await.unwrap();
        let (id, event) = read(&mut stream, 1).await.remove(0);
        assert_eq!((event.as_str(), id.ends_with("-21")), ("metadata", true));
    }

    /// When the history no longer holds what a lagging subscriber missed, it gets one
    /// snapshot of the current state, then live events again.
    #[tokio::test]
    async fn a_slow_subscriber_beyond_the_history_is_resynced_with_a_snapshot() {
        let hub = hub(&["--subscriber-buffer", "4", "--replay-buffer", "8"]).await;
        let mut stream = subscribe_then_miss_20_events(&hub).await;
        let (id, event) = read(&mut stream, 1).await.remove(0);
        assert_eq!(event, "snapshot", "the lagging subscriber is resynced");
        assert!(id.ends_with("-20"), "the snapshot covers every event: {id}");
        hub.apply(change("s", "k21", 21)).await.unwrap();
        let (id, event) = read(&mut stream, 1).await.remove(0);
        assert_eq!((event.as_str(), id.ends_with("-21")), ("metadata", true));
    }

    /// While its lane is armed, a caught-up subscriber's live frames go straight to its
    /// socket and its stream yields nothing for them; a full socket hands a frame back to
    /// the stream, and a frame written in part makes the stream ask for a flush.
    #[tokio::test]
    async fn live_frames_go_out_on_the_lane_and_come_back_when_the_socket_is_full() {
        let hub = hub(&[]).await;
        let session = SessionId::parse("s").unwrap();
        let socket = fanout::tests::FakeSocket::with_room(usize::MAX);
        let subscription = hub.subscribe(&session, None).await.unwrap();
        let mut stream = Box::pin(
            subscription
                .with_lane(socket.clone())
                .into_stream(Duration::from_secs(60), CancellationToken::new()),
        );
        assert_eq!(read(&mut stream, 1).await[0].1, "snapshot");
        // The lane opens with the session's first live frame, which the stream carries.
        hub.apply(change("s", "k", 1)).await.unwrap();
        assert!(read(&mut stream, 1).await[0].0.ends_with("-1"));
        assert!(stream.next().now_or_never().is_none(), "caught up: armed");
        for second in 2..=3 {
            hub.apply(change("s", "k", second)).await.unwrap();
        }
        let ids: Vec<_> = socket
            .written()
            .lines()
            .filter_map(|l| {
                l.strip_prefix("id: ")
                    .map(|id| id.rsplit('-').next().unwrap().to_owned())
            })
            .collect();
        assert_eq!(ids, ["2", "3"], "each on the lane, in order");
        assert!(
            stream.next().now_or_never().is_none(),
            "and not on the stream"
        );

        socket.set_room(0);
        hub.apply(change("s", "k", 4)).await.unwrap();
        let (id, _) = read(&mut stream, 1).await.remove(0);
        assert!(
            id.ends_with("-4"),
            "a full socket hands the frame back: {id}"
        );

        assert!(stream.next().now_or_never().is_none(), "armed again");
        socket.set_room(10);
        hub.apply(change("s", "k", 5)).await.unwrap();
        let flush = tokio::time::timeout(Duration::from_secs(2), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            flush, FLUSH,
            "the rest of frame 5 is the connection's to send"
        );
        let written = socket.written();
        let part = &written[written.rfind("\n\n").unwrap() + 2..];
        assert!(part.len() == 10 && part.starts_with("id: "), "{part:?}");
        assert!(
            stream.next().now_or_never().is_none(),
            "frame 5 is not sent twice"
        );
    }

    /// Resuming inside the replay buffer replays; before it, a snapshot is sent.
    #[tokio::test]
    async fn resume_replays_within_the_buffer_only() {
        let hub = hub(&["--replay-buffer", "3"]).await;
        let session = SessionId::parse("s").unwrap();
        let mut last = None;
        for second in 1..=5 {
            last = hub.apply(change("s", "k", second)).await.unwrap().event_id;
        }
        let last = last.unwrap();
        let at = |seq| {
            Some(EventId {
                epoch: last.epoch,
                seq,
            })
        };
        let initial = |seq| {
            let hub = hub.clone();
            let session = session.clone();
            async move { hub.subscribe(&session, at(seq)).await.unwrap().pending }
        };
        assert_eq!(initial(2).await.len(), 3, "events 3, 4 and 5 are buffered");
        assert_eq!(initial(5).await.len(), 0, "up to date: nothing to send");
        for seq in [1, 9] {
            let mut frames = initial(seq).await;
            let first = frames.pop_front().unwrap();
            assert!(
                std::str::from_utf8(&first)
                    .unwrap()
                    .contains("event: snapshot"),
                "resume at {seq}"
            );
        }
    }
}
