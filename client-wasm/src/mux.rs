//! One connection for every subscription of a client: the multiplexed stream
//! `POST /v1/events`, so a page watching many sessions does not run into the browser's
//! six connections per origin.
//!
//! One task per client runs [`run`] while it has subscriptions: wait a moment (a burst of
//! `subscribe`/`close` calls becomes one reconnection), open the stream with every
//! session's position, route each event to its session's subscriptions by the session in
//! its id, until the stream breaks (backoff, then reconnect) or the set of subscriptions
//! changes (reconnect at once). Each subscription keeps its own view, state and
//! callbacks ([`crate::subscription`]); a reconnection resumes every session from its own
//! last event, so nothing is missed or repeated.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Object, Uint8Array, JSON};
use shared_types::multiplex::{format_position, POSITION_SEPARATOR};
use shared_types::EVENT_REFUSED;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, ReadableStreamDefaultReader, ReadableStreamReadResult};

use crate::backoff::{Backoff, RetryPolicy};
use crate::convert::{describe, field, from_wire, set};
use crate::http::Api;
use crate::sse::{SseEvent, SseItem, SseParser};
use crate::subscription::{ConnectionState, Inner, StateInfo};
use crate::{visibility, GatewayError};

/// How long subscription changes settle before the stream is reopened.
const DEBOUNCE_MS: u32 = 50;

pub(crate) struct Mux {
    api: Api,
    retry: RetryPolicy,
    idle_timeout_ms: u32,
    subscriptions: RefCell<Vec<Rc<Inner>>>,
    /// Wakes the running task when the set changes; closed when no task runs.
    changed: RefCell<Option<UnboundedSender<()>>>,
    /// Aborts the fetch in flight.
    abort: RefCell<Option<AbortController>>,
}

impl Mux {
    pub fn new(api: Api, retry: RetryPolicy, idle_timeout_ms: u32) -> Rc<Self> {
        Rc::new(Self {
            api,
            retry,
            idle_timeout_ms,
            subscriptions: RefCell::default(),
            changed: RefCell::default(),
            abort: RefCell::default(),
        })
    }

    /// Adds a subscription to the connection (reopened shortly with it).
    pub fn add(self: &Rc<Self>, inner: Rc<Inner>) {
        self.subscriptions.borrow_mut().push(inner);
        self.changed();
    }

    /// Takes a subscription off the connection (reopened shortly without it).
    pub fn remove(self: &Rc<Self>, inner: &Rc<Inner>) {
        self.subscriptions
            .borrow_mut()
            .retain(|s| !Rc::ptr_eq(s, inner));
        self.changed();
    }

    /// Tells the running task, or starts one.
    fn changed(self: &Rc<Self>) {
        let running = self
            .changed
            .borrow()
            .as_ref()
            .is_some_and(|tx| !tx.is_closed());
        if running {
            if let Some(tx) = self.changed.borrow().as_ref() {
                let _ = tx.unbounded_send(());
            }
            return;
        }
        let (tx, rx) = unbounded();
        self.changed.replace(Some(tx));
        spawn_local(run(self.clone(), rx));
    }

    fn abort_fetch(&self) {
        if let Some(controller) = self.abort.take() {
            controller.abort();
        }
    }

    /// The subscriptions still open, at this moment.
    fn open(&self) -> Vec<Rc<Inner>> {
        self.subscriptions.borrow_mut().retain(|s| !s.closed());
        self.subscriptions.borrow().clone()
    }
}

/// Connects, streams, and reconnects while the client has subscriptions.
async fn run(mux: Rc<Mux>, mut changes: UnboundedReceiver<()>) {
    let mut backoff = Backoff::new(mux.retry);
    let mut server_retry_ms = None;
    loop {
        TimeoutFuture::new(DEBOUNCE_MS).await;
        while changes.try_recv().is_ok() {}
        let subscriptions = mux.open();
        if subscriptions.is_empty() {
            return;
        }
        let connection = Box::pin(stream(
            &mux,
            &subscriptions,
            &mut server_retry_ms,
            &mut backoff,
        ));
        let lost = match select(connection, changes.next()).await {
            // Subscriptions came or went: reopen with the new set, every position kept.
            Either::Right(_) => None,
            Either::Left((lost, _)) => Some(lost),
        };
        mux.abort_fetch();
        let Some(lost) = lost else { continue };
        if let Some(error) = lost.as_ref().filter(|e| e.fatal) {
            // The whole request was refused (token, bad list): no subscription on it can
            // succeed by retrying.
            for subscription in &subscriptions {
                subscription.report(error);
                subscription.shutdown(lost.clone());
            }
            continue;
        }
        let retry_after = lost.as_ref().and_then(|e| e.retry_after_ms);
        let delay = backoff.next_delay(server_retry_ms, retry_after, js_sys::Math::random());
        for subscription in &subscriptions {
            if let Some(error) = &lost {
                subscription.report(error);
            }
            let info = StateInfo {
                attempt: backoff.failures(),
                retry_in_ms: Some(delay),
                error: lost.clone(),
            };
            subscription.set_state(ConnectionState::Reconnecting, info);
        }
        TimeoutFuture::new(delay).await;
        visibility::visible().await;
    }
}

