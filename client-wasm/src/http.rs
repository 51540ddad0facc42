//! Requests to the gateway: URLs, headers, and turning answers into JSON values or a
//! [`GatewayError`] with the status and the gateway's error code. Calls the global
//! `fetch` directly (a page or a worker), with no HTTP wrapper crate in between.

use std::rc::Rc;

use js_sys::{JsString, Promise, JSON};
use shared_types::SessionId;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestCache, RequestInit, Response};

use crate::auth::TokenSource;
use crate::convert::{describe, field, from_wire};
use crate::GatewayError;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, in a window and in a worker alike.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with_init(url: &str, init: &RequestInit) -> Promise;
}

/// One request of the API with a JSON answer.
pub(crate) struct Call {
    method: &'static str,
    url: String,
    /// JSON text.
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
}

impl Call {
    pub fn get(url: String) -> Self {
        Self {
            method: "GET",
            url,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn post(url: String, json: String) -> Self {
        Self {
            method: "POST",
            url,
            body: Some(json),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    /// Without a trailing slash; empty means the page's own origin.
    base_url: Rc<str>,
    token: TokenSource,
}

impl Api {
    pub fn new(base_url: &str, token: TokenSource) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').into(),
            token,
        }
    }

    /// `{base}/v1/sessions/{id}{rest}`; a [`SessionId`] needs no escaping.
    pub fn session_url(&self, session: &SessionId, rest: &str) -> String {
        self.url(&("/v1/sessions/".to_owned() + session.as_str() + rest))
    }

    pub fn url(&self, path: &str) -> String {
        self.base_url.to_string() + path
    }

    /// Sends `call` and decodes the JSON answer.
    pub async fn fetch_json(&self, call: Call) -> Result<JsValue, GatewayError> {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if call.body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        for (name, value) in &call.headers {
            headers.push((name, value));
        }
        let response = self
            .exchange(call.method, &call.url, &headers, call.body.as_deref(), None)
            .await?;
        let body = text(&response).await.map_err(|e| {
            GatewayError::network(
                "reading the answer of ".to_owned() + &call.url + " failed: " + &describe(&e),
            )
        })?;
        from_wire(&body, &("the answer of ".to_owned() + &call.url))
    }

    /// Opens the multiplexed SSE stream (`POST /v1/events`, `body` its JSON). The answer
    /// is checked (status) but its body is left to the caller to stream.
    pub async fn open_events(
        &self,
        body: &str,
        signal: &AbortSignal,
    ) -> Result<Response, GatewayError> {
        let headers = [
            ("Accept", "text/event-stream"),
            ("Content-Type", "application/json"),
        ];
        let url = self.url("/v1/events");
        self.exchange("POST", &url, &headers, Some(body), Some(signal))
            .await
    }

    /// Sends a request and checks its answer. With a `tokenProvider`, a 401 that a fresh
    /// token may cure (expired, invalid, unknown key) is retried once, with a token asked
    /// for anew, before it is final.
    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
        signal: Option<&AbortSignal>,
    ) -> Result<Response, GatewayError> {
        let first = self.send(method, url, headers, body, signal).await?;
        match Self::check(first).await {
            Err(error) if error.token_refused() && self.token.refreshes() => {
                let again = self.send(method, url, headers, body, signal).await?;
                Self::check(again).await
            }
            answer => answer,
        }
    }

    /// Sends one request, with the `Authorization` header when there is a token. An
    /// answer of any status is `Ok`; no answer at all is a network error. Nothing is
    /// cached: every answer is live state.
    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
        signal: Option<&AbortSignal>,
    ) -> Result<Response, GatewayError> {
        let invalid = |e: JsValue| GatewayError::invalid_argument(describe(&e));
        let request_headers = Headers::new().map_err(invalid)?;
        for (name, value) in headers {
            request_headers.set(name, value).map_err(invalid)?;
        }
        if let Some(value) = self.token.authorization().await? {
            request_headers
                .set("Authorization", &value)
                .map_err(|e| GatewayError::token_unavailable(describe(&e)))?;
        }
        let init = RequestInit::new();
        init.set_method(method);
        init.set_headers(&request_headers);
        init.set_cache(RequestCache::NoStore);
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(body));
        }
        init.set_signal(signal);
        JsFuture::from(fetch_with_init(url, &init))
            .await
            .map(JsCast::unchecked_into)
            .map_err(|e| {
                GatewayError::network(method.to_owned() + " " + url + " failed: " + &describe(&e))
            })
    }

    /// Passes a 2xx answer through; anything else becomes its [`GatewayError`].
    async fn check(response: Response) -> Result<Response, GatewayError> {
        if response.ok() {
            return Ok(response);
        }
        let retry_after_ms = response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(|s| s.saturating_mul(1_000));
        let body = text(&response).await.unwrap_or_default();
        // The gateway's error body: `{"error": {"code": …, "message": …}}`.
        let json = JSON::parse(&body)
            .map(|json| field(&json, "error"))
            .unwrap_or(JsValue::UNDEFINED);
        let detail = field(&json, "code")
            .as_string()
            .zip(field(&json, "message").as_string());
        let mut error = GatewayError::from_status(response.status(), detail, &body, retry_after_ms);
        error.reason = field(&json, "reason").as_string();
        Err(error)
    }
}

/// The whole body of an answer as text.
async fn text(response: &Response) -> Result<String, JsValue> {
    let text = JsFuture::from(response.text()?).await?;
    Ok(text.unchecked_into::<JsString>().into())
}
