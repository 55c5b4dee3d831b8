//! The finding view: the mapped threat with its failed/passed status and its lifecycle.

use serde::Serialize;
use time::OffsetDateTime;

use s1_core::asset::AssetKey;
use s1_core::finding::Finding;
use s1_core::lifecycle::{FindingState, Lifecycle, StateChange};
use s1_core::records::{ConfidenceLevel, IncidentStatus, MitigationStatus};
use s1_core::{AnalystVerdict, FindingStatus, Severity};

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
