//! Records SentinelOne sent without a usable identity: counted by reason in the run, and which reasons make a
//! run partial.

use std::collections::BTreeMap;

use s1_core::{SkipReason, SkippedRecord};
use tracing::warn;

use super::{RunContext, SyncEngine};

impl SyncEngine {
    /// Records SentinelOne sent without a usable identity: counted with their reason, and logged by id.
    pub(super) fn record_data_skips(&self, ctx: &mut RunContext, skipped: &[SkippedRecord]) {
        if skipped.is_empty() {
            return;
        }
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for s in skipped {
            *reasons.entry(reason_key(&s.reason)).or_default() += 1;
            warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, record = s.id.as_deref().unwrap_or("-"),
                  reason = %s.reason, "record skipped");
        }
        ctx.run.record_skip_reasons(&reasons);
    }
}

/// The skip reason as runs record it: its API spelling, the same key the store uses for the skips it counts.
fn reason_key(reason: &SkipReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => s,
        _ => reason.to_string(),
    }
}

pub(super) fn is_data_reason(reason: &str) -> bool {
    reason != reason_key(&SkipReason::AutoOnboardDisabled)
}
