//! Per-session merged state, replay buffer and subscriber fan-out.
// SCAFFOLD: replaced by the hub implementation (issue 2).

use tokio_util::sync::CancellationToken;

use crate::config::Config;

#[derive(Clone)]
pub struct Hub {}

impl Hub {
    pub fn new(_config: &Config, _stop: CancellationToken) -> Self {
        tracing::info!(component = "hub", backend = "in-memory", "session state");
        Self {}
    }
}
