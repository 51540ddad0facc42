//! Helpers for the end-to-end tests.
//!
//! - [`app`]: a gateway running in-process on a free loopback port.
//! - [`services`]: the real MongoDB and SQS/SNS servers started by `scripts/services.sh`.

pub mod app;
pub mod services;
