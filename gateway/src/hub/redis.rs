//! The Redis backend: several gateways share every session's state and history, and
//! events reach every node that has subscribers of the session.
//!
//! Per session, under one hash tag so a Redis Cluster keeps them in one slot:
//! `sg:{S}:meta` (epoch, seq, updated_at), `sg:{S}:state` (merged metadata),
//! `sg:{S}:ver` (per-key write times, deletes included), `sg:{S}:tomb` (deleted keys
//! by arrival time, to collect their versions after the horizon), `sg:{S}:log` (a stream of the
//! last `REPLAY_BUFFER` framed events), `sg:{S}:msg:{MessageId}` (SQS dedup, with a TTL)
//! and the shard channel `sg:{S}:ch`. One script ([`apply.lua`](redis/apply.lua)) merges,
//! appends and `SPUBLISH`es each change atomically, so concurrent writers through
//! different nodes converge and events are published in seq order; another
//! ([`read.lua`](redis/read.lua)) reads a resume's missed events or a snapshot.
//!
//! A node `SSUBSCRIBE`s to a session's channel only while it has local subscribers of it
//! (joined before the history is read, so nothing falls between), and forwards each
//! frame to its local fan-out. A probe published on the node's own channel
//! every second checks, end to end, that commands and pub/sub both work; when they did
//! not, or the connection was re-established, the node resubscribes and sends every
//! local subscriber a fresh snapshot before it reports ready again, so nobody silently
//! misses what happened meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config as RedisConfig, Error as RedisError, ReconnectPolicy};
use fred::types::scripts::Script;
use fred::types::{Message, Value};
use serde_json::Value as Json;
use shared_types::{
    EventId, Metadata, MetadataEvent, Operation, SessionId, SnapshotEvent, EVENT_SNAPSHOT,
};
use tokio::sync::{broadcast, watch, OnceCell};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bounds::{Refused, SessionBounds};
use super::fanout::Fanout;
use super::frame::Frame;
use super::{ApplyError, CatchUp, Change, HubError, Joined, Outcome};
use crate::config::Config;
use crate::health::{ComponentStatus, Health};
use crate::metrics;

const COMPONENT: &str = "redis";
/// How often the liveness probe runs, and how long its message may take to come back.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a Redis command may take before the hub reports the backend unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often channels without local subscribers are unsubscribed.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The Redis hub; cheap to clone.
#[derive(Clone)]
pub struct RedisHub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Commands and scripts.
    client: Client,
    /// Sharded pub/sub: its own connections, as Redis requires.
    subscriber: SubscriberClient,
    apply: Script,
    read: Script,
    /// The local channel of each session with local subscribers.
    channels: Mutex<HashMap<SessionId, Arc<LocalChannel>>>,
    /// Orders `SSUBSCRIBE`s after the sweep's `SUNSUBSCRIBE`s of the same channel.
    pubsub_ops: tokio::sync::Mutex<()>,
    subscriber_buffer: usize,
    history_len: u32,
    session_ttl: u64,
    dedup_ttl: u64,
    bounds: SessionBounds,
    /// False from a failed probe until the node has resubscribed and resynced.
    available: AtomicBool,
    health: Health,
    /// This node's probe channel, and the newest probe seen on it.
    probe_channel: String,
    probe_sent: AtomicU64,
    probe_seen: watch::Sender<u64>,
}

struct LocalChannel {
    fanout: Arc<Fanout>,
    /// Set once the node is subscribed to the session's shard channel.
    subscribed: OnceCell<()>,
}

/// The keys and channel of one session.
struct Keys {
    meta: String,
    state: String,
    versions: String,
    tombstones: String,
    history: String,
    channel: String,
}

impl Keys {
    fn of(session: &SessionId) -> Self {
        let key = |suffix: &str| format!("sg:{{{session}}}:{suffix}");
        Self {
            meta: key("meta"),
            state: key("state"),
            versions: key("ver"),
            tombstones: key("tomb"),
            history: key("log"),
            channel: key("ch"),
        }
    }

