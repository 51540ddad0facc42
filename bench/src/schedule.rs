//! The open-loop schedule: event `k` is due `k / rate` seconds after publishing starts,
//! whatever happened to the events before it. Latency is counted from the due time, so
//! a target that stalls its publisher is charged for the stall (no coordinated omission).

use std::time::Duration;

/// When event `seq` is due, after publishing starts; `None` without a rate (as fast as
/// the target accepts: closed-loop, latency from the actual send).
pub fn due(seq: u64, rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(seq as f64 / rate))
}

/// The time an event is stamped with, in nanoseconds since the run's start: its due
/// time when there is a schedule, else when it was actually sent.
pub fn stamp(due_ns: Option<u64>, sent_ns: u64) -> u64 {
    due_ns.unwrap_or(sent_ns)
}

/// Latency of an event stamped `stamped_ns` and received at `received_ns`.
pub fn latency_us(stamped_ns: u64, received_ns: u64) -> u64 {
    received_ns.saturating_sub(stamped_ns) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_due_at_fixed_times() {
        assert_eq!(due(0, 100.0), Some(Duration::ZERO));
        assert_eq!(due(250, 100.0), Some(Duration::from_millis(2500)));
        assert_eq!(due(3, 0.0), None, "no schedule without a rate");
    }

    #[test]
    fn a_late_send_is_charged_from_the_due_time() {
        // Due at 1 s, sent at 1.5 s because the target held the publisher, received at
        // 1.502 s: 502 ms, not the 2 ms a closed-loop publisher would report.
        let stamped = stamp(Some(1_000_000_000), 1_500_000_000);
        assert_eq!(latency_us(stamped, 1_502_000_000), 502_000);
        assert_eq!(latency_us(stamp(None, 1_500_000_000), 1_502_000_000), 2_000);
        assert_eq!(latency_us(10, 5), 0, "clock order is not trusted blindly");
    }
}
