//! [`GatewayClient`]: the entry point. Holds where the gateway is and how to
//! authenticate; every method is one request of `docs/API.md`, or a subscription.

use std::rc::Rc;

use js_sys::Promise;
use shared_types::session_id::MAX_SESSION_ID_LEN;
use shared_types::{SessionId, SessionIdError};
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert::to_wire;
use crate::http::{Api, Call};
use crate::mux::Mux;
use crate::options::{
    self, ClientOptions, FeedbackOptionsJs, FeedbackRequestJs, GatewayClientOptions, Handlers,
    ListFeedbackOptionsJs, PublishRequestJs, SubscribeHandlers,
};
use crate::subscription::{self, Subscription};
use crate::GatewayError;

// The option structs below only give the TypeScript interfaces (`Tsify`); the objects
// themselves are read by `options`, which also refuses unknown keys.

/// Options of `client.sendFeedback(...)`.
#[derive(Debug, Default, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeedbackOptions {
    /// Sent as `Idempotency-Key`: posting again with the same key stores one record.
    #[serde(default)]
    #[tsify(optional)]
    pub idempotency_key: Option<String>,
}

/// Options of `client.listFeedback(...)`.
#[derive(Debug, Default, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListFeedbackOptions {
    /// Records per page.
    #[serde(default)]
    #[tsify(optional)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    #[tsify(optional)]
    pub cursor: Option<String>,
}

/// A client of one gateway. Cheap: create one per page and share it.
#[wasm_bindgen]
pub struct GatewayClient {
    api: Api,
    /// The one stream every subscription of this client shares.
    mux: Rc<Mux>,
}

#[wasm_bindgen]
impl GatewayClient {
    /// Throws a `GatewayError` (`invalid_argument`) on unusable options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<GatewayClientOptions>) -> Result<GatewayClient, GatewayError> {
        let options = ClientOptions::from_js(&js_or_undefined(options))?;
        let api = Api::new(&options.base_url, options.token);
        Ok(Self {
            mux: Mux::new(api.clone(), options.retry, options.idle_timeout_ms),
            api,
        })
    }

    /// Subscribes to a session's live metadata, on the connection this client's other
    /// subscriptions share (reopened once, shortly, with the new session). Throws a `GatewayError`
    /// (`invalid_argument`) on a malformed session id or handler; every later problem
    /// goes to `onError` / `onState`.
    pub fn subscribe(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        handlers: Option<SubscribeHandlers>,
    ) -> Result<Subscription, GatewayError> {
        let session = parse_session(&session_id)?;
        let handlers = Handlers::from_js(&js_or_undefined(handlers))?;
        Ok(subscription::start(&self.mux, session, handlers))
    }

    /// The session's current merged metadata (`GET /v1/sessions/{id}`).
    #[wasm_bindgen(js_name = getSnapshot, unchecked_return_type = "Promise<SnapshotEvent>")]
    pub fn get_snapshot(&self, #[wasm_bindgen(js_name = sessionId)] session_id: String) -> Promise {
        self.promise(|api| Ok(Call::get(api.session_url(&parse_session(&session_id)?, ""))))
    }

    /// Stores a feedback and resolves with the stored record.
    #[wasm_bindgen(js_name = sendFeedback, unchecked_return_type = "Promise<FeedbackRecord>")]
    pub fn send_feedback(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        feedback: FeedbackRequestJs,
        options: Option<FeedbackOptionsJs>,
    ) -> Promise {
        self.promise(|api| {
            let session = parse_session(&session_id)?;
            let body = to_wire(&feedback, "feedback")?;
            let key = options::feedback(&js_or_undefined(options))?.idempotency_key;
            let call = Call::post(api.session_url(&session, "/feedback"), body);
            Ok(match key {
                Some(key) => call.header("Idempotency-Key", key),
                None => call,
            })
        })
    }

    /// One page of a session's stored feedback, newest first.
    #[wasm_bindgen(js_name = listFeedback, unchecked_return_type = "Promise<FeedbackPage>")]
    pub fn list_feedback(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        options: Option<ListFeedbackOptionsJs>,
    ) -> Promise {
        self.promise(|api| {
            let session = parse_session(&session_id)?;
            let options = options::list_feedback(&js_or_undefined(options))?;
            let mut query = Vec::new();
            if let Some(limit) = options.limit {
                query.push("limit=".to_owned() + &limit.to_string());
            }
            if let Some(cursor) = &options.cursor {
                query.push(
                    "cursor=".to_owned() + &String::from(js_sys::encode_uri_component(cursor)),
                );
            }
            let mut path = "/feedback".to_owned();
            if !query.is_empty() {
                path = path + "?" + &query.join("&");
            }
            Ok(Call::get(api.session_url(&session, &path)))
        })
    }

    /// Publishes a metadata change without SQS (backends and QA tools).
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResponse>")]
    pub fn publish(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        request: PublishRequestJs,
    ) -> Promise {
        self.promise(|api| {
            let session = parse_session(&session_id)?;
            let body = to_wire(&request, "request")?;
            Ok(Call::post(api.session_url(&session, "/metadata"), body))
        })
    }

    /// What the server supports (`GET /v1/info`).
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerInfo>")]
    pub fn info(&self) -> Promise {
        self.promise(|api| Ok(Call::get(api.url("/v1/info"))))
    }
}

