//! The lean connection path for SSE streams. hyper's HTTP/1 connection keeps an 8 KiB
//! read buffer and an 8 KiB header write buffer for as long as the connection lives,
//! which for a stream that is open for hours is most of what a subscriber costs. A
//! request that arrives whole and asks for a stream (`GET /v1/sessions/{id}/events`,
//! `GET /v1/events`, or `POST /v1/events` whose small body came with its head; HTTP/1.1,
//! no chunked body, no upgrade) is served here instead: it is parsed once, the router
//! answers it as usual (same layers, same handler), and the response is written straight
//! to the socket with chunked framing. The connection holds no buffer while the stream is
//! quiet, and closes when the response ends. Anything else, and any request that is not
//! complete in the first read, goes to hyper unchanged.
//!
//! The request carries the connection as a [`LeanSocket`] extension: a handler may give
//! it to its subscription as a lane, on which the fan-out writes live frames directly
//! (one chunk each) while this connection's writer is idle (`hub::fanout`).

use std::convert::Infallible;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use axum::Router;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{FutureExt, StreamExt};
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::hub::{LiveSocket, Written};

/// Longest request head looked at; a longer one goes to hyper.
const MAX_HEAD: usize = 8 * 1024;
/// Most headers in a request taken here; more go to hyper.
const MAX_HEADERS: usize = 64;
/// At most this many bytes of frames that are already waiting go out in one write.
const COALESCE_LIMIT: usize = 64 * 1024;

/// Whether `method` on `path` (without the query) opens an SSE stream: a session's
/// (`GET /v1/sessions/{id}/events`) or several sessions' (`GET` or `POST /v1/events`).
pub fn is_stream_route(method: &str, path: &str) -> bool {
    let mut parts = path.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(""), Some("v1"), Some("sessions"), Some(id), Some("events"), None) => {
            method == "GET" && !id.is_empty()
        }
        (Some(""), Some("v1"), Some("events"), None, ..) => method == "GET" || method == "POST",
        _ => false,
    }
}

/// What the first bytes of a connection are.
// Returned once per connection and taken apart at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Arrived {
    /// A whole stream request: its length (head and body) and the request.
    Stream(usize, Request<Body>),
    /// Anything else, for hyper.
    Other,
    /// Nothing to read after all (the readiness was stale): wait for readable again.
    NotYet,
    /// The client closed the connection (or it failed) before sending anything.
    Closed,
}

/// Looks at what has arrived on a readable `stream` without consuming it. The buffer is
/// on the stack and the look does not wait, so nothing of it stays with the connection
/// (a heap buffer here, freed between the long-lived allocations of the stream, would
/// leave its pages resident).
pub fn peek(stream: &TcpStream, peer: SocketAddr) -> Arrived {
    let mut head = [0u8; MAX_HEAD];
    let mut buf = ReadBuf::new(&mut head);
    // Unconstrained: `poll_peek` first takes a unit of the task's cooperative budget and
    // answers Pending when a busy worker has spent it, which under a burst of new
    // connections sent nearly every stream to hyper. Not waiting: the caller saw the
    // socket readable, and a stale readiness is cleared so that it waits again.
    let peek = futures::future::poll_fn(|cx| stream.poll_peek(cx, &mut buf));
    match tokio::task::unconstrained(peek).now_or_never() {
        Some(Ok(0)) | Some(Err(_)) => Arrived::Closed,
        Some(Ok(read)) => match stream_request(&head[..read], peer) {
            Some((len, request)) => Arrived::Stream(len, request),
            None => Arrived::Other,
        },
        None => Arrived::NotYet,
    }
}

