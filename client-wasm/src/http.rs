//! Requests to the gateway: URLs, headers, and turning answers into typed values or a
//! [`GatewayError`] with the status and the gateway's error code.

use std::rc::Rc;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use shared_types::SessionId;
use web_sys::{AbortSignal, RequestCache};

use crate::auth::TokenSource;
use crate::convert::from_wire;
use crate::GatewayError;

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
        format!("{}/v1/sessions/{session}{rest}", self.base_url)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, GatewayError> {
        let request = self.authorize(Request::get(url)).await?.build();
        Self::decode(Self::send(request).await?, url).await
    }

    /// POSTs `body` as JSON; `headers` are added as given (e.g. `Idempotency-Key`).
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
        headers: &[(&str, &str)],
    ) -> Result<T, GatewayError> {
        let body = serde_json::to_string(body)
            .map_err(|e| GatewayError::invalid_argument(format!("cannot encode the body: {e}")))?;
        let mut builder = self
            .authorize(Request::post(url))
            .await?
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(body);
        Self::decode(Self::send(request).await?, url).await
    }

    /// Opens a session's SSE stream, resuming after `last_event_id` when given. The
    /// answer is checked (status) but its body is left to the caller to stream.
    pub async fn open_events(
        &self,
        session: &SessionId,
        last_event_id: Option<&str>,
        signal: &AbortSignal,
    ) -> Result<Response, GatewayError> {
        let mut builder = Request::get(&self.session_url(session, "/events"))
            .header("Accept", "text/event-stream")
            .cache(RequestCache::NoStore)
            .abort_signal(Some(signal));
        if let Some(id) = last_event_id {
            builder = builder.header("Last-Event-ID", id);
        }
        let request = self.authorize(builder).await?.build();
        Self::check(Self::send(request).await?).await
    }

    async fn authorize(&self, builder: RequestBuilder) -> Result<RequestBuilder, GatewayError> {
        Ok(match self.token.authorization().await? {
            Some(value) => builder.header("Authorization", &value),
            None => builder,
        })
    }

    async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, GatewayError> {
        let request =
            request.map_err(|e| GatewayError::invalid_argument(format!("bad request: {e}")))?;
        let (method, url) = (request.method(), request.url());
        request
            .send()
            .await
            .map_err(|e| GatewayError::network(format!("{method} {url} failed: {e}")))
    }

    /// Passes a 2xx answer through; anything else becomes its [`GatewayError`].
    async fn check(response: Response) -> Result<Response, GatewayError> {
        if response.ok() {
            return Ok(response);
        }
        let retry_after_ms = response
            .headers()
            .get("Retry-After")
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(|s| s.saturating_mul(1_000));
        let body = response.text().await.unwrap_or_default();
        Err(GatewayError::from_status(
            response.status(),
            &body,
            retry_after_ms,
        ))
    }

    async fn decode<T: DeserializeOwned>(response: Response, url: &str) -> Result<T, GatewayError> {
        let response = Self::check(response).await?;
        let body = response.text().await.map_err(|e| {
            GatewayError::network(format!("reading the answer of {url} failed: {e}"))
        })?;
        from_wire(&body, &format!("the answer of {url}"))
    }
}