impl GatewayClient {
    /// A promise of the answer's JSON that rejects with a `GatewayError`. The arguments
    /// are checked by `call` before anything is sent; every method shares this one
    /// request path (one async state machine in the module, not one per method).
    fn promise(&self, call: impl FnOnce(&Api) -> Result<Call, GatewayError>) -> Promise {
        let api = self.api.clone();
        let call = call(&api);
        future_to_promise(async move { Ok(api.fetch_json(call?).await?) })
    }
}

/// Checked on the client too, so a bad id fails before any request. The messages are
/// those of `SessionIdError`, written out here to keep formatting code out of the module.
fn parse_session(raw: &str) -> Result<SessionId, GatewayError> {
    SessionId::parse(raw).map_err(|e| {
        GatewayError::invalid_argument(match e {
            SessionIdError::Empty => "session id is empty".to_owned(),
            SessionIdError::TooLong => {
                "session id is longer than ".to_owned() + &MAX_SESSION_ID_LEN.to_string() + " bytes"
            }
            SessionIdError::InvalidChar(c) => {
                "session id contains ".to_owned()
                    + &quoted(c)
                    + "; allowed are ASCII letters, digits and -_.:@"
            }
        })
    })
}

/// `'c'` for a printable ASCII character, else its code point, `'\u{e9}'`.
fn quoted(c: char) -> String {
    let shown = match c {
        '\'' | '\\' => ['\\', c].iter().collect(),
        ' '..='~' => c.to_string(),
        _ => {
            let hex = char::from_digit;
            let mut digits = String::new();
            let mut code = c as u32;
            loop {
                digits.insert(0, hex(code % 16, 16).unwrap_or('0'));
                code /= 16;
                if code == 0 {
                    break;
                }
            }
            "\\u{".to_owned() + &digits + "}"
        }
    };
    "'".to_owned() + &shown + "'"
}

/// An optional argument as a plain value: `undefined` when absent.
fn js_or_undefined(value: Option<impl Into<JsValue>>) -> JsValue {
    value.map(Into::into).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_session_id_is_named_in_the_message() {
        let message = |raw: &str| parse_session(raw).unwrap_err().message;
        assert_eq!(
            message("a b"),
            "session id contains ' '; allowed are ASCII letters, digits and -_.:@"
        );
        assert!(message("a/b").contains("'/'"));
        assert!(message("a\nb").contains("'\\u{a}'"));
        assert!(message("é").contains("'\\u{e9}'"));
        assert_eq!(message(""), "session id is empty");
        assert_eq!(
            message(&"x".repeat(129)),
            "session id is longer than 128 bytes"
        );
    }
}
