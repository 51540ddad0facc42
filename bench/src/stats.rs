//! Percentiles of one run and the spread (min / median / max) of a number over repeats.

use hdrhistogram::Histogram;

/// Milliseconds at `quantile` of a histogram of microseconds; `None` when it is empty.
pub fn quantile_ms(latency_us: &Histogram<u64>, quantile: f64) -> Option<f64> {
    (!latency_us.is_empty()).then(|| latency_us.value_at_quantile(quantile) as f64 / 1000.0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// The spread of `values` (NaNs ignored); `None` when there are none. The median of an
/// even count is the mean of the middle two.
pub fn spread(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let median = if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    };
    Some(Spread {
        min: values[0],
        median,
        max: values[values.len() - 1],
    })
}

impl Spread {
    /// `median (min–max)`, or just the value when every repeat agrees.
    pub fn show(&self, decimals: usize) -> String {
        if self.min == self.max {
            format!("{:.*}", decimals, self.median)
        } else {
            format!(
                "{:.*} ({:.*}–{:.*})",
                decimals, self.median, decimals, self.min, decimals, self.max
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = spread([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = spread([4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 10.0));
        assert_eq!(spread([]), None);
        assert_eq!(spread([f64::NAN, 5.0]).unwrap().median, 5.0);
    }

    #[test]
    fn spread_is_shown_as_median_with_range() {
        assert_eq!(spread([1.0, 2.0, 4.0]).unwrap().show(1), "2.0 (1.0–4.0)");
        assert_eq!(spread([7.0, 7.0]).unwrap().show(0), "7");
    }

    #[test]
    fn quantiles_come_from_the_recorded_latencies() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        assert_eq!(quantile_ms(&h, 0.5), None);
        for us in 1..=1000 {
            h.record(us * 1000).unwrap(); // 1 ms … 1000 ms
        }
        let p50 = quantile_ms(&h, 0.5).unwrap();
        let p99 = quantile_ms(&h, 0.99).unwrap();
        assert!((499.0..=501.0).contains(&p50), "{p50}");
        assert!((989.0..=991.0).contains(&p99), "{p99}");
    }
}
