//! Readiness of each backend component, reported by the component itself and read by
//! `GET /readyz`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of one component, as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ComponentStatus {
    /// Working; `backend` says which one (e.g. `sqs`, `in-memory`, `disabled`).
    Ok { backend: String },
    /// Configured but failing; the gateway is not ready.
    Down { backend: String, error: String },
    /// Failing, but requests are still served in full (SNS: notifications wait in the
    /// outbox), so a load balancer should keep sending traffic.
    Degraded { backend: String, error: String },
}

impl ComponentStatus {
    pub fn ok(backend: impl Into<String>) -> Self {
        Self::Ok {
            backend: backend.into(),
        }
    }

    pub fn down(backend: impl Into<String>, error: impl ToString) -> Self {
        Self::Down {
            backend: backend.into(),
            error: error.to_string(),
        }
    }

    pub fn degraded(backend: impl Into<String>, error: impl ToString) -> Self {
        Self::Degraded {
            backend: backend.into(),
            error: error.to_string(),
        }
    }

    pub fn backend(&self) -> &str {
        match self {
            Self::Ok { backend } | Self::Down { backend, .. } | Self::Degraded { backend, .. } => {
                backend
            }
        }
    }

    /// Whether the gateway can serve with the component in this state.
    pub fn is_serving(&self) -> bool {
        !matches!(self, Self::Down { .. })
    }
}

/// The error of a component reported before its first check: a placeholder, never
/// shown as a `last_error`.
pub const NOT_CHECKED: &str = "not checked yet";

/// What `/readyz` shows of one component: its state, since when it has been in that state,
/// and the last error it reported (kept after it recovers, so an operator sees what
/// happened).
#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    #[serde(flatten)]
    pub status: ComponentStatus,
    /// When the component entered this state (ok, down or degraded).
    pub since: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Shared registry of component statuses; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<RwLock<BTreeMap<&'static str, ComponentReport>>>,
}

impl Health {
    pub fn set(&self, component: &'static str, status: ComponentStatus) {
        let mut components = self.components.write().expect("health lock poisoned");
        let previous = components.get(component);
        if previous.map(|p| &p.status) == Some(&status) {
            return;
        }
        let now = Utc::now();
        let same_kind = previous
            .is_some_and(|p| std::mem::discriminant(&p.status) == std::mem::discriminant(&status));
        let since = match previous {
            Some(p) if same_kind => p.since,
            _ => now,
        };
        let mut last_error = previous.and_then(|p| p.last_error.clone());
        match &status {
            ComponentStatus::Ok { backend } => {
                tracing::info!(component, backend, "component ok")
            }
            ComponentStatus::Down { backend, error } => {
                tracing::warn!(component, backend, error, "component down");
            }
            ComponentStatus::Degraded { backend, error } => {
                tracing::warn!(component, backend, error, "component degraded");
            }
        }
        if let ComponentStatus::Down { error, .. } | ComponentStatus::Degraded { error, .. } =
            &status
        {
            if error != NOT_CHECKED {
                last_error = Some(LastError {
                    message: error.clone(),
                    at: now,
                });
            }
        }
        // Only components backed by a service: `disabled` and `in-memory` cannot go down.
        if !matches!(status.backend(), "disabled" | "in-memory") {
            let up = if status.is_serving() { 1.0 } else { 0.0 };
            ::metrics::gauge!(crate::metrics::COMPONENT_UP, "component" => component).set(up);
        }
        components.insert(
            component,
            ComponentReport {
                status,
                since,
                last_error,
            },
        );
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ComponentReport> {
        self.components
            .read()
            .expect("health lock poisoned")
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.components
            .read()
            .expect("health lock poisoned")
            .values()
            .all(|c| c.status.is_serving())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_its_last_error_and_the_time_it_changed_state() {
        let health = Health::default();
        health.set("sqs", ComponentStatus::down("sqs", NOT_CHECKED));
        assert!(
            health.snapshot()["sqs"].last_error.is_none(),
            "a placeholder"
        );
        health.set("sqs", ComponentStatus::ok("sqs"));
        let ok_since = health.snapshot()["sqs"].since;
        assert!(health.snapshot()["sqs"].last_error.is_none());
        health.set("sqs", ComponentStatus::down("sqs", "connection refused"));
        health.set("sqs", ComponentStatus::down("sqs", "timed out"));
        let down = health.snapshot()["sqs"].clone();
        assert!(!health.is_ready());
        assert!(down.since >= ok_since);
        assert_eq!(down.last_error.as_ref().unwrap().message, "timed out");
        health.set("sqs", ComponentStatus::ok("sqs"));
        let back = health.snapshot()["sqs"].clone();
        assert!(health.is_ready());
        assert!(back.since >= down.since);
        assert_eq!(
            back.last_error.unwrap().message,
            "timed out",
            "kept after recovery"
        );
        let json = serde_json::to_value(&health.snapshot()["sqs"]).unwrap();
        assert_eq!(json["status"], "ok");
        assert!(json["since"].as_str().unwrap().ends_with('Z'), "{json}");
    }
}
