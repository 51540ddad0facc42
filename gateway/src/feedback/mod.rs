//! Feedback storage and SNS notification.
// SCAFFOLD: replaced by the feedback implementation (issue 3).

use aws_config::SdkConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::health::Health;

#[derive(Clone)]
pub struct FeedbackService {}

pub async fn start(
    _config: &Config,
    _aws: Option<&SdkConfig>,
    _health: &Health,
    _tasks: &TaskTracker,
    _stop: CancellationToken,
) -> anyhow::Result<FeedbackService> {
    Ok(FeedbackService {})
}
