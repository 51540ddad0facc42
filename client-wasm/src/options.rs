//! The option and handler objects callers pass in, read once and checked up front so a
//! typo (`onUpdates`, a string where a function belongs) fails loudly at the call.
//! The interfaces holding functions are written here by hand; the plain ones come from
//! the Rust structs of `client` (`Tsify`).

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::auth::TokenSource;
use crate::backoff::RetryPolicy;
use crate::client::{FeedbackOptions, ListFeedbackOptions};
use crate::convert::describe;
use crate::GatewayError;

#[wasm_bindgen(typescript_custom_section)]
const TS_OPTIONS: &'static str = r#"
/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A session's metadata: key → JSON value. */
export type Metadata = Record<string, JsonValue>;
/** An SSE event id, `{epoch}-{seq}`. */
export type EventId = string;

/** Options of `new GatewayClient(...)`. */
export interface GatewayClientOptions {
    /** Where the gateway is, e.g. `"https://gateway.example.com"`. Default: this page's origin. */
    baseUrl?: string;
    /** A bearer token, sent as `Authorization: Bearer …` (never in a URL). */
    token?: string;
    /** Asked for a fresh token before every request and every (re)connection, and once
     *  more when the gateway answers 401 `token_expired`, `token_invalid` or `unknown_key`
     *  (the request is retried once with it before the error counts). */
    tokenProvider?: () => string | Promise<string>;
    /** Reconnection backoff. */
    reconnect?: ReconnectOptions;
    /** A stream with no bytes (events or heartbeats) for this long is dropped and
     *  reconnected. Default 45000; keep it above the server's `HEARTBEAT_SECONDS`. */
    idleTimeoutMs?: number;
}

/** Reconnection backoff: exponential from the base delay, with jitter, capped. */
export interface ReconnectOptions {
    /** Base delay when the server sent no `retry:` hint. Default 1000. */
    minDelayMs?: number;
    /** Longest delay between two attempts. Default 30000. */
    maxDelayMs?: number;
}

/** Callbacks of `client.subscribe(...)`; all optional. */
export interface SubscribeHandlers {
    /** The full view was replaced (first connection, or a resume the server could not replay). */
    onSnapshot?: (snapshot: SnapshotEvent) => void;
    /** One change was applied; `eventId` is its SSE id. */
    onUpdate?: (event: MetadataEvent, eventId: string) => void;
    /** The merged view after any change (snapshot or update). */
    onMetadata?: (metadata: Metadata) => void;
    onState?: (state: ConnectionState, info: StateInfo) => void;
    /** Every error, retried (`fatal: false`) or final (`fatal: true`). */
    onError?: (error: GatewayError) => void;
}
"#;

// Parameter types of the exported methods: the objects arrive as they are and are read
// by the functions below (or as wire JSON); these give them their TypeScript names.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "GatewayClientOptions")]
    pub type GatewayClientOptions;
    #[wasm_bindgen(typescript_type = "SubscribeHandlers")]
    pub type SubscribeHandlers;
    #[wasm_bindgen(typescript_type = "FeedbackRequest")]
    pub type FeedbackRequestJs;
    #[wasm_bindgen(typescript_type = "FeedbackOptions")]
    pub type FeedbackOptionsJs;
    #[wasm_bindgen(typescript_type = "ListFeedbackOptions")]
    pub type ListFeedbackOptionsJs;
    #[wasm_bindgen(typescript_type = "PublishRequest")]
    pub type PublishRequestJs;
}

/// What `new GatewayClient(options)` was given.
pub(crate) struct ClientOptions {
    pub base_url: String,
    pub token: TokenSource,
    pub retry: RetryPolicy,
    pub idle_timeout_ms: u32,
}

impl ClientOptions {
    pub fn from_js(options: &JsValue) -> Result<Self, GatewayError> {
        let base_url = string(options, "baseUrl")?.unwrap_or_default();
        let token = match (
            string(options, "token")?,
            function(options, "tokenProvider")?,
        ) {
            (Some(_), Some(_)) => {
                return Err(GatewayError::invalid_argument(
                    "pass either token or tokenProvider, not both",
                ))
            }
            (Some(token), None) => TokenSource::Static(token),
            (None, Some(provider)) => TokenSource::Provider(provider),
            (None, None) => TokenSource::None,
        };
        let defaults = RetryPolicy::default();
        let reconnect = get(options, "reconnect")?;
        let retry = RetryPolicy {
            min_delay_ms: millis(&reconnect, "minDelayMs")?.unwrap_or(defaults.min_delay_ms),
            max_delay_ms: millis(&reconnect, "maxDelayMs")?.unwrap_or(defaults.max_delay_ms),
        };
        Ok(Self {
            base_url,
            token,
            retry,
            idle_timeout_ms: millis(options, "idleTimeoutMs")?.unwrap_or(45_000),
        })
    }
}

