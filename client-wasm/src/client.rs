//! [`GatewayClient`]: the entry point. Holds where the gateway is and how to
//! authenticate; every method is one request of `docs/API.md`, or a subscription.

use std::future::Future;

use js_sys::Promise;
use serde::{Deserialize, Serialize};
use shared_types::{
    FeedbackPage, FeedbackRecord, FeedbackRequest, PublishRequest, PublishResponse, ServerInfo,
    SessionId, SnapshotEvent,
};
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backoff::RetryPolicy;
use crate::convert::{from_js, to_js};
use crate::http::Api;
use crate::options::{
    ClientOptions, FeedbackOptionsJs, FeedbackRequestJs, GatewayClientOptions, Handlers,
    ListFeedbackOptionsJs, PublishRequestJs, SubscribeHandlers,
};
use crate::subscription::{self, Subscription};
use crate::GatewayError;

/// Options of `client.sendFeedback(...)`.
#[derive(Debug, Default, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeedbackOptions {
    /// Sent as `Idempotency-Key`: posting again with the same key stores one record.
    #[serde(default)]
    #[tsify(optional)]
    pub idempotency_key: Option<String>,
}

/// Options of `client.listFeedback(...)`.
#[derive(Debug, Default, Deserialize, Tsify)]
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
    retry: RetryPolicy,
    idle_timeout_ms: u32,
}

#[wasm_bindgen]
impl GatewayClient {
    /// Throws a `GatewayError` (`invalid_argument`) on unusable options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<GatewayClientOptions>) -> Result<GatewayClient, GatewayError> {
        let options = ClientOptions::from_js(&js_or_undefined(options))?;
        Ok(Self {
            api: Api::new(&options.base_url, options.token),
            retry: options.retry,
            idle_timeout_ms: options.idle_timeout_ms,
        })
    }

    /// Subscribes to a session's live metadata. Throws a `GatewayError`
    /// (`invalid_argument`) on a malformed session id or handler; every later problem
    /// goes to `onError` / `onState`.
    pub fn subscribe(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        handlers: Option<SubscribeHandlers>,
    ) -> Result<Subscription, GatewayError> {
        let session = parse_session(&session_id)?;
        let handlers = Handlers::from_js(&js_or_undefined(handlers))?;
        Ok(subscription::start(
            self.api.clone(),
            session,
            handlers,
            self.retry,
            self.idle_timeout_ms,
        ))
    }

    /// The session's current merged metadata (`GET /v1/sessions/{id}`).
    #[wasm_bindgen(js_name = getSnapshot, unchecked_return_type = "Promise<SnapshotEvent>")]
    pub fn get_snapshot(&self, #[wasm_bindgen(js_name = sessionId)] session_id: String) -> Promise {
        let api = self.api.clone();
        promise(async move {
            let session = parse_session(&session_id)?;
            api.get::<SnapshotEvent>(&api.session_url(&session, ""))
                .await
        })
    }

    /// Stores a feedback and resolves with the stored record.
    #[wasm_bindgen(js_name = sendFeedback, unchecked_return_type = "Promise<FeedbackRecord>")]
    pub fn send_feedback(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        feedback: FeedbackRequestJs,
        options: Option<FeedbackOptionsJs>,
    ) -> Promise {
        let api = self.api.clone();
        promise(async move {
            let session = parse_session(&session_id)?;
            let feedback: FeedbackRequest = from_js(&feedback, "feedback")?;
            let options: Option<FeedbackOptions> = from_js(&js_or_undefined(options), "options")?;
            let key = options.unwrap_or_default().idempotency_key;
            let headers: Vec<(&str, &str)> = key
                .iter()
                .map(|k| ("Idempotency-Key", k.as_str()))
                .collect();
            let url = api.session_url(&session, "/feedback");
            api.post::<_, FeedbackRecord>(&url, &feedback, &headers)
                .await
        })
    }

    /// One page of a session's stored feedback, newest first.
    #[wasm_bindgen(js_name = listFeedback, unchecked_return_type = "Promise<FeedbackPage>")]
    pub fn list_feedback(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        options: Option<ListFeedbackOptionsJs>,
    ) -> Promise {
        let api = self.api.clone();
        promise(async move {
            let session = parse_session(&session_id)?;
            let options: Option<ListFeedbackOptions> =
                from_js(&js_or_undefined(options), "options")?;
            let options = options.unwrap_or_default();
            let mut query = Vec::new();
            if let Some(limit) = options.limit {
                query.push(format!("limit={limit}"));
            }
            if let Some(cursor) = &options.cursor {
                query.push(format!("cursor={}", js_sys::encode_uri_component(cursor)));
            }
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            let url = api.session_url(&session, &format!("/feedback{query}"));
            api.get::<FeedbackPage>(&url).await
        })
    }

    /// Publishes a metadata change without SQS (backends and QA tools).
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResponse>")]
    pub fn publish(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        request: PublishRequestJs,
    ) -> Promise {
        let api = self.api.clone();
        promise(async move {
            let session = parse_session(&session_id)?;
            let request: PublishRequest = from_js(&request, "request")?;
            let url = api.session_url(&session, "/metadata");
            api.post::<_, PublishResponse>(&url, &request, &[]).await
        })
    }

    /// What the server supports (`GET /v1/info`).
    #[wasm_bindgen(unchecked_return_type = "Promise<ServerInfo>")]
    pub fn info(&self) -> Promise {
        let api = self.api.clone();
        promise(async move { api.get::<ServerInfo>(&api.url("/v1/info")).await })
    }
}

/// Checked on the client too, so a bad id fails before any request.
fn parse_session(raw: &str) -> Result<SessionId, GatewayError> {
    SessionId::parse(raw).map_err(|e| GatewayError::invalid_argument(e.to_string()))
}

/// An optional argument as a plain value: `undefined` when absent.
fn js_or_undefined(value: Option<impl Into<JsValue>>) -> JsValue {
    value.map(Into::into).unwrap_or_default()
}

/// A promise of `T` as wire JSON that rejects with a `GatewayError`.
fn promise<T: Serialize>(work: impl Future<Output = Result<T, GatewayError>> + 'static) -> Promise {
    future_to_promise(async move { Ok(to_js(&work.await?)?) })
}
