//! The publishing side: `concurrency` workers, each owning a fixed share of the sessions
//! and publishing their events in order, on the open-loop schedule ([`schedule`]): each
//! event is stamped with its due time, so a publisher held up by the target sends late
//! and the delay shows in the latency instead of lowering the load.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde_json::Value;

use crate::plan::Plan;
use crate::schedule;
use crate::sqs::SqsPublisher;
use crate::target::Target;
use crate::timeline;

pub enum Publisher {
    Http(Target),
    Sqs(SqsPublisher),
}

impl Publisher {
    async fn publish(&self, session: &str, event: &Value) -> Result<()> {
        match self {
            Self::Http(target) => target.publish(session, event).await,
            Self::Sqs(sqs) => sqs.publish(session, event).await,
        }
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub published: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// Nanoseconds since the run's start when publishing began and when the last publish
    /// was accepted.
    pub began_ns: u64,
    pub ended_ns: u64,
    /// The most any publish was sent after its due time, in nanoseconds.
    pub behind_max_ns: u64,
    /// Every publish with a due time, for the timeline (only when one was asked for).
    pub timeline: Vec<timeline::Publish>,
}

/// Publishes every event of `plan`; `rate` is events per second over all sessions, 0 for
/// as fast as the target accepts them. `record_timeline` keeps each publish's times for
/// `--timeline`; without it the publishers do no more than publish.
pub async fn run(
    publisher: Arc<Publisher>,
    plan: Arc<Plan>,
    rate: f64,
    concurrency: u32,
    start: Instant,
    record_timeline: bool,
) -> Outcome {
    let workers = concurrency.min(plan.sessions.len() as u32) as usize;
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (publisher, plan) = (publisher.clone(), plan.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            let mine =
                (0..plan.events).filter(|&seq| plan.session_of_event(seq) % workers == worker);
            for seq in mine {
                let due = schedule::due(seq, rate).map(|due| began + due);
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent_ns = start.elapsed().as_nanos() as u64;
                let due_ns = due.map(|due| due.duration_since(start).as_nanos() as u64);
                if let Some(due_ns) = due_ns {
                    outcome.behind_max_ns =
                        outcome.behind_max_ns.max(sent_ns.saturating_sub(due_ns));
                }
                let stamped = schedule::stamp(due_ns, sent_ns);
                let session = &plan.sessions[plan.session_of_event(seq)];
                match publisher.publish(session, &plan.event(seq, stamped)).await {
                    Ok(()) => outcome.published += 1,
                    Err(e) => {
                        outcome.failed += 1;
                        outcome.first_error.get_or_insert(format!("{e:#}"));
                    }
                }
                if let Some(due_ns) = due_ns.filter(|_| record_timeline) {
                    outcome.timeline.push(timeline::Publish {
                        due_ns,
                        sent_ns,
                        answered_ns: start.elapsed().as_nanos() as u64,
                    });
                }
            }
            outcome
        }));
    }
    let mut total = Outcome {
        began_ns: began.duration_since(start).as_nanos() as u64,
        ..Outcome::default()
    };
    for task in tasks {
        let mut outcome = task.await.expect("publisher task");
        total.timeline.append(&mut outcome.timeline);
        total.published += outcome.published;
        total.failed += outcome.failed;
        total.first_error = total.first_error.or(outcome.first_error);
        total.behind_max_ns = total.behind_max_ns.max(outcome.behind_max_ns);
    }
    total.ended_ns = start.elapsed().as_nanos() as u64;
    total
}
