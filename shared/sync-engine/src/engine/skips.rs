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
            *reasons.entry(s.reason.as_str().to_string()).or_default() += 1;
            warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, record = s.id.as_deref().unwrap_or("-"),
                  reason = %s.reason, "record skipped");
        }
        ctx.run.record_skip_reasons(&reasons);
    }
}

pub(super) fn is_data_reason(reason: &str) -> bool {
    reason != SkipReason::AutoOnboardDisabled.as_str()
}
