//! Exponential backoff with full jitter, for retry loops against remote services.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniformly random up to `base * 2^attempt`, capped. Full jitter
    /// spreads the retries of many clients instead of synchronising them.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.delay_for(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The delay before retry number `attempt` (0 for the first), for callers that keep
    /// the count elsewhere: the feedback outbox stores it with each notification.
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap);
        rand::rng().random_range(ceiling / 2..=ceiling)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..10 {
            assert!(backoff.next_delay() <= Duration::from_secs(1));
        }
        let late = backoff.next_delay();
        assert!(late >= Duration::from_millis(500), "{late:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn delay_for_an_attempt_count_kept_elsewhere() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for (attempt, ceiling_ms) in [(0, 100), (1, 200), (3, 800), (4, 1000), (u32::MAX, 1000)] {
            let ceiling = Duration::from_millis(ceiling_ms);
            let delay = backoff.delay_for(attempt);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
    }
}
