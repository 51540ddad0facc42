//! An incremental `text/event-stream` parser, as the HTML standard specifies it.
//!
//! Written here rather than taken from `eventsource-stream`: that crate drops a `retry:`
//! field sent in a block without `data` — exactly how the gateway sends its hint (a
//! `retry: 2000` block first) — so the server could never steer reconnection delays.
//! Bytes go in as they arrive from `fetch`; complete events and retry hints come out.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The last event id seen on the stream, if any (ids persist across events).
    pub id: Option<String>,
    /// `event:` name; `message` when the block had none.
    pub event: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseItem {
    Event(SseEvent),
    /// A `retry:` field: the server's reconnection delay in milliseconds.
    Retry(u32),
}

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` of the next one ends no line.
    after_cr: bool,
    data: String,
    event: String,
    last_id: Option<String>,
}

impl SseParser {
    /// Feeds the next chunk of the body; returns what it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        let mut out = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    self.line(&String::from_utf8_lossy(&line), &mut out);
                }
                _ => self.line.push(byte),
            }
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseItem>) {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line.starts_with(':') {
            return; // a comment: the gateway's `: ping` heartbeat
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => {
                self.last_id = (!value.is_empty()).then(|| value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    out.push(SseItem::Retry(ms));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let mut data = std::mem::take(&mut self.data);
        let event = std::mem::take(&mut self.event);
        if data.is_empty() {
            return;
        }
        data.pop(); // the `\n` appended after the last data line
        out.push(SseItem::Event(SseEvent {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: Option<&str>, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
        })
    }

    #[test]
    fn parses_the_gateways_stream() {
        let body = "retry: 2000\n\nid: 7-0\nevent: snapshot\ndata: {\"a\":1}\n\n: ping\n\n\
                    id: 7-1\nevent: metadata\ndata: {\"b\":2}\n\n";
        let items = SseParser::default().feed(body.as_bytes());
        assert_eq!(
            items,
            [
                SseItem::Retry(2000),
                event(Some("7-0"), "snapshot", "{\"a\":1}"),
                event(Some("7-1"), "metadata", "{\"b\":2}"),
            ]
        );
    }

    #[test]
    fn events_split_anywhere_across_chunks_are_reassembled() {
        let body = "id: 1-1\r\nevent: metadata\r\ndata: {\"k\":\"é\"}\r\n\r\n";
        for split in 0..body.len() {
            let mut parser = SseParser::default();
            let mut items = parser.feed(&body.as_bytes()[..split]);
            items.extend(parser.feed(&body.as_bytes()[split..]));
            assert_eq!(
                items,
                [event(Some("1-1"), "metadata", "{\"k\":\"é\"}")],
                "{split}"
            );
        }
    }

    #[test]
    fn multi_line_data_default_name_and_persistent_id() {
        let body = "id: 3\ndata: a\ndata:b\n\ndata: c\n\nid\ndata: d\n\n";
        assert_eq!(
            SseParser::default().feed(body.as_bytes()),
            [
                event(Some("3"), "message", "a\nb"),
                event(Some("3"), "message", "c"),
                event(None, "message", "d"),
            ]
        );
    }

    #[test]
    fn blocks_without_data_and_bad_fields_dispatch_nothing() {
        let body = "event: snapshot\n\nretry: soon\nretry: -5\nfoo: bar\n: comment\n\n";
        assert!(SseParser::default().feed(body.as_bytes()).is_empty());
    }

    #[test]
    fn an_unterminated_event_is_held_back() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"event: metadata\ndata: x\n").is_empty());
        assert_eq!(parser.feed(b"\n"), [event(None, "metadata", "x")]);
    }
}
