//! The sync-run view: status, counters, and a dry run's report.

use std::collections::BTreeMap;

use serde::Serialize;

use connector_store::{
    DryRunReport, RunCounters, RunStatus, SyncRun, Tally, Trigger, VulnerabilityRun,
};

/// A sync run, without the tenant (the caller's own).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub phase: Option<String>,
    pub pages: u64,
    pub counters: CountersView,
    /// Keyed by skip reason, as recorded.
    pub skip_reasons: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub errors_dropped: u64,
    pub warnings: Vec<String>,
    pub message: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A dry run wrote no asset or finding: its counters say what a real run would do.
    pub dry_run: bool,
    /// The first names of what a dry run would create, update, retire or close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_report: Option<DryRunReportView>,
    /// What the application-vulnerability walk did, and why it was skipped when it was.
    pub vulnerabilities: VulnerabilitiesView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilitiesView {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub fixed: u64,
    pub reopened: u64,
    pub skipped: u64,
    pub fetched: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    pub fix_withheld: u64,
}

impl From<VulnerabilityRun> for VulnerabilitiesView {
    fn from(v: VulnerabilityRun) -> Self {
        let VulnerabilityRun {
            created,
            updated,
            unchanged,
            fixed,
            reopened,
            skipped,
            fetched,
            skipped_reason,
            fix_withheld,
        } = v;
        Self {
            created,
            updated,
            unchanged,
            fixed,
            reopened,
            skipped,
            fetched,
            skipped_reason,
            fix_withheld,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunReportView {
    pub assets_created: Vec<String>,
    pub assets_updated: Vec<String>,
    pub assets_retired: Vec<String>,
    pub findings_created: Vec<String>,
    pub findings_updated: Vec<String>,
    pub findings_closed: Vec<String>,
}

impl From<DryRunReport> for DryRunReportView {
    fn from(r: DryRunReport) -> Self {
        let DryRunReport {
            assets_created,
            assets_updated,
            assets_retired,
            findings_created,
            findings_updated,
            findings_closed,
        } = r;
        Self {
            assets_created,
            assets_updated,
            assets_retired,
            findings_created,
            findings_updated,
            findings_closed,
        }
    }
}

/// A run's counters (the tallies' own fields are single words, so [`Tally`] is shown as it is).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersView {
    pub assets: Tally,
    pub findings: Tally,
    pub findings_failed: u64,
    pub findings_passed: u64,
    pub items_fetched: u64,
    pub assets_retired: u64,
    pub assets_retirement_withheld: u64,
    pub findings_unattached: u64,
    pub findings_repeated: u64,
    pub findings_reevaluated: u64,
    pub assets_kept_by_platform: u64,
    pub findings_resolved: u64,
    pub findings_reopened: u64,
    pub findings_closed: u64,
    pub findings_close_withheld: u64,
    pub agents_unmatched: u64,
}

impl From<SyncRun> for RunView {
    fn from(run: SyncRun) -> Self {
        let SyncRun {
            id,
            tenant: _,
            trigger,
            status,
            phase,
            pages,
            counters,
            skip_reasons,
            errors,
            errors_dropped,
            warnings,
            message,
            created_at,
            started_at,
            finished_at,
            dry_run,
            dry_run_report,
            vulnerabilities,
        } = run;
        let RunCounters {
            assets,
            findings,
            findings_failed,
            findings_passed,
            items_fetched,
            assets_retired,
            assets_retirement_withheld,
            findings_unattached,
            findings_repeated,
            findings_reevaluated,
            assets_kept_by_platform,
            findings_resolved,
            findings_reopened,
            findings_closed,
            findings_close_withheld,
            agents_unmatched,
        } = counters;
        Self {
            id,
            trigger,
            status,
            phase,
            pages,
            counters: CountersView {
                assets,
                findings,
                findings_failed,
                findings_passed,
                items_fetched,
                assets_retired,
                assets_retirement_withheld,
                findings_unattached,
                findings_repeated,
                findings_reevaluated,
                assets_kept_by_platform,
                findings_resolved,
                findings_reopened,
                findings_closed,
                findings_close_withheld,
                agents_unmatched,
            },
            skip_reasons,
            errors,
            errors_dropped,
            warnings,
            message,
            created_at,
            started_at,
            finished_at,
            dry_run,
            dry_run_report: dry_run_report.map(DryRunReportView::from),
            vulnerabilities: vulnerabilities.into(),
        }
    }
}
