//! The run as a timeline, for finding stalls: the events are put in slots of their due
//! time, and each slot shows how late its deliveries arrived and how long its publishes
//! waited to be sent and to be answered. A percentile over the whole run cannot tell a
//! steady queue from a few long stalls; this can. Everything is kept in memory and
//! written after the run, because printing while measuring changes what is measured.

use std::fmt::Write as _;

/// One publish: when it was due, and when it was sent and answered, in nanoseconds
/// since the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Publish {
    pub due_ns: u64,
    pub sent_ns: u64,
    pub answered_ns: u64,
}

/// One delivery: the event's due (or send) time and its latency.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub stamped_ns: u64,
    pub latency_us: u64,
}

/// Deliveries later than this count as late in a slot.
const LATE_US: u64 = 5_000;

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    deliveries: u64,
    late: u64,
    latency_max_us: u64,
    publishes: u64,
    behind_max_ns: u64,
    answer_max_ns: u64,
}

/// CSV of the run in slots of `slot_ms` of due time, from the first slot with anything
/// in it: per slot, deliveries, how many were later than 5 ms, the latest one, and the
/// publishes' longest wait before sending (behind schedule) and for the answer.
pub fn csv(
    slot_ms: u64,
    publishes: impl IntoIterator<Item = Publish>,
    deliveries: impl IntoIterator<Item = Delivery>,
) -> String {
    let slot_ns = slot_ms.max(1) * 1_000_000;
    let mut slots: Vec<Slot> = Vec::new();
    fn slot(slots: &mut Vec<Slot>, index: u64) -> &mut Slot {
        let index = index as usize;
        if slots.len() <= index {
            slots.resize(index + 1, Slot::default());
        }
        &mut slots[index]
    }
    for p in publishes {
        let s = slot(&mut slots, p.due_ns / slot_ns);
        s.publishes += 1;
        s.behind_max_ns = s.behind_max_ns.max(p.sent_ns.saturating_sub(p.due_ns));
        s.answer_max_ns = s.answer_max_ns.max(p.answered_ns.saturating_sub(p.sent_ns));
    }
    for d in deliveries {
        let s = slot(&mut slots, d.stamped_ns / slot_ns);
        s.deliveries += 1;
        s.late += u64::from(d.latency_us > LATE_US);
        s.latency_max_us = s.latency_max_us.max(d.latency_us);
    }
    let mut out = String::from(
        "slot_ms,deliveries,late_over_5ms,latency_max_ms,publishes,behind_max_ms,answer_max_ms\n",
    );
    let first = slots
        .iter()
        .position(|s| s.deliveries + s.publishes > 0)
        .unwrap_or(slots.len());
    let ms = |ns: u64| ns as f64 / 1e6;
    for (index, s) in slots.iter().enumerate().skip(first) {
        let _ = writeln!(
            out,
            "{},{},{},{:.2},{},{:.2},{:.2}",
            index as u64 * slot_ms,
            s.deliveries,
            s.late,
            s.latency_max_us as f64 / 1e3,
            s.publishes,
            ms(s.behind_max_ns),
            ms(s.answer_max_ns),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_show_where_the_late_deliveries_and_slow_publishes_were() {
        let publishes = [
            Publish {
                due_ns: 1_000_000,
                sent_ns: 1_000_000,
                answered_ns: 1_500_000,
            },
            // Due in the third slot, sent 30 ms late, answered 2 ms later.
            Publish {
                due_ns: 205_000_000,
                sent_ns: 235_000_000,
                answered_ns: 237_000_000,
            },
        ];
        let deliveries = [
            Delivery {
                stamped_ns: 1_000_000,
                latency_us: 900,
            },
            Delivery {
                stamped_ns: 205_000_000,
                latency_us: 33_000,
            },
            Delivery {
                stamped_ns: 205_000_000,
                latency_us: 4_000,
            },
        ];
        let csv = csv(100, publishes, deliveries);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines,
            [
                "slot_ms,deliveries,late_over_5ms,latency_max_ms,publishes,behind_max_ms,answer_max_ms",
                "0,1,0,0.90,1,0.00,0.50",
                "100,0,0,0.00,0,0.00,0.00",
                "200,2,1,33.00,1,30.00,2.00",
            ]
        );
    }
}
