//! POSTs per client: a token bucket per client address (GCRA, from `governor`), refilled
//! at the sustained rate and holding at most the burst.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Checks between two sweeps of clients whose buckets are full again.
const SWEEP_EVERY: u32 = 1024;

/// The per-client limiter; cheap to clone. `None` inside when the limit is disabled.
#[derive(Clone)]
pub struct PostRate {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    checks: Arc<AtomicU32>,
}

impl PostRate {
    /// `per_minute` sustained, `burst` at once; `per_minute == 0` disables the limit.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            ))
        });
        Self {
            limiter,
            checks: Arc::default(),
        }
    }

    /// Counts one POST of `client`: `Err(wait)` when it is over its rate, with the time
    /// until its next POST would be accepted.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Forget idle clients now and then, so the table stays as small as the load.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_post_waits_for_the_rate() {
        let rate = PostRate::new(60, 3); // one per second sustained
        let client = IpAddr::from([192, 0, 2, 1]);
        for n in 0..3 {
            assert_eq!(rate.check(client), Ok(()), "post {n} of the burst");
        }
        let wait = rate.check(client).unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(rate.check(IpAddr::from([192, 0, 2, 2])), Ok(()));
    }

    #[test]
    fn zero_disables_the_limit() {
        let rate = PostRate::new(0, 1);
        let client = IpAddr::from([192, 0, 2, 1]);
        assert!((0..1000).all(|_| rate.check(client).is_ok()));
    }
}
