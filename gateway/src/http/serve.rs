//! The accept loop. `axum::serve` gives hyper no timer, so a client that opens a
//! connection and sends half a request header holds it forever; here each HTTP/1
//! connection gets a header read timeout (which also closes idle keep-alive connections)
//! and every request carries its peer address as [`ConnectInfo`] for per-client limits.
//! The timeout covers only the request head, never a response, so SSE streams live on.
//!
//! Nothing is allocated for a connection before its first bytes arrive, and a request for
//! an SSE stream that arrives whole is served by [`stream_conn`](super::stream_conn), in a
//! task of its own, without hyper's per-connection buffers; every other request goes to
//! hyper (HTTP/1).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::stream_conn;

/// Serves `app` on `listener` until `stop` is cancelled, then waits for the open
/// connections to finish their responses (SSE streams end on `stop` too).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: keep
                    // serving the connections we have and try again shortly.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, builder, watcher) = (app.clone(), builder.clone(), graceful.watcher());
        let stop = stop.clone();
        // Each connection holds a watcher until it ends, so the shutdown waits for it.
        tokio::spawn(connection(
            stream,
            peer,
            app,
            builder,
            watcher,
            header_timeout,
            stop,
        ));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One connection: waits for its first bytes (at most `header_timeout`, or until `stop`),
/// then serves a whole SSE stream request on the lean path, anything else with hyper,
/// the header timeout counting from the accept either way.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    mut builder: http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let accepted = Instant::now();
    let deadline = tokio::time::Instant::from_std(accepted + header_timeout);
    let arrived = loop {
        tokio::select! {
            readable = tokio::time::timeout_at(deadline, stream.readable()) => {
                if !matches!(readable, Ok(Ok(()))) {
                    return;
                }
            }
            () = stop.cancelled() => return,
        }
        match stream_conn::peek(&stream, peer) {
            // Readiness can be stale: wait again, within the same header timeout.
            stream_conn::Arrived::NotYet => continue,
            arrived => break arrived,
        }
    };
    drop(stop);
    match arrived {
        stream_conn::Arrived::Stream(request_len, request) => {
            // The stream gets a task of its own, sized for it: this one's state (the wait
            // for the first bytes, hyper's builder) would otherwise stay with every open
            // stream. It keeps the watcher, so the shutdown still waits for it.
            let serving = stream_conn::serve(stream, request_len, request, app);
            tokio::spawn(serving.map(move |()| drop(watcher)));
            return;
        }
        stream_conn::Arrived::Closed => return,
        stream_conn::Arrived::Other | stream_conn::Arrived::NotYet => {}
    }
    builder.header_read_timeout(header_timeout.saturating_sub(accepted.elapsed()));
    // Boxed: hyper's connection state would otherwise size every connection's task,
    // the lean ones included.
    Box::pin(with_hyper(stream, peer, app, builder, watcher)).await;
}

async fn with_hyper(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let Ok(response) = app.oneshot(request).await;
            Ok::<_, Infallible>(response)
        }
    });
    let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The client address of a request: its TCP peer, as [`serve`] recorded it. `None` only
/// for requests that did not come through [`serve`] (in-process router tests).
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}