/// The request in `bytes` if they start with a complete request this path serves (its
/// head, and its body when it has one), with its length; `None` leaves the connection to
/// hyper.
pub fn stream_request(bytes: &[u8], peer: SocketAddr) -> Option<(usize, Request<Body>)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = parsed.parse(bytes).ok()? else {
        return None;
    };
    let (method, path) = (parsed.method?, parsed.path?);
    if parsed.version? != 1 || !is_stream_route(method, path.split('?').next().unwrap_or(path)) {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(path)
        .version(Version::HTTP_11);
    let mut body_len: Option<usize> = None;
    for header in parsed.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        // Chunked bodies, a protocol switch and `Expect: 100-continue` need hyper.
        if name == TRANSFER_ENCODING
            || name == axum::http::header::UPGRADE
            || name == axum::http::header::EXPECT
        {
            return None;
        }
        if name == CONTENT_LENGTH {
            let value = std::str::from_utf8(header.value).ok()?.trim();
            // One plain decimal length; anything else (a list, a sign) goes to hyper.
            if body_len.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            body_len = Some(value.parse().ok()?);
        }
        request = request.header(name, HeaderValue::from_bytes(header.value).ok()?);
    }
    // The body must have arrived with the head (a small POST does); otherwise hyper reads it.
    let body_len = body_len.unwrap_or(0);
    if method == "GET" && body_len > 0 {
        return None;
    }
    let body = bytes.get(head_len..head_len.checked_add(body_len)?)?;
    let body = if body.is_empty() {
        Body::empty()
    } else {
        Body::from(Bytes::copy_from_slice(body))
    };
    let mut request = request.body(body).ok()?;
    request.extensions_mut().insert(ConnectInfo(peer));
    Some((head_len + body_len, request))
}

/// The connection of a request on the lean path, for its handler to give a subscription
/// as a lane (`Subscription::with_lane`).
#[derive(Clone)]
pub struct LeanSocket(pub Arc<dyn LiveSocket>);

/// The connection, shared between its writer and the fan-out's direct writes.
struct Connection {
    stream: TcpStream,
    out: Mutex<Out>,
}

/// Who may write now. The writer takes the connection for each write of its own; the
/// fan-out writes only between them, and only whole chunks.
struct Out {
    /// The body is chunked and its writer idle: a direct write may go out.
    open: bool,
    /// The rest of a chunk a direct write sent only in part: goes out first.
    leftover: Bytes,
}

impl LiveSocket for Connection {
    fn write_now(&self, frame: &Bytes) -> Written {
        let mut out = self.out.lock().expect("connection lock");
        if !out.open || !out.leftover.is_empty() {
            return Written::Nothing;
        }
        let mut size = [0u8; 20];
        let size = chunk_size_line(frame.len(), &mut size);
        let parts = [
            IoSlice::new(size),
            IoSlice::new(frame),
            IoSlice::new(b"\r\n"),
        ];
        let total = size.len() + frame.len() + 2;
        match self.stream.try_write_vectored(&parts) {
            Ok(n) if n == total => Written::Whole,
            Ok(0) | Err(_) => Written::Nothing,
            Ok(n) => {
                // The same chunk as one buffer; the connection keeps what the socket did not take.
                let chunk = self::frame(b"", std::slice::from_ref(frame), true);
                out.leftover = chunk.freeze().slice(n..);
                Written::Part
            }
        }
    }
}

impl Connection {
    /// Takes the connection for a write of the writer's own; returns what a direct write
    /// left, to go out first.
    fn take(&self) -> Bytes {
        let mut out = self.out.lock().expect("connection lock");
        out.open = false;
        std::mem::take(&mut out.leftover)
    }

    /// Gives the connection back to direct writes (only for a chunked body).
    fn give_back(&self, chunked: bool) {
        self.out.lock().expect("connection lock").open = chunked;
    }
}

/// `{len:x}\r\n`, the line that opens a chunk of `len` bytes, written into `buf`.
fn chunk_size_line(len: usize, buf: &mut [u8; 20]) -> &[u8] {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut buf[..]);
    write!(cursor, "{len:x}\r\n").expect("20 bytes hold any length");
    let end = cursor.position() as usize;
    &buf[..end]
}

/// Answers `request` (whose bytes, `request_len` of them, are still unread on `stream`) through
/// `app` and writes the response; the connection closes when it ends or the client leaves.
// Not an `async fn`: the request is given its extension before the future is made, so the
// future does not hold a second copy of it (a few hundred bytes per idle stream).
pub fn serve(
    stream: TcpStream,
    request_len: usize,
    mut request: Request<Body>,
    app: Router,
) -> impl std::future::Future<Output = ()> + Send {
    let connection = Arc::new(Connection {
        stream,
        out: Mutex::new(Out {
            open: false,
            leftover: Bytes::new(),
        }),
    });
    request
        .extensions_mut()
        .insert(LeanSocket(connection.clone()));
    async move {
        if let Err(e) = answer(&connection, request_len, request, app).await {
            tracing::debug!(error = %e, "stream connection ended with an error");
        }
    }
}

