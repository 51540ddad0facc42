//! The gateway process's memory settings, read from the kernel: transparent huge pages
//! are off (`gateway::memory`), so a growing heap is never zeroed 2 MiB at a time while
//! a request waits.

use e2e_tests::Gateway;

#[tokio::test]
async fn the_gateway_runs_without_transparent_huge_pages() {
    let gateway = Gateway::start(&[]).await;
    let pid = gateway.pid().expect("a running gateway");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .expect("this kernel shows THP_enabled in /proc/<pid>/status");
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
