//! Readiness of each backend component, reported by the component itself and read by
//! `GET /readyz`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

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

    /// Whether the gateway can serve with the component in this state.
    pub fn is_serving(&self) -> bool {
        !matches!(self, Self::Down { .. })
    }
}

/// Shared registry of component statuses; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<RwLock<BTreeMap<&'static str, ComponentStatus>>>,
}

impl Health {
    pub fn set(&self, component: &'static str, status: ComponentStatus) {
        let mut components = self.components.write().expect("health lock poisoned");
        if components.get(component) != Some(&status) {
            match &status {
                ComponentStatus::Ok { backend } => {
                    tracing::info!(component, backend, "component ok")
                }
                ComponentStatus::Down { backend, error } => {
                    tracing::warn!(component, backend, error, "component down")
                }
                ComponentStatus::Degraded { backend, error } => {
                    tracing::warn!(component, backend, error, "component degraded")
                }
            }
            components.insert(component, status);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ComponentStatus> {
        self.components
            .read()
            .expect("health lock poisoned")
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.snapshot().values().all(ComponentStatus::is_serving)
    }
}
