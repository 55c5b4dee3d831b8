//! The one message format on the sync queue.

use serde::{Deserialize, Serialize};

/// "Run (or continue) this tenant's sync run". The tenant named here is checked against the stored
/// configuration by the worker: a message for a tenant without configuration does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncMessage {
    pub tenant: String,
    pub run_id: String,
    /// 0 for the first invocation, then +1 for each continuation after a checkpoint.
    #[serde(default)]
    pub continuation: u32,
    /// How many times this message was put back because another worker held the tenant's lease (each time as a
    /// new, delayed message). Absent when 0, so ordinary messages keep their shape.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub busy_retries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SyncMessage {
    pub fn first(tenant: impl Into<String>, run_id: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            run_id: run_id.into(),
            continuation: 0,
            busy_retries: 0,
        }
    }

    /// The next invocation's message after a checkpoint (a fresh start for the busy count).
    pub fn continued(&self) -> Self {
        Self {
            continuation: self.continuation.saturating_add(1),
            busy_retries: 0,
            ..self.clone()
        }
    }

    /// The same message, put back once more because the tenant was busy.
    pub fn retried_busy(&self) -> Self {
        Self {
            busy_retries: self.busy_retries.saturating_add(1),
            ..self.clone()
        }
    }

    pub fn to_body(&self) -> String {
        // A struct of strings and an integer always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_body(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let m = SyncMessage::first("acme", "r1").continued();
        assert_eq!(SyncMessage::from_body(&m.to_body()).expect("parse"), m);
        assert_eq!(m.continuation, 1);
        assert!(SyncMessage::from_body(r#"{"tenant":"a","runId":"r","token":"x"}"#).is_err());
        // The busy count only appears once set, and survives the round trip.
        assert!(!m.to_body().contains("busyRetries"));
        let busy = m.retried_busy().retried_busy();
        assert_eq!(
            SyncMessage::from_body(&busy.to_body()).expect("parse"),
            busy
        );
        assert_eq!(busy.busy_retries, 2);
        assert_eq!(busy.continued().busy_retries, 0);
    }
}
