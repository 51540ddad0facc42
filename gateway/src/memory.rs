//! Process-wide memory settings.
//!
//! Transparent huge pages are turned off for the gateway. mimalloc asks for them on its
//! heap (`madvise(MADV_HUGEPAGE)`), so the first write to each new 2 MiB of heap faults
//! in and zeroes a whole huge page while the worker waits. Under steady publishing the
//! heap grows with the sessions' histories, and on a virtual machine each such fault
//! held the worker for several milliseconds: in the 10 000-session benchmark they were
//! most of its p99 (BENCHMARKS.md, "Huge pages"). With 4 KiB pages the same zeroing is
//! spread in small steps. Redis and MongoDB advise the same for the same reason.

/// Turns transparent huge pages off for this process (Linux; a no-op elsewhere). Called
/// at the start of `main`: the flag covers every later fault in the whole heap.
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a flag of
        // this process's memory map.
        let done = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if done != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn huge_pages_are_turned_off_for_the_process() {
        disable_transparent_huge_pages().expect("prctl");
        // SAFETY: PR_GET_THP_DISABLE only reads a flag of this process.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        // The kernel shows the flag here since 6.x; older kernels have no such line.
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
        }
    }
}
