//! Values across the JavaScript boundary go through JSON, so what a caller receives is
//! byte for byte the wire format of `docs/API.md` (ids and times as strings, metadata as
//! plain objects), and what a caller passes is validated by the same serde types the
//! gateway uses.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::GatewayError;

pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, GatewayError> {
    let json = serde_json::to_string(value)
        .map_err(|e| GatewayError::invalid_response(format!("cannot encode a value: {e}")))?;
    js_sys::JSON::parse(&json)
        .map_err(|_| GatewayError::invalid_response("cannot hand a value to JavaScript"))
}

/// Reads a caller's argument (`undefined` reads as `null`); `what` names it in errors.
pub(crate) fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, GatewayError> {
    let json = if value.is_undefined() {
        Some("null".to_owned())
    } else {
        js_sys::JSON::stringify(value)
            .ok()
            .and_then(|json| json.as_string())
    };
    let json =
        json.ok_or_else(|| GatewayError::invalid_argument(format!("{what}: not JSON data")))?;
    serde_json::from_str(&json).map_err(|e| GatewayError::invalid_argument(format!("{what}: {e}")))
}

/// Decodes an answer or event body of the gateway.
pub(crate) fn from_wire<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, GatewayError> {
    serde_json::from_str(body)
        .map_err(|e| GatewayError::invalid_response(format!("{what} does not match the API: {e}")))
}

/// A short human description of a thrown JavaScript value.
pub(crate) fn describe(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(value, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{value:?}"))
}
