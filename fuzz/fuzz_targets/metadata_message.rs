//! The SQS message parser: any bytes either fail to parse or give a message that
//! survives a round trip through its own serialization unchanged; any string either is
//! no timestamp or one that formats and parses back to the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_types::{timestamp, MetadataMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = serde_json::from_slice::<MetadataMessage>(data) {
        let written = serde_json::to_vec(&message).expect("a parsed message serializes");
        let again: MetadataMessage =
            serde_json::from_slice(&written).expect("a serialized message parses");
        assert_eq!(again, message);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(time) = timestamp::parse(text) {
            let formatted = timestamp::format(&time);
            // Formatting keeps microseconds: the instant survives to that precision.
            let back = timestamp::parse(&formatted).expect("a formatted time parses");
            assert_eq!(timestamp::format(&back), formatted);
        }
    }
});
