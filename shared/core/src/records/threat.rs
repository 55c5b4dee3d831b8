//! `GET /threats` records: the threat and its nested objects (threat info, detection engines, the agent's
//! real-time and detection-time info, MITRE indicators), and the threat enums.

use serde::Deserialize;
use time::OffsetDateTime;

use super::agent::{MachineType, NetworkInterface, NetworkStatus, OsType};
use super::lenient;
use crate::verdicts::AnalystVerdict;

wire_enum! {
    /// `threatInfo.incidentStatus`.
    IncidentStatus {
        Unresolved => "unresolved",
        InProgress => "in_progress",
        Resolved => "resolved",
    }
}

wire_enum! {
    /// `threatInfo.mitigationStatus` (the string, not the top-level array of mitigation actions).
    MitigationStatus {
        NotMitigated => "not_mitigated",
        Mitigated => "mitigated",
        MarkedAsBenign => "marked_as_benign",
    }
}

wire_enum! {
    /// `threatInfo.confidenceLevel`.
    ConfidenceLevel {
        Malicious => "malicious",
        Suspicious => "suspicious",
        NotAvailable => "n/a",
    }
}

/// `threatInfo` of a threat.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThreatInfo {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub threat_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub threat_name: Option<String>,
    /// Free text (`Malware`, `Trojan`, `Ransomware`, `PUA`, ...).
    #[serde(deserialize_with = "lenient::text")]
    pub classification: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub classification_source: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub confidence_level: Option<ConfidenceLevel>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub analyst_verdict: Option<AnalystVerdict>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub incident_status: Option<IncidentStatus>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub mitigation_status: Option<MitigationStatus>,
    #[serde(deserialize_with = "lenient::text")]
    pub detection_type: Option<String>,
    /// Display titles of the engines (older field).
    #[serde(deserialize_with = "lenient::text_list")]
    pub engines: Vec<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub detection_engines: Vec<DetectionEngine>,
    #[serde(deserialize_with = "lenient::text")]
    pub initiated_by: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub file_path: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub sha1: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub sha256: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub md5: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub originator_process: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub storyline: Option<String>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub identified_at: Option<OffsetDateTime>,
}

/// `threatInfo.detectionEngines[]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DetectionEngine {
    #[serde(deserialize_with = "lenient::text")]
    pub key: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub title: Option<String>,
}

/// `agentRealtimeInfo` of a threat: the agent as it is now. The asset a threat belongs to is found through
/// `agent_computer_name`; an asset can be created from it when the agent was not in the agent walk.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentRealtimeInfo {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub agent_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_uuid: Option<String>,
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub agent_computer_name: String,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_domain: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_os_type: Option<OsType>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_machine_type: Option<MachineType>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_is_active: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_is_decommissioned: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_infected: Option<bool>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_network_status: Option<NetworkStatus>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub site_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub group_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub group_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub account_name: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub network_interfaces: Vec<NetworkInterface>,
}

/// `agentDetectionInfo` of a threat: the agent as it was at detection time (mostly null in older data).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentDetectionInfo {
    #[serde(deserialize_with = "lenient::text")]
    pub agent_ip_v4: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_ip_v6: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub external_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_domain: Option<String>,
}

/// `indicators[]` of a threat: where the MITRE mapping lives.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Indicator {
    #[serde(deserialize_with = "lenient::text")]
    pub category: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub tactics: Vec<Tactic>,
}

/// A MITRE ATT&CK tactic of an indicator.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Tactic {
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub source: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub techniques: Vec<Technique>,
}

/// A MITRE ATT&CK technique (`T1234`) of a tactic.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Technique {
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub link: Option<String>,
}

/// One element of `GET /threats` `data[]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Threat {
    /// The threat id (top-level `id`, falling back to `threatInfo.threatId`). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(deserialize_with = "lenient::object")]
    pub threat_info: ThreatInfo,
    #[serde(deserialize_with = "lenient::object")]
    pub agent_realtime_info: AgentRealtimeInfo,
    #[serde(deserialize_with = "lenient::object")]
    pub agent_detection_info: AgentDetectionInfo,
    #[serde(deserialize_with = "lenient::object_list")]
    pub indicators: Vec<Indicator>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}