/// The request body: each session once, with its position when all its subscriptions
/// agree on one (otherwise it starts over with a snapshot, which every view accepts).
fn request(subscriptions: &[Rc<Inner>]) -> Result<String, GatewayError> {
    let sessions = Array::new();
    let mut positions: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for subscription in subscriptions {
        let session = subscription.session.as_str();
        if seen.contains(&session) {
            continue;
        }
        seen.push(session);
        sessions.push(&JsValue::from_str(session));
        let mut ids = subscriptions
            .iter()
            .filter(|s| s.session.as_str() == session)
            .map(|s| s.view.borrow().last_event_id.clone());
        let first = ids.next().flatten();
        if let Some(id) = first.filter(|id| ids.all(|other| other.as_ref() == Some(id))) {
            positions.push(format_position(session, &id));
        }
    }
    let body = Object::new();
    set(&body, "sessions", &sessions);
    if !positions.is_empty() {
        set(&body, "last_event_id", &JsValue::from(positions.join(",")));
    }
    JSON::stringify(&body)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| GatewayError::invalid_argument("the stream request cannot be encoded"))
}

/// One connection: open the stream and route its events until it ends. Returns why it
/// ended: `None` when the server closed it cleanly (e.g. on shutdown). The caller aborts
/// the fetch afterwards, which also releases the body on every other way out.
async fn stream(
    mux: &Mux,
    subscriptions: &[Rc<Inner>],
    server_retry_ms: &mut Option<u32>,
    backoff: &mut Backoff,
) -> Option<GatewayError> {
    let controller = match AbortController::new() {
        Ok(controller) => controller,
        Err(e) => return Some(GatewayError::network(describe(&e))),
    };
    let signal = controller.signal();
    mux.abort.replace(Some(controller));
    let body = match request(subscriptions) {
        Ok(body) => body,
        Err(error) => return Some(error),
    };
    let response = match mux.api.open_events(&body, &signal).await {
        Ok(response) => response,
        Err(error) => return Some(error),
    };
    let Some(body) = response.body() else {
        return Some(GatewayError::invalid_response(
            "the event stream has no body",
        ));
    };
    for subscription in subscriptions {
        if subscription.state.get() != ConnectionState::Open {
            subscription.set_state(ConnectionState::Open, StateInfo::default());
        }
    }
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut parser = SseParser::default();
    loop {
        let read = JsFuture::from(reader.read());
        let chunk = match select(read, TimeoutFuture::new(mux.idle_timeout_ms)).await {
            Either::Left((Ok(read), _)) => read.unchecked_into::<ReadableStreamReadResult>(),
            Either::Left((Err(e), _)) => {
                return Some(GatewayError::network(
                    "the event stream broke: ".to_owned() + &describe(&e),
                ))
            }
            Either::Right(_) => return Some(GatewayError::stalled(mux.idle_timeout_ms)),
        };
        if chunk.get_done().unwrap_or(true) {
            return None;
        }
        for item in parser.feed(&Uint8Array::new(&chunk.get_value()).to_vec()) {
            match item {
                SseItem::Retry(ms) => *server_retry_ms = Some(ms),
                SseItem::Event(event) => {
                    if let Err(error) = route(subscriptions, event) {
                        return Some(error);
                    }
                    backoff.reset();
                }
            }
        }
    }
}

/// Hands an event to the subscriptions of its session: the session is in the id
/// (`{session}/{epoch}-{seq}`), or, for `refused`, in the data.
fn route(subscriptions: &[Rc<Inner>], mut event: SseEvent) -> Result<(), GatewayError> {
    if event.event == EVENT_REFUSED {
        let data = from_wire(&event.data, "a refused event")?;
        let session = field(&data, "session_id").as_string().unwrap_or_default();
        let detail = field(&data, "error");
        let mut error = GatewayError::from_status(
            field(&data, "status").as_f64().unwrap_or(403.0) as u16,
            field(&detail, "code")
                .as_string()
                .zip(field(&detail, "message").as_string()),
            &event.data,
            None,
        );
        error.reason = field(&detail, "reason").as_string();
        for subscription in subscriptions
            .iter()
            .filter(|s| s.session.as_str() == session)
        {
            subscription.report(&error);
            subscription.shutdown(Some(error.clone()));
        }
        return Ok(());
    }
    let tagged = event.id.take().unwrap_or_default();
    let Some((session, id)) = tagged.split_once(POSITION_SEPARATOR) else {
        return Err(GatewayError::invalid_response(
            "a multiplexed event without its session in the id",
        ));
    };
    event.id = Some(id.to_owned());
    for subscription in subscriptions
        .iter()
        .filter(|s| s.session.as_str() == session)
    {
        if let Err(error) = subscription.dispatch(event.clone()) {
            // The view may now be incomplete: resync it from a fresh snapshot.
            subscription.view.borrow_mut().last_event_id = None;
            return Err(error);
        }
    }
    Ok(())
}