    fn message(session: &SessionId, message_id: &str) -> String {
        format!("sg:{{{session}}}:msg:{message_id}")
    }

    /// The session whose channel this is, for a session channel.
    fn session_of_channel(channel: &str) -> Option<SessionId> {
        let id = channel.strip_prefix("sg:{")?.strip_suffix("}:ch")?;
        SessionId::parse(id).ok()
    }
}

/// What `read.lua` found.
enum Read {
    Replay { last: EventId, frames: Vec<Bytes> },
    Snapshot(SnapshotEvent),
}

fn unavailable(err: RedisError) -> HubError {
    HubError(err.to_string())
}

/// A comma-separated list of `redis://host:port` seed nodes means a cluster; one URL
/// is passed to the client as it is (`redis://`, `rediss://`, `redis-cluster://…`).
fn client_config(url: &str) -> anyhow::Result<RedisConfig> {
    let mut seeds = url.split(',').map(str::trim).filter(|s| !s.is_empty());
    let first = seeds.next().context("REDIS_URL is empty")?;
    let others: Vec<&str> = seeds.collect();
    let url = if others.is_empty() {
        first.to_owned()
    } else {
        let (scheme, rest) = first
            .split_once("://")
            .context("REDIS_URL seeds must be URLs like redis://host:port")?;
        let nodes: Vec<String> = others
            .iter()
            .map(|seed| format!("node={}", seed.split_once("://").map_or(*seed, |(_, n)| n)))
            .collect();
        format!(
            "{}-cluster://{rest}?{}",
            scheme.trim_end_matches("-cluster"),
            nodes.join("&")
        )
    };
    RedisConfig::from_url(&url).with_context(|| format!("REDIS_URL {url:?} is not a Redis URL"))
}