/// The options of `sendFeedback`; `undefined` reads as none.
pub(crate) fn feedback(options: &JsValue) -> Result<FeedbackOptions, GatewayError> {
    only(options, &["idempotencyKey"])?;
    Ok(FeedbackOptions {
        idempotency_key: string(options, "idempotencyKey")?,
    })
}

/// The options of `listFeedback`; `undefined` reads as none.
pub(crate) fn list_feedback(options: &JsValue) -> Result<ListFeedbackOptions, GatewayError> {
    only(options, &["limit", "cursor"])?;
    Ok(ListFeedbackOptions {
        limit: number(options, "limit", " must be a whole number")?,
        cursor: string(options, "cursor")?,
    })
}

/// Refuses keys other than `known`, so that a typo is an error rather than ignored.
fn only(object: &JsValue, known: &[&str]) -> Result<(), GatewayError> {
    if !object.is_object() {
        return Ok(());
    }
    for key in js_sys::Object::keys(object.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(GatewayError::invalid_argument(
                "options: unknown field `".to_owned() + &key + "`",
            ));
        }
    }
    Ok(())
}

/// The callbacks of one subscription.
#[derive(Default)]
pub(crate) struct Handlers {
    pub on_snapshot: Option<Function>,
    pub on_update: Option<Function>,
    pub on_metadata: Option<Function>,
    pub on_state: Option<Function>,
    pub on_error: Option<Function>,
}

impl Handlers {
    pub fn from_js(handlers: &JsValue) -> Result<Self, GatewayError> {
        Ok(Self {
            on_snapshot: function(handlers, "onSnapshot")?,
            on_update: function(handlers, "onUpdate")?,
            on_metadata: function(handlers, "onMetadata")?,
            on_state: function(handlers, "onState")?,
            on_error: function(handlers, "onError")?,
        })
    }

    /// Calls a handler. One that throws is reported on the console and does not stop the
    /// subscription: a bug in a UI callback must not freeze the live status.
    pub fn call(handler: &Option<Function>, args: &[&JsValue]) {
        let Some(handler) = handler else { return };
        let this = JsValue::UNDEFINED;
        let result = match args {
            [] => handler.call0(&this),
            [a] => handler.call1(&this, a),
            [a, b, ..] => handler.call2(&this, a, b),
        };
        if let Err(thrown) = result {
            web_sys::console::error_2(
                &"GatewayClient: a subscription handler threw".into(),
                &thrown,
            );
        }
    }
}

/// `object[key]`, `undefined` when `object` itself is `undefined` or `null`.
fn get(object: &JsValue, key: &str) -> Result<JsValue, GatewayError> {
    if object.is_undefined() || object.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !object.is_object() {
        return Err(GatewayError::invalid_argument(
            "expected an options object holding ".to_owned() + key,
        ));
    }
    Reflect::get(object, &key.into())
        .map_err(|e| GatewayError::invalid_argument(key.to_owned() + ": " + &describe(&e)))
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

fn string(object: &JsValue, key: &str) -> Result<Option<String>, GatewayError> {
    let value = get(object, key)?;
    if absent(&value) {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| GatewayError::invalid_argument(key.to_owned() + " must be a string"))
}

fn function(object: &JsValue, key: &str) -> Result<Option<Function>, GatewayError> {
    let value = get(object, key)?;
    if absent(&value) {
        return Ok(None);
    }
    value
        .dyn_into::<Function>()
        .map(Some)
        .map_err(|_| GatewayError::invalid_argument(key.to_owned() + " must be a function"))
}

fn millis(object: &JsValue, key: &str) -> Result<Option<u32>, GatewayError> {
    number(object, key, " must be a number of milliseconds")
}

/// A whole number in `0..=u32::MAX`; `rule` completes the error message.
fn number(object: &JsValue, key: &str, rule: &str) -> Result<Option<u32>, GatewayError> {
    let value = get(object, key)?;
    if absent(&value) {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n) if n.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&n) => Ok(Some(n as u32)),
        _ => Err(GatewayError::invalid_argument(key.to_owned() + rule)),
    }
}
