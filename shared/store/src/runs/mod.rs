//! Sync runs: the history a caller watches (one item per run, rewritten after every page), and the run slot that
//! admits one pending-or-running run per tenant.
//!
//! This file holds the run record (status, trigger, counters, bounded warnings and errors) and run ids;
//! [`history`] stores and lists runs, [`slot`] holds the run slot.

mod history;
mod slot;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::macros::format_description;

use crate::clock::{format_timestamp, now};
use crate::keys::TenantId;

pub use slot::ClaimError;

/// Distinct skip reasons kept per run; further reasons are counted under [`SyncRun::OTHER_REASON`].
pub const MAX_SKIP_REASONS: usize = 32;
/// Error messages kept per run (the first ones: they usually name the cause).
pub const MAX_ERRORS: usize = 20;
const MAX_ERROR_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    OnDemand,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Partial,
}

impl Trigger {
    /// The spelling stored and shown (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::OnDemand => "on_demand",
            Trigger::Scheduled => "scheduled",
        }
    }
}

impl RunStatus {
    /// The spelling stored and shown (the serde name), also used in condition expressions.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Partial => "partial",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Partial)
    }
}

/// Items of one kind by what happened to them (a missing count reads as zero: a checkpoint stores only those
/// that are not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

impl Tally {
    pub fn add(&mut self, c: &WriteCounts) {
        self.created += c.created;
        self.updated += c.updated;
        self.unchanged += c.unchanged;
        self.skipped += c.skipped;
    }
}

/// What one apply call did. `skip_reasons` counts skipped items by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub skip_reasons: BTreeMap<String, u64>,
    /// Findings this call moved to `resolved` / `reopened` (lifecycle transitions).
    #[serde(default)]
    pub resolved: u64,
    #[serde(default)]
    pub reopened: u64,
}

impl WriteCounts {
    /// Items that cost a write.
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }

    pub(crate) fn skip(&mut self, reason: &str) {
        self.skipped += 1;
        *self.skip_reasons.entry(reason.to_string()).or_default() += 1;
    }
}

/// Running totals of a sync, also carried in the checkpoint so a resumed run continues counting (a missing count
/// reads as zero: the checkpoint stores only those that are not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounters {
    pub assets: Tally,
    pub findings: Tally,
    /// Status of the distinct findings this run fetched.
    pub findings_failed: u64,
    pub findings_passed: u64,
    /// Records fetched from SentinelOne (agents, threats and vulnerability rows).
    pub items_fetched: u64,
    /// Assets marked inactive by this run's finalize (no longer returned by SentinelOne).
    #[serde(default)]
    pub assets_retired: u64,
    /// Assets the agent walk did not return but that were kept active because the walk could not be trusted
    /// for retirement (see the run's warnings for why).
    #[serde(default)]
    pub assets_retirement_withheld: u64,
    /// Assets the agent walk did not return that the platform registered itself (import, manual): only their
    /// SentinelOne side was retired and they stay active.
    #[serde(default)]
    pub assets_kept_by_platform: u64,
    /// Distinct findings of this run whose asset could not be resolved (kept unattached, never dropped).
    #[serde(default)]
    pub findings_unattached: u64,
    /// Threats SentinelOne returned more than once in this run's walk (counted once in the totals above).
    #[serde(default)]
    pub findings_repeated: u64,
    /// Stored findings whose status this run's `reevaluate` phase flipped because the verdict list changed.
    #[serde(default)]
    pub findings_reevaluated: u64,
    /// Lifecycle transitions of this run: findings that became resolved, reopened, or closed (absent from a
    /// complete, trusted walk of all threats).
    #[serde(default)]
    pub findings_resolved: u64,
    #[serde(default)]
    pub findings_reopened: u64,
    #[serde(default)]
    pub findings_closed: u64,
    /// Findings a complete walk did not return that were kept because the walk could not be trusted (see the
    /// run's warnings).
    #[serde(default)]
    pub findings_close_withheld: u64,
    /// Agents this run did not onboard (auto-onboard off and no asset of that name, or no usable identity); the
    /// first `MAX_UNMATCHED_PER_RUN` are listed per run.
    #[serde(default)]
    pub agents_unmatched: u64,
}

/// One sync of one tenant, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    /// Sorts by creation time: `20261125T011500123Z-1a2b3c4d`.
    pub id: String,
    pub tenant: TenantId,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub phase: Option<String>,
    pub pages: u64,
    pub counters: RunCounters,
    /// Bounded: at most [`MAX_SKIP_REASONS`] keys.
    pub skip_reasons: BTreeMap<String, u64>,
    /// Bounded: the first [`MAX_ERRORS`] messages.
    pub errors: Vec<String>,
    /// Errors beyond the kept ones.
    #[serde(default)]
    pub errors_dropped: u64,
    /// Things the run decided not to do, with the numbers (e.g. retirement withheld). Bounded like `errors`.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The outcome in words a user can act on (set when the run ends).
    pub message: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A dry run decides everything and writes no asset or finding: its counters say what a real run would do,
    /// and [`SyncRun::dry_run_report`] names the first of each.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_report: Option<DryRunReport>,
    /// What the application-vulnerability walk did (absent on runs from before it existed).
    #[serde(default)]
    pub vulnerabilities: VulnerabilityRun,
}