async fn answer(
    connection: &Connection,
    request_len: usize,
    request: Request<Body>,
    app: Router,
) -> io::Result<()> {
    let stream = &connection.stream;
    skip(stream, request_len).await?;
    let Ok::<_, Infallible>(response) = app.oneshot(request).await;
    let length = http_body::Body::size_hint(response.body()).exact();
    write_all(stream, &head(&response, length)).await?;
    let mut body = response.into_body().into_data_stream();
    let chunked = length.is_none();
    connection.give_back(chunked);
    // Made once: its interest in the socket stays registered between frames.
    let closed = closed(stream);
    tokio::pin!(closed);
    loop {
        let first = tokio::select! {
            chunk = body.next() => chunk,
            () = &mut closed => return Ok(()),
        };
        let Some(first) = first.and_then(Result::ok) else {
            break;
        };
        // Taken before the body is polled again: a lane armed by that poll must not write
        // ahead of what the writer holds.
        let left = connection.take();
        // Whatever else is ready now goes out in the same write: one syscall per wake-up.
        let mut ready = vec![first];
        let mut size = ready[0].len();
        while size < COALESCE_LIMIT {
            match body.next().now_or_never() {
                Some(Some(Ok(chunk))) => {
                    size += chunk.len();
                    ready.push(chunk);
                }
                _ => break,
            }
        }
        // What a lane left and the ready frames go out in one write.
        write_all(stream, &frame(&left, &ready, chunked)).await?;
        connection.give_back(chunked);
    }
    let mut end = BytesMut::from(&connection.take()[..]);
    if chunked {
        end.put_slice(b"0\r\n\r\n");
    }
    write_all(stream, &end).await?;
    Ok(())
}

