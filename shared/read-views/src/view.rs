//! The views as the API shows them: camelCase field names, the caller's own tenant never repeated, and maps keyed by
//! data (custom field names, skip reasons) left exactly as stored. Each view is built by destructuring its record,
//! so a field added to a record does not compile until someone decides whether the API shows it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::OffsetDateTime;

use connector_store::{
    DryRunReport, PossibleMatch, RunCounters, RunStatus, SourceStatus, StoredAsset, SyncRun, Tally,
    Trigger, UnmatchedAgent,
};
use s1_core::asset::{Asset, AssetKey, AssetOrigin, AssetSource};
use s1_core::finding::Finding;
use s1_core::lifecycle::{FindingState, Lifecycle, StateChange};
use s1_core::records::{
    ConfidenceLevel, IncidentStatus, MachineType, MitigationStatus, OsType, Tag,
};
use s1_core::registry::PlatformAsset;
use s1_core::{AnalystVerdict, FindingStatus, Severity};

/// A page of a listing of imported data, labelled with where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
    pub source: SourceView,
}

/// A page of the sync-run history (no source label: runs are the connector's own record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunsPage {
    pub items: Vec<RunView>,
    pub next_page_token: Option<String>,
}

/// The source of a tenant's imported data, as the views label it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// `connected`, `disconnected` or `never_connected`.
    pub state: &'static str,
    pub disconnected_at: Option<String>,
}

impl From<&SourceStatus> for SourceView {
    fn from(s: &SourceStatus) -> Self {
        match s {
            SourceStatus::Connected => Self {
                state: "connected",
                disconnected_at: None,
            },
            SourceStatus::Disconnected { at } => Self {
                state: "disconnected",
                disconnected_at: Some(at.clone()),
            },
            SourceStatus::NeverConnected => Self {
                state: "never_connected",
                disconnected_at: None,
            },
        }
    }
}

/// An asset: the mapped machine plus the store's lifecycle (`active` is the store's, not the agent's flag: a retired
/// asset is inactive whatever SentinelOne last said).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetView {
    pub key: AssetKey,
    pub name: String,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub mac_addresses: Vec<String>,
    pub os_name: Option<String>,
    pub os_type: Option<OsType>,
    pub os_version: Option<String>,
    pub machine_type: Option<MachineType>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub domain: Option<String>,
    pub agent_version: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub active: bool,
    pub decommissioned: Option<bool>,
    pub infected: Option<bool>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    pub console_url: Option<String>,
    pub primary_agent_id: Option<String>,
    pub agent_ids: BTreeSet<String>,
    /// Keyed by the tenant's custom field names, as defined.
    pub custom_fields: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub origin: AssetOrigin,
    pub retired_at: Option<String>,
    pub updated_at: String,
    /// Who told the platform the asset exists (`sentinelone`, `import`, `manual`).
    pub sources: BTreeSet<AssetSource>,
    /// The platform's own registration (import or manual), kept apart from SentinelOne's description.
    pub platform: Option<PlatformAssetView>,
    /// When the sync retired the SentinelOne side of an asset a registration keeps active.
    pub sentinelone_retired_at: Option<String>,
}

/// What the platform registered about a machine itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAssetView {
    pub key: AssetKey,
    pub name: String,
    pub serial: Option<String>,
    pub mac_addresses: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub os_name: Option<String>,
}

impl From<PlatformAsset> for PlatformAssetView {
    fn from(p: PlatformAsset) -> Self {
        let PlatformAsset {
            key,
            name,
            serial,
            mac_addresses,
            ip_addresses,
            os_name,
        } = p;
        Self {
            key,
            name,
            serial,
            mac_addresses,
            ip_addresses,
            os_name,
        }
    }
}

impl From<StoredAsset> for AssetView {
    fn from(stored: StoredAsset) -> Self {
        let StoredAsset {
            asset,
            content_hash: _,
            active,
            created_at: _,
            updated_at,
            last_run_id: _,
            retired_at,
            sources,
            platform,
            sentinelone_retired_at,
        } = stored;
        let Asset {
            key,
            name,
            ipv4,
            ipv6,
            mac_addresses,
            os_name,
            os_type,
            os_version,
            machine_type,
            model,
            serial,
            domain,
            agent_version,
            site_id,
            site_name,
            group_id,
            group_name,
            account_id,
            account_name,
            active: _,
            decommissioned,
            infected,
            last_seen,
            console_url,
            primary_agent_id,
            agent_ids,
            custom_fields,
            tags,
            origin,
        } = asset;
        Self {
            key,
            name,
            ipv4,
            ipv6,
            mac_addresses,
            os_name,
            os_type,
            os_version,
            machine_type,
            model,
            serial,
            domain,
            agent_version,
            site_id,
            site_name,
            group_id,
            group_name,
            account_id,
            account_name,
            active,
            decommissioned,
            infected,
            last_seen,
            console_url,
            primary_agent_id,
            agent_ids,
            custom_fields,
            tags,
            origin,
            retired_at,
            updated_at,
            sources,
            platform: platform.map(PlatformAssetView::from),
            sentinelone_retired_at,
        }
    }
}

