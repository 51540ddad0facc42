//! The browser SDK's `text/event-stream` parser (client-wasm/src/sse.rs, compiled here
//! for the host as is): any bytes, split into chunks anywhere, give exactly what the
//! same bytes give in one piece — the network decides the chunks, not the server.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../client-wasm/src/sse.rs"]
#[allow(dead_code)]
mod sse;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (body, cuts) = input;
    let whole = sse::SseParser::default().feed(&body);

    let mut parser = sse::SseParser::default();
    let mut chunked = Vec::new();
    let mut start = 0;
    for cut in cuts {
        let end = (start + usize::from(cut)).min(body.len());
        chunked.extend(parser.feed(&body[start..end]));
        start = end;
    }
    chunked.extend(parser.feed(&body[start..]));
    assert_eq!(chunked, whole);
});
