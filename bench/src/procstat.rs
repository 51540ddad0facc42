//! CPU time and memory of the target's processes, read from /proc (Linux only). The load
//! generator runs on the same machine, so these are the server's own costs, not the
//! client's.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User + system CPU time, summed over the processes.
    pub cpu: Duration,
    /// Peak resident set size (`VmHWM`) summed over the processes, in KiB.
    pub peak_rss_kib: u64,
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
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        total.peak_rss_kib += status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?;
    }
    Some(total)
}
