//! Ingest of session metadata changes. The only source is the SQS queue ([`sqs`]);
//! `POST /v1/sessions/{id}/metadata` feeds the hub directly. [`monitor`] reads the
//! queue's and its dead-letter queue's depth for the metrics and `/ops`.

pub mod monitor;
pub mod sqs;

pub use sqs::start;
