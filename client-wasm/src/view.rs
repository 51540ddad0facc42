//! The merged metadata view of one subscription and where it stands in the stream.
//! The view holds JavaScript values: events arrive as JSON and leave as JSON, so keeping
//! them in the browser's own representation costs no conversion either way. A `Map`, not
//! an object, so that a key such as `__proto__` is data like any other.

use js_sys::{Array, Map, Object};
use wasm_bindgen::{JsCast, JsValue};

use crate::convert::{copy, field, is_record};
use crate::GatewayError;

pub(crate) struct View {
    /// Key → JSON value, as of the last event.
    metadata: Map,
    /// Id to resume from; `None` forces a fresh snapshot on the next connection.
    pub last_event_id: Option<String>,
}

impl Default for View {
    fn default() -> Self {
        Self {
            metadata: Map::new(),
            last_event_id: None,
        }
    }
}

impl View {
    /// A `snapshot` event (decoded JSON, owned by the view) replaces the whole view.
    pub fn replace(&mut self, snapshot: &JsValue, id: Option<String>) -> Result<(), GatewayError> {
        let metadata = metadata_of(snapshot, "a snapshot event")?;
        self.metadata.clear();
        for entry in Object::entries(&metadata).iter() {
            let entry: Array = entry.unchecked_into();
            self.metadata.set(&entry.get(0), &entry.get(1));
        }
        self.last_event_id = id.or_else(|| field(snapshot, "last_event_id").as_string());
        Ok(())
    }

    /// A `metadata` event (decoded JSON, owned by the view): an update sets the keys it
    /// lists, a delete removes them.
    pub fn apply(&mut self, event: &JsValue, id: Option<String>) -> Result<(), GatewayError> {
        let changes = metadata_of(event, "a metadata event")?;
        let delete = match field(event, "operation").as_string().as_deref() {
            Some("update") => false,
            Some("delete") => true,
            _ => {
                return Err(GatewayError::invalid_response(
                    "a metadata event has no valid operation",
                ))
            }
        };
        for entry in Object::entries(&changes).iter() {
            let entry: Array = entry.unchecked_into();
            if delete {
                self.metadata.delete(&entry.get(0));
            } else {
                self.metadata.set(&entry.get(0), &entry.get(1));
            }
        }
        if id.is_some() {
            self.last_event_id = id;
        }
        Ok(())
    }

    /// The merged metadata as a new plain object, a deep copy the caller may keep.
    pub fn metadata(&self) -> JsValue {
        Object::from_entries(&self.metadata).map_or(JsValue::NULL, |object| copy(&object))
    }
}

/// The `metadata` object of an event; anything else does not match the API.
fn metadata_of(event: &JsValue, what: &str) -> Result<Object, GatewayError> {
    let metadata = field(event, "metadata");
    if is_record(&metadata) {
        Ok(metadata.unchecked_into())
    } else {
        Err(GatewayError::invalid_response(
            what.to_owned() + " has no metadata object",
        ))
    }
}
