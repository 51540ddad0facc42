//! One SSE subscriber: connects, says when it is connected, then checks every received
//! event against its session's sequence and records its latency, until it has seen its
//! session's last event or is told to stop. In a reconnect storm it drops its connection
//! and resumes with `Last-Event-ID`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::schedule;
use crate::seq::{SeqCheck, SeqStats};
use crate::sse_client::{self, number_field, SseStream, Url};
use crate::timeline::Delivery;

/// What one subscriber saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each delivered event's due time and scheduled-publish→receive latency.
    pub deliveries: Vec<Delivery>,
    pub seq: SeqStats,
    /// Bytes of `data:` per delivered event, summed (to show every target gets equal frames).
    pub data_bytes: u64,
    /// When the last event arrived, in nanoseconds since the run's start.
    pub last_received_ns: u64,
    /// Nanoseconds since the run's start when the stream was open again after the storm.
    pub reopened_ns: Option<u64>,
    pub error: Option<String>,
}

/// Everything a subscriber needs besides its URL.
#[derive(Clone)]
pub struct Shared {
    /// Loopback source addresses; subscriber `i` connects from address `i % len`.
    pub sources: Arc<Vec<Ipv4Addr>>,
    pub start: Instant,
    /// Bounds how many connections are being opened at once.
    pub connecting: Arc<Semaphore>,
    /// Gets one message per subscriber once its stream is open (or failed to open).
    pub connected: mpsc::Sender<()>,
    /// Becomes true when the run is over, even if events are missing.
    pub stop: watch::Receiver<bool>,
    /// Becomes true when every subscriber must drop its connection and resume.
    pub storm: watch::Receiver<bool>,
}

/// Who the subscriber is.
pub struct Subscriber {
    pub index: usize,
    pub url: Url,
    /// Its session's index and the number of sessions, for the sequence check.
    pub session: u64,
    pub sessions: u64,
    /// The `bench_seq` of its session's last event; `None` to listen until stopped.
    pub last_seq: Option<u64>,
}

enum Ended {
    Done,
    Storm,
}

pub async fn run(me: Subscriber, mut shared: Shared) -> Outcome {
    let mut outcome = Outcome::default();
    let mut check = SeqCheck::new(me.session, me.sessions);
    let source = shared.sources[me.index % shared.sources.len()];
    let mut last_event_id: Option<String> = None;
    let mut first = true;
    loop {
        let permit = shared.connecting.clone().acquire_owned().await;
        let opened = sse_client::open(source, &me.url, last_event_id.as_deref()).await;
        drop(permit);
        if first {
            let _ = shared.connected.send(()).await;
        } else {
            outcome.reopened_ns = Some(shared.start.elapsed().as_nanos() as u64);
        }
        let events = match opened {
            Ok(events) => events,
            Err(e) => {
                outcome.error = Some(format!("{}: {e:#}", me.url.path));
                break;
            }
        };
        let read = read(
            &me,
            events,
            &mut shared,
            &mut check,
            &mut outcome,
            &mut last_event_id,
            first,
        )
        .await;
        first = false;
        match read {
            Ok(Ended::Done) => break,
            Ok(Ended::Storm) => continue,
            Err(e) => {
                outcome.error = Some(format!("{}: {e:#}", me.url.path));
                break;
            }
        }
    }
    outcome.seq = check.finish(me.last_seq);
    outcome
}

/// Reads one connection until the subscriber is done, a storm drops it, or it fails.
async fn read(
    me: &Subscriber,
    mut events: SseStream,
    shared: &mut Shared,
    check: &mut SeqCheck,
    outcome: &mut Outcome,
    last_event_id: &mut Option<String>,
    storm_pending: bool,
) -> Result<Ended> {
    // Made once, not per event: 5 000 subscribers re-registering with the same channels
    // on every event cost the client more than reading it.
    let stop = shared.stop.wait_for(|stop| *stop);
    let storm = shared.storm.wait_for(|storm| *storm);
    tokio::pin!(stop, storm);
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = &mut stop => return Ok(Ended::Done),
            // Only the first connection takes part in the storm: the resumed one stays.
            _ = &mut storm, if storm_pending => return Ok(Ended::Storm),
        };
        let Some(event) = event? else {
            anyhow::bail!("stream ended early");
        };
        let received_ns = shared.start.elapsed().as_nanos() as u64;
        if event.id.is_some() {
            *last_event_id = event.id;
        }
        // The bench's own fields are unique keys of the event's metadata, so a scan finds
        // them without parsing the document.
        let Some(seq) = number_field(&event.data, "bench_seq") else {
            continue; // the initial snapshot of a fresh session, or a stray message
        };
        if event.event == "snapshot" {
            check.snapshot(seq);
        } else {
            check.event(seq);
            if let Some(stamped) = number_field(&event.data, "bench_sent_ns") {
                outcome.deliveries.push(Delivery {
                    stamped_ns: stamped,
                    latency_us: schedule::latency_us(stamped, received_ns),
                });
            }
            outcome.data_bytes += event.data.len() as u64;
            outcome.last_received_ns = received_ns;
        }
        if me.last_seq.is_some_and(|last| check.has_reached(last)) {
            return Ok(Ended::Done);
        }
    }
}
