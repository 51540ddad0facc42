//! [`GatewayError`]: the one error every promise rejects with and `onError` receives.

use tsify::Tsify;
use wasm_bindgen::JsValue;

use crate::convert::set;

/// What went wrong, with the HTTP status and the gateway's error code when there was an
/// answer. In JavaScript it is an `Error` (named `GatewayError`) carrying these fields.
// `Tsify` only writes the TypeScript interface; the JavaScript value is built by `to_js`.
#[derive(Debug, Clone, PartialEq, Eq, Tsify)]
pub struct GatewayError {
    /// HTTP status of the answer; `null` when there was none (network error, bad input).
    pub status: Option<u16>,
    /// The gateway's snake_case code (`not_found`, `invalid_rating`…), or one of the
    /// SDK's own: `network_error`, `stream_stalled`, `invalid_response`,
    /// `invalid_argument`, `token_unavailable`, `http_{status}` for a body without one.
    pub code: String,
    pub message: String,
    /// The precise cause under a general `code`, when the gateway gave one (for
    /// `unauthorized`/`forbidden`: `token_expired`, `session_not_allowed`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub reason: Option<String>,
    /// `true` when retrying cannot help: a subscription stops instead of reconnecting.
    pub fatal: bool,
    /// `Retry-After` of the answer, in milliseconds; a floor for the next reconnection.
    #[serde(skip)]
    pub retry_after_ms: Option<u32>,
}

impl GatewayError {
    fn new(status: Option<u16>, code: &str, message: impl Into<String>, fatal: bool) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            reason: None,
            fatal,
            retry_after_ms: None,
        }
    }

    /// The request never got an answer (offline, DNS, CORS, connection reset).
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(None, "network_error", message, false)
    }

    /// No bytes, not even a heartbeat, arrived for too long: the connection is dead.
    pub fn stalled(idle_ms: u32) -> Self {
        let message = "no data from the server for ".to_owned() + &idle_ms.to_string() + " ms";
        Self::new(None, "stream_stalled", message, false)
    }

    /// An answer that does not fit the API contract (a gateway of another version?).
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(None, "invalid_response", message, false)
    }

    /// The caller passed something unusable; nothing was sent.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(None, "invalid_argument", message, true)
    }

    /// The `tokenProvider` threw, rejected or returned something other than a string.
    pub fn token_unavailable(message: impl Into<String>) -> Self {
        Self::new(None, "token_unavailable", message, false)
    }

    /// A non-2xx answer. `detail` is the `code` and `message` of the gateway's JSON error
    /// body when it sent one, `body` the raw text otherwise. Client errors are fatal
    /// except `408` and `429`, which say "try again later".
    pub fn from_status(
        status: u16,
        detail: Option<(String, String)>,
        body: &str,
        retry_after_ms: Option<u32>,
    ) -> Self {
        let fatal = (400..500).contains(&status) && status != 408 && status != 429;
        let (code, message) = detail.unwrap_or_else(|| {
            let status = status.to_string();
            let excerpt: String = body.chars().take(200).collect();
            (
                "http_".to_owned() + &status,
                "HTTP ".to_owned() + &status + ": " + &excerpt,
            )
        });
        Self {
            retry_after_ms,
            ..Self::new(Some(status), &code, message, fatal)
        }
    }

    /// A refusal a fresh token may cure: the token expired, is invalid or was signed
    /// with a key the gateway does not know yet.
    pub fn token_refused(&self) -> bool {
        self.status == Some(401)
            && matches!(
                self.reason.as_deref(),
                Some("token_expired" | "token_invalid" | "unknown_key")
            )
    }

    /// The JavaScript `Error` the API hands out, with `status`, `code` and `fatal` set.
    pub fn to_js(&self) -> JsValue {
        let error = js_sys::Error::new(&self.message);
        error.set_name("GatewayError");
        let status = self.status.map_or(JsValue::NULL, JsValue::from);
        set(&error, "status", &status);
        set(&error, "code", &JsValue::from_str(&self.code));
        set(&error, "fatal", &JsValue::from_bool(self.fatal));
        if let Some(reason) = &self.reason {
            set(&error, "reason", &JsValue::from_str(reason));
        }
        error.into()
    }
}

impl From<GatewayError> for JsValue {
    fn from(error: GatewayError) -> Self {
        error.to_js()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_error_body_gives_code_and_message() {
        let detail = Some(("not_found".to_owned(), "no such route".to_owned()));
        let error = GatewayError::from_status(404, detail, "", None);
        assert_eq!(error.status, Some(404));
        assert_eq!(error.code, "not_found");
        assert_eq!(error.message, "no such route");
        assert!(error.fatal);
    }

    #[test]
    fn only_retryable_statuses_are_not_fatal() {
        for (status, fatal) in [
            (400, true),
            (401, true),
            (403, true),
            (404, true),
            (422, true),
            (408, false),
            (429, false),
            (500, false),
            (503, false),
        ] {
            assert_eq!(
                GatewayError::from_status(status, None, "", None).fatal,
                fatal,
                "{status}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_the_error_json_still_reports_the_status() {
        let error = GatewayError::from_status(502, None, "<html>bad gateway</html>", Some(3_000));
        assert_eq!(error.code, "http_502");
        assert_eq!(error.message, "HTTP 502: <html>bad gateway</html>");
        assert_eq!(error.retry_after_ms, Some(3_000));
    }

    #[test]
    fn only_a_401_a_new_token_may_cure_is_worth_a_fresh_token() {
        let refusal = |status, reason: &str| GatewayError {
            reason: Some(reason.to_owned()),
            ..GatewayError::from_status(status, None, "", None)
        };
        for reason in ["token_expired", "token_invalid", "unknown_key"] {
            assert!(refusal(401, reason).token_refused(), "{reason}");
        }
        assert!(!refusal(401, "token_missing").token_refused());
        assert!(!refusal(403, "session_not_allowed").token_refused());
        assert!(!refusal(503, "token_expired").token_refused());
        assert!(!GatewayError::from_status(401, None, "", None).token_refused());
    }

    #[test]
    fn the_stall_message_names_the_timeout() {
        assert_eq!(
            GatewayError::stalled(45_000).message,
            "no data from the server for 45000 ms"
        );
    }
}