/// A finding as stored: the mapped threat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    pub id: String,
    pub threat_id: String,
    pub asset_key: Option<AssetKey>,
    pub asset_name: String,
    pub attached: bool,
    pub title: String,
    pub status: FindingStatus,
    pub severity: Severity,
    pub analyst_verdict: AnalystVerdict,
    pub incident_status: Option<IncidentStatus>,
    pub mitigation_status: Option<MitigationStatus>,
    pub confidence_level: Option<ConfidenceLevel>,
    pub classification: Option<String>,
    pub threat_name: Option<String>,
    pub file_path: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub detection_engines: Vec<String>,
    pub detection_type: Option<String>,
    pub mitre_tactics: Vec<String>,
    pub mitre_techniques: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub console_url: Option<String>,
    pub agent_id: Option<String>,
    /// Where the finding stands (open, resolved, closed, reopened); absent until a sync has stored it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleView>,
}

/// A finding's lifecycle beside its failed/passed status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleView {
    pub state: FindingState,
    pub first_seen_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// The most recent changes, oldest first.
    pub history: Vec<StateChangeView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChangeView {
    pub state: FindingState,
    pub at: String,
}

impl From<Lifecycle> for LifecycleView {
    fn from(l: Lifecycle) -> Self {
        let Lifecycle {
            state,
            first_seen_at,
            resolved_at,
            closed_at,
            history,
        } = l;
        Self {
            state,
            first_seen_at,
            resolved_at,
            closed_at,
            history: history
                .into_iter()
                .map(|StateChange { state, at }| StateChangeView { state, at })
                .collect(),
        }
    }
}

impl From<Finding> for FindingView {
    fn from(f: Finding) -> Self {
        let Finding {
            id,
            threat_id,
            asset_key,
            asset_name,
            attached,
            title,
            status,
            severity,
            analyst_verdict,
            incident_status,
            mitigation_status,
            confidence_level,
            classification,
            threat_name,
            file_path,
            sha1,
            sha256,
            md5,
            detection_engines,
            detection_type,
            mitre_tactics,
            mitre_techniques,
            first_seen,
            last_seen,
            updated_at,
            console_url,
            agent_id,
            lifecycle,
        } = f;
        Self {
            id,
            threat_id,
            asset_key,
            asset_name,
            attached,
            title,
            status,
            severity,
            analyst_verdict,
            incident_status,
            mitigation_status,
            confidence_level,
            classification,
            threat_name,
            file_path,
            sha1,
            sha256,
            md5,
            detection_engines,
            detection_type,
            mitre_tactics,
            mitre_techniques,
            first_seen,
            last_seen,
            updated_at,
            console_url,
            agent_id,
            lifecycle: lifecycle.map(LifecycleView::from),
        }
    }
}

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
        }
    }
}

/// A page of the agents a run did not onboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedPage {
    pub items: Vec<UnmatchedAgentView>,
    pub next_page_token: Option<String>,
}

/// An agent a run did not onboard, why, and the asset it may be under another name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedAgentView {
    pub name: String,
    pub agent_id: Option<String>,
    pub last_active: Option<String>,
    pub reason: String,
    pub possible_match: Option<PossibleMatchView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PossibleMatchView {
    pub asset_key: String,
    pub name: String,
    /// `serial_number` or `mac_address`.
    pub matched_by: String,
}

impl From<UnmatchedAgent> for UnmatchedAgentView {
    fn from(a: UnmatchedAgent) -> Self {
        let UnmatchedAgent {
            name,
            agent_id,
            last_active,
            reason,
            possible_match,
        } = a;
        Self {
            name,
            agent_id,
            last_active,
            reason,
            possible_match: possible_match.map(
                |PossibleMatch {
                     asset_key,
                     name,
                     matched_by,
                 }| PossibleMatchView {
                    asset_key,
                    name,
                    matched_by,
                },
            ),
        }
    }
}
