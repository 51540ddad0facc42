//! A live subscription to one session: its merged metadata view, its connection state
//! and its callbacks. The connection itself is shared by all subscriptions of a client
//! ([`crate::mux`]): it reconnects with backoff and resumes every session from its last
//! event id. A subscription stops on a fatal error and on `close()`, after which no
//! callback of it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use shared_types::{SessionId, EVENT_METADATA, EVENT_SNAPSHOT};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::convert::{from_wire, set};
use crate::mux::Mux;
use crate::options::Handlers;
use crate::sse::SseEvent;
use crate::view::View;
use crate::GatewayError;

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
    pub(crate) fn to_js(&self) -> JsValue {
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
    mux: Rc<Mux>,
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

    /// Stops at once: no handler is called afterwards except `onState("closed", …)`, and
    /// the client's connection is reopened without this session (or closed, if it was
    /// the last). Calling it again does nothing.
    pub fn close(&self) {
        if !self.inner.closed() {
            self.inner.shutdown(None);
            self.mux.remove(&self.inner);
        }
    }
}

/// Starts a subscription on the client's connection.
pub(crate) fn start(mux: &Rc<Mux>, session: SessionId, handlers: Handlers) -> Subscription {
    let inner = Rc::new(Inner {
        session,
        handlers,
        state: Cell::new(ConnectionState::Connecting),
        attempt: Cell::new(0),
        view: RefCell::default(),
    });
    inner.set_state(ConnectionState::Connecting, StateInfo::default());
    mux.add(inner.clone());
    Subscription {
        inner,
        mux: mux.clone(),
    }
}

/// One subscription's own part: its session, callbacks, state and view. The connection
/// it shares with the client's other subscriptions is [`Mux`]'s.
pub(crate) struct Inner {
    pub session: SessionId,
    handlers: Handlers,
    pub state: Cell<ConnectionState>,
    /// `attempt` of the last state change, repeated in the final `closed` info.
    attempt: Cell<u32>,
    pub view: RefCell<View>,
}

impl Inner {
    pub fn closed(&self) -> bool {
        self.state.get() == ConnectionState::Closed
    }

    /// Records a state change and tells `onState`. `closed` is final.
    pub fn set_state(&self, state: ConnectionState, info: StateInfo) {
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

    pub fn report(&self, error: &GatewayError) {
        if !self.closed() {
            Handlers::call(&self.handlers.on_error, &[&error.to_js()]);
        }
    }

    /// Ends the subscription, with the fatal error if there was one; the connection
    /// leaves closed subscriptions out from its next request on.
    pub fn shutdown(&self, error: Option<GatewayError>) {
        let info = StateInfo {
            attempt: self.attempt.get(),
            retry_in_ms: None,
            error,
        };
        self.set_state(ConnectionState::Closed, info);
    }

    /// Applies one event to the view and tells the handlers. Unknown event names are
    /// skipped (a newer gateway may send more); a payload that does not decode is an error.
    /// The data is decoded twice, so the view and the handler each own their value.
    pub fn dispatch(&self, event: SseEvent) -> Result<(), GatewayError> {
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
