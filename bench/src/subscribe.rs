//! One SSE subscriber: connects, says when it is connected, then turns every received
//! event into a publish→receive latency until it has seen its session's last event or is
//! told to stop.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch, Semaphore};

/// What one subscriber saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Publish→receive latency of each delivered event, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Snapshots after the first one: the server resynced a subscriber that fell behind
    /// instead of sending the events it missed.
    pub resyncs: u64,
    /// When the last event arrived, in nanoseconds since the run's start.
    pub last_received_ns: u64,
    pub error: Option<String>,
}

/// Everything a subscriber needs besides its URL.
#[derive(Clone)]
pub struct Shared {
    pub client: reqwest::Client,
    pub start: Instant,
    /// Bounds how many connections are being opened at once.
    pub connecting: Arc<Semaphore>,
    /// Gets one message per subscriber once its stream is open (or failed to open).
    pub connected: mpsc::Sender<()>,
    /// Becomes true when the run is over, even if events are missing.
    pub stop: watch::Receiver<bool>,
}

/// Reads `url` until the event with `bench_seq == last_seq` (its session's last one) has
/// arrived, as an event or inside a snapshot, or until `stop`.
pub async fn run(url: String, last_seq: u64, mut shared: Shared) -> Outcome {
    let mut outcome = Outcome::default();
    let permit = shared.connecting.clone().acquire_owned().await;
    let opened = open(&shared.client, &url).await;
    drop(permit);
    let _ = shared.connected.send(()).await;
    let mut events = match opened {
        Ok(bytes) => Box::pin(bytes.eventsource()),
        Err(e) => {
            outcome.error = Some(format!("{url}: {e:#}"));
            return outcome;
        }
    };
    let mut snapshots = 0u64;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = shared.stop.wait_for(|stop| *stop) => return outcome,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                outcome.error = Some(format!("{url}: {e}"));
                return outcome;
            }
            None => {
                outcome.error = Some(format!("{url}: stream ended early"));
                return outcome;
            }
        };
        let received_ns = shared.start.elapsed().as_nanos() as u64;
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        let metadata = &data["metadata"];
        if event.event == "snapshot" {
            snapshots += 1;
            outcome.resyncs = snapshots - 1;
        } else if let Some(sent_ns) = metadata["bench_sent_ns"].as_u64() {
            outcome
                .latencies_us
                .push(received_ns.saturating_sub(sent_ns) / 1000);
            outcome.last_received_ns = received_ns;
        }
        if metadata["bench_seq"].as_u64() == Some(last_seq) {
            return outcome;
        }
    }
}

/// Opens the stream and waits for its first bytes (the gateway's `retry:` hint, Nchan's
/// and Pushpin's opening comment): only then is the subscription surely registered, so
/// no event published afterwards can be missed. Those bytes are put back in front.
async fn open(
    client: &reqwest::Client,
    url: &str,
) -> Result<impl Stream<Item = reqwest::Result<Bytes>>> {
    // Nchan picks its EventSource transport by this header, as browsers send it.
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let mut body = response.bytes_stream();
    let first = body
        .next()
        .await
        .context("the stream ended before its first bytes")??;
    Ok(futures::stream::iter([Ok(first)]).chain(body))
}
