//! Per-subscriber sequence check. Subscriber of session `s` (of `n`) must receive the
//! events `s, s + n, s + 2n, …` (their `bench_seq`), each once and in that order; a
//! snapshot (the gateway's resync) legitimately covers every event up to its own
//! `bench_seq`. A duplicate cannot hide a loss here: each kind of error is counted on its
//! own.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Skipped events remembered to tell a late one (out of order) from a duplicate; past
/// this, further skipped events are still counted as gaps.
const REMEMBERED_SKIPS: usize = 10_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqStats {
    /// Events received as events (not inside a snapshot).
    pub delivered: u64,
    /// Events skipped over by a later event and never received.
    pub gaps: u64,
    /// Events received more than once.
    pub duplicates: u64,
    /// Events received after a later one.
    pub out_of_order: u64,
    /// Events of another session.
    pub foreign: u64,
    /// Snapshots that moved the subscriber forward instead of the events.
    pub resyncs: u64,
    /// Events still expected when the run ended (lost, or not delivered in time).
    pub missing: u64,
}

impl SeqStats {
    pub fn add(&mut self, other: &Self) {
        self.delivered += other.delivered;
        self.gaps += other.gaps;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.foreign += other.foreign;
        self.resyncs += other.resyncs;
        self.missing += other.missing;
    }

    /// Whether the subscriber got exactly what it should have.
    pub fn is_clean(&self) -> bool {
        self.gaps + self.duplicates + self.out_of_order + self.foreign + self.missing == 0
    }
}

/// What one received event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    InOrder,
    /// In the stream, but after skipping this many events.
    AfterGap(u64),
    Duplicate,
    Late,
    Foreign,
}

#[derive(Debug)]
pub struct SeqCheck {
    stride: u64,
    residue: u64,
    /// The next event this subscriber must receive.
    next: u64,
    skipped: BTreeSet<u64>,
    stats: SeqStats,
}

impl SeqCheck {
    /// A subscriber of session `session` of `sessions`, expecting every event from the first.
    pub fn new(session: u64, sessions: u64) -> Self {
        Self {
            stride: sessions.max(1),
            residue: session,
            next: session,
            skipped: BTreeSet::new(),
            stats: SeqStats::default(),
        }
    }

    pub fn event(&mut self, seq: u64) -> Seen {
        if seq % self.stride != self.residue {
            self.stats.foreign += 1;
            return Seen::Foreign;
        }
        self.stats.delivered += 1;
        if seq == self.next {
            self.next += self.stride;
            return Seen::InOrder;
        }
        if seq > self.next {
            let missed = (seq - self.next) / self.stride;
            let mut at = self.next;
            while at < seq && self.skipped.len() < REMEMBERED_SKIPS {
                self.skipped.insert(at);
                at += self.stride;
            }
            self.stats.gaps += missed;
            self.next = seq + self.stride;
            return Seen::AfterGap(missed);
        }
        if self.skipped.remove(&seq) {
            // Not lost after all: it came late.
            self.stats.gaps -= 1;
            self.stats.out_of_order += 1;
            Seen::Late
        } else {
            self.stats.duplicates += 1;
            Seen::Duplicate
        }
    }

    /// A snapshot whose state includes event `seq`: everything up to it is covered.
    pub fn snapshot(&mut self, seq: u64) {
        if seq >= self.next {
            self.stats.resyncs += 1;
            self.next = seq - (seq + self.stride - self.residue) % self.stride + self.stride;
        }
    }

    /// Whether every event up to `last` has been received or covered.
    pub fn has_reached(&self, last: u64) -> bool {
        self.next > last
    }

    /// The counts, with the events up to `last` not yet received as missing.
    pub fn finish(mut self, last: Option<u64>) -> SeqStats {
        if let Some(last) = last.filter(|&last| self.next <= last) {
            self.stats.missing += (last - self.next) / self.stride + 1;
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_once_in_order_is_clean() {
        // Session 1 of 3 gets 1, 4, 7.
        let mut check = SeqCheck::new(1, 3);
        for seq in [1, 4, 7] {
            assert_eq!(check.event(seq), Seen::InOrder);
        }
        assert!(check.has_reached(7));
        let stats = check.finish(Some(7));
        assert!(stats.is_clean(), "{stats:?}");
        assert_eq!(stats.delivered, 3);
    }

    #[test]
    fn a_duplicate_does_not_hide_a_loss() {
        // 0, 2, 2 received: 1 lost and 2 twice; the count alone (3 of 3) would look right.
        let mut check = SeqCheck::new(0, 1);
        assert_eq!(check.event(0), Seen::InOrder);
        assert_eq!(check.event(2), Seen::AfterGap(1));
        assert_eq!(check.event(2), Seen::Duplicate);
        let stats = check.finish(Some(2));
        assert_eq!((stats.gaps, stats.duplicates, stats.delivered), (1, 1, 3));
        assert!(!stats.is_clean());
    }

    #[test]
    fn a_late_event_is_out_of_order_not_lost() {
        let mut check = SeqCheck::new(0, 2);
        check.event(0);
        assert_eq!(check.event(4), Seen::AfterGap(1));
        assert_eq!(check.event(2), Seen::Late);
        assert_eq!(check.event(2), Seen::Duplicate);
        let stats = check.finish(Some(4));
        assert_eq!(
            (stats.gaps, stats.out_of_order, stats.duplicates),
            (0, 1, 1)
        );
    }

    #[test]
    fn events_of_other_sessions_and_a_short_tail_are_errors() {
        let mut check = SeqCheck::new(1, 2);
        assert_eq!(check.event(2), Seen::Foreign);
        check.event(1);
        let stats = check.finish(Some(7));
        assert_eq!(
            (stats.foreign, stats.missing),
            (1, 3),
            "3, 5 and 7 never came"
        );
    }

    #[test]
    fn a_snapshot_covers_what_it_skips_and_only_forward() {
        let mut check = SeqCheck::new(1, 3);
        check.event(1);
        // The snapshot's state includes event 10 (session 1's events 4, 7, 10).
        check.snapshot(10);
        assert!(check.has_reached(10));
        assert_eq!(check.event(13), Seen::InOrder);
        check.snapshot(13); // nothing new: not a resync
        let stats = check.finish(Some(13));
        assert!(stats.is_clean(), "{stats:?}");
        assert_eq!((stats.resyncs, stats.delivered), (1, 2));
    }

    #[test]
    fn a_snapshot_of_another_sessions_seq_lands_on_this_sessions_next() {
        // Session 2 of 5 gets 2, 7, 12: a snapshot at 9 (between 7 and 12) covers 7.
        let mut check = SeqCheck::new(2, 5);
        check.snapshot(9);
        assert_eq!(check.event(12), Seen::InOrder);
    }
}