impl RedisHub {
    /// Connects (failing if Redis cannot be reached now) and starts the pub/sub reader
    /// and the probe/sweep loop, which end with `stop`.
    pub async fn start(
        url: &str,
        config: &Config,
        health: &Health,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let mut builder = Builder::from_config(client_config(url)?);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.internal_command_timeout = COMMAND_TIMEOUT;
                c.max_command_attempts = 1;
            })
            .with_performance_config(|c| {
                c.default_command_timeout = COMMAND_TIMEOUT;
                // Pub/sub messages wait here for the reader; overflowing it only costs
                // a resync, but that should stay rare.
                c.broadcast_channel_capacity = 1 << 16;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        let client = builder.build().context("configuring the Redis client")?;
        let subscriber = builder
            .build_subscriber_client()
            .context("configuring the Redis subscriber")?;
        client
            .init()
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;
        subscriber
            .init()
            .await
            .with_context(|| format!("connecting to Redis at {url} for pub/sub"))?;
        let apply = Script::from_lua(include_str!("redis/apply.lua"));
        let read = Script::from_lua(include_str!("redis/read.lua"));
        apply.load(&client).await.context("loading apply.lua")?;
        read.load(&client).await.context("loading read.lua")?;
        let probe_channel = format!("sg:probe:{}", uuid::Uuid::new_v4().simple());
        subscriber
            .ssubscribe(probe_channel.clone())
            .await
            .context("subscribing to the probe channel")?;
        tracing::info!(
            component = "hub",
            backend = "redis",
            session_ttl_s = config.session_ttl_seconds,
            "session state in Redis"
        );
        health.set(COMPONENT, ComponentStatus::ok("redis"));
        let hub = Self {
            inner: Arc::new(Inner {
                client,
                subscriber,
                apply,
                read,
                channels: Mutex::default(),
                pubsub_ops: tokio::sync::Mutex::new(()),
                subscriber_buffer: config.subscriber_buffer as usize,
                history_len: config.replay_buffer,
                session_ttl: config.session_ttl_seconds,
                dedup_ttl: config.message_dedup_seconds,
                bounds: SessionBounds::from_config(config),
                available: AtomicBool::new(true),
                health: health.clone(),
                probe_channel,
                probe_sent: AtomicU64::new(0),
                probe_seen: watch::Sender::new(0),
            }),
        };
        tasks.spawn(hub.clone().read_messages(stop.clone()));
        tasks.spawn(hub.clone().watch(stop));
        Ok(hub)
    }

    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::Relaxed)
    }

    pub fn bounds(&self) -> &SessionBounds {
        &self.inner.bounds
    }

    /// Runs `apply.lua`, which merges within the session bounds exactly as
    /// [`super::state::MergedState::merge`] does.
    pub async fn apply(&self, change: Change, now: DateTime<Utc>) -> Result<Outcome, ApplyError> {
        let Change {
            session_id,
            event,
            operation,
            metadata,
            timestamp,
            source,
        } = change;
        let keys = Keys::of(&session_id);
        let message_id = source.message_id().unwrap_or_default();
        let dedup_ttl = if source.message_id().is_some() {
            self.inner.dedup_ttl
        } else {
            0
        };
        // The event's JSON around its `metadata` object; the script fills in the keys
        // that win, so the bytes equal what the memory backend frames.
        let envelope = serde_json::to_string(&MetadataEvent {
            session_id: session_id.clone(),
            event,
            operation,
            metadata: Metadata::new(),
            timestamp,
        })
        .expect("events serialize");
        let split = envelope
            .rfind("\"metadata\":{}")
            .expect("the envelope has a metadata object")
            + "\"metadata\":{".len();
        let mut args: Vec<String> = vec![
            keys.channel,
            self.inner.session_ttl.to_string(),
            self.inner.history_len.to_string(),
            dedup_ttl.to_string(),
            match operation {
                Operation::Update => "update".into(),
                Operation::Delete => "delete".into(),
            },
            shared_types::timestamp::format(&timestamp),
            envelope[..split].to_owned(),
            envelope[split..].to_owned(),
            self.inner.bounds.max_keys.to_string(),
            self.inner.bounds.max_bytes.to_string(),
            now.timestamp_micros().to_string(),
            self.inner.bounds.tombstone_cutoff(now).to_string(),
        ];
        for (key, value) in &metadata {
            let key_json = serde_json::to_string(key).expect("strings serialize");
            let (value, fragment) = match operation {
                Operation::Update => (value.to_string(), format!("{key_json}:{value}")),
                Operation::Delete => (String::new(), format!("{key_json}:null")),
            };
            args.extend([key.clone(), value, fragment]);
        }
        let script_keys = vec![
            keys.meta,
            keys.state,
            keys.versions,
            keys.history,
            Keys::message(&session_id, message_id),
            keys.tombstones,
        ];
        let reply: Vec<String> = self
            .inner
            .apply
            .evalsha_with_reload(&self.inner.client, script_keys, args)
            .await
            .map_err(unavailable)?;
        let [status, epoch, seq, mask] = <[String; 4]>::try_from(reply)
            .map_err(|reply| HubError(format!("unexpected apply.lua reply {reply:?}")))?;
        let size = || {
            epoch
                .parse::<usize>()
                .map_err(|_| HubError(format!("unexpected apply.lua size {epoch:?}")))
        };
        match status.as_str() {
            "dup" => return Ok(Outcome::duplicate(&metadata)),
            "session_full" => {
                let (max, keys) = (self.inner.bounds.max_keys, size()?);
                return Err(Refused::SessionFull { max, keys }.into());
            }
            "snapshot_too_large" => {
                let (max, bytes) = (self.inner.bounds.max_bytes, size()?);
                return Err(Refused::SnapshotTooLarge { max, bytes }.into());
            }
            _ => {}
        }
        let (mut applied, mut ignored) = (Vec::new(), Vec::new());
        for (key, won) in metadata.keys().zip(mask.bytes()) {
            if won == b'1' {
                applied.push(key.clone());
            } else {
                ignored.push(key.clone());
            }
        }
        if !ignored.is_empty() {
            ::metrics::counter!(metrics::EVENTS_IGNORED, "reason" => "stale")
                .increment(ignored.len() as u64);
        }
        let event_id = if status == "applied" {
            ::metrics::counter!(metrics::EVENTS_APPLIED, "source" => source.label()).increment(1);
            Some(parse_id(&epoch, &seq).map_err(ApplyError::from)?)
        } else {
            None
        };
        Ok(Outcome {
            event_id,
            applied,
            ignored,
        })
    }

    pub async fn snapshot(&self, session_id: &SessionId) -> Result<SnapshotEvent, HubError> {
        match self.read_raw(session_id, None).await? {
            Read::Snapshot(snapshot) => Ok(snapshot),
            Read::Replay { .. } => unreachable!("read.lua replays only for a resume id"),
        }
    }

    /// Joins the session's local channel (subscribing this node to the session first if
    /// it is the first local subscriber), then reads the history.
    pub(super) async fn subscribe(
        &self,
        session_id: &SessionId,
        resume: Option<EventId>,
    ) -> Result<Joined, HubError> {
        let (channel, receiver) = {
            let mut channels = self.inner.channels.lock().expect("channels lock");
            let channel = channels
                .entry(session_id.clone())
                .or_insert_with(|| {
                    Arc::new(LocalChannel {
                        fanout: Fanout::new(self.inner.subscriber_buffer),
                        subscribed: OnceCell::new(),
                    })
                })
                .clone();
            let receiver = channel.fanout.join();
            (channel, receiver)
        };
        channel
            .subscribed
            .get_or_try_init(|| async {
                let _ordered = self.inner.pubsub_ops.lock().await;
                self.inner
                    .subscriber
                    .ssubscribe(Keys::of(session_id).channel)
                    .await
                    .map_err(unavailable)
            })
            .await?;
        let catch_up = self.read(session_id, resume).await?;
        Ok(Joined {
            fanout: channel.fanout.clone(),
            receiver,
            catch_up,
        })
    }

    /// The events after `resume` if the shared history holds them all, else a snapshot.
    pub(super) async fn read(
        &self,
        session_id: &SessionId,
        resume: Option<EventId>,
    ) -> Result<CatchUp, HubError> {
        Ok(match self.read_raw(session_id, resume).await? {
            Read::Replay { last, frames } => CatchUp { frames, last },
            Read::Snapshot(snapshot) => {
                let frame = snapshot_frame(&snapshot);
                CatchUp {
                    frames: vec![frame.bytes],
                    last: frame.id,
                }
            }
        })
    }

    async fn read_raw(
        &self,
        session_id: &SessionId,
        resume: Option<EventId>,
    ) -> Result<Read, HubError> {
        let keys = Keys::of(session_id);
        let (epoch, seq) = resume.map_or((String::new(), String::new()), |id| {
            (id.epoch.to_string(), id.seq.to_string())
        });
        let reply: Vec<Value> = self
            .inner
            .read
            .evalsha_with_reload(
                &self.inner.client,
                vec![keys.meta, keys.state, keys.history],
                vec![epoch, seq],
            )
            .await
            .map_err(unavailable)?;
        let mut fields = reply
            .into_iter()
            .map(|v| v.as_bytes().map(Bytes::copy_from_slice));
        let mut text = || -> Result<String, HubError> {
            let bytes = fields
                .next()
                .flatten()
                .ok_or_else(|| HubError("short read.lua reply".into()))?;
            String::from_utf8(bytes.to_vec()).map_err(|e| HubError(e.to_string()))
        };
        let kind = text()?;
        let (epoch, seq) = (text()?, text()?);
        if kind == "replay" {
            let last = parse_id(&epoch, &seq)?;
            let frames = fields.flatten().collect();
            return Ok(Read::Replay { last, frames });
        }
        let updated_at = text()?;
        let mut metadata = Metadata::new();
        while let Ok(key) = text() {
            let value = text()?;
            let value: Json = serde_json::from_str(&value)
                .map_err(|e| HubError(format!("state of {key}: {e}")))?;
            metadata.insert(key, value);
        }
        Ok(Read::Snapshot(SnapshotEvent {
            session_id: session_id.clone(),
            metadata,
            updated_at: (!updated_at.is_empty())
                .then(|| shared_types::timestamp::parse(&updated_at))
                .transpose()
                .map_err(HubError)?,
            last_event_id: (!epoch.is_empty())
                .then(|| parse_id(&epoch, &seq))
                .transpose()?,
        }))
    }

    /// Forwards each pub/sub message to its session's local channel.
    async fn read_messages(self, stop: CancellationToken) {
        let mut messages = self.inner.subscriber.message_rx();
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = messages.recv() => message,
            };
            match message {
                Ok(message) => self.route(message).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "Redis pub/sub messages overflowed; resyncing every subscriber"
                    );
                    let hub = self.clone();
                    tokio::spawn(async move { hub.resync_all().await });
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn route(&self, message: Message) {
        if *message.channel == *self.inner.probe_channel {
            if let Some(nonce) = message.value.as_u64() {
                self.inner.probe_seen.send_replace(nonce);
            }
            return;
        }
        let Some(session) = Keys::session_of_channel(&message.channel) else {
            return;
        };
        let Some(frame) = message
            .value
            .as_bytes()
            .and_then(|b| Frame::parse_event(Bytes::copy_from_slice(b)))
        else {
            tracing::warn!(channel = %message.channel, "unreadable message on a session channel");
            return;
        };
        let channel = self
            .inner
            .channels
            .lock()
            .expect("channels lock")
            .get(&session)
            .cloned();
        if let Some(channel) = channel {
            channel.fanout.send(frame).offer().await;
        }
    }

    /// Probes Redis every second and sweeps unused channels; after a failed probe or a
    /// reconnection, recovers (resubscribe + resync) before reporting ready again.
    async fn watch(self, stop: CancellationToken) {
        let mut reconnections = self.inner.subscriber.reconnect_rx();
        let mut probe = tokio::time::interval(PROBE_EVERY);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut must_recover = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = reconnections.recv() => {
                    // A new connection has no subscriptions: restore them now (the probe
                    // needs its own), and resync once the probe passes.
                    tracing::info!("Redis pub/sub reconnected");
                    must_recover = true;
                    self.resubscribe().await.ok();
                    continue;
                }
                _ = probe.tick() => {}
                _ = sweep.tick() => {
                    self.sweep().await;
                    continue;
                }
            }
            match self.probe().await {
                Err(error) => {
                    if self.inner.available.swap(false, Ordering::Relaxed) {
                        tracing::warn!(%error, "Redis probe failed");
                    }
                    self.inner
                        .health
                        .set(COMPONENT, ComponentStatus::down("redis", &error));
                    must_recover = true;
                }
                Ok(()) if must_recover => {
                    // Subscribed again before the snapshots are read, so that no event
                    // falls between a snapshot and the live stream.
                    if let Err(error) = self.resubscribe().await {
                        tracing::warn!(%error, "Redis resubscribe failed; retrying");
                        continue;
                    }
                    self.resync_all().await;
                    tracing::info!("Redis back: resubscribed and resynced every subscriber");
                    must_recover = false;
                    self.inner.available.store(true, Ordering::Relaxed);
                    self.inner
                        .health
                        .set(COMPONENT, ComponentStatus::ok("redis"));
                }
                Ok(()) => {}
            }
        }
    }

    /// Publishes a nonce on this node's channel and waits for it to come back, which
    /// proves commands and pub/sub both work (a dead subscription stays silent, it
    /// reports no error).
    async fn probe(&self) -> Result<(), String> {
        let nonce = self.inner.probe_sent.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = self.inner.probe_seen.subscribe();
        self.inner
            .client
            .spublish::<(), _, _>(self.inner.probe_channel.clone(), nonce)
            .await
            .map_err(|e| e.to_string())?;
        if tokio::time::timeout(PROBE_TIMEOUT, seen.wait_for(|&n| n >= nonce))
            .await
            .is_ok()
        {
            return Ok(());
        }
        // Commands work but the subscription is silent: subscribe again, and if even
        // that fails, start over with a new connection.
        if self.resubscribe().await.is_err() {
            let reconnect = self.inner.subscriber.force_reconnection();
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, reconnect).await;
        }
        Err("the probe message did not come back over pub/sub".into())
    }

    /// Subscribes again to the probe channel and every session channel in use, one by
    /// one: a cluster takes several shard channels in one call only within one slot.
    async fn resubscribe(&self) -> Result<(), HubError> {
        let _ordered = self.inner.pubsub_ops.lock().await;
        for channel in self.inner.subscriber.tracked_shard_channels() {
            self.inner
                .subscriber
                .ssubscribe(channel.to_string())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Sends every local subscriber a snapshot read now.
    async fn resync_all(&self) {
        let channels: Vec<(SessionId, Arc<LocalChannel>)> = self
            .inner
            .channels
            .lock()
            .expect("channels lock")
            .iter()
            .map(|(id, channel)| (id.clone(), channel.clone()))
            .collect();
        for (session, channel) in channels {
            match self.read_raw(&session, None).await {
                Ok(Read::Snapshot(snapshot)) => {
                    ::metrics::counter!(metrics::SSE_RESYNCS, "reason" => "redis_recovered")
                        .increment(channel.fanout.subscribers() as u64);
                    channel.fanout.send(snapshot_frame(&snapshot)).offer().await;
                }
                Ok(Read::Replay { .. }) => unreachable!("read.lua replays only for a resume id"),
                Err(error) => tracing::warn!(%session, %error, "resync failed"),
            }
        }
    }

    /// Unsubscribes from sessions that no longer have local subscribers.
    async fn sweep(&self) {
        let _ordered = self.inner.pubsub_ops.lock().await;
        let unused: Vec<SessionId> = {
            let mut channels = self.inner.channels.lock().expect("channels lock");
            let unused = channels
                .iter()
                .filter(|(_, c)| c.fanout.subscribers() == 0)
                .map(|(id, _)| id.clone())
                .collect::<Vec<_>>();
            for id in &unused {
                channels.remove(id);
            }
            unused
        };
        for session in unused {
            if let Err(error) = self
                .inner
                .subscriber
                .sunsubscribe(Keys::of(&session).channel)
                .await
            {
                tracing::debug!(%session, %error, "SUNSUBSCRIBE failed");
            }
        }
    }
}

fn snapshot_frame(snapshot: &SnapshotEvent) -> Frame {
    // A session never written has no history yet: `0-0` is the position before it.
    let id = snapshot
        .last_event_id
        .unwrap_or(EventId { epoch: 0, seq: 0 });
    Frame::new(id, EVENT_SNAPSHOT, snapshot)
}

fn parse_id(epoch: &str, seq: &str) -> Result<EventId, HubError> {
    format!("{epoch}-{seq}")
        .parse()
        .map_err(|e: shared_types::events::EventIdError| HubError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_share_one_hash_tag() {
        let session = SessionId::parse("user-session-123").unwrap();
        let keys = Keys::of(&session);
        for key in [
            &keys.meta,
            &keys.state,
            &keys.versions,
            &keys.tombstones,
            &keys.history,
            &keys.channel,
        ] {
            assert!(key.starts_with("sg:{user-session-123}:"), "{key}");
        }
        assert_eq!(Keys::session_of_channel(&keys.channel), Some(session));
        assert_eq!(Keys::session_of_channel("sg:probe:abc"), None);
    }

    #[test]
    fn seed_lists_become_cluster_configs() {
        let config = client_config("redis://127.0.0.1:7000,redis://127.0.0.1:7001").unwrap();
        assert!(config.server.is_clustered());
        let config = client_config("redis://127.0.0.1:6379").unwrap();
        assert!(!config.server.is_clustered());
        assert!(client_config("").is_err());
    }
}
