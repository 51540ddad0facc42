//! A live subscription to one session: keeps the merged metadata view, reconnects with
//! backoff and resumes from the last event id, stops on fatal errors and on `close()`.
//!
//! One task per subscription runs [`run`]: connect, read the stream until it ends or
//! breaks, wait, reconnect. `close()` fires a stop signal the task's outer `select` polls
//! first, aborts the fetch in flight, and marks the subscription closed so no callback
//! runs afterwards: nothing is left pending, not even a retry timer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use gloo_timers::future::TimeoutFuture;
use js_sys::Uint8Array;
use shared_types::{SessionId, EVENT_METADATA, EVENT_SNAPSHOT};
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, ReadableStreamDefaultReader, ReadableStreamReadResult};

use crate::backoff::{Backoff, RetryPolicy};
use crate::convert::{describe, from_wire, set};
use crate::http::Api;
use crate::options::Handlers;
use crate::sse::{SseEvent, SseItem, SseParser};
use crate::view::View;
use crate::{visibility, GatewayError};

/// Where a subscription's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Tsify)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    /// The stream is established.
    Open,
    /// The stream was lost; the next attempt is scheduled.
    Reconnecting,
    /// Final: `close()` was called or a fatal error happened.
    Closed,
}

impl ConnectionState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Reconnecting => "reconnecting",
            Self::Closed => "closed",
        }
    }
}

/// Details of a state change, passed to `onState`.
// `Tsify` only writes the TypeScript interface; the JavaScript value is built by `to_js`.
#[derive(Debug, Clone, Default, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct StateInfo {
    /// Consecutive failed attempts; 0 while connecting for the first time and once open.
    pub attempt: u32,
    /// `reconnecting`: how long until the next attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub retry_in_ms: Option<u32>,
    /// `reconnecting`: why the stream was lost; `closed`: the fatal error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub error: Option<GatewayError>,
}

impl StateInfo {
    fn to_js(&self) -> JsValue {
        let info = js_sys::Object::new();
        set(&info, "attempt", &self.attempt.into());
        if let Some(ms) = self.retry_in_ms {
            set(&info, "retryInMs", &ms.into());
        }
        if let Some(error) = &self.error {
            set(&info, "error", &error.to_js());
        }
        info.into()
    }
}

/// A live view of one session, returned by `client.subscribe(...)`. Call `close()` when
/// done: a subscription otherwise lives as long as the page.
#[wasm_bindgen]
pub struct Subscription {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Subscription {
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> String {
        self.inner.session.to_string()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        self.inner.state.get().as_str().to_owned()
    }

    /// The merged metadata as of the last event (a copy).
    #[wasm_bindgen(getter, unchecked_return_type = "Metadata")]
    pub fn metadata(&self) -> Result<JsValue, JsValue> {
        Ok(self.inner.view.borrow().metadata())
    }

    /// Id of the last event applied; the next connection resumes after it.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> Option<String> {
        self.inner.view.borrow().last_event_id.clone()
    }

    /// Stops at once: aborts the connection, cancels a pending retry, and no handler is
    /// called afterwards except `onState("closed", …)`. Calling it again does nothing.
    pub fn close(&self) {
        self.inner.shutdown(None);
    }
}

/// Starts a subscription's task.
pub(crate) fn start(
    api: Api,
    session: SessionId,
    handlers: Handlers,
    retry: RetryPolicy,
    idle_timeout_ms: u32,
) -> Subscription {
    let (stop, stopped) = oneshot::channel();
    let inner = Rc::new(Inner {
        session,
        handlers,
        state: Cell::new(ConnectionState::Connecting),
        attempt: Cell::new(0),
        view: RefCell::default(),
        abort: RefCell::default(),
        stop: RefCell::new(Some(stop)),
    });
    let task = run(inner.clone(), api, retry, idle_timeout_ms);
    spawn_local(async move {
        // `stopped` first: once `close()` ran, the task is dropped without another step.
        select(stopped, Box::pin(task)).await;
    });
    Subscription { inner }
}

struct Inner {
    session: SessionId,
    handlers: Handlers,
    state: Cell<ConnectionState>,
    /// `attempt` of the last state change, repeated in the final `closed` info.
    attempt: Cell<u32>,
    view: RefCell<View>,
    /// Aborts the fetch in flight.
    abort: RefCell<Option<AbortController>>,
    /// Stops the task; taken by the first `shutdown`.
    stop: RefCell<Option<oneshot::Sender<()>>>,
}

impl Inner {
    fn closed(&self) -> bool {
        self.state.get() == ConnectionState::Closed
    }

    /// Records a state change and tells `onState`. `closed` is final.
    fn set_state(&self, state: ConnectionState, info: StateInfo) {
        if self.closed() {
            return;
        }
        self.state.set(state);
        self.attempt.set(info.attempt);
        if self.handlers.on_state.is_some() {
            let state = JsValue::from_str(state.as_str());
            Handlers::call(&self.handlers.on_state, &[&state, &info.to_js()]);
        }
    }

    fn report(&self, error: &GatewayError) {
        if !self.closed() {
            Handlers::call(&self.handlers.on_error, &[&error.to_js()]);
        }
    }

