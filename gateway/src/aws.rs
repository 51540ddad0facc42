//! The shared AWS SDK configuration: region, credentials and `AWS_ENDPOINT_URL` come from
//! the standard AWS environment variables and files.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
