//! Reconnection delays: exponential backoff with jitter and a cap.
//!
//! The base delay is the server's `retry:` hint when it sent one (so an operator can slow
//! every client down from the server), else the client's minimum. Each consecutive failed
//! attempt doubles the delay up to the cap; "equal jitter" then picks a delay between half
//! and all of it, so clients that lost the same server do not come back in lockstep.
//! A `Retry-After` of a `429`/`503` answer is a floor: the client never comes back sooner.

/// Tunables of [`Backoff`], all in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Base delay when the server sent no `retry:` hint.
    pub min_delay_ms: u32,
    /// No delay is longer than this (unless the server asks for more).
    pub max_delay_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay_ms: 1_000,
            max_delay_ms: 30_000,
        }
    }
}

/// Counts consecutive failed attempts and turns them into delays.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            failures: 0,
        }
    }

    /// Consecutive failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A stream delivered events: the next failure starts again from the base delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records one more failure and returns how long to wait before the next attempt.
    /// `jitter` is a uniform random number in `[0, 1)`.
    pub fn next_delay(
        &mut self,
        server_retry_ms: Option<u32>,
        retry_after_ms: Option<u32>,
        jitter: f64,
    ) -> u32 {
        self.failures = self.failures.saturating_add(1);
        let base = server_retry_ms.unwrap_or(self.policy.min_delay_ms).max(1);
        let cap = self.policy.max_delay_ms.max(base);
        let doublings = (self.failures - 1).min(31);
        let exponential = u64::from(base) << doublings;
        let capped = exponential.min(u64::from(cap)) as f64;
        let jittered = capped / 2.0 + capped / 2.0 * jitter.clamp(0.0, 1.0);
        (jittered as u32).max(retry_after_ms.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: u32, max: u32) -> RetryPolicy {
        RetryPolicy {
            min_delay_ms: min,
            max_delay_ms: max,
        }
    }

    #[test]
    fn doubles_per_failure_up_to_the_cap() {
        let mut backoff = Backoff::new(policy(1_000, 10_000));
        let full: Vec<u32> = (0..6)
            .map(|_| backoff.next_delay(None, None, 1.0))
            .collect();
        assert_eq!(full, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(backoff.failures(), 6);
    }

    #[test]
    fn jitter_spreads_between_half_and_full_delay() {
        let mut low = Backoff::new(policy(1_000, 10_000));
        let lows: Vec<u32> = (0..3).map(|_| low.next_delay(None, None, 0.0)).collect();
        assert_eq!(lows, [500, 1_000, 2_000]);
        let mut mid = Backoff::new(policy(1_000, 10_000));
        let mids: Vec<u32> = (0..3).map(|_| mid.next_delay(None, None, 0.5)).collect();
        assert_eq!(mids, [750, 1_500, 3_000]);
    }

    #[test]
    fn the_servers_retry_hint_is_the_base() {
        let mut backoff = Backoff::new(policy(1_000, 30_000));
        assert_eq!(backoff.next_delay(Some(2_000), None, 1.0), 2_000);
        assert_eq!(backoff.next_delay(Some(2_000), None, 1.0), 4_000);
        // A hint above the client's cap wins: the server knows its load.
        let mut slow = Backoff::new(policy(1_000, 5_000));
        assert_eq!(slow.next_delay(Some(60_000), None, 1.0), 60_000);
    }

    #[test]
    fn retry_after_is_a_floor_and_reset_starts_over() {
        let mut backoff = Backoff::new(policy(1_000, 30_000));
        assert_eq!(backoff.next_delay(None, Some(7_000), 0.0), 7_000);
        backoff.next_delay(None, None, 1.0);
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.next_delay(None, None, 1.0), 1_000);
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut backoff = Backoff::new(policy(u32::MAX, u32::MAX));
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(None, None, 1.0), u32::MAX);
        }
    }
}
