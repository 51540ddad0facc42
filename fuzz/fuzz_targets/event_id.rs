//! `Last-Event-ID` parsing: any string either is refused or names an id whose text form
//! parses back to the same id; the refusal's message stays short whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_types::EventId;

fuzz_target!(|text: &str| {
    match text.trim().parse::<EventId>() {
        Ok(id) => assert_eq!(id.to_string().parse::<EventId>(), Ok(id)),
        Err(e) => assert!(e.0.chars().count() <= 64),
    }
});
