//! Who gets what: event `k` goes to session `k % sessions`, subscriber `j` listens to
//! session `j % sessions`. Session names are unique per run so that no server replays
//! state from an earlier run.

use serde_json::{json, Value};

pub struct Plan {
    pub sessions: Vec<String>,
    pub events: u64,
    /// Extra bytes in every event, so the message size can be varied.
    filler: String,
}

impl Plan {
    pub fn new(label: &str, sessions: u32, events: u32, payload_bytes: usize) -> Self {
        let run = format!(
            "{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Self {
            sessions: (0..sessions)
                .map(|i| format!("bench-{label}-{run}-{i}"))
                .collect(),
            events: u64::from(events),
            filler: "x".repeat(payload_bytes),
        }
    }

    pub fn session_of_event(&self, seq: u64) -> usize {
        (seq % self.sessions.len() as u64) as usize
    }

    /// The `bench_seq` of the last event a session gets; `None` if it gets none.
    pub fn last_seq(&self, session: usize) -> Option<u64> {
        let n = self.sessions.len() as u64;
        let session = session as u64;
        (session < self.events).then(|| session + (self.events - 1 - session) / n * n)
    }

    /// Events a session gets.
    pub fn events_of(&self, session: usize) -> u64 {
        self.last_seq(session).map_or(0, |last| {
            (last - session as u64) / self.sessions.len() as u64 + 1
        })
    }

    /// The event JSON every target receives: the change plus its sequence number and send
    /// time, from which each subscriber computes its latency.
    pub fn event(&self, seq: u64, sent_ns: u64) -> Value {
        json!({
            "operation": "update",
            "metadata": {
                "bench_seq": seq,
                "bench_sent_ns": sent_ns,
                "filler": self.filler,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_dealt_round_robin() {
        let plan = Plan::new("t", 3, 7, 0);
        // Sessions get events 0,3,6 / 1,4 / 2,5.
        assert_eq!(plan.last_seq(0), Some(6));
        assert_eq!(plan.last_seq(1), Some(4));
        assert_eq!(plan.last_seq(2), Some(5));
        assert_eq!(
            (0..3).map(|s| plan.events_of(s)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
        assert_eq!(plan.session_of_event(4), 1);
    }

    #[test]
    fn sessions_beyond_the_events_get_none() {
        let plan = Plan::new("t", 5, 2, 0);
        assert_eq!(plan.last_seq(1), Some(1));
        assert_eq!(plan.last_seq(2), None);
        assert_eq!(plan.events_of(4), 0);
    }
}
