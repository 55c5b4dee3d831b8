//! The views as the API shows them: camelCase field names, the caller's own tenant never repeated, and maps keyed by
//! data (custom field names, skip reasons) left exactly as stored. Each view is built by destructuring its record,
//! so a field added to a record does not compile until someone decides whether the API shows it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::OffsetDateTime;

use connector_store::{RunCounters, RunStatus, SourceStatus, StoredAsset, SyncRun, Tally, Trigger};
use s1_core::asset::{Asset, AssetKey, AssetOrigin};
use s1_core::finding::Finding;
use s1_core::records::{
    ConfidenceLevel, IncidentStatus, MachineType, MitigationStatus, OsType, Tag,
};
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
            },
            skip_reasons,
            errors,
            errors_dropped,
            warnings,
            message,
            created_at,
            started_at,
            finished_at,
        }
    }
}