/// The status line and headers; the framing (`content-length` or chunked), `date` and
/// `connection: close` are this path's, whatever the response had.
fn head(response: &Response<Body>, length: Option<u64>) -> Vec<u8> {
    let status = response.status();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in response.headers() {
        if [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, DATE].contains(name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    match length {
        Some(length) => out.extend_from_slice(format!("\r\ncontent-length: {length}").as_bytes()),
        None => out.extend_from_slice(b"\r\ntransfer-encoding: chunked"),
    }
    out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    out
}

/// What a direct write `left`, then `chunks` in order as one piece of the body: one
/// HTTP chunk when `chunked`, nothing when they are empty (a lane's flush request).
fn frame(left: &[u8], chunks: &[Bytes], chunked: bool) -> BytesMut {
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let mut out = BytesMut::with_capacity(left.len() + size + 16);
    out.put_slice(left);
    if size == 0 {
        return out;
    }
    if chunked {
        out.put_slice(chunk_size_line(size, &mut [0; 20]));
    }
    for chunk in chunks {
        out.put_slice(chunk);
    }
    if chunked {
        out.put_slice(b"\r\n");
    }
    out
}

/// Reads and drops the `len` bytes of the request (already arrived: they were peeked).
async fn skip(stream: &TcpStream, mut len: usize) -> io::Result<()> {
    while len > 0 {
        stream.readable().await?;
        let mut scratch = [0u8; 1024];
        match stream.try_read(&mut scratch[..len.min(1024)]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => len -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Resolves when the client has closed the connection (or it failed). Anything the client
/// sends meanwhile is dropped: the connection ends with this response.
async fn closed(stream: &TcpStream) {
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        let mut scratch = [0u8; 64];
        match stream.try_read(&mut scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::FLUSH;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn assert_left_to_hyper(requests: &[&[u8]]) {
        for request in requests {
            assert!(
                stream_request(request, peer()).is_none(),
                "{}",
                String::from_utf8_lossy(request)
            );
        }
    }

    #[test]
    fn only_whole_bodyless_stream_gets_are_taken() {
        let get = b"GET /v1/sessions/s1/events?last_event_id=1-2 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 7-3\r\n\r\n";
        let (len, request) = stream_request(get, peer()).expect("a stream request");
        assert_eq!(len, get.len());
        assert_eq!(request.uri(), "/v1/sessions/s1/events?last_event_id=1-2");
        assert_eq!(request.headers()["last-event-id"], "7-3");
        assert!(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some());

        assert_left_to_hyper(&[
            &b"GET /v1/sessions/s1/events HTTP/1.1\r\nHost: x\r\n"[..], // head not complete
            b"GET /v1/sessions/s1 HTTP/1.1\r\n\r\n",
            b"POST /v1/sessions/s1/events HTTP/1.1\r\n\r\n",
            b"HEAD /v1/sessions/s1/events HTTP/1.1\r\n\r\n",
            b"GET /v1/sessions/s1/events HTTP/1.0\r\n\r\n",
            b"GET /v1/sessions/s1/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /v1/sessions/s1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /v1/sessions/s1/events HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            b"GET /v1/sessions//events HTTP/1.1\r\n\r\n",
        ]);
        assert!(stream_request(
            b"GET /v1/sessions/s/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            peer()
        )
        .is_some());
    }

    #[test]
    fn multiplexed_streams_are_taken_with_a_body_that_came_along() {
        let get = b"GET /v1/events?session=a&session=b HTTP/1.1\r\nHost: x\r\n\r\n";
        let (len, request) = stream_request(get, peer()).expect("a multiplexed GET");
        assert_eq!((len, request.method()), (get.len(), &Method::GET));

        let post = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"sessions\":[\"a\"]}";
        let (len, request) = stream_request(post, peer()).expect("a multiplexed POST");
        assert_eq!((len, request.method()), (post.len(), &Method::POST));
        assert_eq!(
            http_body::Body::size_hint(request.body()).exact(),
            Some(18),
            "the body is the request's"
        );

        assert_left_to_hyper(&[
            // The body has not all arrived: hyper reads it.
            &b"POST /v1/events HTTP/1.1\r\nContent-Length: 18\r\n\r\n{\"sessions\":"[..],
            b"POST /v1/events HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
            b"POST /v1/events HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx",
            b"POST /v1/events HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"POST /v1/events HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"POST /v1/events/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"PUT /v1/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        ]);
    }

    #[test]
    fn coalesced_frames_keep_their_order_in_one_chunk() {
        let frames = [
            Bytes::from_static(b"id: 1-1\n\n"),
            Bytes::from_static(b"id: 1-2\n\n"),
        ];
        assert_eq!(
            &frame(b"", &frames, true)[..],
            b"12\r\nid: 1-1\n\nid: 1-2\n\n\r\n"
        );
        assert_eq!(&frame(b"", &frames[..1], false)[..], b"id: 1-1\n\n");
        // What a lane left of its chunk goes first; a flush request adds nothing.
        assert_eq!(
            &frame(b"-2\n\n\r\n", &frames[..1], true)[..],
            b"-2\n\n\r\n9\r\nid: 1-1\n\n\r\n"
        );
        assert_eq!(&frame(b"\r\n", &[FLUSH], true)[..], b"\r\n");
    }
}

#[cfg(test)]
mod socket_tests {
    use std::time::Duration;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Accepts one connection on `listener` and serves it as `serve.rs` does.
    async fn serve_one(listener: &TcpListener, app: Router) {
        let (server, peer) = listener.accept().await.unwrap();
        // The test's request may still be arriving: `peek` says `NotYet` (stale readiness)
        // or `Other` (a head in pieces, which the server would hand to hyper); look again.
        for _ in 0..100 {
            server.readable().await.unwrap();
            if let Arrived::Stream(len, request) = peek(&server, peer) {
                return serve(server, len, request, app).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no stream request arrived");
    }

    /// Sends `request` to `app`, served as `serve.rs` serves a stream, and reads the whole
    /// answer.
    async fn exchange(app: Router, request: &'static [u8]) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket.write_all(request).await.unwrap();
            let mut answer = Vec::new();
            socket.read_to_end(&mut answer).await.unwrap();
            answer
        });
        serve_one(&listener, app).await;
        client.await.unwrap()
    }

    /// The chunks of a chunked body, and whether it ended with the last chunk.
    fn chunks(mut body: &[u8]) -> (Vec<Vec<u8>>, bool) {
        let mut out = Vec::new();
        loop {
            let Some(line) = body.windows(2).position(|w| w == b"\r\n") else {
                return (out, false);
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap(), 16).unwrap();
            body = &body[line + 2..];
            if size == 0 {
                return (out, body == b"\r\n");
            }
            out.push(body[..size].to_vec());
            assert_eq!(&body[size..size + 2], b"\r\n");
            body = &body[size + 2..];
        }
    }

    /// Frames that are ready together go out as one chunk; every frame arrives exactly
    /// once and in order, and the response is a well-formed chunked HTTP/1.1 answer.
    #[tokio::test]
    async fn queued_frames_are_coalesced_in_order_exactly_once() {
        let app = Router::new().route(
            "/v1/sessions/{id}/events",
            get(|| async {
                // Bursts of 50 ready frames, with a wake-up between bursts.
                let frames = futures::stream::iter(0..200).then(|i| async move {
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, Infallible>(Bytes::from(format!("id: 1-{i}\n\n")))
                });
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(frames))
                    .unwrap()
            }),
        );
        let answer = exchange(
            app,
            b"GET /v1/sessions/s/events HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
        for header in [
            "content-type: text/event-stream",
            "transfer-encoding: chunked",
            "connection: close",
            "date: ",
        ] {
            assert!(head.contains(header), "{header} missing in {head}");
        }
        let (chunks, ended) = chunks(&answer[split + 4..]);
        assert!(ended, "the body ends with the last chunk");
        let ids: Vec<String> = chunks
            .concat()
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(b"id: 1-"))
            .map(|id| String::from_utf8(id.to_vec()).unwrap())
            .collect();
        let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        assert_eq!(ids, expected, "every frame once, in order");
        assert!(
            chunks.len() <= 8,
            "ready frames share a write: {} chunks for 200 frames",
            chunks.len()
        );
    }

    /// A subscription with this connection as its lane: the live frames the fan-out wrote
    /// directly, those handed back when the socket filled or took a frame in part, and
    /// those caught up after the subscriber lagged arrive as one well-formed chunked body,
    /// each event once and in order.
    #[tokio::test]
    async fn direct_and_handed_back_frames_arrive_once_in_order() {
        use clap::Parser;
        use shared_types::{Operation, SessionId};

        use crate::hub::{Change, Hub, Source};

        // A small channel: frames handed back to a stalled reader overflow it, and the
        // subscriber is caught up from the history.
        let config =
            crate::config::Config::try_parse_from(["gateway", "--subscriber-buffer", "4"]).unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let hub = Hub::start(
            &config,
            &crate::health::Health::default(),
            &tokio_util::task::TaskTracker::new(),
            stop.clone(),
        )
        .await
        .unwrap();
        let session = SessionId::parse("s").unwrap();
        let (subscriber_hub, subscriber_session) = (hub.clone(), session.clone());
        let app = Router::new().route(
            "/v1/sessions/{id}/events",
            get(
                move |axum::Extension(LeanSocket(socket)): axum::Extension<LeanSocket>| async move {
                    let subscription = subscriber_hub
                        .subscribe(&subscriber_session, None)
                        .await
                        .unwrap();
                    let frames = subscription
                        .with_lane(socket)
                        .into_stream(Duration::from_secs(60), stop)
                        .map(Ok::<_, Infallible>);
                    Response::new(Body::from_stream(frames))
                },
            ),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { serve_one(&listener, app).await });
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let mut client = client.connect(addr).await.unwrap();
        client
            .write_all(b"GET /v1/sessions/s/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        // Reads until the body holds complete chunks up to the event `seq`.
        async fn read_through(client: &mut TcpStream, answer: &mut Vec<u8>, seq: u64) {
            let mark = format!("-{seq}\nevent: metadata");
            loop {
                // The event is the newest: when complete, it ends what has arrived.
                let tail = &answer[answer.len().saturating_sub(25_000)..];
                if tail.ends_with(b"\n\n\r\n")
                    && tail.windows(mark.len()).any(|w| w == mark.as_bytes())
                {
                    return;
                }
                let mut buf = [0u8; 65536];
                let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
                    .await
                    .expect("the stream goes on")
                    .unwrap();
                assert!(n > 0, "the stream ended early");
                answer.extend_from_slice(&buf[..n]);
            }
        }
        let base = chrono::Utc::now() - chrono::TimeDelta::hours(1);
        let publish = |seq: u64, size: usize| {
            let hub = hub.clone();
            let session = session.clone();
            async move {
                let value = format!("{seq:0size$}");
                hub.apply(Change {
                    session_id: session,
                    event: "metadata_update".into(),
                    operation: Operation::Update,
                    metadata: serde_json::json!({ "k": value })
                        .as_object()
                        .unwrap()
                        .clone(),
                    timestamp: base + chrono::TimeDelta::seconds(seq as i64),
                    source: Source::Http,
                })
                .await
                .unwrap();
            }
        };
        // Read as they come: the lane, once the subscriber is caught up.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for seq in 1..=20 {
            publish(seq, 10).await;
            read_through(&mut client, &mut answer, seq).await;
        }
        // Not read: the socket fills, frames go back to the task, which lags and is
        // caught up from the history (200 < the 256 events it holds).
        for seq in 21..=220 {
            publish(seq, 20_000).await;
        }
        read_through(&mut client, &mut answer, 220).await;

        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let (chunks, _) = chunks(&answer[split + 4..]);
        let body = String::from_utf8(chunks.concat()).unwrap();
        let seqs: Vec<u64> = body
            .lines()
            .filter_map(|line| line.strip_prefix("id: "))
            .map(|id| id.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(seqs[0], 0, "the snapshot first");
        assert_eq!(
            seqs[1..],
            (1..=220).collect::<Vec<_>>()[..],
            "each event once, in order"
        );
    }

    /// A multiplexed stream opened with a POST is answered on this path, with the body the
    /// client sent.
    #[tokio::test]
    async fn a_post_stream_gets_its_body_and_a_lean_answer() {
        let app = Router::new().route(
            "/v1/events",
            axum::routing::post(|body: Bytes| async move {
                let frame = [&b"data: "[..], &body, b"\n\n"].concat();
                let frames = futures::stream::iter([Ok::<_, Infallible>(Bytes::from(frame))]);
                Response::new(Body::from_stream(frames))
            }),
        );
        let answer = exchange(
            app,
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"sessions\":[\"a\"]}",
        )
        .await;
        let answer = String::from_utf8(answer).unwrap().to_lowercase();
        assert!(answer.starts_with("http/1.1 200 ok\r\n"), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(
            answer.contains("data: {\"sessions\":[\"a\"]}\n\n"),
            "{answer}"
        );
    }

    /// A client that leaves ends its stream on the server, even with nothing to send.
    #[tokio::test]
    async fn a_client_that_leaves_ends_the_stream() {
        let app = Router::new().route(
            "/v1/sessions/{id}/events",
            get(|| async {
                let quiet = futures::stream::pending::<Result<Bytes, Infallible>>();
                Response::new(Body::from_stream(
                    futures::stream::iter([Ok(Bytes::from_static(b"retry: 1\n\n"))]).chain(quiet),
                ))
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket
                .write_all(b"GET /v1/sessions/s/events HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut first = [0; 64];
            let _ = socket.read(&mut first).await.unwrap();
            drop(socket);
        });
        tokio::time::timeout(Duration::from_secs(5), serve_one(&listener, app))
            .await
            .expect("the server noticed the client left");
    }

    /// A worker that has just accepted a burst of connections has spent its cooperative
    /// budget; the look at the first bytes must not take that as "nothing arrived" (it
    /// did, and nearly every stream of a burst went to hyper).
    #[tokio::test]
    async fn a_spent_task_budget_does_not_turn_a_stream_away() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        client
            .write_all(b"GET /v1/sessions/s/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        server.readable().await.unwrap();
        let arrived = std::future::poll_fn(|cx| {
            for _ in 0..10_000 {
                match tokio::task::coop::poll_proceed(cx) {
                    std::task::Poll::Ready(spent) => spent.made_progress(),
                    std::task::Poll::Pending => break,
                }
            }
            assert!(!tokio::task::coop::has_budget_remaining());
            std::task::Poll::Ready(peek(&server, peer))
        })
        .await;
        assert!(matches!(arrived, Arrived::Stream(..)));
    }
}
