//! The hub's merge is order- and duplicate-insensitive: SQS standard queues reorder and
//! redeliver, so any arrival order of the same changes, each arriving any number of
//! times, must leave a session in the same state. Drives the public `Hub` API: the
//! in-memory backend always, and the Redis backend too when `TEST_REDIS_URL` names a
//! Redis (`scripts/test.sh` sets it), where both must also agree with each other.
//!
//! With small session bounds and a moving clock, the two backends also agree change by
//! change on what is applied, ignored or refused, and no session ever exceeds its bounds:
//! `redis/apply.lua` and the memory state implement the same bounds and tombstone
//! collection.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use clap::Parser;
use gateway::config::Config;
use gateway::health::Health;
use gateway::hub::{Change, Hub, Source};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared_types::{Metadata, Operation, SessionId};
use std::sync::OnceLock;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// The hubs under test, started once: memory, then Redis if configured.
fn hubs() -> &'static [Hub] {
    static HUBS: OnceLock<Vec<Hub>> = OnceLock::new();
    HUBS.get_or_init(|| start_hubs(&[]))
}

/// Bounds small enough for a few writes to reach them.
const BOUNDED: [&str; 6] = [
    "--max-session-keys",
    "3",
    "--max-snapshot-bytes",
    "12",
    "--tombstone-horizon-seconds",
    "2",
];

/// The hubs under test with [`BOUNDED`] bounds.
fn bounded_hubs() -> &'static [Hub] {
    static HUBS: OnceLock<Vec<Hub>> = OnceLock::new();
    HUBS.get_or_init(|| start_hubs(&BOUNDED))
}

fn start_hubs(extra: &[&str]) -> Vec<Hub> {
    let mut args = vec![vec!["gateway".to_owned()]];
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        args.push(vec!["gateway".into(), "--redis-url".into(), url]);
    }
    args.iter()
        .map(|args| {
            let args = args.iter().map(String::as_str).chain(extra.iter().copied());
            let config = Config::try_parse_from(args).unwrap();
            let (health, tasks) = (Health::default(), TaskTracker::new());
            let start = Hub::start(&config, &health, &tasks, CancellationToken::new());
            runtime().block_on(start).expect("the hub starts")
        })
        .collect()
}

/// What one change did: the keys applied and ignored, or the refusal's code.
type Step = Result<(Vec<String>, Vec<String>), String>;

/// Applies `writes` to a fresh session through `hub`, the i-th arriving at
/// `clock[i]` seconds; returns each step and the final metadata, checking after each
/// step that the session is within [`BOUNDED`].
fn bounded_run(hub: &Hub, writes: &[(Write, u8)]) -> (Vec<Step>, Metadata) {
    let session = SessionId::parse(format!("prop-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let start = at(0) + TimeDelta::minutes(1);
    runtime().block_on(async {
        let mut steps = Vec::new();
        let mut elapsed = 0;
        for (write, advance) in writes {
            elapsed += i64::from(*advance);
            let mut change = change(&session, write);
            // Values of several sizes, so the byte bound is reached too.
            if let Some(value) = change.metadata.values_mut().find(|v| !v.is_null()) {
                *value = json!("x".repeat(usize::from(write.value) * 3));
            }
            let now = start + TimeDelta::seconds(elapsed);
            let step = match hub.apply_at(change, now).await {
                Ok(outcome) => Ok((outcome.applied, outcome.ignored)),
                Err(gateway::hub::ApplyError::Refused(refused)) => Err(refused.code().to_owned()),
                Err(other) => panic!("{other}"),
            };
            steps.push(step);
            let metadata = hub.snapshot(&session).await.unwrap().metadata;
            let bytes: usize = metadata
                .iter()
                .map(|(k, v)| k.len() + v.to_string().len())
                .sum();
            assert!(
                metadata.len() <= 3 && bytes <= 12,
                "over the bounds: {metadata:?}"
            );
        }
        (steps, hub.snapshot(&session).await.unwrap().metadata)
    })
}

/// The metadata of a fresh session after applying `writes` in order through `hub`.
fn merged(hub: &Hub, writes: &[Write]) -> Metadata {
    let session = SessionId::parse(format!("prop-{}", uuid::Uuid::new_v4().simple())).unwrap();
    runtime().block_on(async {
        for write in writes {
            hub.apply(change(&session, write)).await.unwrap();
        }
        hub.snapshot(&session).await.unwrap().metadata
    })
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
        let arrived: Vec<Write> = arrival.iter().map(|&i| writes[i].clone()).collect();
        let in_order = merged(&hubs()[0], &writes);
        for hub in hubs() {
            prop_assert_eq!(&merged(hub, &writes), &in_order);
            prop_assert_eq!(&merged(hub, &arrived), &in_order);
        }
    }
}

proptest! {
    #[test]
    fn both_backends_bound_sessions_and_collect_tombstones_alike(
        writes in prop::collection::vec(
            ((0u8..6, any::<bool>(), 0u8..4, 0u8..4).prop_map(|(key, delete, value, second)| {
                Write { key, delete, value, second }
            }), 0u8..2),
            1..24,
        )
    ) {
        let runs: Vec<_> = bounded_hubs().iter().map(|hub| bounded_run(hub, &writes)).collect();
        for run in &runs[1..] {
            prop_assert_eq!(run, &runs[0]);
        }
    }
}
