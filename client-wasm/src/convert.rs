//! Values across the JavaScript boundary. JSON is decoded and encoded by the browser
//! (`JSON.parse` / `JSON.stringify`), not by code compiled into the module: a caller
//! receives the wire format of `docs/API.md` exactly as the gateway sent it (ids and
//! times as strings, metadata as plain objects), and the SDK stays small. The gateway
//! validates what is posted and answers a precise 4xx, which the SDK passes on.

use js_sys::{Reflect, JSON};
use wasm_bindgen::JsValue;

use crate::GatewayError;

/// Decodes an answer or event body of the gateway; `what` names it in the error.
pub(crate) fn from_wire(body: &str, what: &str) -> Result<JsValue, GatewayError> {
    JSON::parse(body).map_err(|_| GatewayError::invalid_response(what.to_owned() + " is not JSON"))
}

/// Encodes a caller's argument for a request body; `what` names it in the error.
pub(crate) fn to_wire(value: &JsValue, what: &str) -> Result<String, GatewayError> {
    JSON::stringify(value)
        .ok()
        .and_then(|json| json.as_string())
        .ok_or_else(|| GatewayError::invalid_argument(what.to_owned() + ": not JSON data"))
}

/// A deep copy of JSON data, so a caller can keep or change it without touching the view.
pub(crate) fn copy(value: &JsValue) -> JsValue {
    to_wire(value, "")
        .ok()
        .and_then(|json| JSON::parse(&json).ok())
        .unwrap_or(JsValue::NULL)
}

/// `object[key]`; `undefined` when absent or when `object` is not an object.
pub(crate) fn field(object: &JsValue, key: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[key] = value` on an object the SDK created.
pub(crate) fn set(object: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// A plain object (not `null`, not an array), as metadata must be.
pub(crate) fn is_record(value: &JsValue) -> bool {
    value.is_object() && !js_sys::Array::is_array(value)
}

/// A short human description of a thrown JavaScript value.
pub(crate) fn describe(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| field(value, "message").as_string())
        .or_else(|| JSON::stringify(value).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "an unknown error".to_owned())
}
