//! Ingest of session metadata from the SQS queue.
// SCAFFOLD: replaced by the SQS consumer (issue 2).

use aws_config::SdkConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::health::Health;
use crate::hub::Hub;

pub async fn start(
    _config: &Config,
    _aws: Option<&SdkConfig>,
    _hub: Hub,
    _health: &Health,
    _tasks: &TaskTracker,
    _stop: CancellationToken,
) -> anyhow::Result<()> {
    Ok(())
}
