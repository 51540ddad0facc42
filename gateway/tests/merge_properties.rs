//! The hub's merge is order- and duplicate-insensitive: SQS standard queues reorder and
//! redeliver, so any arrival order of the same changes, each arriving any number of
//! times, must leave a session in the same state. Drives the public `Hub` API.

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use gateway::config::Config;
use gateway::hub::{Change, Hub, Source};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared_types::{Metadata, Operation, SessionId};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
struct Write {
    key: u8,
    delete: bool,
    value: u8,
    /// Few distinct seconds, so equal timestamps (broken by value) happen often.
    second: u8,
}

fn write() -> impl Strategy<Value = Write> {
    (0u8..4, any::<bool>(), 0u8..3, 0u8..4).prop_map(|(key, delete, value, second)| Write {
        key,
        delete,
        value,
        second,
    })
}

fn change(session: &SessionId, write: &Write) -> Change {
    let key = format!("k{}", write.key);
    let value = if write.delete {
        Value::Null
    } else {
        json!(write.value)
    };
    Change {
        session_id: session.clone(),
        event: "metadata_update".into(),
        operation: if write.delete {
            Operation::Delete
        } else {
            Operation::Update
        },
        metadata: Metadata::from_iter([(key, value)]),
        timestamp: at(write.second),
        source: Source::Http,
    }
}

fn at(second: u8) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 26, 10, 30, u32::from(second))
        .unwrap()
}

/// The session's metadata after applying `writes` in order to a fresh hub.
fn merged(writes: &[Write]) -> Metadata {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let config = Config::try_parse_from(["gateway"]).unwrap();
    let stop = CancellationToken::new();
    let hub = Hub::new(&config, stop.clone());
    let session = SessionId::parse("prop-session").unwrap();
    for write in writes {
        hub.apply(change(&session, write));
    }
    stop.cancel();
    hub.snapshot(&session).metadata
}

proptest! {
    #[test]
    fn any_order_and_duplication_of_the_same_changes_merges_to_one_state(
        (writes, arrival) in prop::collection::vec(write(), 1..12).prop_flat_map(|writes| {
            let n = writes.len();
            // Each change arrives at least once, some again, in a shuffled order.
            let extra = prop::collection::vec(0..n, 0..n);
            (Just(writes), extra.prop_map(move |extra| {
                (0..n).chain(extra).collect::<Vec<_>>()
            }).prop_shuffle())
        })
    ) {
        let in_order = merged(&writes);
        let arrived: Vec<Write> = arrival.iter().map(|&i| writes[i].clone()).collect();
        prop_assert_eq!(merged(&arrived), in_order);
    }
}
