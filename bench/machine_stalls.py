"""How often this machine takes a core away from a busy process, and for how long.

Spins on each given core for SECONDS (one process per core, pinned) and counts the gaps
between two clock reads longer than 1 ms and 5 ms, with the longest. Nothing else in the
loop can take a millisecond, so a gap is time the kernel or, on a virtual machine, the
hypervisor ran something else. Such a stall delays every target alike and shows up in a
benchmark's p99 and p99.9 (BENCHMARKS.md, "What is measured": "The machine's own
stalls"). Also prints the steal time /proc/stat counted meanwhile (what the hypervisor
admits to).

    python3 bench/machine_stalls.py [SECONDS] [CORE ...]     # default: 10 s, every core
"""
import multiprocessing
import os
import sys
import time


def spin(core, seconds, results):
    os.sched_setaffinity(0, {core})
    gaps = []
    t = start = time.monotonic()
    end = start + seconds
    while t < end:
        now = time.monotonic()
        if now - t > 0.001:
            gaps.append(now - t)
        t = now
    results.put((core, gaps))


def steal_ticks():
    with open("/proc/stat") as stat:
        return int(stat.readline().split()[8])


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    cores = [int(c) for c in sys.argv[2:]] or sorted(os.sched_getaffinity(0))
    results = multiprocessing.Queue()
    stolen = steal_ticks()
    workers = [multiprocessing.Process(target=spin, args=(c, seconds, results)) for c in cores]
    for w in workers:
        w.start()
    found = dict(results.get() for _ in workers)
    for w in workers:
        w.join()
    stolen = (steal_ticks() - stolen) * 1000 // os.sysconf("SC_CLK_TCK")
    parts = []
    for core in cores:
        gaps = found[core]
        over5 = sum(g > 0.005 for g in gaps)
        longest = max(gaps, default=0) * 1000
        parts.append(f"CPU {core}: {len(gaps)} > 1 ms, {over5} > 5 ms, longest {longest:.1f} ms")
    print(f"in {seconds:g} s spinning: " + "; ".join(parts) + f"; steal {stolen} ms")


if __name__ == "__main__":
    main()
