//! A minimal SSE client over a plain TCP connection: one `GET`, the response head, the body
//! (chunked or not) and its events. The load generator must cost less CPU than what it
//! measures; with reqwest, an SSE parser and a JSON parse per event, 5 000 subscribers on
//! one core saturated that core before the target's, and the latencies measured the client.
//! Here an event costs a scan of the bytes it arrived in.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{bail, ensure, Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest event accepted (the bench's events are a few hundred bytes).
const MAX_EVENT: usize = 1024 * 1024;

/// An `http://ip:port/path` URL, split once.
#[derive(Debug, Clone)]
pub struct Url {
    pub addr: SocketAddr,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url}: only http:// URLs"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = host
            .parse()
            .with_context(|| format!("{url}: the host must be an IP address and a port"))?;
        Ok(Self {
            addr,
            path: path.to_owned(),
        })
    }
}

/// One received event: its fields, `data` as sent (one `data:` line).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    pub event: String,
    pub data: Bytes,
}

/// An open SSE response.
pub struct SseStream {
    socket: TcpStream,
    decoder: Decoder,
}

/// Turns the bytes of a response body, as they arrive, into events.
#[derive(Default)]
struct Decoder {
    /// Bytes read from the socket and not decoded yet.
    raw: BytesMut,
    /// Body bytes decoded and not parsed into events yet.
    body: BytesMut,
    chunked: bool,
    /// Bytes left in the current chunk (chunked bodies).
    chunk_left: usize,
    ended: bool,
}

/// Connects from `source`, sends the request and reads the response head and the body's
/// first bytes: only then is the subscription surely registered at the target.
pub async fn open(source: Ipv4Addr, url: &Url, last_event_id: Option<&str>) -> Result<SseStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let mut socket = socket.connect(url.addr).await?;
    socket.set_nodelay(true)?;
    // Nchan picks its EventSource transport by the Accept header, as browsers send it.
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
        url.path, url.addr
    );
    if let Some(id) = last_event_id {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    socket.write_all(request.as_bytes()).await?;

    let mut stream = SseStream {
        socket,
        decoder: Decoder::default(),
    };
    let head_len = loop {
        if let Some(end) = find(&stream.decoder.raw, b"\r\n\r\n") {
            break end + 4;
        }
        ensure!(
            stream.decoder.raw.len() < MAX_HEAD,
            "response head too long"
        );
        ensure!(
            stream.fill().await? > 0,
            "connection closed before the response head"
        );
    };
    let head = stream.decoder.raw.split_to(head_len);
    let head = std::str::from_utf8(&head).context("response head is not UTF-8")?;
    let status = head
        .split(' ')
        .nth(1)
        .context("no status in the response")?;
    ensure!(status == "200", "HTTP {status}");
    stream.decoder.chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    loop {
        stream.decoder.decode()?;
        if !stream.decoder.body.is_empty() {
            return Ok(stream);
        }
        ensure!(
            !stream.decoder.ended && stream.fill().await? > 0,
            "the stream ended before its first bytes"
        );
    }
}

impl SseStream {
    /// The next event; `None` when the response ended. Comments and `retry:` are skipped.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(event) = self.decoder.parse()? {
                return Ok(Some(event));
            }
            if self.decoder.ended || self.fill().await? == 0 {
                return Ok(None);
            }
            self.decoder.decode()?;
        }
    }

    async fn fill(&mut self) -> Result<usize> {
        self.decoder.raw.reserve(4096);
        Ok(self.socket.read_buf(&mut self.decoder.raw).await?)
    }
}

