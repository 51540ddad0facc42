//! The last warnings and errors the gateway logged, for `/ops`: a `tracing` layer that
//! keeps the newest [`KEPT`] `WARN`/`ERROR` events in memory. Log lines never carry
//! tokens or feedback comments, so neither does this list.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Events kept.
const KEPT: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct RecentError {
    pub at: DateTime<Utc>,
    pub level: &'static str,
    pub target: String,
    pub message: String,
}

fn ring() -> &'static Mutex<VecDeque<RecentError>> {
    static RING: OnceLock<Mutex<VecDeque<RecentError>>> = OnceLock::new();
    RING.get_or_init(|| Mutex::new(VecDeque::with_capacity(KEPT)))
}

/// The kept events, newest first.
pub fn recent() -> Vec<RecentError> {
    ring()
        .lock()
        .expect("ring lock")
        .iter()
        .rev()
        .cloned()
        .collect()
}

/// The layer to add to the subscriber (`main` does).
pub struct RecentErrors;

impl<S: Subscriber> Layer<S> for RecentErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let entry = RecentError {
            at: Utc::now(),
            level: if level == Level::ERROR {
                "error"
            } else {
                "warn"
            },
            target: event.metadata().target().to_owned(),
            message: fields.text,
        };
        let mut ring = ring().lock().expect("ring lock");
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(entry);
    }
}

/// `message key=value …`, the message first.
#[derive(Default)]
struct Fields {
    text: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}");
            if !rest.is_empty() {
                self.text.push(' ');
                self.text.push_str(&rest);
            }
        } else {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            let _ = write!(self.text, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            let _ = write!(self.text, "{}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn warnings_are_kept_newest_first_and_info_is_not() {
        let subscriber = tracing_subscriber::registry().with(RecentErrors);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("fine");
            tracing::warn!(component = "sqs", "component down");
            tracing::error!(code = 7, "broken {}", "thing");
        });
        let kept = recent();
        assert_eq!(kept[0].message, "broken thing code=7");
        assert_eq!(kept[0].level, "error");
        assert_eq!(kept[1].message, "component down component=sqs");
        assert!(kept.iter().all(|e| e.message != "fine"));
    }
}
