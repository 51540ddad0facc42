//! CPU time and memory of the target's processes, read from /proc (Linux only). The load
//! generator runs on the same machine, so these are the server's own costs, not the
//! client's.
//!
//! Memory is PSS (`/proc/<pid>/smaps_rollup`): a page shared by n processes counts 1/n
//! in each, so summing over nginx's master and workers (or Pushpin's processes) counts
//! shared pages once, unlike summing RSS.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User + system CPU time, summed over the processes.
    pub cpu: Duration,
    /// Proportional set size summed over the processes, in KiB.
    pub pss_kib: u64,
}

/// Samples `pids`; `None` when there are none or one cannot be read (it exited).
pub fn sample(pids: &[u32]) -> Option<ProcSample> {
    if pids.is_empty() {
        return None;
    }
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = ProcSample::default();
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name: state is the first, utime the 12th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        total.cpu += Duration::from_secs_f64(ticks as f64 / ticks_per_second);
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        total.pss_kib += pss_kib(&rollup)?;
    }
    Some(total)
}

/// The `Pss:` line of an smaps_rollup, in KiB.
fn pss_kib(rollup: &str) -> Option<u64> {
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_is_read_from_the_rollup_not_rss() {
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  9000 kB\nPss:  4321 kB\nPss_Anon:  4000 kB\n";
        assert_eq!(pss_kib(rollup), Some(4321));
        assert_eq!(pss_kib("Rss: 1 kB\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(&[std::process::id()]).expect("own /proc entry");
        assert!(me.pss_kib > 0);
    }
}
