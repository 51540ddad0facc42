//! Session Gateway: consumes the SQS metadata queue of a virtual-agent backend and fans
//! each session's updates out to SSE subscribers; stores user feedback in MongoDB and
//! routes it to SNS topics by rating.
//!
//! # Layout
//! - [`config`]: the clap configuration; `--help` is its reference.
//! - [`hub`]: per-session merged state, history and subscriber fan-out, in memory or
//!   in Redis (several gateways acting as one).
//! - [`ingest`]: the SQS metadata queue consumer feeding the hub.
//! - [`feedback`]: feedback storage (MongoDB or memory) and the SNS notification outbox.
//! - [`http`]: the axum router, one module per group of endpoints, one error type;
//!   `http::auth` finds tokens and enforces each route's declared scope.
//! - [`health`]: per-component readiness for `/readyz`.
//! - [`metrics`]: Prometheus metric names and the recorder.
//! - [`ops`]: the operator page's figures, in-process alerts and the dead-letter queue.
//! - [`auth`]: access-control policy: token verification, principals, scopes (no HTTP).
//! - [`limits`]: bounds on metadata, open streams and POST rates per client.
//! - [`aws`]: the shared AWS SDK configuration.
//! - [`backoff`]: exponential backoff with jitter for retry loops.
//! - [`memory`]: process-wide memory settings (no transparent huge pages).

pub mod auth;
pub mod aws;
pub mod backoff;
pub mod config;
pub mod feedback;
pub mod health;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod ops;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::health::Health;
use crate::http::AppState;
use crate::hub::Hub;

/// Runs the gateway on `listener` until `shutdown` completes, then stops the SQS
/// pollers, ends the SSE streams, finishes in-flight work and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let auth = auth::Auth::from_config(&config).await?;
    refuse_open_public_listener(&config, &auth, addr)?;
    let config = Arc::new(config);
    // Before any component records a metric.
    let metrics = metrics::handle();
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let health = Health::default();
    let aws = if config.sqs_metadata_queue_url.is_some()
        || config.sns_topic_feedback_good.arn().is_some()
        || config.sns_topic_feedback_bad.arn().is_some()
        || config.sns_topic_feedback_neutral.arn().is_some()
    {
        Some(aws::load().await)
    } else {
        None
    };

    let hub = Hub::start(&config, &health, &tasks, stop.clone())
        .await
        .context("starting the hub")?;
    let feedback = feedback::start(&config, aws.as_ref(), &health, &tasks, stop.clone())
        .await
        .context("starting feedback")?;
    let queue_monitor = ingest::start(
        &config,
        aws.as_ref(),
        hub.clone(),
        &health,
        &tasks,
        stop.clone(),
    )
    .await
    .context("starting SQS ingest")?;
    let ops = ops::Ops::start(
        metrics.clone(),
        health.clone(),
        queue_monitor,
        limits::MetadataLimits::from_config(&config),
        &tasks,
        stop.clone(),
    );

    let state = AppState::new(http::AppParts {
        config: config.clone(),
        hub,
        feedback,
        health,
        auth,
        limits: limits::Limits::from_config(&config),
        metrics,
        ops,
        stop: stop.clone(),
    });
    let demo = http::assets::Demo::from_config(&config);
    tracing::info!(%addr, demo = %demo.describe(), "listening");
    if !demo.is_built() {
        tracing::warn!(
            demo = %demo.describe(),
            "the QA page is not built; scripts/run.sh (or scripts/build-demo.sh) builds it"
        );
    }

    let on_shutdown = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        on_shutdown.cancel();
    });
    http::serve(
        listener,
        http::router(state),
        config.header_timeout(),
        stop.clone(),
    )
    .await;
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// A gateway without authentication on a non-loopback address serves every session to
/// anyone who can reach it: refused unless the operator says so, and then loudly.
fn refuse_open_public_listener(
    config: &Config,
    auth: &auth::Auth,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    if auth.is_enabled() || addr.ip().is_loopback() {
        return Ok(());
    }
    anyhow::ensure!(
        config.allow_anonymous,
        "refusing to serve {addr} without authentication: configure AUTH_JWT_SECRET, \
         AUTH_JWT_PUBLIC_KEY_FILE or AUTH_JWKS_URL, or set ALLOW_ANONYMOUS=true \
         (--allow-anonymous) if this network is trusted (docs/SECURITY.md)"
    );
    tracing::warn!(
        %addr,
        "ANONYMOUS MODE on a non-loopback address: anyone who reaches {addr} can read and \
         publish every session (ALLOW_ANONYMOUS=true)"
    );
    Ok(())
}
