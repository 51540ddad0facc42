//! Ingest of session metadata changes. The only source is the SQS queue ([`sqs`]);
//! `POST /v1/sessions/{id}/metadata` feeds the hub directly.

pub mod sqs;

pub use sqs::start;