impl Decoder {
    /// Moves what can be decoded from `raw` to `body`.
    fn decode(&mut self) -> Result<()> {
        if !self.chunked {
            self.body.extend_from_slice(&self.raw.split());
            return Ok(());
        }
        while !self.ended {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.raw.len());
                if take == 0 {
                    return Ok(());
                }
                self.body.extend_from_slice(&self.raw.split_to(take));
                self.chunk_left -= take;
                continue;
            }
            // A chunk's trailing CRLF (after its data) and the next size line.
            if self.raw.starts_with(b"\r\n") {
                self.raw.advance(2);
            }
            let Some(end) = find(&self.raw, b"\r\n") else {
                return Ok(());
            };
            let line = std::str::from_utf8(&self.raw[..end]).context("chunk size")?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            self.raw.advance(end + 2);
            if size == 0 {
                self.ended = true;
            }
            self.chunk_left = size;
        }
        Ok(())
    }

    /// One whole event from `body`, if one has arrived.
    fn parse(&mut self) -> Result<Option<Event>> {
        loop {
            let Some(end) = find(&self.body, b"\n\n") else {
                ensure!(self.body.len() <= MAX_EVENT, "event too long");
                return Ok(None);
            };
            let block = self.body.split_to(end + 2).freeze();
            let mut event = Event::default();
            let mut has_data = false;
            for line in block[..end].split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let (field, value) = match line.iter().position(|&b| b == b':') {
                    Some(0) => continue, // a comment
                    Some(i) => (
                        &line[..i],
                        line[i + 1..].strip_prefix(b" ").unwrap_or(&line[i + 1..]),
                    ),
                    None => (line, &b""[..]),
                };
                match field {
                    b"id" => event.id = Some(String::from_utf8_lossy(value).into_owned()),
                    b"event" => event.event = String::from_utf8_lossy(value).into_owned(),
                    b"data" => {
                        if has_data {
                            bail!("an event with several data lines");
                        }
                        has_data = true;
                        event.data = block.slice_ref(value);
                    }
                    _ => {}
                }
            }
            if has_data {
                return Ok(Some(event));
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // A byte-by-byte window compare was the client's largest cost per event.
    memchr::memmem::find(haystack, needle)
}

/// The unsigned number after `"key":` in `json`, without parsing the document.
pub fn number_field(json: &[u8], key: &str) -> Option<u64> {
    let pattern = format!("\"{key}\":");
    let at = find(json, pattern.as_bytes())? + pattern.len();
    let digits = json[at..]
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit());
    let mut value: u64 = 0;
    let mut any = false;
    for digit in digits {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        any = true;
    }
    any.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `raw` byte by byte through the decoder, as a slow network would.
    fn events_of(raw: &[u8], chunked: bool) -> Vec<Event> {
        let mut decoder = Decoder {
            chunked,
            ..Decoder::default()
        };
        let mut events = Vec::new();
        for byte in raw {
            decoder.raw.extend_from_slice(&[*byte]);
            decoder.decode().unwrap();
            while let Some(event) = decoder.parse().unwrap() {
                events.push(event);
            }
        }
        assert_eq!(
            decoder.ended, chunked,
            "a chunked body ends with its last chunk"
        );
        events
    }

    #[test]
    fn events_are_read_across_chunk_and_read_boundaries() {
        let body = "retry: 2000\n\n: ping\n\nid: 1-1\nevent: metadata\ndata: {\"bench_seq\":1}\n\nid: 1-2\nevent: snapshot\ndata: {\"a\":2}\n\n";
        let expected = vec![
            Event {
                id: Some("1-1".into()),
                event: "metadata".into(),
                data: Bytes::from_static(b"{\"bench_seq\":1}"),
            },
            Event {
                id: Some("1-2".into()),
                event: "snapshot".into(),
                data: Bytes::from_static(b"{\"a\":2}"),
            },
        ];
        assert_eq!(events_of(body.as_bytes(), false), expected);
        // The same body in chunks that split fields and events, as servers send them.
        let mut chunked = String::new();
        for piece in [&body[..5], &body[5..40], &body[40..41], &body[41..]] {
            chunked.push_str(&format!("{:x};ext=1\r\n{piece}\r\n", piece.len()));
        }
        chunked.push_str("0\r\n\r\n");
        assert_eq!(events_of(chunked.as_bytes(), true), expected);
    }

    #[test]
    fn numbers_are_found_without_parsing_the_document() {
        let json = br#"{"metadata":{"bench_seq": 42,"bench_sent_ns":1234567890123,"x":"a"}}"#;
        assert_eq!(number_field(json, "bench_seq"), Some(42));
        assert_eq!(number_field(json, "bench_sent_ns"), Some(1_234_567_890_123));
        assert_eq!(number_field(json, "x"), None);
        assert_eq!(number_field(json, "missing"), None);
        assert_eq!(number_field(br#"{"n":99999999999999999999999}"#, "n"), None);
    }

    #[test]
    fn urls_are_split_once() {
        let url = Url::parse("http://127.0.0.1:8080/v1/sessions/s/events").unwrap();
        assert_eq!(url.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(url.path, "/v1/sessions/s/events");
        assert!(Url::parse("https://127.0.0.1:1/").is_err());
        assert!(Url::parse("http://localhost:1/").is_err());
    }
}
