use anyhow::Context;
use clap::Parser;
use gateway::config::Config;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: on the Redis backend each event allocates and
/// frees buffers of many sizes, and glibc's consolidation of them cost a quarter of the
/// CPU (BENCHMARKS.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let thp = gateway::memory::disable_transparent_huge_pages();
    let config = Config::parse();
    init_tracing(&config.log_format);
    if let Err(err) = thp {
        tracing::warn!("transparent huge pages stay on (latency may spike): {err}");
    }
    match start(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {}", config.listen))?;
    gateway::run(config, listener, shutdown_signal()).await
}

/// Logs to stdout as text or, with `LOG_FORMAT=json`, one JSON object per line; warnings
/// and errors are also kept for the `/ops` page.
fn init_tracing(format: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(gateway::ops::recent::RecentErrors);
    if format == "json" {
        registry
            .with(tracing_subscriber::fmt::layer().json())
            .init();
    } else {
        registry.with(tracing_subscriber::fmt::layer()).init();
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