/// The vulnerability walk of one run: distinct writes by outcome, lifecycle moves, rows not imported, and why the
/// walk was skipped when it was (no permission, no feature, turned off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnerabilityRun {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Became fixed: marked `Removed` by SentinelOne, or absent from a complete, trusted walk.
    pub fixed: u64,
    pub reopened: u64,
    /// Rows not imported: below the tenant's minimum severity, or without a usable id.
    pub skipped: u64,
    /// Rows SentinelOne returned (all groups, all pages).
    #[serde(default)]
    pub fetched: u64,
    /// Set when the walk did not run (or stopped): the reason, in words the user can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    /// Present vulnerabilities a complete walk did not return that were kept because the walk could not be
    /// trusted (see the run's warnings).
    #[serde(default)]
    pub fix_withheld: u64,
}

/// Names kept per list of a dry run's report.
pub const DRY_RUN_NAMES: usize = 10;

/// The first names of what a dry run would create, update and retire (assets) or close (findings); the counts
/// are the run's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunReport {
    pub assets_created: Vec<String>,
    pub assets_updated: Vec<String>,
    pub assets_retired: Vec<String>,
    pub findings_created: Vec<String>,
    pub findings_updated: Vec<String>,
    pub findings_closed: Vec<String>,
}

impl DryRunReport {
    /// Adds a name to a list unless it holds [`DRY_RUN_NAMES`] already.
    pub fn note(list: &mut Vec<String>, name: impl Into<String>) {
        if list.len() < DRY_RUN_NAMES {
            list.push(name.into());
        }
    }
}

impl SyncRun {
    pub const OTHER_REASON: &'static str = "other";

    /// A pending run with a fresh, time-sortable id.
    pub fn new(tenant: TenantId, trigger: Trigger) -> Self {
        Self {
            id: new_run_id(),
            tenant,
            trigger,
            status: RunStatus::Pending,
            phase: None,
            pages: 0,
            counters: RunCounters::default(),
            skip_reasons: BTreeMap::new(),
            errors: Vec::new(),
            errors_dropped: 0,
            warnings: Vec::new(),
            message: None,
            created_at: format_timestamp(now()),
            started_at: None,
            finished_at: None,
            dry_run: false,
            dry_run_report: None,
            vulnerabilities: VulnerabilityRun::default(),
        }
    }

    /// Adds one apply call's counts of assets.
    pub fn record_assets(&mut self, c: &WriteCounts) {
        self.counters.assets.add(c);
        self.record_skip_reasons(&c.skip_reasons);
    }

    /// Adds one apply call's counts of findings.
    pub fn record_findings(&mut self, c: &WriteCounts) {
        self.counters.findings.add(c);
        self.counters.findings_resolved += c.resolved;
        self.counters.findings_reopened += c.reopened;
        self.record_skip_reasons(&c.skip_reasons);
    }

    pub fn record_skip_reasons(&mut self, reasons: &BTreeMap<String, u64>) {
        for (reason, count) in reasons {
            let known = self.skip_reasons.contains_key(reason);
            let key = if known || self.skip_reasons.len() < MAX_SKIP_REASONS - 1 {
                reason.as_str()
            } else {
                Self::OTHER_REASON
            };
            *self.skip_reasons.entry(key.to_string()).or_default() += count;
        }
    }

    pub fn record_error(&mut self, message: impl Into<String>) {
        if self.errors.len() >= MAX_ERRORS {
            self.errors_dropped += 1;
            return;
        }
        self.errors.push(bounded_message(message.into()));
    }

    /// A note the user should read with the run's outcome; the first [`MAX_ERRORS`] are kept, repeats once.
    pub fn record_warning(&mut self, message: impl Into<String>) {
        let m = bounded_message(message.into());
        if self.warnings.len() < MAX_ERRORS && !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    pub fn mark_running(&mut self) {
        self.status = RunStatus::Running;
        if self.started_at.is_none() {
            self.started_at = Some(format_timestamp(now()));
        }
    }

    pub fn finish(&mut self, status: RunStatus, message: Option<String>) {
        self.status = status;
        self.message = message;
        self.finished_at = Some(format_timestamp(now()));
    }
}

fn bounded_message(mut m: String) -> String {
    if m.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push('…');
    }
    m
}

/// A new run id: UTC creation time to the millisecond, then random hex against collisions.
pub fn new_run_id() -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second][subsecond digits:3]Z");
    let stamp = now()
        .format(&fmt)
        .unwrap_or_else(|_| "19700101T000000000Z".to_string());
    format!("{stamp}-{:08x}", rand::random::<u32>())
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_is_the_serde_spelling() {
        for s in [
            RunStatus::Pending,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Partial,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for t in [Trigger::OnDemand, Trigger::Scheduled] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn run_ids_sort_by_time_and_are_url_safe() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert!(a < b, "{a} {b}");
        assert!(valid_run_id(&a));
    }

    #[test]
    fn skip_reasons_and_errors_are_bounded() {
        let mut run = SyncRun::new(TenantId::new("t").unwrap(), Trigger::OnDemand);
        for i in 0..100 {
            run.record_skip_reasons(&BTreeMap::from([(format!("r{i}"), 1)]));
            run.record_error("x".repeat(2000));
        }
        assert_eq!(run.skip_reasons.len(), MAX_SKIP_REASONS);
        assert_eq!(run.skip_reasons.values().sum::<u64>(), 100);
        assert_eq!(run.errors.len(), MAX_ERRORS);
        assert_eq!(run.errors_dropped, 80);
        assert!(run.errors[0].len() <= MAX_ERROR_LEN + 3);
    }
}
