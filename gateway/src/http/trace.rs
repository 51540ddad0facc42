//! Request tracing: every request runs in its `request` span (method and path only, so
//! tokens in query strings stay out of logs). Responses go through tower-http's
//! `TraceLayer`, which also wraps the response body to watch every chunk, except SSE
//! streams: a stream lives for hours and sends a chunk per event, so its body is left
//! unwrapped and its handler alone runs in the span.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, Response};
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{Trace, TraceLayer};
use tracing::Instrument;

use super::stream_conn::is_stream_path;

type MakeSpan = fn(&Request<Body>) -> tracing::Span;

/// The layer: [`Traced`] around each route.
#[derive(Clone, Copy, Default)]
pub struct RequestTrace;

impl<S: Clone> Layer<S> for RequestTrace {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced {
            traced: TraceLayer::new_for_http()
                .make_span_with(request_span as MakeSpan)
                .layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct Traced<S> {
    traced: Trace<S, SharedClassifier<ServerErrorsAsFailures>, MakeSpan>,
    plain: S,
}

impl<S> Service<Request<Body>> for Traced<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives a clone of the inner service through its own readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_stream_path(request.uri().path()) {
            let span = request_span(&request);
            let response = self.plain.clone().oneshot(request);
            Box::pin(async move {
                let response = response.instrument(span.clone()).await?;
                span.in_scope(|| tracing::debug!(status = %response.status(), "stream response"));
                Ok(response)
            })
        } else {
            let response = self.traced.clone().oneshot(request);
            Box::pin(async move { Ok(response.await?.map(Body::new)) })
        }
    }
}

/// The request's span: method and path only.
fn request_span(request: &Request<Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}
