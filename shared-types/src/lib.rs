//! The wire contract of Session Gateway, shared by the server and the browser SDK.
//!
//! Everything that crosses a process boundary is defined here once: the SQS message the
//! existing producer sends, the SSE payloads, feedback records and the JSON error body.
//! The crate has no runtime dependencies (no tokio, no AWS) so it compiles for `wasm32`.
//!
//! # Layout
//! - [`session_id`]: [`SessionId`], a validated session identifier.
//! - [`timestamp`]: parsing of the producer's naive ISO-8601 times and RFC 3339.
//! - [`metadata`]: the SQS metadata message and the HTTP publish body.
//! - [`events`]: SSE event ids and payloads (`snapshot`, `metadata`).
//! - [`multiplex`]: several sessions on one stream: tagged ids, positions, the POST body.
//! - [`feedback`]: feedback input, stored records and pages.
//! - [`info`]: what `GET /v1/info` says about the server.
//! - [`error`]: the JSON error body every endpoint answers with.

pub mod error;
pub mod events;
pub mod feedback;
pub mod info;
pub mod metadata;
pub mod multiplex;
pub mod session_id;
pub mod timestamp;

pub use error::{ErrorBody, ErrorDetail};
pub use events::{EventId, MetadataEvent, SnapshotEvent, EVENT_METADATA, EVENT_SNAPSHOT};
pub use feedback::{
    FeedbackPage, FeedbackRecord, FeedbackRequest, NotificationState, NotificationStatus, Rating,
    Sentiment,
};
pub use info::{AuthMode, ServerInfo};
pub use metadata::{Metadata, MetadataMessage, Operation, PublishRequest, PublishResponse};
pub use multiplex::{EventsRequest, RefusedEvent, EVENT_REFUSED};
pub use session_id::{SessionId, SessionIdError};