    /// Ends the subscription, with the fatal error if there was one.
    fn shutdown(&self, error: Option<GatewayError>) {
        let info = StateInfo {
            attempt: self.attempt.get(),
            retry_in_ms: None,
            error,
        };
        self.set_state(ConnectionState::Closed, info);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.abort_fetch();
    }

    fn abort_fetch(&self) {
        if let Some(controller) = self.abort.take() {
            controller.abort();
        }
    }

    /// Applies one event to the view and tells the handlers. Unknown event names are
    /// skipped (a newer gateway may send more); a payload that does not decode is an error.
    /// The data is decoded twice, so the view and the handler each own their value.
    fn dispatch(&self, event: SseEvent) -> Result<(), GatewayError> {
        if self.closed() {
            return Ok(());
        }
        match event.event.as_str() {
            EVENT_SNAPSHOT => {
                let what = "a snapshot event";
                let snapshot = from_wire(&event.data, what)?;
                self.view
                    .borrow_mut()
                    .replace(&from_wire(&event.data, what)?, event.id)?;
                Handlers::call(&self.handlers.on_snapshot, &[&snapshot]);
            }
            EVENT_METADATA => {
                let what = "a metadata event";
                let update = from_wire(&event.data, what)?;
                let id = JsValue::from(event.id.as_deref().unwrap_or_default());
                self.view
                    .borrow_mut()
                    .apply(&from_wire(&event.data, what)?, event.id)?;
                Handlers::call(&self.handlers.on_update, &[&update, &id]);
            }
            _ => return Ok(()),
        }
        if self.handlers.on_metadata.is_some() && !self.closed() {
            let metadata = self.view.borrow().metadata();
            Handlers::call(&self.handlers.on_metadata, &[&metadata]);
        }
        Ok(())
    }
}

/// Connects, streams, and reconnects until closed or a fatal error.
async fn run(inner: Rc<Inner>, api: Api, retry: RetryPolicy, idle_timeout_ms: u32) {
    let mut backoff = Backoff::new(retry);
    let mut server_retry_ms = None;
    inner.set_state(ConnectionState::Connecting, StateInfo::default());
    loop {
        let lost = stream(
            &inner,
            &api,
            idle_timeout_ms,
            &mut server_retry_ms,
            &mut backoff,
        )
        .await;
        inner.abort_fetch();
        if inner.closed() {
            return;
        }
        if let Some(error) = lost.as_ref().filter(|e| e.fatal) {
            inner.report(error);
            return inner.shutdown(lost);
        }
        let retry_after = lost.as_ref().and_then(|e| e.retry_after_ms);
        let delay = backoff.next_delay(server_retry_ms, retry_after, js_sys::Math::random());
        if let Some(error) = &lost {
            inner.report(error);
        }
        let info = StateInfo {
            attempt: backoff.failures(),
            retry_in_ms: Some(delay),
            error: lost,
        };
        inner.set_state(ConnectionState::Reconnecting, info);
        TimeoutFuture::new(delay).await;
        visibility::visible().await;
    }
}

/// One connection: open the stream and apply its events until it ends. Returns why it
/// ended: `None` when the server closed it cleanly (e.g. on shutdown). The caller aborts
/// the fetch afterwards, which also releases the body on every other way out.
async fn stream(
    inner: &Inner,
    api: &Api,
    idle_timeout_ms: u32,
    server_retry_ms: &mut Option<u32>,
    backoff: &mut Backoff,
) -> Option<GatewayError> {
    let controller = match AbortController::new() {
        Ok(controller) => controller,
        Err(e) => return Some(GatewayError::network(describe(&e))),
    };
    let signal = controller.signal();
    inner.abort.replace(Some(controller));
    let resume = inner.view.borrow().last_event_id.clone();
    let response = match api
        .open_events(&inner.session, resume.as_deref(), &signal)
        .await
    {
        Ok(response) => response,
        Err(error) => return Some(error),
    };
    let Some(body) = response.body() else {
        return Some(GatewayError::invalid_response(
            "the event stream has no body",
        ));
    };
    inner.set_state(ConnectionState::Open, StateInfo::default());
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut parser = SseParser::default();
    loop {
        let read = JsFuture::from(reader.read());
        let chunk = match select(read, TimeoutFuture::new(idle_timeout_ms)).await {
            Either::Left((Ok(read), _)) => read.unchecked_into::<ReadableStreamReadResult>(),
            Either::Left((Err(e), _)) => {
                return Some(GatewayError::network(
                    "the event stream broke: ".to_owned() + &describe(&e),
                ))
            }
            Either::Right(_) => return Some(GatewayError::stalled(idle_timeout_ms)),
        };
        if chunk.get_done().unwrap_or(true) {
            return None;
        }
        for item in parser.feed(&Uint8Array::new(&chunk.get_value()).to_vec()) {
            match item {
                SseItem::Retry(ms) => *server_retry_ms = Some(ms),
                SseItem::Event(event) => {
                    if let Err(error) = inner.dispatch(event) {
                        // The view may now be incomplete: resync from a fresh snapshot.
                        inner.view.borrow_mut().last_event_id = None;
                        return Some(error);
                    }
                    backoff.reset();
                }
            }
        }
    }
}
